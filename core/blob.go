package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Blobs reads attachment content that the store keeps once per content
// hash (Attachment.Hash). The store fills it from the Content of the
// attachments it ingests, and prunes a file with the raw bodies' retention
// unless a pending action still names it.
type Blobs interface {
	// OpenBlob returns a reader of the content stored under hash, a piece
	// at a time, so that a large file is never all in memory; ErrNotFound
	// when there is none (never stored, or pruned).
	OpenBlob(ctx context.Context, hash string) (io.ReadCloser, error)
}

// BlobUser is implemented by connectors that upload files they did not
// read themselves (a mail's attachments to the help desk, the help desk's
// to the bug tracker). The engine hands them the store's blobs once,
// before it applies any action.
type BlobUser interface {
	UseBlobs(Blobs)
}

// BlobHash is the hash content is kept by: "sha256:" and its hex digest.
func BlobHash(content []byte) string {
	sum := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// OpenAttachment opens a file's content for an upload: what the attachment
// carries, or the blob its hash names. It returns nil without error when
// there is none to have (never kept, or pruned): the caller names the file
// instead. An error means the blobs could not be read; blobs may be nil.
func OpenAttachment(ctx context.Context, blobs Blobs, f Attachment) (io.ReadCloser, error) {
	switch {
	case len(f.Content) > 0:
		return io.NopCloser(bytes.NewReader(f.Content)), nil
	case f.Hash == "" || blobs == nil:
		return nil, nil
	}
	r, err := blobs.OpenBlob(ctx, f.Hash)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("attachment %q: %w", f.Name, err)
	}
	return r, nil
}

// NotCarried is the text that names the files a record or comment could
// not carry (over limit, the target's size limit, or not available), to
// append to its text; "" when there are none.
func NotCarried(over []Attachment, limit int64) string {
	if len(over) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n\nAttachments not carried over (larger than %s, or not available):", humanSize(limit))
	for _, f := range over {
		fmt.Fprintf(&b, "\n- %s", f.Name)
		if f.Size > 0 {
			fmt.Fprintf(&b, " (%s)", humanSize(f.Size))
		}
		if f.URL != "" {
			fmt.Fprintf(&b, " %s", f.URL)
		}
	}
	return b.String()
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

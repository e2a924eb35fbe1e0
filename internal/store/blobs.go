package store

import (
	"context"
	"fmt"
	"io"

	"github.com/liaisonhq/liaison/core"
)

// blobChunk is the size of the pieces a blob is stored and read in: a
// file is never all in memory on its way out, whatever its size.
const blobChunk = 1 << 20

// hashFiles names each attachment that carries content by its hash (a
// connector may have done so already; a wrong hash is refused, since the
// content is found by it). It runs before the event's JSON is encoded, so
// that the JSON names the blob.
func hashFiles(ev *core.Event) error {
	for ci := range ev.Item.Comments {
		files := ev.Item.Comments[ci].Files
		for fi := range files {
			f := &files[fi]
			if f.Content == nil {
				continue
			}
			h := core.BlobHash(f.Content)
			if f.Hash != "" && f.Hash != h {
				return fmt.Errorf("attachment %q: hash %q is not its content's (%s)", f.Name, f.Hash, h)
			}
			f.Hash, f.Size = h, int64(len(f.Content))
		}
	}
	return nil
}

// putBlobs stores the content the new events carry, once per hash, and
// marks what was already there as seen now (pruning counts from it).
func putBlobs(ctx context.Context, q querier, batch []core.Ingest, fresh []bool, now int64) error {
	for i := range batch {
		if !fresh[i] {
			continue
		}
		for _, c := range batch[i].Event.Item.Comments {
			for _, f := range c.Files {
				if f.Content == nil || f.Hash == "" {
					continue
				}
				if err := putBlob(ctx, q, f.Hash, f.Content, now); err != nil {
					return fmt.Errorf("store: keep attachment %q: %w", f.Name, err)
				}
			}
		}
	}
	return nil
}

func putBlob(ctx context.Context, q querier, hash string, content []byte, now int64) error {
	chunks := (len(content) + blobChunk - 1) / blobChunk
	n, err := q.exec(ctx, `INSERT INTO blobs (hash, size, chunks, seen_at) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING`,
		hash, int64(len(content)), int64(chunks), now)
	if err != nil {
		return err
	}
	if n == 0 {
		_, err := q.exec(ctx, `UPDATE blobs SET seen_at = $2 WHERE hash = $1 AND seen_at < $2`, hash, now)
		return err
	}
	for i := range chunks {
		piece := content[i*blobChunk : min(len(content), (i+1)*blobChunk)]
		if _, err := q.exec(ctx, `INSERT INTO blob_chunks (hash, n, data) VALUES ($1, $2, $3)`, hash, int64(i), piece); err != nil {
			return err
		}
	}
	return nil
}

// OpenBlob implements core.Blobs: the reader reads one chunk at a time.
func (s *Store) OpenBlob(ctx context.Context, hash string) (io.ReadCloser, error) {
	var chunks int64
	err := s.be.reader().queryRow(ctx, `SELECT chunks FROM blobs WHERE hash = $1`, hash).Scan(&chunks)
	if isNoRows(err) {
		return nil, fmt.Errorf("store: attachment %s: %w", hash, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open attachment %s: %w", hash, err)
	}
	return &blobReader{ctx: ctx, q: s.be.reader(), hash: hash, chunks: chunks}, nil
}

type blobReader struct {
	ctx    context.Context
	q      querier
	hash   string
	next   int64 // the chunk to read when buf is empty
	chunks int64
	buf    []byte
}

func (r *blobReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.next >= r.chunks {
			return 0, io.EOF
		}
		if err := r.q.queryRow(r.ctx, `SELECT data FROM blob_chunks WHERE hash = $1 AND n = $2`, r.hash, r.next).Scan(&r.buf); err != nil {
			return 0, fmt.Errorf("store: read attachment %s, piece %d of %d: %w", r.hash, r.next+1, r.chunks, err)
		}
		r.next++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *blobReader) Close() error { r.buf = nil; return nil }

var _ core.Blobs = (*Store)(nil)

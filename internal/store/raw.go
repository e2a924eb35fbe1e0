package store

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"

	"github.com/liaisonhq/liaison/core"
)

// Raw bodies are kept for inspection until Prune drops them. Webhook JSON
// is bulky (a GitHub pull-request delivery is ~28 KB) and compresses about
// sevenfold, and with every durable commit fsynced the bytes written are what
// bounds durable ingest on a slow disk: so bodies from minRawCompress bytes
// up are stored compressed, in the caller's goroutine, before the writer
// is taken. They are compressed with S2 (a Snappy extension): on that
// delivery it costs a quarter of the CPU of deflate at BestSpeed, for a
// tenth more bytes (BenchmarkEncodeRaw), and deflate was 7% of a
// webhook's CPU at 500/s. Bodies stored deflated by earlier versions read
// back as before.
const (
	rawPlain       = ""
	rawDeflate     = "deflate"
	rawS2          = "s2"
	minRawCompress = 512
)

// A body that S2 cannot shrink (an upload, gzip, random data) is found by
// compressing its first probeLen bytes: when they do not shrink by an
// eighth, the body is stored as it came, and its whole length is not
// compressed (nor its copy allocated) for nothing.
const (
	probeLen = 4 << 10
	probeMin = 4 * probeLen // smaller bodies are compressed whole at once
)

// encodeRaw returns the stored form of a raw body and its encoding.
func encodeRaw(raw []byte) ([]byte, string) {
	if len(raw) < minRawCompress || s2.MaxEncodedLen(len(raw)) < 0 {
		return raw, rawPlain
	}
	scratch := s2Scratch.Get().(*[]byte)
	defer putScratch(scratch)
	if len(raw) >= probeMin {
		if p := s2Encode(scratch, raw[:probeLen]); len(p) > probeLen-probeLen/8 {
			return raw, rawPlain
		}
	}
	b := s2Encode(scratch, raw)
	if len(b) >= len(raw) {
		return raw, rawPlain
	}
	return bytes.Clone(b), rawS2
}

// s2Scratch holds buffers to compress into: S2 needs room for a body's
// worst case (more than the body), while what it writes is a seventh of
// that, so each body is compressed into a scratch buffer and only the
// result is copied out.
var s2Scratch = sync.Pool{New: func() any { return new([]byte) }}

// maxScratch is the largest scratch buffer kept for reuse: a rare large
// body (a mail with attachments) does not pin its buffer.
const maxScratch = 1 << 20

func s2Encode(scratch *[]byte, src []byte) []byte {
	if n := s2.MaxEncodedLen(len(src)); cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	return s2.Encode((*scratch)[:cap(*scratch)], src)
}

func putScratch(scratch *[]byte) {
	if cap(*scratch) <= maxScratch {
		s2Scratch.Put(scratch)
	}
}

func decodeRaw(b []byte, enc string) ([]byte, error) {
	switch enc {
	case rawPlain:
		return b, nil
	case rawS2:
		return s2.Decode(nil, b)
	case rawDeflate:
		return io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	}
	return nil, fmt.Errorf("unknown raw body encoding %q", enc)
}

// Raw returns the body of a received event as it arrived, for an admin's
// inspection; nil once pruned. An event never received is
// core.ErrNotFound.
func (s *Store) Raw(ctx context.Context, source, deliveryID string) ([]byte, error) {
	var (
		b   []byte
		enc string
	)
	err := s.be.reader().queryRow(ctx, `SELECT raw, raw_encoding FROM inbox WHERE source = $1 AND delivery_id = $2`, source, deliveryID).
		Scan(&b, &enc)
	if isNoRows(err) {
		return nil, fmt.Errorf("store: raw body of delivery %q from %q: %w", deliveryID, source, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: raw body of delivery %q from %q: %w", deliveryID, source, err)
	}
	if b == nil {
		return nil, nil
	}
	out, err := decodeRaw(b, enc)
	if err != nil {
		return nil, fmt.Errorf("store: raw body of delivery %q from %q: %w", deliveryID, source, err)
	}
	return out, nil
}

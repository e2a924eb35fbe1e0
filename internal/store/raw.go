package store

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"

	"github.com/liaisonhq/liaison/core"
)

// Raw bodies are kept for inspection until Prune drops them. Webhook JSON
// is bulky (a GitHub pull-request delivery is ~28 KB) and compresses about
// sevenfold, and with every durable commit fsynced the bytes written are what
// bounds durable ingest on a slow disk: so bodies from minRawDeflate bytes
// up are stored deflated (BestSpeed), in the caller's goroutine, before the
// writer is taken.
const (
	rawPlain      = ""
	rawDeflate    = "deflate"
	minRawDeflate = 512
)

// deflaters keeps a few compressors for reuse. A flate.Writer holds some
// 600 KB of tables: in a sync.Pool, which every garbage collection empties,
// a busy intake made a new one for most batches, a tenth of all it
// allocated.
var deflaters = make(chan *flate.Writer, 4)

func getDeflater() *flate.Writer {
	select {
	case w := <-deflaters:
		return w
	default:
		w, _ := flate.NewWriter(nil, flate.BestSpeed) // the level is valid: no error
		return w
	}
}

func putDeflater(w *flate.Writer) {
	select {
	case deflaters <- w:
	default: // enough are kept
	}
}

// A body that deflate cannot shrink (an upload, gzip, random data) is
// found by compressing its first probeLen bytes: when they do not shrink
// by an eighth, the body is stored as it came, and its whole length is
// not compressed for nothing.
const (
	probeLen = 4 << 10
	probeMin = 4 * probeLen // smaller bodies are compressed whole at once
)

// encodeRaw returns the stored form of a raw body and its encoding.
func encodeRaw(raw []byte) ([]byte, string) {
	if len(raw) < minRawDeflate {
		return raw, rawPlain
	}
	if len(raw) >= probeMin {
		if p := deflate(raw[:probeLen]); len(p) > probeLen-probeLen/8 {
			return raw, rawPlain
		}
	}
	b := deflate(raw)
	if len(b) >= len(raw) {
		return raw, rawPlain
	}
	return b, rawDeflate
}

// deflate compresses b at BestSpeed.
func deflate(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b) / 4)
	w := getDeflater()
	defer putDeflater(w)
	w.Reset(&buf)
	// Writes to a bytes.Buffer do not fail.
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func decodeRaw(b []byte, enc string) ([]byte, error) {
	switch enc {
	case rawPlain:
		return b, nil
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

package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// mailWithFile is a mail thread's event whose one comment carries a file.
func mailWithFile(delivery, commentID string, content []byte, t time.Time) core.Ingest {
	it := snap(thread, "Crash on login", "received", t)
	it.Comments = []core.Comment{{ID: commentID, Author: "emilie@example.com", Body: "see the log", Public: true, CreatedAt: t,
		Files: []core.Attachment{{Name: "app.log", ContentType: "text/plain", Content: content}}}}
	return event("imap", delivery, it)
}

// blobs returns the store's core.Blobs, or skips: blobs are optional.
func (f *fixture) blobs() core.Blobs {
	b, ok := f.s.(core.Blobs)
	if !ok {
		f.t.Skip("the store keeps no blobs")
	}
	return b
}

func (f *fixture) readBlob(hash string) ([]byte, error) {
	r, err := f.blobs().OpenBlob(f.ctx, hash)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// bigFile is content over several of the store's pieces, none alike.
func bigFile(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

var blobBehaviours = []behaviour{
	{"Blobs_KeptOnceByHashAndNeverInJSON", func(f *fixture) {
		f.blobs()
		content := bigFile(2<<20 + 12345)
		hash := core.BlobHash(content)
		// The same file in two mails of the thread.
		f.ingest(mailWithFile("m1", "<m1@mail.example.com>", content, at(0)))
		f.ingest(mailWithFile("m2", "<m2@mail.example.com>", content, at(time.Minute)))
		it := f.item(thread)
		if len(it.Comments) != 2 {
			f.t.Fatalf("%d comments, want 2", len(it.Comments))
		}
		for _, c := range it.Comments {
			if len(c.Files) != 1 || c.Files[0].Hash != hash || c.Files[0].Size != int64(len(content)) || c.Files[0].Content != nil {
				f.t.Fatalf("comment %s files %+v: want the file named by hash and size, without its content", c.ID, c.Files)
			}
		}
		got, err := f.readBlob(hash)
		if err != nil || !bytes.Equal(got, content) {
			f.t.Fatalf("blob read back: %d bytes, %v; want the %d bytes ingested", len(got), err, len(content))
		}
		evs, err := f.s.Events(f.ctx, thread, 10)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			if len(b) > 4096 {
				f.t.Fatalf("event %s is %d bytes of JSON: the file's content went with it", ev.DeliveryID, len(b))
			}
		}
		if _, err := f.readBlob("sha256:0000"); !errors.Is(err, core.ErrNotFound) {
			f.t.Fatalf("unknown blob: %v, want ErrNotFound", err)
		}
	}},

	{"Blobs_APendingActionKeepsItsFileThroughPrune", func(f *fixture) {
		f.blobs()
		kept, dropped := []byte("named by a pending action"), []byte("named by nothing pending")
		f.ingest(mailWithFile("m1", "<m1@mail.example.com>", kept, at(0)))
		f.ingest(mailWithFile("m2", "<m2@mail.example.com>", dropped, at(time.Minute)))
		id := f.caseOf(thread)
		f.enqueue(core.Action{Key: "mirror-m1", Case: id, Rule: "mail-replies-to-ticket", Kind: core.AddComment, Target: ticket, Subject: thread,
			Body: "see the log", Files: []core.Attachment{{Name: "app.log", Hash: core.BlobHash(kept)}}})
		f.clock.Advance(8 * 24 * time.Hour)
		now := f.clock.Now()
		if _, err := f.s.Prune(f.ctx, now.Add(-7*24*time.Hour), time.Time{}); err != nil {
			f.t.Fatal(err)
		}
		if got, err := f.readBlob(core.BlobHash(kept)); err != nil || !bytes.Equal(got, kept) {
			f.t.Fatalf("file of a pending action after prune: %q, %v", got, err)
		}
		if _, err := f.readBlob(core.BlobHash(dropped)); !errors.Is(err, core.ErrNotFound) {
			f.t.Fatalf("file past retention, named by nothing pending: %v, want pruned", err)
		}
	}},
}

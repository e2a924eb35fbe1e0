package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// BenchmarkSixRepliesWith8MBFiles is the attachment-bloat figure: a mail
// thread whose six replies each carry an 8 MB file, taken in as the mail
// intake does (snapshot, event, raw mail), each followed by what a
// reconcile does (load the case, plan the mirror of the new reply with its
// files). It reports the SQLite database's size on disk and the process's
// peak RSS; run it alone (-run '^$' -bench SixReplies -benchtime 1x).
func BenchmarkSixRepliesWith8MBFiles(b *testing.B) {
	for b.Loop() {
		// The peak RSS counts from here (Linux: clear_refs 5 resets VmHWM).
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		dir := b.TempDir()
		s, err := Open(context.Background(), "sqlite://"+filepath.Join(dir, "liaison.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		thread := core.Ref{System: "imap", Kind: core.EmailThread, ID: "first@mail.example.com"}
		ticket := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
		start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i <= 6; i++ {
			at := start.Add(time.Duration(i) * time.Minute)
			cm := core.Comment{ID: fmt.Sprintf("reply-%d@mail.example.com", i), Author: "emilie@example.com", Body: "Here is the capture.", Public: true, CreatedAt: at}
			var raw []byte
			if i > 0 {
				file := make([]byte, 8<<20)
				for j := 0; j < len(file); j += 8 {
					v := rng.Uint64()
					for k := 0; k < 8; k++ {
						file[j+k] = byte(v >> (8 * k))
					}
				}
				cm.Files = []core.Attachment{{Name: fmt.Sprintf("capture-%d.mp4", i), ContentType: "video/mp4", Size: int64(len(file)), Content: file}}
				raw = []byte("Content-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(file))
			}
			ev := core.Event{Source: "imap", DeliveryID: "sha256:" + strconv.Itoa(i), Via: core.ViaPush, Type: core.Commented, At: at, Raw: raw,
				Item: core.Item{Ref: thread, Title: "Crash when exporting", Body: "It crashes.", Reporter: "emilie@example.com",
					Fields: map[string]string{"from": "emilie@example.com"}, UpdatedAt: at, Version: int64(i + 1), Comments: []core.Comment{cm}}}
			if i == 0 {
				ev.Type = core.Mailed
				ev.Links = []core.Link{{From: thread, To: ticket, Role: core.ThreadOf}}
			}
			if _, err := s.Ingest(ctx, []core.Ingest{{Event: ev}}); err != nil {
				b.Fatal(err)
			}
			id, err := s.CaseOf(ctx, thread)
			if err != nil {
				b.Fatal(err)
			}
			c, err := s.LoadCase(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			for _, it := range c.Items {
				if it.Ref != thread {
					continue
				}
				last := it.Comments[len(it.Comments)-1]
				a := core.Action{Key: "mirror|" + last.ID, Case: id, Rule: "mail-replies-to-ticket", Kind: core.AddComment, Target: ticket, Subject: thread,
					Body: last.Body, Public: true, SourceComment: last.ID, Files: last.Files}
				if _, err := s.Enqueue(ctx, []core.Action{a}); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		var size int64
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), "liaison.db") {
				size += fi.Size()
			}
		}
		b.ReportMetric(float64(size)/(1<<20), "db-MiB")
		b.ReportMetric(float64(peakRSS())/(1<<10), "peak-rss-MiB")
	}
}

// peakRSS is the process's peak resident set in KiB (VmHWM), or 0.
func peakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(status, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

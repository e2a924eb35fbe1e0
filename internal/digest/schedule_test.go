package digest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/digest"
	"github.com/liaisonhq/liaison/internal/digest/digesttest"
	"github.com/liaisonhq/liaison/internal/logtest"
	"github.com/liaisonhq/liaison/internal/notify"
)

// manualClock moves only when the test says.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// mailbox is a Mailer that keeps what it is given and fails on request.
type mailbox struct {
	mu    sync.Mutex
	mails []notify.Mail
	fail  map[string]int // org's first recipient → failures left
}

func (m *mailbox) Mail(_ context.Context, x notify.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail[x.To[0].Address] > 0 {
		m.fail[x.To[0].Address]--
		return core.RetryAfter(errors.New("451 try again later"), time.Minute)
	}
	m.mails = append(m.mails, x)
	return nil
}

// take returns the mails sent since the last take, as "to: subject".
func (m *mailbox) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, x := range m.mails {
		var to []string
		for _, a := range x.To {
			to = append(to, a.Address)
		}
		out = append(out, strings.Join(to, ",")+": "+x.Subject)
	}
	m.mails = nil
	return out
}

func utc(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }

var to = map[string][]string{
	digesttest.Org:   {"it-lead@acme.example", "cto@acme.example"},
	digesttest.Other: {"ops@globex.example"},
}

func scheduler(st digest.Store, mb digest.Mailer, clock core.Clock, m *core.Mappings) *digest.Scheduler {
	return &digest.Scheduler{Store: st, Mailer: mb, Schedule: digest.Schedule{Day: time.Monday, At: 8 * time.Hour},
		Location: time.UTC, To: to, Mappings: func() *core.Mappings { return m }, Clock: clock, Owner: "replica-a",
		RetryAfter: 15 * time.Minute}
}

func TestScheduler_OncePerWeekPerOrg(t *testing.T) {
	ctx := context.Background()
	st := seeded(t)
	m := defaults(t)
	mb := &mailbox{}
	clock := &manualClock{t: utc(23, 7, 0)}
	s := scheduler(st, mb, clock, m)
	tick := func(when time.Time, want ...string) {
		t.Helper()
		clock.Set(when)
		if _, err := s.Tick(ctx); err != nil {
			t.Fatalf("tick at %s: %v", when, err)
		}
		if got := mb.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("at %s sent %q; want %q", when, got, want)
		}
	}
	// First start, an hour before the schedule: the organisations start
	// with the next digest, not last week's.
	tick(utc(23, 7, 0))
	if c, _ := st.Cursor(ctx, digest.CursorKey(digesttest.Org)); c != "2026-W46" {
		t.Fatalf("cursor after the first start = %q; want 2026-W46", c)
	}
	tick(utc(23, 7, 59))
	acme := "it-lead@acme.example,cto@acme.example: Support digest for Acme Corp, week 2026-W47"
	globex := "ops@globex.example: Support digest for Globex, week 2026-W47"
	tick(utc(23, 8, 0), acme, globex)
	tick(utc(23, 8, 1))
	tick(utc(26, 12, 0))

	// A restart (a new scheduler on the same store) resends nothing.
	s = scheduler(st, mb, clock, m)
	tick(utc(29, 23, 59))
	tick(utc(30, 8, 0),
		"it-lead@acme.example,cto@acme.example: Support digest for Acme Corp, week 2026-W48",
		"ops@globex.example: Support digest for Globex, week 2026-W48")

	// Down over the next scheduled moment: the digest goes out on return,
	// once, and the week it missed is not skipped.
	s = scheduler(st, mb, clock, m)
	tick(time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC),
		"it-lead@acme.example,cto@acme.example: Support digest for Acme Corp, week 2026-W49",
		"ops@globex.example: Support digest for Globex, week 2026-W49")
	tick(time.Date(2026, 12, 8, 12, 5, 0, 0, time.UTC))
	if c, _ := st.Cursor(ctx, digest.CursorKey(digesttest.Other)); c != "2026-W49" {
		t.Fatalf("globex cursor = %q; want 2026-W49", c)
	}
}

func TestScheduler_FailedMailRetriedLater(t *testing.T) {
	ctx := context.Background()
	st := seeded(t)
	mb := &mailbox{fail: map[string]int{"ops@globex.example": 1}}
	clock := &manualClock{t: utc(23, 7, 0)}
	s := scheduler(st, mb, clock, defaults(t))
	if _, err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Set(utc(23, 8, 0))
	n, err := s.Tick(ctx)
	if n != 1 || err == nil || !strings.Contains(err.Error(), `digest for "Globex"`) {
		t.Fatalf("sent %d, err %v; want Acme sent and Globex's failure reported", n, err)
	}
	if c, _ := st.Cursor(ctx, digest.CursorKey(digesttest.Other)); c != "2026-W46" {
		t.Fatalf("globex cursor moved to %q although its mail failed", c)
	}
	mb.take()
	clock.Set(utc(23, 8, 10)) // within the retry wait
	if n, err := s.Tick(ctx); n != 0 || err != nil {
		t.Fatalf("retried too soon: %d %v", n, err)
	}
	clock.Set(utc(23, 8, 15))
	if n, err := s.Tick(ctx); n != 1 || err != nil {
		t.Fatalf("retry: %d %v", n, err)
	}
	if got := mb.take(); len(got) != 1 || !strings.HasPrefix(got[0], "ops@globex.example: ") {
		t.Fatalf("retry sent %q", got)
	}
}

func TestScheduler_OneReplicaSends(t *testing.T) {
	ctx := context.Background()
	st := seeded(t)
	clock := &manualClock{t: utc(23, 7, 0)}
	a, b := &mailbox{}, &mailbox{}
	sa, sb := scheduler(st, a, clock, nil), scheduler(st, b, clock, nil)
	sb.Owner = "replica-b"
	if _, err := sa.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	// Replica b holds the lease (it sent last, say) when the time comes.
	if held, err := st.Lease(ctx, "digest", "replica-b", utc(23, 7, 59), 10*time.Minute); err != nil || !held {
		t.Fatalf("lease: %v %v", held, err)
	}
	clock.Set(utc(23, 8, 0))
	if n, err := sa.Tick(ctx); n != 0 || err != nil {
		t.Fatalf("replica a sent %d (%v) without the lease", n, err)
	}
	if n, err := sb.Tick(ctx); n != 2 || err != nil {
		t.Fatalf("replica b sent %d (%v); want 2", n, err)
	}
	if n, err := sa.Tick(ctx); n != 0 || err != nil {
		t.Fatalf("replica a sent %d (%v) after b did", n, err)
	}
}

// TestScheduler_RunSendsThroughSMTP runs the loop against the notifier
// and an SMTP sink: the digest arrives as a mail with its headers and the
// golden text.
func TestScheduler_RunSendsThroughSMTP(t *testing.T) {
	st := seeded(t)
	sink, err := imaptest.StartSMTP(imaptest.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	clock := &manualClock{t: utc(23, 7, 0)}
	n, err := notify.New(notify.Options{Clock: clock, SMTP: &notify.SMTP{Host: "127.0.0.1", Port: sink.Port(), TLS: "plain", From: "liaison@support.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	s := scheduler(cs, n, clock, defaults(t))
	s.To = map[string][]string{digesttest.Org: {"it-lead@acme.example"}}
	s.Interval = 5 * time.Millisecond
	logs := &logtest.Buffer{}
	s.Log = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Let the loop initialise the cursor before the clock reaches the schedule.
	waitFor(t, func() bool {
		c, _ := st.Cursor(context.Background(), digest.CursorKey(digesttest.Org))
		return c == "2026-W46"
	})
	clock.Set(utc(23, 8, 0))
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	mails, err := sink.Wait(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(mails[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subject != "Support digest for Acme Corp, week 2026-W47" || msg.Header.Get("Auto-Submitted") != "auto-generated" ||
		msg.Header.Get("X-Liaison-Digest") != "2026-W47" || strings.Join(mails[0].To, ",") != "it-lead@acme.example" {
		t.Errorf("mail headers: subject %q, %v, to %v", subject, msg.Header, mails[0].To)
	}
	// multipart/alternative: the golden text, then the golden HTML.
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q (%v); want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	want, err := os.ReadFile(filepath.Join("testdata", "acme-2026-W47.golden"))
	if err != nil {
		t.Fatal(err)
	}
	_, wantText, _ := strings.Cut(string(want), "\n\n")
	wantHTML, err := os.ReadFile(filepath.Join("testdata", "acme-2026-W47.html.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []struct{ typ, body string }{{"text/plain", wantText}, {"text/html", string(wantHTML)}} {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("%s part: %v", part.typ, err)
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct != part.typ {
			t.Fatalf("part type %q; want %q", ct, part.typ)
		}
		body, _ := io.ReadAll(quotedprintable.NewReader(p))
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
		if string(body) != part.body {
			t.Errorf("mailed %s part differs from the golden one:\n%s", part.typ, body)
		}
	}
	waitFor(t, func() bool {
		c, _ := st.Cursor(context.Background(), digest.CursorKey(digesttest.Org))
		return c == "2026-W47"
	})
	// The loop keeps checking; nothing more is sent this week.
	clock.Set(utc(24, 9, 0))
	seen := cs.reads.Load()
	waitFor(t, func() bool { return cs.reads.Load() >= seen+3 }) // the third read starts after a whole check at the new time
	if got := len(sink.Messages()); got != 1 {
		t.Fatalf("%d mails; want 1", got)
	}
	if !strings.Contains(logs.String(), "weekly digest sent") {
		t.Errorf("no log line says the digest went out:\n%s", logs.String())
	}
}

// countingStore counts cursor reads: one per organisation per check.
type countingStore struct {
	digest.Store
	reads atomic.Int64
}

func (c *countingStore) Cursor(ctx context.Context, key string) (string, error) {
	c.reads.Add(1)
	return c.Store.Cursor(ctx, key)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestScheduler_DigestTheServerMayHaveTakenIsNotSentTwice: the SMTP server
// takes the whole digest and answers only after the gateway stopped
// waiting. The customer may have it: it counts as sent, and a later check
// does not send it again.
func TestScheduler_DigestTheServerMayHaveTakenIsNotSentTwice(t *testing.T) {
	ctx := context.Background()
	st := seeded(t)
	sink, err := imaptest.StartSMTP(imaptest.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	sink.AnswerLate(1, 3*time.Second)
	clock := &manualClock{t: utc(23, 7, 0)}
	n, err := notify.New(notify.Options{Clock: clock, Timeout: 300 * time.Millisecond,
		SMTP: &notify.SMTP{Host: "127.0.0.1", Port: sink.Port(), TLS: "plain", From: "liaison@support.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	s := scheduler(st, n, clock, defaults(t))
	s.To = map[string][]string{digesttest.Org: {"it-lead@acme.example"}}
	if _, err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Set(utc(23, 8, 0))
	if _, err := s.Tick(ctx); err != nil {
		t.Fatalf("a digest of unknown outcome reported as failed: %v", err)
	}
	if c, _ := st.Cursor(ctx, digest.CursorKey(digesttest.Org)); c != "2026-W47" {
		t.Fatalf("cursor %q after a digest the server may have taken; want 2026-W47", c)
	}
	clock.Set(utc(23, 9, 0)) // past any retry wait
	if sent, err := s.Tick(ctx); sent != 0 || err != nil {
		t.Fatalf("later check sent %d (%v); want none", sent, err)
	}
	if got := len(sink.Messages()); got != 1 {
		t.Fatalf("the server took %d digests; want 1", got)
	}
}

package imap

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/logtest"
)

// memSink is a core.Sink that behaves like the store: it keeps cursors,
// de-duplicates events on (Source, DeliveryID) and can be told to fail.
type memSink struct {
	mu        sync.Mutex
	cursors   map[string]string
	seen      map[string]bool
	events    []core.Event // new events, in order
	dups      int          // events dropped as duplicates
	delivered int          // every event handed to Ingest
	failNext  int
	// panicNext makes that many Ingest calls panic, quoting the mail's
	// subject as careless code might.
	panicNext int
	// failCursor, when set, may refuse a cursor write (a crash before it).
	failCursor func(key, value string) error
	reads      map[string]int // cursor reads by key
	changed    chan struct{}
}

func newMemSink() *memSink {
	return &memSink{cursors: map[string]string{}, seen: map[string]bool{}, reads: map[string]int{}, changed: make(chan struct{})}
}

var errSinkDown = errors.New("store unavailable")

func (s *memSink) Ingest(_ context.Context, events []core.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return errSinkDown
	}
	if s.panicNext > 0 && len(events) > 0 {
		s.panicNext--
		panic("cannot take " + events[0].Item.Title)
	}
	for _, e := range events {
		s.delivered++
		k := e.Source + "\x00" + e.DeliveryID
		if s.seen[k] {
			s.dups++
			continue
		}
		s.seen[k] = true
		s.events = append(s.events, e)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (s *memSink) Cursor(_ context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[key]++
	return s.cursors[key], nil
}

func (s *memSink) SetCursor(_ context.Context, key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCursor != nil {
		if err := s.failCursor(key, value); err != nil {
			return err
		}
	}
	s.cursors[key] = value
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (s *memSink) Events() []core.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]core.Event(nil), s.events...)
}

// waitFor polls cond on every change of the sink until it holds or the
// deadline passes.
func (s *memSink) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-time.After(20 * time.Millisecond):
			// Changes outside the sink (a mailbox move) are polled.
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (s *memSink) waitEvents(t *testing.T, n int) []core.Event {
	t.Helper()
	s.waitFor(t, "events", func() bool { return len(s.Events()) >= n })
	return s.Events()
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func eml(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "email", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const testPassword = "imap-pass-7c1e9d"
const testSMTPPassword = "smtp-pass-4b2a8f"

type fixture struct {
	c     *Connector
	srv   *imaptest.Server
	smtp  *imaptest.SMTP
	sink  *memSink
	clock *clock.Manual
	logs  *logtest.Buffer
	proto *logtest.Buffer // the IMAP exchange with srv
}

// newFixture starts an in-process IMAP server and SMTP sink and builds a
// connector for them. mutate may change the config before it is compiled.
func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	proto := &logtest.Buffer{}
	srv, err := imaptest.Start(imaptest.Options{Password: testPassword, Debug: proto})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	out, err := imaptest.StartSMTP(imaptest.SMTPOptions{User: "gateway", Password: testSMTPPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	f := &fixture{srv: srv, smtp: out, proto: proto, sink: newMemSink(), clock: clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)), logs: &logtest.Buffer{}}
	cfg := Config{
		Host:          "127.0.0.1",
		Port:          srv.Port(),
		TLS:           "plain",
		Username:      srv.User,
		PasswordEnv:   "IMAP_PASSWORD",
		OwnAddress:    "support@example.com",
		SMTP:          SMTP{Host: "127.0.0.1", Port: out.Port(), TLS: "plain", Username: "gateway", PasswordEnv: "SMTP_PASSWORD"},
		Ack:           "Thank you, we opened ticket #{{.Ticket}} for {{.Subject}}.",
		AckPerHour:    3,
		LoopThreshold: 5,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	f.c = build(t, cfg, f.clock, f.logs)
	f.c.hooks.backoff = func(time.Duration) <-chan time.Time { return immediate() }
	t.Cleanup(func() { f.dumpLogs(t) })
	return f
}

func build(t *testing.T, cfg Config, clock core.Clock, logs *logtest.Buffer) *Connector {
	t.Helper()
	conn, err := New(core.Setup{
		Name:   "imap",
		Decode: func(v any) error { *v.(*Config) = cfg; return nil },
		Log:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:  clock,
		Env: func(k string) string {
			return map[string]string{"IMAP_PASSWORD": testPassword, "SMTP_PASSWORD": testSMTPPassword}[k]
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return conn.(*Connector)
}

func immediate() <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

// run starts the connector's Run and returns a function that stops it and
// waits for it to return.
func (f *fixture) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.c.Run(ctx, f.sink) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func (f *fixture) count(t *testing.T, mailbox string) int {
	t.Helper()
	n, err := f.srv.Count(mailbox)
	if err != nil {
		return -1
	}
	return n
}

func (f *fixture) dumpLogs(t *testing.T) {
	if t.Failed() {
		t.Log(f.logs.String())
	}
}

func (c Config) withPort(p int) *Config { c.Port = p; return &c }

// withHeader is a real mail with one header changed (see
// imaptest.ReplaceHeader).
func withHeader(t testing.TB, raw []byte, name, value string) []byte {
	t.Helper()
	out, err := imaptest.ReplaceHeader(raw, name, value)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

package imap

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/mail"
	"github.com/liaisonhq/liaison/core"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	inbox     = "INBOX"
	processed = "Liaison/Processed"
	failedBox = "Liaison/Failed"
)

// idleCounter counts IDLE commands the runner issued.
type idleCounter struct {
	mu sync.Mutex
	n  int
}

func (i *idleCounter) hook(string) { i.mu.Lock(); i.n++; i.mu.Unlock() }
func (i *idleCounter) get() int    { i.mu.Lock(); defer i.mu.Unlock(); return i.n }

func (f *fixture) cursor(t *testing.T) mailboxCursor {
	t.Helper()
	return f.cursorOf(t, "INBOX")
}

func (f *fixture) cursorOf(t *testing.T, mailbox string) mailboxCursor {
	t.Helper()
	var c mailboxCursor
	raw, _ := f.sink.Cursor(context.Background(), "imap:mailbox:"+mailbox)
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			t.Fatalf("cursor %q: %v", raw, err)
		}
	}
	return c
}

func (f *fixture) append(t *testing.T, mailbox string, raw []byte) {
	t.Helper()
	if _, err := f.srv.Append(mailbox, raw); err != nil {
		t.Fatal(err)
	}
}

func TestRun_IdleDeliversNewMail(t *testing.T) {
	f := newFixture(t, nil)
	idles := &idleCounter{}
	f.c.hooks.idling = idles.hook
	f.run(t)
	eventually(t, "the runner idling", func() bool { return idles.get() >= 1 })

	f.append(t, inbox, eml(t, "french-utf8-multiple-attachments.eml"))
	evs := f.sink.waitEvents(t, 1)
	if evs[0].Type != core.Mailed || evs[0].Item.Ref.ID != "1836555613.12616.1405958221099.JavaMail.www@wwinf1h05" || evs[0].Via != core.ViaPush {
		t.Fatalf("event %s on %s via %s", evs[0].Type, evs[0].Item.Ref, evs[0].Via)
	}
	eventually(t, "the mail moved to the processed mailbox", func() bool { return f.count(t, processed) == 1 && f.count(t, inbox) == 0 })
	msgs, err := f.srv.Messages(processed)
	if err != nil {
		t.Fatal(err)
	}
	if !msgs[0].Seen() {
		t.Errorf("processed message flags %v, want \\Seen", msgs[0].Flags)
	}
	f.sink.waitFor(t, "the cursor", func() bool { return f.cursor(t).LastUID == 1 })
	if c := f.cursor(t); c.V != 1 || c.UIDValidity == 0 {
		t.Errorf("cursor %+v", c)
	}
}

// TestRun_IdleLooksAgainEveryPollInterval: a notification the server
// drops costs at most a poll interval, not the IDLE renewal's 25 minutes.
func TestRun_IdleLooksAgainEveryPollInterval(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.IdleRenew = Duration(20 * time.Minute); c.PollInterval = Duration(time.Minute) })
	asked := make(chan time.Duration, 16)
	f.c.hooks.after = func(d time.Duration) <-chan time.Time {
		asked <- d
		return make(chan time.Time)
	}
	f.run(t)
	select {
	case d := <-asked:
		if d != time.Minute {
			t.Errorf("IDLE ends after %s, want the poll interval (1m)", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the runner never idled")
	}
}

func TestRun_IdleIsRenewedBeforeServersDropIt(t *testing.T) {
	renew := make(chan time.Time)
	f := newFixture(t, func(c *Config) { c.IdleRenew = Duration(20 * time.Minute); c.PollInterval = Duration(30 * time.Minute) })
	var asked []time.Duration
	var mu sync.Mutex
	f.c.hooks.after = func(d time.Duration) <-chan time.Time {
		mu.Lock()
		asked = append(asked, d)
		mu.Unlock()
		return renew
	}
	idles := &idleCounter{}
	f.c.hooks.idling = idles.hook
	f.run(t)
	eventually(t, "first IDLE", func() bool { return idles.get() == 1 })
	renew <- time.Now() // 20 minutes pass
	eventually(t, "IDLE re-issued", func() bool { return idles.get() == 2 })
	mu.Lock()
	defer mu.Unlock()
	if asked[0] != 20*time.Minute {
		t.Errorf("IDLE renewal timer %s, want the configured 20m", asked[0])
	}
	// Mail still arrives on the renewed IDLE.
	f.append(t, inbox, eml(t, "pdf-attachment.eml"))
	f.sink.waitEvents(t, 1)
}

func TestRun_PollsWhenIdleIsOff(t *testing.T) {
	tick := make(chan time.Time)
	f := newFixture(t, func(c *Config) { off := false; c.IDLE = &off; c.PollInterval = Duration(30 * time.Second) })
	f.c.hooks.after = func(d time.Duration) <-chan time.Time {
		if d != 30*time.Second {
			t.Errorf("poll timer %s, want 30s", d)
		}
		return tick
	}
	idles := &idleCounter{}
	f.c.hooks.idling = idles.hook
	f.run(t)
	tick <- time.Now() // the runner is waiting for its first poll
	f.append(t, inbox, eml(t, "pdf-attachment.eml"))
	tick <- time.Now()
	f.sink.waitEvents(t, 1)
	if idles.get() != 0 {
		t.Error("the runner idled with idle: false")
	}
}

// TestRun_RestartNeitherLosesNorDuplicates stops the runner, delivers mail
// while it is down, and starts it again on the same store.
func TestRun_RestartNeitherLosesNorDuplicates(t *testing.T) {
	f := newFixture(t, nil)
	stop := f.run(t)
	f.append(t, inbox, eml(t, "pdf-attachment.eml"))
	f.append(t, inbox, eml(t, "korean-ks_c_5601-1987.eml"))
	f.sink.waitEvents(t, 2)
	eventually(t, "both processed", func() bool { return f.count(t, processed) == 2 })
	stop()

	f.append(t, inbox, eml(t, "japanese-iso-2022-jp.eml"))
	f.c.mu.Lock()
	f.c.sink = nil
	f.c.mu.Unlock()
	f.run(t)
	evs := f.sink.waitEvents(t, 3)
	// The cursor is written after the move: wait for both.
	eventually(t, "all processed", func() bool {
		return f.count(t, processed) == 3 && f.count(t, inbox) == 0 && f.cursor(t).LastUID == 3
	})
	if f.sink.delivered != 3 || f.sink.dups != 0 {
		t.Errorf("delivered %d events with %d duplicates, want 3 and 0", f.sink.delivered, f.sink.dups)
	}
	if evs[2].Item.Title != "まみむめも" {
		t.Errorf("third event %q", evs[2].Item.Title)
	}
	// The cursor is saved after the move that "all processed" sees.
	eventually(t, "cursor at the last UID", func() bool { return f.cursor(t).LastUID == 3 })
}

// TestRun_FailedIngestDoesNotAdvance: a store failure leaves the message in
// the inbox, unflagged, and the cursor where it was; the retry ingests it once.
func TestRun_FailedIngestDoesNotAdvance(t *testing.T) {
	f := newFixture(t, nil)
	f.sink.failNext = 1
	release := make(chan time.Time)
	f.c.hooks.backoff = func(time.Duration) <-chan time.Time { return release }
	f.append(t, inbox, eml(t, "pdf-attachment.eml"))
	f.run(t)
	eventually(t, "the failed attempt", func() bool { f.sink.mu.Lock(); defer f.sink.mu.Unlock(); return f.sink.failNext == 0 })
	msgs, err := f.srv.Messages(inbox)
	if err != nil || len(msgs) != 1 || msgs[0].Seen() {
		t.Fatalf("inbox after failed ingest: %v %v, want the message still there unseen", msgs, err)
	}
	if c := f.cursor(t); c.LastUID != 0 {
		t.Fatalf("cursor advanced to %d after a failed ingest", c.LastUID)
	}
	if len(f.sink.Events()) != 0 {
		t.Fatal("events recorded by a failed ingest")
	}
	release <- time.Now()
	f.sink.waitEvents(t, 1)
	eventually(t, "processed after retry", func() bool { return f.count(t, processed) == 1 })
	if f.sink.delivered != 1 {
		t.Errorf("delivered %d, want 1", f.sink.delivered)
	}
}

// TestRun_APanicEndsTheSessionNotTheGateway: a panic while a mail is
// taken in ends that session, logged with its stack and without the
// mail's words; the session after it takes the mail in once.
func TestRun_APanicEndsTheSessionNotTheGateway(t *testing.T) {
	f := newFixture(t, nil)
	f.sink.panicNext = 1
	f.append(t, inbox, eml(t, "pdf-attachment.eml"))
	f.run(t)
	f.sink.waitEvents(t, 1)
	eventually(t, "processed after the panic", func() bool { return f.count(t, processed) == 1 })
	if f.sink.delivered != 1 || f.sink.panicNext != 0 {
		t.Errorf("delivered %d (panics left %d), want 1 after the one panic", f.sink.delivered, f.sink.panicNext)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "imap session panicked") || !strings.Contains(logs, "memSink") {
		t.Errorf("the panic is not logged with its stack:\n%s", logs)
	}
	if title := f.sink.Events()[0].Item.Title; strings.Contains(logs, title) {
		t.Errorf("the log quotes the mail's subject %q", title)
	}
}

// TestRun_UIDValidityChange: the mailbox is recreated (a restore) with the
// messages it had plus a new one. The runner re-reads it: what it had
// ingested comes back only as duplicates, the new mail once.
func TestRun_UIDValidityChange(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ProcessedMailbox = "Archive" })
	old1, old2 := eml(t, "pdf-attachment.eml"), eml(t, "korean-ks_c_5601-1987.eml")
	f.append(t, inbox, old1)
	f.append(t, inbox, old2)
	stop := f.run(t)
	f.sink.waitEvents(t, 2)
	eventually(t, "processed", func() bool { return f.count(t, "Archive") == 2 })
	stop()
	before, _ := f.srv.UIDValidity(inbox)

	// The restore brings back the old messages and a new one.
	f.append(t, inbox, old1)
	f.append(t, inbox, old2)
	f.append(t, inbox, eml(t, "yahoo-utf8-qp-english-russian.eml"))
	if err := f.srv.RecreateMailbox(inbox); err != nil {
		t.Fatal(err)
	}
	after, _ := f.srv.UIDValidity(inbox)
	if after == before {
		t.Fatal("UIDVALIDITY did not change")
	}
	f.run(t)
	f.sink.waitEvents(t, 3)
	eventually(t, "inbox drained", func() bool { return f.count(t, inbox) == 0 })
	f.sink.waitFor(t, "cursor on the new UIDVALIDITY", func() bool { return f.cursor(t).UIDValidity == after })
	if got := len(f.sink.Events()); got != 3 || f.sink.dups != 2 {
		t.Errorf("%d distinct events, %d duplicates; want 3 and 2", got, f.sink.dups)
	}
	if !strings.Contains(f.logs.String(), "UIDVALIDITY changed") {
		t.Error("the UIDVALIDITY change was not logged")
	}
}

func TestRun_ReconnectsAfterDroppedConnection(t *testing.T) {
	f := newFixture(t, nil)
	idles := &idleCounter{}
	f.c.hooks.idling = idles.hook
	f.run(t)
	eventually(t, "idling", func() bool { return idles.get() >= 1 })
	before := testutil.ToFloat64(reconnects.WithLabelValues("imap", inbox))
	if n := f.srv.DropConnections(); n == 0 {
		t.Fatal("no connection to drop")
	}
	f.append(t, inbox, eml(t, "pdf-attachment.eml"))
	f.sink.waitEvents(t, 1)
	if got := testutil.ToFloat64(reconnects.WithLabelValues("imap", inbox)) - before; got < 1 {
		t.Errorf("reconnects counted %v, want at least 1", got)
	}
	if f.srv.Connections() < 2 {
		t.Errorf("server saw %d connections, want a reconnect", f.srv.Connections())
	}
}

// TestRun_TwoMailsOneThread: a mail and its reply make one thread whose
// record holds both as comments.
func TestRun_TwoMailsOneThread(t *testing.T) {
	f := newFixture(t, nil)
	first := eml(t, "pdf-attachment.eml") // Message-ID <xxxx@xxxx.com>
	// The customer's reply, derived from a real reply (reply-yahoo.eml) by
	// pointing its In-Reply-To at the first mail and its From at the
	// customer (only a participant's reply joins a thread).
	second := []byte(strings.Replace(string(eml(t, "reply-yahoo.eml")), "<1333374262.7063.15.camel@mg5>", "<xxxx@xxxx.com>", 1))
	second = withHeader(t, second, "From", "Test Tester <xxxx@xxxx.com>")
	f.run(t)
	f.append(t, inbox, first)
	f.sink.waitEvents(t, 1)
	f.append(t, inbox, second)
	evs := f.sink.waitEvents(t, 2)
	if evs[0].Item.Ref != evs[1].Item.Ref {
		t.Fatalf("two threads: %s and %s", evs[0].Item.Ref, evs[1].Item.Ref)
	}
	if evs[0].Type != core.Mailed || evs[1].Type != core.Commented {
		t.Errorf("types %s, %s; want mailed then commented", evs[0].Type, evs[1].Type)
	}
	var it *core.Item
	for _, e := range evs {
		m := core.Merge(it, e.Item)
		it = &m
	}
	if len(it.Comments) != 2 || it.Title != "Another PDF with 🎉 Unicode chars in it 🍿" || it.Reporter != "xxxx@xxxx.com" {
		t.Errorf("merged thread: %d comments, title %q, reporter %q", len(it.Comments), it.Title, it.Reporter)
	}
	if it.Comments[1].Body != "Hello" {
		t.Errorf("reply comment %q, want the new text only", it.Comments[1].Body)
	}
	if got := it.Fields["participants"]; !strings.Contains(got, "bob@xxx.mailgun.org") || !strings.Contains(got, "xxxx@xxxx.com") {
		t.Errorf("participants %q", got)
	}
}

// TestRun_UnreadableMailGoesToFailedMailbox: nothing is deleted, nothing
// is ingested, the reason is logged without the content, the counter moves.
func TestRun_UnreadableMailGoesToFailedMailbox(t *testing.T) {
	f := newFixture(t, nil)
	before := testutil.ToFloat64(messagesTotal.WithLabelValues("imap", inbox, string(outFailed)))
	noSender := eml(t, "utf16-and-euc-jp-parts.eml")
	garbage := []byte("this line is no header\nand neither is this one: secret body text 51cf\n")
	f.append(t, inbox, noSender)
	f.append(t, inbox, garbage)
	f.append(t, inbox, eml(t, "pdf-attachment.eml"))
	f.run(t)
	f.sink.waitEvents(t, 1)
	eventually(t, "failed mail filed", func() bool { return f.count(t, failedBox) == 2 && f.count(t, processed) == 1 })
	// The runner counts and logs its verdicts once the mails are filed.
	failed := func() float64 {
		return testutil.ToFloat64(messagesTotal.WithLabelValues("imap", inbox, string(outFailed))) - before
	}
	eventually(t, "failed mail counted", func() bool { return failed() >= 2 })
	if got := failed(); got != 2 {
		t.Errorf("failed counter moved by %v, want 2", got)
	}
	if len(f.sink.Events()) != 1 {
		t.Errorf("%d events, want only the readable mail's", len(f.sink.Events()))
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "failed mailbox") {
		t.Error("failure not logged")
	}
	for _, leak := range []string{"secret body text", "Test message", "世界人権宣言"} {
		if strings.Contains(logs, leak) {
			t.Errorf("log holds message content %q", leak)
		}
	}
}

// TestRun_AutoReplyAndBounceMakeNoTicketAndNoMail runs the loop a real
// deployment sees: a customer mail is acknowledged; the customer's
// vacation auto-reply to the acknowledgement and a bounce of it come back.
// Neither becomes a person's mail event, and no further mail is sent.
func TestRun_AutoReplyAndBounceMakeNoTicketAndNoMail(t *testing.T) {
	f := newFixture(t, nil)
	f.run(t)
	customer := eml(t, "yahoo-utf8-qp-english-russian.eml") // from hello@example.com
	f.append(t, inbox, customer)
	evs := f.sink.waitEvents(t, 1)
	thread := evs[0].Item.Ref

	ack := core.Action{Key: "rule:ack|" + thread.String(), Kind: core.Notify, Target: thread, Fields: map[string]string{"ticket": "4521"}}
	if _, err := f.c.Apply(context.Background(), ack); err != nil {
		t.Fatal(err)
	}
	sent, _ := f.smtp.Wait(ctxT(t), 1)
	ackID := ownMessageID(ack.Key, thread.ID, "example.com")

	// A vacation reply to the acknowledgement (a real one, addressed to
	// our acknowledgement's Message-ID) and a bounce of the acknowledgement
	// (a real Postfix DSN whose enclosed original is our acknowledgement).
	vacation := strings.Replace(string(eml(t, "autoreply-subject-only-no-auto-submitted.eml")), "25203A4E-F90F-4A14-BF51-3E7B9D39BE8E@libsisimai.org", ackID, -1)
	dsn := strings.Replace(string(eml(t, "bounce-postfix-mailbox-full-dsn.eml")), "4E326A95.3010907@example.com", ackID, -1)
	dsn = strings.Replace(dsn, "user@aol.com", "hello@example.com", -1)
	f.append(t, inbox, []byte(vacation))
	f.append(t, inbox, []byte(dsn))
	evs = f.sink.waitEvents(t, 2)
	eventually(t, "all filed", func() bool { return f.count(t, processed) == 3 })
	if len(f.sink.Events()) != 2 {
		t.Fatalf("%d events, want the customer's mail and the bounce", len(f.sink.Events()))
	}
	b := evs[1]
	if b.Type != core.Bounced || b.Item.Ref != thread || b.Item.Fields["bounce_of"] != ackID || b.Item.Fields["no_autoreply"] != "true" {
		t.Errorf("bounce event %s on %s bounce_of %q no_autoreply %q", b.Type, b.Item.Ref, b.Item.Fields["bounce_of"], b.Item.Fields["no_autoreply"])
	}
	// Whatever the rules ask next, no automatic mail goes to an address
	// that bounced.
	res, err := f.c.Apply(context.Background(), core.Action{Key: "rule:ack2|" + thread.String(), Kind: core.Notify, Target: thread, Body: "A reminder."})
	if err != nil || !strings.Contains(res.Note, "not sent") {
		t.Errorf("notify after bounce: %+v %v, want suppressed", res, err)
	}
	if got := len(f.smtp.Messages()); got != len(sent) {
		t.Errorf("%d mails sent, want only the first acknowledgement", got)
	}
	if m, _ := mail.Parse(sent[0].Data); m.Header("Auto-Submitted") != "auto-replied" {
		t.Errorf("acknowledgement Auto-Submitted %q", m.Header("Auto-Submitted"))
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRun_ThrottledSenderMailIsFiledNotTicketed: with throttled_mailbox
// set, a sender's mail past new_threads_per_sender_per_hour is filed
// there, opens no thread, and tells its latest thread (once per thread,
// by the rules) why; the sender gets no automatic mail.
func TestRun_ThrottledSenderMailIsFiledNotTicketed(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.NewThreadsPerHour, c.ThrottledMailbox = 2, "Liaison/Throttled" })
	f.run(t)
	raw := eml(t, "reply-support-ticket-proxmox-8bit.eml") // from jsterr@proxforge.de
	for i := range 5 {
		f.append(t, inbox, withHeader(t, raw, "Message-ID", fmt.Sprintf("<loop-%d@proxforge.de>", i)))
	}
	evs := f.sink.waitEvents(t, 5)
	eventually(t, "all filed", func() bool { return f.count(t, processed)+f.count(t, "Liaison/Throttled") == 5 })
	if p, th := f.count(t, processed), f.count(t, "Liaison/Throttled"); p != 2 || th != 3 {
		t.Errorf("filed: %d processed, %d throttled; want 2 and 3", p, th)
	}
	threads := map[core.Ref]bool{}
	for _, e := range evs {
		threads[e.Item.Ref] = true
	}
	last := evs[4]
	if len(threads) != 2 || last.Type != core.Commented || len(last.Item.Comments) != 0 ||
		!strings.Contains(last.Item.Fields["throttled"], `filed in the mailbox "Liaison/Throttled"`) {
		t.Errorf("%d threads; last event %s on %s with %d comments, throttled %q; want 2 threads and the latest told why",
			len(threads), last.Type, last.Item.Ref, len(last.Item.Comments), last.Item.Fields["throttled"])
	}
	res, err := f.c.Apply(context.Background(), core.Action{Key: "ack|" + last.Item.Ref.String(), Kind: core.Notify, Target: last.Item.Ref, Fields: map[string]string{"ticket": "9"}})
	if err != nil || res.CommentID != "" || !strings.Contains(res.Note, "new_threads_per_sender_per_hour") {
		t.Errorf("acknowledgement to the throttled sender: %+v %v; want none", res, err)
	}
}

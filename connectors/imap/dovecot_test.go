package imap

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/logtest"
)

// dovecotAdmin sets up and looks at the test's own mailbox on the Dovecot
// of testdata/dovecot.sh (see imaptest.StartDovecot).
type dovecotAdmin struct {
	t *testing.T
	*imaptest.Dovecot
}

// newDovecot gives the test a mailbox of its own, named after prefix.
func newDovecot(t *testing.T, prefix string) *dovecotAdmin {
	return &dovecotAdmin{t: t, Dovecot: imaptest.StartDovecot(t, prefix)}
}

// newDovecotFixture builds a connector that reads a mailbox of its own on
// the test Dovecot (named after prefix) and files under it.
func newDovecotFixture(t *testing.T, prefix string) (*fixture, *dovecotAdmin) {
	t.Helper()
	admin := newDovecot(t, prefix)
	f := &fixture{sink: newMemSink(), clock: clock.NewManual(time.Now()), logs: &logtest.Buffer{}}
	t.Cleanup(func() { f.dumpLogs(t) })
	cfg := Config{Host: admin.Host, Port: admin.Port, TLS: "plain", Username: admin.User, PasswordEnv: "IMAP_PASSWORD", OwnAddress: "support@example.com",
		Mailboxes: []string{admin.Box}, ProcessedMailbox: admin.Box + "/Processed", FailedMailbox: admin.Box + "/Failed"}
	f.c = buildWithPassword(t, cfg, f.clock, f.logs, admin.Password)
	f.c.hooks.backoff = func(time.Duration) <-chan time.Time { return immediate() }
	return f, admin
}

func (a *dovecotAdmin) append(raw []byte) {
	a.t.Helper()
	if err := a.Append(a.Box, raw); err != nil {
		a.t.Fatal(err)
	}
}

func (a *dovecotAdmin) uidNext() uint32 {
	data, err := a.Admin.Status(a.Box, &imap.StatusOptions{UIDNext: true}).Wait()
	if err != nil {
		a.t.Fatal(err)
	}
	return uint32(data.UIDNext)
}

// TestDovecot runs the intake against a real Dovecot: real mails are
// appended, the connector ingests them over IDLE with CONDSTORE, files
// them, and a restart reads only what arrived meanwhile.
func TestDovecot(t *testing.T) {
	f, admin := newDovecotFixture(t, "LiaisonTest")
	done := admin.Box + "/Processed"
	idles := &idleCounter{}
	f.c.hooks.idling = idles.hook

	customer := eml(t, "outlook2000-windows1252-qp.eml") // Message-ID NDBBIAKOPKHFGPLCODIGCEKECHAA.doug@example.com
	// A reply to it, derived from a real reply by pointing its In-Reply-To
	// at the customer's mail.
	replyRaw := bytes.Replace(eml(t, "reply-yahoo.eml"), []byte("<1333374262.7063.15.camel@mg5>"), []byte("<NDBBIAKOPKHFGPLCODIGCEKECHAA.doug@example.com>"), 1)
	replyRaw = withHeader(t, replyRaw, "From", "Doug Sauder <doug@example.com>") // the customer answers
	firstUID := admin.uidNext()
	admin.append(customer)
	admin.append(eml(t, "autoreply-vacation-auto-submitted.eml"))

	stop := f.run(t)
	f.sink.waitEvents(t, 1)
	eventually(t, "idling on Dovecot", func() bool { return idles.get() >= 1 })
	admin.append(replyRaw) // arrives over IDLE
	evs := f.sink.waitEvents(t, 2)
	eventually(t, "mail filed", func() bool {
		return admin.Count(done) == 3 && admin.Count(admin.Box) == 0 && f.cursorOf(t, admin.Box).LastUID == firstUID+2
	})
	stop()

	root := "NDBBIAKOPKHFGPLCODIGCEKECHAA.doug@example.com"
	if evs[0].Type != core.Mailed || evs[0].Item.Ref.ID != root || !strings.Contains(evs[0].Item.Body, "mißliche Lage") {
		t.Errorf("first event %s on %s body %q", evs[0].Type, evs[0].Item.Ref, excerptOf(evs[0].Item.Body))
	}
	if evs[1].Type != core.Commented || evs[1].Item.Ref.ID != root || evs[1].Item.Comments[0].Body != "Hello" {
		t.Errorf("second event %s on %s", evs[1].Type, evs[1].Item.Ref)
	}
	c := f.cursorOf(t, admin.Box)
	if c.UIDValidity == 0 || c.LastUID != firstUID+2 || c.ModSeq == 0 {
		t.Errorf("cursor %+v: want UIDVALIDITY, last UID %d and a CONDSTORE modseq", c, firstUID+2)
	}

	// Restart: only the mail that arrived while down is read.
	admin.append(eml(t, "japanese-iso-2022-jp.eml"))
	f.c.mu.Lock()
	f.c.sink = nil
	f.c.mu.Unlock()
	f.run(t)
	evs = f.sink.waitEvents(t, 3)
	eventually(t, "filed after restart", func() bool { return admin.Count(done) == 4 })
	if f.sink.delivered != 3 || f.sink.dups != 0 || evs[2].Item.Title != "まみむめも" {
		t.Errorf("after restart: %d delivered, %d duplicates, last %q", f.sink.delivered, f.sink.dups, evs[2].Item.Title)
	}
}

func excerptOf(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

func buildWithPassword(t *testing.T, cfg Config, clock core.Clock, logs *logtest.Buffer, pass string) *Connector {
	t.Helper()
	c := build(t, cfg, clock, logs)
	c.cfg.password = core.Secret(pass)
	return c
}

// dovecotFixture is newFixture with the mailbox on the test's own Dovecot
// mailbox (sent mail filed under it) and mail sent to the in-process SMTP
// sink.
func dovecotFixture(t *testing.T) (*fixture, *dovecotAdmin) {
	admin := newDovecot(t, "LiaisonTest")
	f := newFixture(t, func(c *Config) {
		c.Host, c.Port, c.Username = admin.Host, admin.Port, admin.User
		c.Mailboxes = []string{admin.Box}
		c.ProcessedMailbox, c.FailedMailbox, c.SentMailbox = admin.Box+"/Processed", admin.Box+"/Failed", admin.Box+"/Sent"
	})
	f.c.cfg.password = core.Secret(admin.Password)
	return f, admin
}

// TestDovecot_AcknowledgementIsNeverSentTwice: the acknowledgement's
// Message-ID is recorded before the mail leaves, and a copy is filed in
// the sent mailbox. An attempt that died after the SMTP server took the
// mail (here: its last record fails) is retried without a second mail,
// finding the copy; an attempt that died before the copy was filed is not
// retried at all. The engine's check of an uncertain reply finds it in
// the sent mailbox too.
func TestDovecot_AcknowledgementIsNeverSentTwice(t *testing.T) {
	f, admin := dovecotFixture(t)
	ctx := context.Background()
	sent := admin.Box + "/Sent"

	// Crash after the SMTP server accepted the mail and it was filed.
	thread := f.seedThread(t, eml(t, "korean-ks_c_5601-1987.eml"))
	ack := core.Action{Key: "rule:mail-acknowledged|" + thread.String(), Kind: core.Notify, Target: thread, Fields: map[string]string{"ticket": "4521"}}
	f.sink.failCursor = func(key, value string) error {
		if strings.Contains(value, `"ack_state":"sent"`) {
			return errSinkDown
		}
		return nil
	}
	if _, err := f.c.Apply(ctx, ack); err == nil {
		t.Fatal("the attempt whose record failed reported success")
	}
	f.sink.failCursor = nil
	if n := len(f.smtp.Messages()); n != 1 || admin.Count(sent) != 1 {
		t.Fatalf("after the first attempt: %d mails sent, %d filed; want 1 and 1", n, admin.Count(sent))
	}
	res, err := f.c.Apply(ctx, ack)
	id := ownMessageID(ack.Key, thread.ID, "example.com")
	if err != nil || res.CommentID != id || !strings.Contains(res.Note, "found in") {
		t.Errorf("retry: %+v %v; want the first attempt's mail found in %s", res, err, sent)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("mails sent: %d; want the one acknowledgement", n)
	}

	// Crash after the SMTP server accepted the mail, before it was filed:
	// the record says it may be out; it is not sent again.
	other := f.seedThread(t, eml(t, "reply-thunderbird.eml"))
	otherAck := core.Action{Key: "rule:mail-acknowledged|" + other.String(), Kind: core.Notify, Target: other, Fields: map[string]string{"ticket": "4522"}}
	st := newState(f.sink, f.c.name)
	if err := st.writeTicket(ctx, other.ID, ticketRecord{Ticket: "4522", AckID: ownMessageID(otherAck.Key, other.ID, "example.com"), AckState: ackSending}); err != nil {
		t.Fatal(err)
	}
	res, err = f.c.Apply(ctx, otherAck)
	if err != nil || res.CommentID != "" || !strings.Contains(res.Note, "not sent again") {
		t.Errorf("retry of an unconfirmed acknowledgement: %+v %v; want it not sent", res, err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("mails sent: %d; want still one", n)
	}

	// A reply from the help desk: sent and filed; the engine's check of
	// an uncertain attempt finds it.
	reply := core.Action{Key: "mirror|" + thread.String(), Kind: core.AddComment, Target: thread, Body: "We found the cause."}
	if _, err := f.c.Apply(ctx, reply); err != nil {
		t.Fatal(err)
	}
	res, done, err := f.c.Applied(ctx, reply)
	if err != nil || !done || res.CommentID != ownMessageID(reply.Key, thread.ID, "example.com") {
		t.Errorf("Applied after the reply: %+v %v %v; want it found in %s", res, done, err, sent)
	}
	if _, done, _ := f.c.Applied(ctx, core.Action{Key: "never-sent", Kind: core.AddComment, Target: thread}); done {
		t.Error("Applied found a mail that was never sent")
	}
}

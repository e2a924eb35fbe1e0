package imap

import (
	"bytes"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
)

// dovecotServer returns the address and credentials of the Dovecot
// started by testdata/dovecot.sh. Without it the test skips, except in CI
// (CI=true), where a missing server is a failure.
func dovecotServer(t *testing.T) (addr, user, pass string) {
	t.Helper()
	addr = envOr("LIAISON_DOVECOT_ADDR", "127.0.0.1:10143")
	user = envOr("LIAISON_DOVECOT_USER", "liaison")
	pass = envOr("LIAISON_DOVECOT_PASSWORD", "liaison-test-password")
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		msg := "no Dovecot at " + addr + " (" + err.Error() + "): run connectors/imap/testdata/dovecot.sh as root to start one"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must start it before the tests")
		}
		t.Skip(msg)
	}
	conn.Close()
	return addr, user, pass
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// dovecotAdmin is a plain client for setting up the test mailbox.
type dovecotAdmin struct {
	t  *testing.T
	cl *imapclient.Client
}

func newDovecotAdmin(t *testing.T, addr, user, pass string) *dovecotAdmin {
	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return &dovecotAdmin{t: t, cl: cl}
}

// reset empties INBOX and removes the test's mailboxes: the server is a
// throwaway one.
func (a *dovecotAdmin) reset(boxes ...string) {
	for _, b := range boxes {
		_ = a.cl.Delete(b).Wait()
	}
	sel, err := a.cl.Select("INBOX", nil).Wait()
	if err != nil {
		a.t.Fatal(err)
	}
	if sel.NumMessages > 0 {
		all := imap.SeqSet{}
		all.AddRange(1, 0)
		if err := a.cl.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			a.t.Fatal(err)
		}
		if err := a.cl.Expunge().Close(); err != nil {
			a.t.Fatal(err)
		}
	}
	if err := a.cl.Unselect().Wait(); err != nil {
		a.t.Fatal(err)
	}
}

func (a *dovecotAdmin) append(raw []byte) {
	a.t.Helper()
	raw = imaptest.StripMboxFrom(raw)
	cmd := a.cl.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		a.t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		a.t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		a.t.Fatal(err)
	}
}

func (a *dovecotAdmin) uidNext() uint32 {
	data, err := a.cl.Status("INBOX", &imap.StatusOptions{UIDNext: true}).Wait()
	if err != nil {
		a.t.Fatal(err)
	}
	return uint32(data.UIDNext)
}

func (a *dovecotAdmin) count(mailbox string) int {
	data, err := a.cl.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return -1
	}
	return int(*data.NumMessages)
}

// TestDovecot runs the intake against a real Dovecot: real mails are
// appended, the connector ingests them over IDLE with CONDSTORE, files
// them, and a restart reads only what arrived meanwhile.
func TestDovecot(t *testing.T) {
	const done = "LiaisonTest/Processed"
	f, admin := newDovecotFixture(t, "LiaisonTest")
	idles := &idleCounter{}
	f.c.hooks.idling = idles.hook

	customer := eml(t, "outlook2000-windows1252-qp.eml") // Message-ID NDBBIAKOPKHFGPLCODIGCEKECHAA.doug@example.com
	// A reply to it, derived from a real reply by pointing its In-Reply-To
	// at the customer's mail.
	replyRaw := bytes.Replace(eml(t, "reply-yahoo.eml"), []byte("<1333374262.7063.15.camel@mg5>"), []byte("<NDBBIAKOPKHFGPLCODIGCEKECHAA.doug@example.com>"), 1)
	// The server is reused between runs: UIDs go on from where they were.
	firstUID := admin.uidNext()
	admin.append(customer)
	admin.append(eml(t, "autoreply-vacation-auto-submitted.eml"))

	stop := f.run(t)
	f.sink.waitEvents(t, 1)
	eventually(t, "idling on Dovecot", func() bool { return idles.get() >= 1 })
	admin.append(replyRaw) // arrives over IDLE
	evs := f.sink.waitEvents(t, 2)
	eventually(t, "mail filed", func() bool { return admin.count(done) == 3 && admin.count("INBOX") == 0 })
	stop()

	root := "NDBBIAKOPKHFGPLCODIGCEKECHAA.doug@example.com"
	if evs[0].Type != core.Mailed || evs[0].Item.Ref.ID != root || !strings.Contains(evs[0].Item.Body, "mißliche Lage") {
		t.Errorf("first event %s on %s body %q", evs[0].Type, evs[0].Item.Ref, excerptOf(evs[0].Item.Body))
	}
	if evs[1].Type != core.Commented || evs[1].Item.Ref.ID != root || evs[1].Item.Comments[0].Body != "Hello" {
		t.Errorf("second event %s on %s", evs[1].Type, evs[1].Item.Ref)
	}
	c := f.cursor(t)
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
	eventually(t, "filed after restart", func() bool { return admin.count(done) == 4 })
	if f.sink.delivered != 3 || f.sink.dups != 0 || evs[2].Item.Title != "まみむめも" {
		t.Errorf("after restart: %d delivered, %d duplicates, last %q", f.sink.delivered, f.sink.dups, evs[2].Item.Title)
	}
}

// newDovecotFixture builds a connector for the test Dovecot that files
// mail under box/Processed and box/Failed, emptied first with INBOX.
func newDovecotFixture(t *testing.T, box string) (*fixture, *dovecotAdmin) {
	t.Helper()
	addr, user, pass := dovecotServer(t)
	host, port, _ := net.SplitHostPort(addr)
	admin := newDovecotAdmin(t, addr, user, pass)
	done, bad := box+"/Processed", box+"/Failed"
	admin.reset(done, bad, box)

	f := &fixture{sink: newMemSink(), clock: clock.NewManual(time.Now()), logs: &syncBuffer{}}
	t.Cleanup(func() { f.dumpLogs(t) })
	cfg := Config{Host: host, TLS: "plain", Username: user, PasswordEnv: "IMAP_PASSWORD", OwnAddress: "support@example.com",
		ProcessedMailbox: done, FailedMailbox: bad}
	cfg.Port = atoi(port)
	f.c = buildWithPassword(t, cfg, f.clock, f.logs, pass)
	f.c.hooks.backoff = func(time.Duration) <-chan time.Time { return immediate() }
	return f, admin
}

func excerptOf(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func buildWithPassword(t *testing.T, cfg Config, clock core.Clock, logs *syncBuffer, pass string) *Connector {
	t.Helper()
	c := build(t, cfg, clock, logs)
	c.cfg.password = core.Secret(pass)
	return c
}

package imaptest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TB is the part of testing.TB the Dovecot helpers use (this package is
// also linked into the sandbox, which must not import testing).
type TB interface {
	Helper()
	Fatal(args ...any)
	Skip(args ...any)
	Cleanup(func())
}

// Dovecot is the account of a real Dovecot on loopback, started by
// connectors/imap/testdata/dovecot.sh, and a mailbox private to one test.
type Dovecot struct {
	Host           string
	Port           int
	User, Password string
	// Box is the test's own mailbox, created for it and removed (with
	// the folders under it) when it ends; nothing else on the server is
	// touched.
	Box string
	// Admin is a client logged in for setting up and looking at the
	// test's mailboxes.
	Admin *imapclient.Client
}

// StartDovecot finds the server through LIAISON_DOVECOT_ADDR (printed by
// dovecot.sh: it picks a free port per run), LIAISON_DOVECOT_USER and
// LIAISON_DOVECOT_PASSWORD, and creates a mailbox of the test's own named
// prefix-<random>. Without a server the test skips, except in CI
// (CI=true), where it fails.
func StartDovecot(t TB, prefix string) *Dovecot {
	t.Helper()
	addr := os.Getenv("LIAISON_DOVECOT_ADDR")
	unavailable := func(why string) {
		msg := "no Dovecot: " + why + `: run eval "$(connectors/imap/testdata/dovecot.sh)" as root to start one`
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must start it before the tests")
		}
		t.Skip(msg)
	}
	if addr == "" {
		unavailable("LIAISON_DOVECOT_ADDR is not set")
		return nil
	}
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		unavailable(err.Error())
		return nil
	}
	conn.Close()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	d := &Dovecot{Host: host, Port: port, User: envOr("LIAISON_DOVECOT_USER", "liaison"), Password: envOr("LIAISON_DOVECOT_PASSWORD", "liaison-test-password")}
	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Login(d.User, d.Password).Wait(); err != nil {
		cl.Close()
		t.Fatal(err)
	}
	d.Admin = cl
	b := make([]byte, 6)
	rand.Read(b)
	d.Box = prefix + "-" + hex.EncodeToString(b)
	if err := cl.Create(d.Box, nil).Wait(); err != nil {
		cl.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Only what this test created: its mailbox and those under it.
		if list, err := cl.List("", d.Box+"/*", nil).Collect(); err == nil {
			for i := len(list) - 1; i >= 0; i-- {
				_ = cl.Delete(list[i].Mailbox).Wait()
			}
		}
		_ = cl.Delete(d.Box).Wait()
		cl.Close()
	})
	return d
}

// Addr is host:port.
func (d *Dovecot) Addr() string { return net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) }

// Append puts raw (an mbox "From " line removed) in mailbox.
func (d *Dovecot) Append(mailbox string, raw []byte) error {
	raw = StripMboxFrom(raw)
	cmd := d.Admin.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

// Count is the number of messages in mailbox, -1 when it does not exist.
func (d *Dovecot) Count(mailbox string) int {
	data, err := d.Admin.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || data.NumMessages == nil {
		return -1
	}
	return int(*data.NumMessages)
}

// Messages returns the raw messages of mailbox, oldest first.
func (d *Dovecot) Messages(mailbox string) ([][]byte, error) {
	sel, err := d.Admin.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, err
	}
	defer func() { _ = d.Admin.Unselect().Wait() }()
	if sel.NumMessages == 0 {
		return nil, nil
	}
	all := imap.SeqSet{}
	all.AddRange(1, 0)
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := d.Admin.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(bufs))
	for _, b := range bufs {
		out = append(out, b.FindBodySection(section))
	}
	return out, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

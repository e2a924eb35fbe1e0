package imap

import (
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	"github.com/liaisonhq/liaison/core"
)

// TestDovecot_MIMEBombGoesToFailedWithATicket: a mail of 10,000 nested
// multiparts, in a real Dovecot between two customers' mails, is refused
// at once: it goes to the failed mailbox, its sender gets a ticket saying
// it could not be read in full, and the mail after it is taken in as usual.
func TestDovecot_MIMEBombGoesToFailedWithATicket(t *testing.T) {
	f, admin := newDovecotFixture(t, "LiaisonBomb")
	done, bad := admin.Box+"/Processed", admin.Box+"/Failed"

	admin.append(eml(t, "outlook2000-windows1252-qp.eml"))
	admin.append(imaptest.NestedMultiparts(10000))
	admin.append(eml(t, "japanese-iso-2022-jp.eml"))
	f.run(t)
	evs := f.sink.waitEvents(t, 3)
	eventually(t, "mail filed", func() bool { return admin.Count(done) == 2 && admin.Count(bad) == 1 && admin.Count(admin.Box) == 0 })

	bomb := evs[1]
	if bomb.Type != core.Mailed || bomb.Item.Reporter != "mallory@attacker.example" || bomb.Item.Title != "nested" {
		t.Fatalf("bomb event %s by %q titled %q: want a new thread of its sender", bomb.Type, bomb.Item.Reporter, bomb.Item.Title)
	}
	if want := "could not be read in full (multiparts nested more than 16 deep)"; !strings.Contains(bomb.Item.Body, want) {
		t.Errorf("ticket text %q does not say %q", bomb.Item.Body, want)
	}
	if evs[2].Item.Title != "まみむめも" {
		t.Errorf("mail after the bomb: %q", evs[2].Item.Title)
	}
	// The runner logs its verdicts once the mails are filed: the counts
	// above can be seen before the log line is written.
	eventually(t, "the bomb's move to the failed mailbox logged", func() bool { return strings.Contains(f.logs.String(), "failed mailbox") })
}

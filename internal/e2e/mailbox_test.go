package e2e_test

import (
	"bytes"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	zdfake "github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/internal/sandbox"
	"github.com/prometheus/client_golang/prometheus"
)

// The tests of this file run the support mailbox on a real Dovecot (see
// imaptest.StartDovecot: a server of the run's own, and a mailbox of the
// test's own in it), with the Zendesk fake and an SMTP sink: what a
// support team sees on its tickets and what its customers receive.

// dovecotWorld is a world whose mailbox is on Dovecot.
type dovecotWorld struct {
	*sandbox.World
	dc *imaptest.Dovecot
}

// startDovecotWorld starts a world reading a mailbox of the test's own on
// the test Dovecot (named after prefix; removed at the end).
func startDovecotWorld(t *testing.T, prefix string, opts ...sandbox.WorldOption) *dovecotWorld {
	t.Helper()
	dc := imaptest.StartDovecot(t, prefix)
	w := startWorld(t, append(opts, sandbox.WithIMAPServer(dc.Host, dc.Port, dc.User, dc.Password, dc.Box))...)
	return &dovecotWorld{World: w, dc: dc}
}

// put puts a mail in the mailbox, as a delivery does.
func (w *dovecotWorld) put(t *testing.T, raw []byte) {
	t.Helper()
	if err := w.dc.Append(w.dc.Box, raw); err != nil {
		t.Fatal(err)
	}
}

// deliver puts mails in the mailbox and waits until the connector has read
// and filed them all.
func (w *dovecotWorld) deliver(t *testing.T, raws ...[]byte) {
	t.Helper()
	done := w.dc.Box + "/Processed"
	before := max(w.dc.Count(done), 0)
	for _, raw := range raws {
		w.put(t, raw)
	}
	eventually(t, "the mails read and filed", func() bool { return w.dc.Count(done) == before+len(raws) })
	settle(t, w.World)
}

// ticketOf returns the one ticket whose requester is email.
func ticketOf(t *testing.T, w *sandbox.World, email string) zdfake.Ticket {
	t.Helper()
	var found []zdfake.Ticket
	for _, tk := range w.Zendesk.Tickets() {
		if tk.Requester == email {
			found = append(found, tk)
		}
	}
	if len(found) != 1 {
		t.Fatalf("tickets of %s: %d; want one", email, len(found))
	}
	return found[0]
}

func notes(tk zdfake.Ticket) []string {
	var out []string
	for _, c := range tk.Comments {
		if !c.Public {
			out = append(out, c.Body)
		}
	}
	return out
}

func parseSent(t *testing.T, m imaptest.Mail) *mail.Message {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// A new ticket is acknowledged to its requester only, once, as an RFC 3834
// automatic reply threaded on the customer's mail and carrying the ticket
// token; the copy filed in the sent mailbox is what a resend looks for.
// The customer's answer to it lands on the ticket and is not acknowledged;
// a mailing list's mail opens a ticket but gets no acknowledgement.
func TestDovecot_NewTicketIsAcknowledgedOnceToTheRequesterOnly(t *testing.T) {
	w := startDovecotWorld(t, "LiaisonE2E")
	// The story's mail, copied to a colleague and to the support address
	// itself (the one change).
	first := replaceHeader(t, sandbox.StoryMail(), "Cc", "Bo <bo@customer.example>, support@example.com")
	root := messageID(t, first)
	w.deliver(t, first)

	tk := ticketOf(t, w.World, "ada@customer.example")
	sent := w.SMTP.Messages()
	if len(sent) != 1 {
		t.Fatalf("mails sent: %d; want one acknowledgement", len(sent))
	}
	ack := parseSent(t, sent[0])
	token := fmt.Sprintf("[#%d]", tk.ID)
	if !slices.Equal(sent[0].To, []string{"ada@customer.example"}) || sent[0].From != "" ||
		ack.Header.Get("To") != "<ada@customer.example>" || ack.Header.Get("Cc") != "" {
		t.Errorf("acknowledgement envelope %q → %v, To %q Cc %q; want the null sender, to the requester only", sent[0].From, sent[0].To, ack.Header.Get("To"), ack.Header.Get("Cc"))
	}
	if !strings.Contains(ack.Header.Get("Subject"), token) || ack.Header.Get("Auto-Submitted") != "auto-replied" ||
		ack.Header.Get("In-Reply-To") != "<"+root+">" || !strings.Contains(ack.Header.Get("References"), "<"+root+">") {
		t.Errorf("acknowledgement headers: Subject %q Auto-Submitted %q In-Reply-To %q References %q; want the token %s, auto-replied, threaded on <%s>",
			ack.Header.Get("Subject"), ack.Header.Get("Auto-Submitted"), ack.Header.Get("In-Reply-To"), ack.Header.Get("References"), token, root)
	}
	body, _ := readAll(ack)
	if !strings.Contains(body, fmt.Sprintf("ticket #%d", tk.ID)) {
		t.Errorf("acknowledgement text %q; want it to name ticket #%d", body, tk.ID)
	}
	filed, err := w.dc.Messages(w.dc.Box + "/Sent")
	if err != nil || len(filed) != 1 || !bytes.Contains(filed[0], []byte(ack.Header.Get("Message-Id"))) {
		t.Errorf("sent mailbox: %d mails (%v); want the acknowledgement", len(filed), err)
	}

	// Ada answers the acknowledgement (a real reply, pointed at it).
	answer := replaceHeader(t, readEML(t, "reply-yahoo.eml"), "In-Reply-To", ack.Header.Get("Message-Id"))
	answer = replaceHeader(t, answer, "From", "Ada <ada@customer.example>")
	answer = replaceHeader(t, answer, "Subject", "Re: "+ack.Header.Get("Subject"))
	comments := len(tk.Comments)
	w.deliver(t, answer)
	tk = ticketOf(t, w.World, "ada@customer.example")
	if c := tk.Comments[len(tk.Comments)-1]; len(tk.Comments) != comments+1 || !c.Public || c.Author != "ada@customer.example" || !strings.HasPrefix(c.Body, "Hello") {
		t.Errorf("ticket comments after Ada's answer: %+v; want her answer as a public comment", tk.Comments)
	}
	if n := len(w.SMTP.Messages()); n != 1 {
		t.Errorf("mails sent after the answer: %d; want still the one acknowledgement", n)
	}

	// A list's mail (List-Id) is a person's, and opens a ticket, but an
	// answer would go to the list.
	list := replaceHeader(t, readEML(t, "reply-windows-live-mail-html.eml"), "List-Id", "Users <users.lists.example.org>")
	list = replaceHeader(t, list, "In-Reply-To", "")
	w.deliver(t, list)
	ticketOf(t, w.World, "sender@test.com")
	if n := len(w.SMTP.Messages()); n != 1 {
		t.Errorf("mails sent after a list's mail: %d; want still the one acknowledgement", n)
	}
}

func readAll(m *mail.Message) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(m.Body)
	return b.String(), err
}

// Someone who takes no part in a customer's ticket cannot add to it: not
// by naming its token in a subject, nor by replying to its mails. Each
// such mail opens a ticket of its own, with a note naming the ticket it
// referred to; the customer's ticket, its CCs and mail stay as they were.
func TestDovecot_StrangerNeverJoinsAnotherCustomersTicket(t *testing.T) {
	w := startDovecotWorld(t, "LiaisonE2E")
	story := sandbox.StoryMail()
	w.deliver(t, story)
	victim := ticketOf(t, w.World, "ada@customer.example")
	token := fmt.Sprintf("[#%d]", victim.ID)

	// A real reply from xxx@yahoo.com, once with the token in its subject
	// and no references, once replying to Ada's mail (its In-Reply-To),
	// with someone in copy.
	byToken := replaceHeader(t, readEML(t, "reply-yahoo.eml"), "Subject", "Re: "+token+" password reset")
	byToken = replaceHeader(t, byToken, "In-Reply-To", "")
	byReply := replaceHeader(t, readEML(t, "reply-windows-live-mail-html.eml"), "In-Reply-To", "<"+messageID(t, story)+">")
	byReply = replaceHeader(t, byReply, "Cc", "eve@elsewhere.example")
	mailsBefore := len(w.SMTP.Messages())
	w.deliver(t, byToken, byReply)

	after, _ := w.Zendesk.Ticket(victim.ID)
	if len(after.Comments) != len(victim.Comments) || !slices.Equal(after.Collaborators, victim.Collaborators) {
		t.Errorf("the customer's ticket changed: comments %+v, CCs %v", after.Comments, after.Collaborators)
	}
	for _, stranger := range []string{"xxx@yahoo.com", "sender@test.com"} {
		tk := ticketOf(t, w.World, stranger)
		n := notes(tk)
		if len(n) != 1 || !strings.Contains(n[0], fmt.Sprintf("ticket #%d", victim.ID)) || !strings.Contains(n[0], stranger) {
			t.Errorf("%s's ticket #%d notes %q; want one naming ticket #%d and the sender", stranger, tk.ID, n, victim.ID)
		}
	}
	for _, m := range w.SMTP.Messages()[mailsBefore:] {
		if slices.Contains(m.To, "ada@customer.example") || slices.Contains(m.To, "eve@elsewhere.example") {
			t.Errorf("mail to %v; want none to the customer or the stranger's Cc", m.To)
		}
	}
}

// A loop with another help desk (it answers each of our mails with a new
// mail of its own, without any sign of being automatic) ends by itself: of
// 60 mails in a minute from one sender, new_threads_per_sender_per_hour
// (5) open tickets, at most ack_per_sender_per_hour (3) are acknowledged, the
// other 55 are internal notes on its latest ticket, the agents get one
// note saying the sender was throttled and why, and the loop breaker's
// counter counts it.
func TestDovecot_LoopStormEndsWithOneNote(t *testing.T) {
	w := startDovecotWorld(t, "LiaisonE2E")
	trips := loopTrips(t)
	helpDesk := readEML(t, "reply-support-ticket-proxmox-8bit.eml") // from jsterr@proxforge.de
	var storm [][]byte
	for i := range 60 {
		storm = append(storm, replaceHeader(t, helpDesk, "Message-ID", fmt.Sprintf("<loop-%02d@proxforge.de>", i)))
	}
	w.deliver(t, storm...)

	var tickets []zdfake.Ticket
	for _, tk := range w.Zendesk.Tickets() {
		if tk.Requester == "jsterr@proxforge.de" {
			tickets = append(tickets, tk)
		}
	}
	if len(tickets) != 5 {
		t.Fatalf("tickets: %d; want 5 (new_threads_per_sender_per_hour)", len(tickets))
	}
	acks := len(w.SMTP.Messages())
	if acks > 3 {
		t.Errorf("acknowledgements: %d; want at most 3 (ack_per_sender_per_hour)", acks)
	}
	t.Logf("60 mails: %d tickets, %d acknowledgements", len(tickets), acks)
	// Every mail is on a ticket: 5 descriptions, 55 notes on the latest
	// (the thread of the fifth mail), and one note saying why.
	var kept, why, described int
	for _, tk := range tickets {
		for _, c := range tk.Comments {
			switch {
			case c.Public:
				described++
			case strings.Contains(c.Body, "throttled, not opened as a ticket"):
				kept++
			case strings.Contains(c.Body, "jsterr@proxforge.de sent more than 5 mails within an hour"):
				why++
			}
		}
	}
	if described != 5 || kept != 55 || why != 1 {
		t.Errorf("comments on the sender's tickets: %d descriptions, %d mails kept as notes, %d notes on the throttle; want 5, 55 and 1", described, kept, why)
	}
	if n := w.dc.Count(w.dc.Box + "/Processed"); n != 60 {
		t.Errorf("processed mailbox: %d mails; want all 60", n)
	}
	if got := loopTrips(t) - trips; got < 1 {
		t.Errorf("loop breaker trips counted: %v; want at least one", got)
	}
}

func loopTrips(t *testing.T) float64 {
	t.Helper()
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range fams {
		if f.GetName() == "liaison_imap_loop_breaker_trips_total" {
			for _, m := range f.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// A bounce of our mail to the requester becomes an internal note on the
// ticket naming the address and the reason; it neither reopens the ticket
// that waits for the customer, nor escalates it, nor sends mail.
func TestDovecot_BounceIsAnInternalNoteAndReopensNothing(t *testing.T) {
	w := startDovecotWorld(t, "LiaisonE2E")
	w.deliver(t, sandbox.StoryMail())
	tk := ticketOf(t, w.World, "ada@customer.example")
	sent := w.SMTP.Messages()
	if len(sent) != 1 {
		t.Fatalf("mails sent: %d; want the acknowledgement", len(sent))
	}
	ackID := strings.Trim(parseSent(t, sent[0]).Header.Get("Message-Id"), "<>")
	if err := w.Zendesk.SetStatus(tk.ID, "pending"); err != nil {
		t.Fatal(err)
	}
	settle(t, w.World)
	writes := len(allWrites(w.World))
	issues := len(w.Jira.Calls())

	// A real Postfix DSN (mailbox full) of the acknowledgement: its
	// enclosed original and recipient pointed at ours.
	dsn := bytes.ReplaceAll(readEML(t, "bounce-postfix-mailbox-full-dsn.eml"), []byte("4E326A95.3010907@example.com"), []byte(ackID))
	dsn = bytes.ReplaceAll(dsn, []byte("user@aol.com"), []byte("ada@customer.example"))
	w.deliver(t, dsn)

	after, _ := w.Zendesk.Ticket(tk.ID)
	n := notes(after)
	if len(n) != 1 || !strings.Contains(n[0], "ada@customer.example") || !strings.Contains(n[0], "MAILBOX FULL") {
		t.Errorf("notes %q; want one naming ada@customer.example and the reason", n)
	}
	if after.Status != "pending" {
		t.Errorf("status %q; want pending still", after.Status)
	}
	if got := allWrites(w.World)[writes:]; len(got) != 1 || len(w.SMTP.Messages()) != 1 || len(w.Jira.Calls()) != issues {
		t.Errorf("writes after the bounce %q; want the note only", got)
	}
}

// The requester's name, in whatever charset their mail wrote it, is the
// help-desk user's; the people the mail went to or copied become the
// ticket's CCs, the support address and its aliases never.
func TestDovecot_RequesterNameAndCCs(t *testing.T) {
	w := startDovecotWorld(t, "LiaisonE2E")
	for _, tc := range []struct{ file, email, name string }{
		{"outlook-express-gb2312-8bit.eml", "baoguan@hotmail.com", "张先生"},  // GB2312, base64
		{"reply-windows-live-mail-html.eml", "sender@test.com", "sendeär"}, // UTF-8, quoted-printable
		{"outlook2000-windows1252-qp.eml", "doug@example.com", "Doug Sauder"},
	} {
		raw := replaceHeader(t, readEML(t, tc.file), "Cc", "Bo <bo@customer.example>, Support <SUPPORT@example.com>")
		raw = replaceHeader(t, raw, "In-Reply-To", "")
		raw = replaceHeader(t, raw, "To", "support@example.com")
		w.deliver(t, raw)
		tk := ticketOf(t, w.World, tc.email)
		if name, _ := w.Zendesk.UserName(tc.email); name != tc.name {
			t.Errorf("%s: requester's name %q; want %q", tc.file, name, tc.name)
		}
		if !slices.Equal(tk.Collaborators, []string{"bo@customer.example"}) {
			t.Errorf("%s: CCs %v; want bo@customer.example only", tc.file, tk.Collaborators)
		}
	}
}

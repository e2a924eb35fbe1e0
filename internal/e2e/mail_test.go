package e2e_test

import (
	"bytes"
	"context"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/sandbox"
	"github.com/liaisonhq/liaison/mappings"
)

// processed is where the imap connector files what it has read.
const processed = "Liaison/Processed"

// deliver puts a mail in the world's support mailbox and waits until the
// connector has read and filed it; what the mail causes is durable then.
func deliver(t *testing.T, w *sandbox.World, raw []byte) {
	t.Helper()
	before, _ := w.IMAP.Count(processed)
	if _, err := w.IMAP.Append("INBOX", raw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mail read and filed", func() bool {
		n, err := w.IMAP.Count(processed)
		return err == nil && n == before+1
	})
}

func messageID(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(m.Header.Get("Message-Id"), "<> ")
}

func emailThread(id string) core.Ref {
	return core.Ref{System: "imap", Kind: core.EmailThread, ID: id}
}

// Two mails of one thread, the second a reply with In-Reply-To, make one
// help-desk ticket: the first is its description, the reply (without its
// quoted history) its second, public comment.
func TestTwoMailsOfOneThreadMakeOneTicketWithTheReplyAsPublicComment(t *testing.T) {
	w := startWorld(t)
	// The customer's mail, copied to a colleague (the one change), who
	// answers: a real Yahoo reply, its In-Reply-To pointed at the first
	// mail (the only change).
	first := replaceHeader(t, readEML(t, "outlook2000-windows1252-qp.eml"), "Cc", "Alex Q <xxx@yahoo.com>")
	root := messageID(t, first)
	reply := replaceHeader(t, readEML(t, "reply-yahoo.eml"), "In-Reply-To", "<"+root+">")

	deliver(t, w, first)
	eventually(t, "a ticket for the first mail", func() bool { return len(w.Zendesk.Tickets()) > 0 })
	settle(t, w)
	deliver(t, w, reply)
	eventually(t, "the reply on the ticket", func() bool {
		tk := w.Zendesk.Tickets()
		return len(tk) > 0 && len(tk[0].Comments) >= 2
	})
	settle(t, w)

	tickets := w.Zendesk.Tickets()
	if len(tickets) != 1 {
		t.Fatalf("tickets: %d; want one", len(tickets))
	}
	tk := tickets[0]
	if tk.Requester != "doug@example.com" || tk.Subject != "Die Hasen und die Frösche (Microsoft Outlook 00)" || !slices.Equal(tk.Collaborators, []string{"mueller@example.com", "xxx@yahoo.com"}) {
		t.Errorf("ticket requester %q, subject %q, CCs %v; want the first mail's sender, decoded subject, and its other recipient and Cc", tk.Requester, tk.Subject, tk.Collaborators)
	}
	if len(tk.Comments) != 2 {
		t.Fatalf("ticket comments: %+v; want the description and the reply", tk.Comments)
	}
	if c := tk.Comments[0]; !c.Public || !strings.Contains(c.Body, "über ihre mißliche Lage") {
		t.Errorf("first comment (public %v): %q; want the first mail's text with its accents", c.Public, c.Body)
	}
	if c := tk.Comments[1]; !c.Public || strings.TrimSpace(strings.TrimRightFunc(c.Body, func(r rune) bool { return unicode.Is(unicode.Cf, r) })) != "Hello" {
		t.Errorf("second comment (public %v, by %s): %q; want the reply's own text, Hello, public", c.Public, c.Author, c.Body)
	}
	// The requester is created (or found) by e-mail and the ticket
	// created, the colleague in copy as its CC; triage classifies it; the
	// reply's sender is found by e-mail (the CC) so that the reply is
	// theirs, and it is added: nothing else.
	want := []string{"zendesk POST /api/v2/users/create_or_update.json", "zendesk POST /api/v2/tickets.json"}
	if got := only(allWrites(w), " POST "); !slices.Equal(got, want) {
		t.Errorf("creations:\n got %q\nwant %q", got, want)
	}
	if got, want := zendeskWrites(t, w, tk.ID), []string{"tag misc", "public comment"}; !slices.Equal(got, want) {
		t.Errorf("updates of the ticket:\n got %q\nwant %q", got, want)
	}
	t.Run("the reply is a comment from its sender", func(t *testing.T) {
		if c := tk.Comments[1]; c.Author != "xxx@yahoo.com" {
			t.Errorf("the customer's reply is written as %s, not as its sender xxx@yahoo.com", c.Author)
		}
	})
	ctx := context.Background()
	mailCase, err1 := w.Daemon.Store.CaseOf(ctx, emailThread(root))
	ticketCase, err2 := w.Daemon.Store.CaseOf(ctx, customerTicket(tk.ID))
	if err1 != nil || err2 != nil || mailCase != ticketCase {
		t.Errorf("thread in case %d (%v), ticket in case %d (%v); want one case", mailCase, err1, ticketCase, err2)
	}
	if _, err := w.Daemon.Store.Item(ctx, emailThread(messageID(t, reply))); !isNotFound(err) {
		t.Errorf("the reply started a thread of its own (%v)", err)
	}
	if got := w.SMTP.Messages(); len(got) != 1 || !slices.Equal(got[0].To, []string{"doug@example.com"}) {
		t.Errorf("mail sent: %v; want the acknowledgement to the requester only", got)
	}
}

// mappingsWith writes the default mapping files and extra ones to a
// folder for the daemon to load.
func mappingsWith(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(mappings.Defaults(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(mappings.Defaults(), p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// An auto-reply or a bounce never opens a ticket and never gets mail,
// though the default rules acknowledge every new ticket; an auto-reply
// answering the acknowledgement does not reach the ticket either.
func TestAutoRepliesAndBouncesMakeNoTicketAndNoMail(t *testing.T) {
	w := startWorld(t)
	ctx := context.Background()

	// A customer's mail: a ticket, and one acknowledgement, which shows
	// that the rule sends mail and the sink receives it.
	story := sandbox.StoryMail()
	deliver(t, w, story)
	acks, err := w.SMTP.Wait(ctxTimeout(t), 1)
	if err != nil {
		t.Fatalf("no acknowledgement of the customer's mail: %v", err)
	}
	settle(t, w)
	tickets := w.Zendesk.Tickets()
	if len(tickets) != 1 || len(acks) != 1 || !slices.Equal(acks[0].To, []string{"ada@customer.example"}) {
		t.Fatalf("after the customer's mail: %d tickets, acknowledgements to %v; want one ticket, one mail to ada@customer.example", len(tickets), acks)
	}
	ack, err := mail.ReadMessage(bytes.NewReader(acks[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	ackID := ack.Header.Get("Message-Id")
	storyThread := emailThread(messageID(t, story))
	w.SMTP.Reset()

	for _, tc := range []struct {
		name string
		raw  func() []byte
	}{
		{"vacation auto-reply to the acknowledgement", func() []byte {
			// A real RFC 3834 vacation reply, its To and In-Reply-To
			// pointed at the acknowledgement it answers (the only change).
			raw := replaceHeader(t, readEML(t, "autoreply-vacation-auto-submitted.eml"), "To", "support@example.com")
			return replaceHeader(t, raw, "In-Reply-To", ackID)
		}},
		{"Outlook automatic reply", func() []byte { return readEML(t, "autoreply-outlook-automatic-reply-windows1252.eml") }},
		{"Postfix bounce (RFC 3464 delivery report)", func() []byte { return readEML(t, "bounce-postfix-dsn.eml") }},
		{"Gmail bounce", func() []byte { return readEML(t, "bounce-gmail-dsn-failure.eml") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw()
			writes := allWrites(w)
			before, err := w.Daemon.Store.Item(ctx, storyThread)
			if err != nil {
				t.Fatal(err)
			}
			deliver(t, w, raw)
			settle(t, w)
			if got := allWrites(w); !slices.Equal(got, writes) {
				t.Errorf("writes (a ticket, a comment or mail):\n got %q\nwant %q", got, writes)
			}
			if n := len(w.Zendesk.Tickets()); n != 1 {
				t.Errorf("tickets: %d; want the customer's one only", n)
			}
			if _, err := w.Daemon.Store.Item(ctx, emailThread(messageID(t, raw))); !isNotFound(err) {
				t.Errorf("the mail started a thread (%v)", err)
			}
			after, _ := w.Daemon.Store.Item(ctx, storyThread)
			if len(after.Comments) != len(before.Comments) {
				t.Errorf("the customer's thread got comments: %+v", after.Comments[len(before.Comments):])
			}
		})
	}
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// The story's first mail, delivered to a real Dovecot, becomes a
// help-desk ticket with the customer as requester, and is filed.
func TestStoryMailThroughDovecotBecomesATicket(t *testing.T) {
	w := startDovecotWorld(t, "LiaisonE2E")
	box, count := w.dc.Box, w.dc.Count
	w.put(t, sandbox.StoryMail())

	eventually(t, "a ticket for the mail in Dovecot", func() bool { return len(w.Zendesk.Tickets()) > 0 })
	eventually(t, "the mail filed in Dovecot", func() bool { return count(box) == 0 && count(box+"/Processed") == 1 })
	settle(t, w.World)
	tickets := w.Zendesk.Tickets()
	if len(tickets) != 1 {
		t.Fatalf("tickets: %d; want one", len(tickets))
	}
	tk := tickets[0]
	if tk.Requester != "ada@customer.example" || tk.Subject != "Password reset link gives error 500" ||
		!strings.Contains(tk.Description, "the password reset link in your e-mail opens an error page (500)") {
		t.Errorf("ticket: requester %q, subject %q, description %q; want Ada's mail", tk.Requester, tk.Subject, tk.Description)
	}
	if _, err := w.Daemon.Store.Item(context.Background(), emailThread("reset-500@customer.example")); err != nil {
		t.Errorf("the thread is not in the store: %v", err)
	}
}

package e2e_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/connectors/imap/mail"
	"github.com/liaisonhq/liaison/internal/sandbox"
)

// photoAndPNG mails two customers' files to box: photo.JPG (8.8 KiB) and
// mailgun.png (60,168 bytes, over the tests' limits), and waits for their
// tickets. It returns the photo's mail.
func photoAndPNG(t *testing.T, w *dovecotWorld) []byte {
	t.Helper()
	photo := readEML(t, "iphone-mail-image-attachment.eml")
	w.put(t, photo)
	w.put(t, readEML(t, "png-image-attachment-84k.eml"))
	eventually(t, "two tickets", func() bool { return len(w.Zendesk.Tickets()) == 2 })
	eventually(t, "the mail filed", func() bool { return w.dc.Count(w.dc.Box+"/Processed") == 2 })
	settle(t, w.World)
	return photo
}

// The files of the mail that opens a ticket reach the ticket's first
// comment, byte for byte; a file over the help desk's attachment limit is
// named in the ticket's text instead. Mail read from a real Dovecot.
func TestFirstMailsAttachmentsReachTheNewTicket(t *testing.T) {
	w := startDovecotWorld(t, "LiaisonAttach", sandbox.WithAttachmentLimit(20<<10))
	photo := photoAndPNG(t, w)

	want, err := mail.Parse(photo)
	if err != nil || len(want.Attachments) != 1 {
		t.Fatalf("the photo mail: %v, %d files", err, len(want.Attachments))
	}
	byRequester := map[string]int{}
	tickets := w.Zendesk.Tickets()
	for i, tk := range tickets {
		byRequester[tk.Requester] = i
	}
	withPhoto := tickets[byRequester["someone@somewhere.com"]]
	if len(withPhoto.Comments) == 0 || len(withPhoto.Comments[0].Attachments) != 1 {
		t.Fatalf("the photo's ticket: %+v; want its first comment to carry the photo", withPhoto.Comments)
	}
	got := withPhoto.Comments[0].Attachments[0]
	if got.Name != "photo.JPG" || !bytes.Equal(got.Content, want.Attachments[0].Content) {
		t.Errorf("attachment %q of %d bytes; want photo.JPG, the %d bytes that were mailed", got.Name, len(got.Content), len(want.Attachments[0].Content))
	}

	withPNG := tickets[byRequester["hello@example.com"]]
	if len(withPNG.Comments) == 0 {
		t.Fatal("the PNG's ticket has no comment")
	}
	first := withPNG.Comments[0]
	if len(first.Attachments) != 0 || strings.Count(first.Body, "mailgun.png") != 1 {
		t.Errorf("the PNG's ticket: %d attachments, text %q; want the file named once, not carried", len(first.Attachments), first.Body)
	}

	// A reply with a file over the limit: the comment names it, once.
	reply := readEML(t, "iphone-multiple-text-blocks-with-attachments.eml") // image1.jpeg, 37211 bytes
	reply = replaceHeader(t, reply, "From", want.From.String())
	reply = replaceHeader(t, reply, "In-Reply-To", "<"+want.MessageID+">")
	w.put(t, reply)
	eventually(t, "the reply on the photo's ticket", func() bool {
		tk, _ := w.Zendesk.Ticket(withPhoto.ID)
		return len(tk.Comments) >= 2
	})
	settle(t, w.World)
	tk, _ := w.Zendesk.Ticket(withPhoto.ID)
	last := tk.Comments[len(tk.Comments)-1]
	if len(last.Attachments) != 0 || strings.Count(last.Body, "image1.jpeg") != 1 {
		t.Errorf("the reply's comment: %d attachments, text %q; want image1.jpeg named once, not carried", len(last.Attachments), last.Body)
	}
}

// The customer's files travel with the escalation: the developer ticket
// made from a help-desk ticket that a mail opened carries the mail's file,
// byte for byte, and names the one over the bug tracker's limit; a later
// reply by mail brings its file to the developer ticket with its comment.
func TestCustomersFilesTravelWithTheEscalation(t *testing.T) {
	w := startDovecotWorld(t, "LiaisonEscalate", sandbox.WithAttachmentLimit(50<<10))
	photo := photoAndPNG(t, w)

	// An agent completes both reports as bugs: they go to the developers.
	for _, tk := range w.Zendesk.Tickets() {
		if err := w.Zendesk.SetFields(tk.ID, map[string]string{"tags": "bug", "priority": "high", "Steps to reproduce": bugSteps, "Reproducible": "yes"}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "two developer tickets", func() bool { return len(w.Jira.Issues()) == 2 })
	settle(t, w.World)

	want, err := mail.Parse(photo)
	if err != nil || len(want.Attachments) != 1 {
		t.Fatalf("the photo mail: %v", err)
	}
	var withPhoto, withPNG string
	for _, is := range w.Jira.Issues() {
		switch {
		case len(is.Attachments) == 1 && is.Attachments[0].Filename == "photo.JPG":
			withPhoto = is.Key
			if !bytes.Equal(is.Attachments[0].Content, want.Attachments[0].Content) {
				t.Errorf("%s: photo.JPG of %d bytes; want the %d bytes mailed", is.Key, len(is.Attachments[0].Content), len(want.Attachments[0].Content))
			}
		case strings.Contains(is.Description, "mailgun.png"):
			withPNG = is.Key
			if len(is.Attachments) != 0 {
				t.Errorf("%s carries %d files; want mailgun.png named, not carried", is.Key, len(is.Attachments))
			}
		}
	}
	if withPhoto == "" || withPNG == "" {
		for _, is := range w.Jira.Issues() {
			t.Logf("%s: %d files, description %q", is.Key, len(is.Attachments), is.Description)
		}
		t.Fatal("want one developer ticket with the photo, one naming mailgun.png")
	}

	// The customer answers by mail with another file (a real mail with an
	// image, its From and In-Reply-To pointed at the thread: rewritten in
	// memory only).
	reply := readEML(t, "iphone-multiple-text-blocks-with-attachments.eml")
	reply = replaceHeader(t, reply, "From", want.From.String())
	reply = replaceHeader(t, reply, "In-Reply-To", "<"+want.MessageID+">")
	w.put(t, reply)
	eventually(t, "the reply's file on the developer ticket", func() bool {
		is, _ := w.Jira.Issue(withPhoto)
		return len(is.Attachments) == 2
	})
	settle(t, w.World)
	is, _ := w.Jira.Issue(withPhoto)
	if is.Attachments[1].Filename != "image1.jpeg" || len(is.Attachments[1].Content) != 37211 {
		t.Errorf("second file %q of %d bytes; want image1.jpeg, 37211 bytes", is.Attachments[1].Filename, len(is.Attachments[1].Content))
	}
	last := is.Comments[len(is.Comments)-1]
	if !strings.Contains(last.Body, "[^image1.jpeg]") {
		t.Errorf("the reply's comment does not show its file: %q", last.Body)
	}
}

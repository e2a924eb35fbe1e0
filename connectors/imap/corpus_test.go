package imap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/mail"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/logtest"
)

type expect string

const (
	ticket expect = "new ticket"     // a person's mail that starts a thread
	reply  expect = "threaded reply" // a person's mail that In-Reply-To/References thread
	auto   expect = "ignored auto"   // automatic mail: no event
	bounce expect = "bounce"         // Bounced event on the original's thread (none when the original is unknown)
	failed expect = "failed mailbox" // unusable: moved to the failed mailbox
)

// corpus gives every real mail of testdata/email its expected outcome, and
// for threaded replies the thread root.
var corpus = map[string]struct {
	want expect
	root string
}{
	"apple-mail-original-as-attachment-not-bounce.eml":           {want: ticket},
	"arf-complaint-aol.eml":                                      {want: auto},
	"attachment-nonascii-filename.eml":                           {want: ticket},
	"autoreply-multipart-alternative-precedence-bulk.eml":        {want: auto},
	"autoreply-outlook-automatic-reply-windows1252.eml":          {want: auto},
	"autoreply-polish-windows1250-subject.eml":                   {want: auto},
	"autoreply-subject-only-no-auto-submitted.eml":               {want: auto},
	"autoreply-vacation-auto-submitted.eml":                      {want: auto},
	"bounce-amazonses-dsn.eml":                                   {want: bounce},
	"bounce-exchange2007-undeliverable.eml":                      {want: bounce},
	"bounce-exim-plain.eml":                                      {want: bounce},
	"bounce-gmail-dsn-failure.eml":                               {want: bounce},
	"bounce-gmail-invalid-address-plain.eml":                     {want: bounce},
	"bounce-multipart-report-530.eml":                            {want: bounce},
	"bounce-multipart-report-gb2312-minimal.eml":                 {want: bounce},
	"bounce-office365-undeliverable.eml":                         {want: bounce},
	"bounce-office365-windows1252.eml":                           {want: bounce},
	"bounce-orange-france-dsn.eml":                               {want: bounce},
	"bounce-postfix-dsn.eml":                                     {want: bounce},
	"bounce-postfix-mailbox-full-dsn.eml":                        {want: bounce},
	"bounce-qmail-failure-notice-iso2022jp.eml":                  {want: bounce},
	"bounce-rfc3464-base64-utf8.eml":                             {want: bounce},
	"dsn-delayed-warning.eml":                                    {want: bounce},
	"dsn-multi-recipient.eml":                                    {want: bounce},
	"emclient-10-attachments-plain-text.eml":                     {want: ticket},
	"eudora-iso8859-1-8bit-raw-headers.eml":                      {want: ticket},
	"eudora-x-uuencode-attachment.eml":                           {want: ticket},
	"french-iso8859-1-subject-attachment-1k.eml":                 {want: ticket},
	"french-newsletter-html-iso8859-1-subject.eml":               {want: auto},
	"french-utf8-multiple-attachments.eml":                       {want: ticket},
	"html-only-inline-image.eml":                                 {want: ticket},
	"html-related-inline-cid-image.eml":                          {want: ticket},
	"html-x-mac-cyrillic-charset.eml":                            {want: ticket},
	"iphone-mail-image-attachment.eml":                           {want: ticket},
	"iphone-multiple-text-blocks-with-attachments.eml":           {want: ticket},
	"japanese-iso-2022-jp.eml":                                   {want: ticket},
	"korean-ks_c_5601-1987.eml":                                  {want: ticket},
	"malformed-bad-date-header.eml":                              {want: auto},
	"malformed-base64-attachment.eml":                            {want: ticket},
	"malformed-broken-headers-outlook-express.eml":               {want: ticket},
	"malformed-incorrect-charset.eml":                            {want: ticket},
	"malformed-missing-content-type.eml":                         {want: ticket},
	"malformed-missing-final-boundary.eml":                       {want: ticket},
	"mdn-read-receipt.eml":                                       {want: auto},
	"netscape-4.7-iso8859-1-qp.eml":                              {want: ticket},
	"non-mime-plain.eml":                                         {want: ticket},
	"outlook-express-attachment-only.eml":                        {want: ticket},
	"outlook-express-gb2312-8bit.eml":                            {want: ticket},
	"outlook2000-german-iso8859-1-attachment.eml":                {want: ticket},
	"outlook2000-utf7-charset.eml":                               {want: ticket},
	"outlook2000-windows1252-qp.eml":                             {want: ticket},
	"pdf-attachment.eml":                                         {want: ticket},
	"png-image-attachment-84k.eml":                               {want: ticket},
	"qp-utf8-long-encoded-header.eml":                            {want: ticket},
	"reply-android-base64.eml":                                   {want: ticket}, // talon fixtures carry no threading headers
	"reply-apple-mail-iso8859-1.eml":                             {want: ticket},
	"reply-gmail-quoted-history.eml":                             {want: ticket},
	"reply-hotmail-quoted-history.eml":                           {want: ticket},
	"reply-html-base64-share-block-quoted.eml":                   {want: ticket},
	"reply-iphone-qp.eml":                                        {want: ticket},
	"reply-outlook-iso8859-1-quoted-history.eml":                 {want: ticket},
	"reply-sparrow-mac.eml":                                      {want: ticket},
	"reply-support-ticket-proxmox-8bit.eml":                      {want: ticket},
	"reply-thunderbird.eml":                                      {want: ticket},
	"reply-windows-live-mail-html.eml":                           {want: reply, root: "CAEMnOreG=99=qx-ONib=g+32uBdSav5WP303BA@mail.gmail.com"},
	"reply-yahoo.eml":                                            {want: reply, root: "1333374262.7063.15.camel@mg5"},
	"reply-zimbra-comcast.eml":                                   {want: ticket},
	"smime-multipart-signed.eml":                                 {want: ticket},
	"thunderbird-forward-as-attachment-rfc822.eml":               {want: ticket},
	"thunderbird-html-small-image.eml":                           {want: ticket},
	"thunderbird-windows1252-html-embedded-image-attachment.eml": {want: ticket},
	"utf16-and-euc-jp-parts.eml":                                 {want: failed}, // no From or Sender: no requester
	"yahoo-utf8-qp-english-russian.eml":                          {want: ticket},
	"zimbra-forward-with-attached-message.eml":                   {want: reply, root: "649983063.377570.1488812041831.JavaMail.zimbra@zedcore.com"},
}

// offlineConnector builds a connector whose servers are never contacted.
func offlineConnector(t *testing.T) (*Connector, *clock.Manual) {
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	c := build(t, Config{Host: "127.0.0.1", Port: 1, TLS: "plain", Username: "u", PasswordEnv: "IMAP_PASSWORD", OwnAddress: "support@example.com"}, clk, &logtest.Buffer{})
	return c, clk
}

// TestCorpus_EveryMailHasItsOutcome takes in every real mail and checks
// the event (or its absence) against the table above.
func TestCorpus_EveryMailHasItsOutcome(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "email", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			row, ok := corpus[name]
			if !ok {
				t.Fatalf("%s has no row in the corpus table", name)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := offlineConnector(t)
			sink := newMemSink()
			st := newState(sink, c.name)
			m, perr := mail.Parse(raw)

			switch row.want {
			case ticket:
				v := mustIntake(t, c, st, raw)
				if v.outcome != outNewThread || len(v.events) != 1 {
					t.Fatalf("outcome %s with %d events, want a new thread event (%s)", v.outcome, len(v.events), v.reason)
				}
				ev := v.events[0]
				if ev.Type != core.Mailed || ev.Item.Ref.ID != m.MessageID || ev.Item.Fields["threaded"] != "" {
					t.Errorf("event %s on %s threaded %q, want mailed on its own Message-ID %s", ev.Type, ev.Item.Ref, ev.Item.Fields["threaded"], m.MessageID)
				}
				checkPersonEvent(t, ev, m)
			case reply:
				// Unknown root: the reply starts the thread under the root it names.
				v := mustIntake(t, c, st, raw)
				if v.outcome != outNewThread || len(v.events) != 1 || v.events[0].Item.Ref.ID != row.root || v.events[0].Item.Fields["threaded"] == "" {
					t.Fatalf("unknown root: outcome %s, events %v, want mailed on %s", v.outcome, refs(v.events), row.root)
				}
				// Known root: the reply is a comment on that thread.
				st = newState(newMemSink(), c.name)
				st.putThread(&threadState{Root: row.root, Subject: "first", Reporter: "first@example.com", Participants: []string{m.From.Addr},
					Messages: []string{row.root}, Count: 1, Updated: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
				st.putRootOf(row.root, row.root)
				v = mustIntake(t, c, st, raw)
				if v.outcome != outReply || len(v.events) != 1 {
					t.Fatalf("known root: outcome %s (%s), want reply", v.outcome, v.reason)
				}
				ev := v.events[0]
				if ev.Type != core.Commented || ev.Item.Ref.ID != row.root || ev.Item.Title != "first" || ev.Item.Reporter != "first@example.com" {
					t.Errorf("event %s on %s title %q reporter %q, want commented on %s keeping the thread's title and requester", ev.Type, ev.Item.Ref, ev.Item.Title, ev.Item.Reporter, row.root)
				}
				checkPersonEvent(t, ev, m)
			case auto:
				v := mustIntake(t, c, st, raw)
				if v.outcome != outAuto || len(v.events) != 0 {
					t.Fatalf("outcome %s with %d events, want ignored automatic mail", v.outcome, len(v.events))
				}
			case bounce:
				if perr != nil || m.Auto != mail.Bounce {
					t.Fatalf("parsed as %v/%v, want a bounce", m, perr)
				}
				orig := m.Bounce.OriginalMessageID
				if orig == "" {
					v := mustIntake(t, c, st, raw)
					if v.outcome != outBounceUnmatched || len(v.events) != 0 {
						t.Fatalf("outcome %s, want bounce_unmatched with no event", v.outcome)
					}
					return
				}
				// Unknown original: nothing to record it against.
				if v := mustIntake(t, c, st, raw); v.outcome != outBounceUnmatched || len(v.events) != 0 {
					t.Fatalf("unknown original: outcome %s, want bounce_unmatched", v.outcome)
				}
				root := "case-root@example.com"
				st.putThread(&threadState{Root: root, Subject: "Printer on fire", Reporter: "ada@example.com", Messages: []string{root, orig}, Count: 2})
				st.putRootOf(orig, root)
				v := mustIntake(t, c, st, raw)
				if v.outcome != outBounce || len(v.events) != 1 {
					t.Fatalf("outcome %s, want bounce", v.outcome)
				}
				ev := v.events[0]
				if ev.Type != core.Bounced || ev.Item.Ref.ID != root || ev.Item.Fields["bounce_of"] != orig || ev.Item.Title != "Printer on fire" {
					t.Errorf("event %s on %s bounce_of %q, want bounced on %s of %s", ev.Type, ev.Item.Ref, ev.Item.Fields["bounce_of"], root, orig)
				}
				if len(ev.Item.Comments) != 1 || ev.Item.Comments[0].Public {
					t.Errorf("bounce comment %+v, want one internal comment", ev.Item.Comments)
				}
				if ev.Item.HasSeen(core.Mailed) || ev.Item.HasSeen(core.Commented) {
					t.Error("a bounce must not look like a person's mail")
				}
			case failed:
				v := mustIntake(t, c, st, raw)
				if v.outcome != outFailed || len(v.events) != 0 {
					t.Fatalf("outcome %s, want failed", v.outcome)
				}
			}
		})
	}
	for name := range corpus {
		if !seen[name] {
			t.Errorf("table row %s has no file", name)
		}
	}
}

func mustIntake(t *testing.T, c *Connector, st *state, raw []byte) verdict {
	t.Helper()
	v, err := c.intake(context.Background(), st, raw, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func refs(evs []core.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Item.Ref.String())
	}
	return out
}

// checkPersonEvent checks what every event about a person's mail carries.
func checkPersonEvent(t *testing.T, ev core.Event, m *mail.Message) {
	t.Helper()
	if ev.Source != "imap" || ev.DeliveryID != deliveryID(ev.Raw) || !strings.HasPrefix(ev.DeliveryID, "sha256:") {
		t.Errorf("source %q delivery %q", ev.Source, ev.DeliveryID)
	}
	if ev.Item.Ref.System != "imap" || ev.Item.Ref.Kind != core.EmailThread {
		t.Errorf("ref %s", ev.Item.Ref)
	}
	if len(ev.Item.Seen) != 1 || ev.Item.Seen[0] != ev.Type {
		t.Errorf("seen %v, want [%s]", ev.Item.Seen, ev.Type)
	}
	f := ev.Item.Fields
	if f["from"] != m.From.Addr || f["message_id"] != m.MessageID || !strings.Contains(","+f["participants"]+",", ","+m.From.Addr+",") {
		t.Errorf("fields from %q message_id %q participants %q", f["from"], f["message_id"], f["participants"])
	}
	if len(ev.Item.Comments) != 1 {
		t.Fatalf("comments %d, want 1", len(ev.Item.Comments))
	}
	cm := ev.Item.Comments[0]
	if cm.ID != m.MessageID || cm.Author != m.From.Addr || !cm.Public {
		t.Errorf("comment id %q author %q public %v", cm.ID, cm.Author, cm.Public)
	}
	if len(cm.Files) != len(m.Attachments) {
		t.Errorf("comment files %d, want %d", len(cm.Files), len(m.Attachments))
	}
}

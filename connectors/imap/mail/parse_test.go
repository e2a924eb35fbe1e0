package mail

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "email", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	return files
}

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "email", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParse_EveryMailOfTheCorpus: every real mail parses, and everything
// read from it is valid UTF-8.
func TestParse_EveryMailOfTheCorpus(t *testing.T) {
	for _, path := range corpusFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(raw)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if m.MessageID == "" {
				t.Error("no Message-ID, not even a derived one")
			}
			for what, s := range map[string]string{"subject": m.Subject, "text": m.Text, "reply": m.Reply, "from name": m.From.Name} {
				if !utf8.ValidString(s) {
					t.Errorf("%s is not valid UTF-8: %q", what, s)
				}
			}
			for _, a := range m.Attachments {
				if !utf8.ValidString(a.Name) || a.Name == "" || strings.ContainsAny(a.Name, "/\\") {
					t.Errorf("attachment name %q", a.Name)
				}
				if !a.Over && int64(len(a.Content)) != a.Size {
					t.Errorf("attachment %q: %d bytes carried, size %d", a.Name, len(a.Content), a.Size)
				}
			}
		})
	}
}

// TestParse_DecodesAccentsAndScripts checks the decoded text of the
// non-English mails, whatever charset and encoding carried it.
func TestParse_DecodesAccentsAndScripts(t *testing.T) {
	tests := []struct {
		file            string
		subject         string   // exact
		text            []string // substrings of Text
		fromName        string
		attachmentNamed string
	}{
		{file: "eudora-iso8859-1-8bit-raw-headers.eml", subject: "Die Hasen und die Frösche", text: []string{"Die Hasen klagten einst über ihre mißliche Lage", "ärger als der Tod"}}, // raw 8-bit subject
		{file: "outlook2000-windows1252-qp.eml", subject: "Die Hasen und die Frösche (Microsoft Outlook 00)", text: []string{"über ihre mißliche Lage"}},
		{file: "outlook2000-utf7-charset.eml", subject: "Die Hasen und die Frösche (Microsoft Outlook 00)", text: []string{"über ihre mißliche Lage", "Frösche"}},
		{file: "netscape-4.7-iso8859-1-qp.eml", text: []string{"Die Hasen und die Frösche", "laßt uns ein für allemal sterben"}},
		{file: "french-iso8859-1-subject-attachment-1k.eml", subject: "Mail avec fichier attaché de 1ko"},
		{file: "french-newsletter-html-iso8859-1-subject.eml", subject: "Je prépare mon été zéro complexe !"},
		{file: "french-utf8-multiple-attachments.eml", subject: "Persil, abeilles ...", attachmentNamed: "Biodiversité de semaine en semaine.doc"},
		{file: "thunderbird-windows1252-html-embedded-image-attachment.eml", text: []string{"Search for hähä"}},
		{file: "reply-windows-live-mail-html.eml", text: []string{"Det här är ett flerdelat meddelande i MIME-format."}, fromName: "sendeär"}, // UTF-8 label over Latin-1 bytes
		{file: "autoreply-polish-windows1250-subject.eml", subject: "Automatyczna odpowiedź: Piotrze, test z 6 miesięcy nauki ciągle na Ciebie czeka"},
		{file: "yahoo-utf8-qp-english-russian.eml", subject: "Simple text. How are you? Как ты поживаешь?", text: []string{"А эта линия по-русски."}},
		{file: "png-image-attachment-84k.eml", text: []string{"Мейлган! Хахах!"}},
		{file: "japanese-iso-2022-jp.eml", subject: "まみむめも", text: []string{"すみません。"}},
		{file: "utf16-and-euc-jp-parts.eml", text: []string{"Test message", "『世界人権宣言』"}}, // UTF-16LE/BE and EUC-JP parts
		{file: "bounce-multipart-report-gb2312-minimal.eml", text: []string{"次の受信者またはグループへの配信に失敗しました"}},
		{file: "outlook-express-gb2312-8bit.eml", subject: "代开各地增值税发票", text: []string{"我公司可代开各类增值税发票"}, fromName: "张先生"}, // declared GB2312, really UTF-8
		{file: "korean-ks_c_5601-1987.eml", subject: "[Korea] Name", text: []string{"My traveling companions!"}, attachmentNamed: "사진.JPG"},
		{file: "attachment-nonascii-filename.eml", attachmentNamed: "ciële.txt"},
		{file: "pdf-attachment.eml", subject: "Another PDF with 🎉 Unicode chars in it 🍿", attachmentNamed: "broken.pdf"},
		{file: "qp-utf8-long-encoded-header.eml", subject: "MIME UTF8 Test ¢ More Text"},
		{file: "malformed-incorrect-charset.eml", text: []string{"∮ E⋅da = Q,  n → ∞"}},
		{file: "bounce-office365-windows1252.eml", text: []string{"The email address wasn’t found at the destination domain."}},
		{file: "apple-mail-original-as-attachment-not-bounce.eml", fromName: "xpto"}, // base64 encoded word without padding
		{file: "reply-support-ticket-proxmox-8bit.eml", text: []string{"Beste Grüße", "Einschätzugen"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := Parse(read(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tt.subject != "" && m.Subject != tt.subject {
				t.Errorf("subject %q, want %q", m.Subject, tt.subject)
			}
			for _, s := range tt.text {
				if !strings.Contains(m.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, excerpt(m.Text))
				}
			}
			if tt.fromName != "" && m.From.Name != tt.fromName {
				t.Errorf("from name %q, want %q", m.From.Name, tt.fromName)
			}
			if tt.attachmentNamed != "" {
				var names []string
				for _, a := range m.Attachments {
					names = append(names, a.Name)
				}
				if !strings.Contains(strings.Join(names, "|"), tt.attachmentNamed) {
					t.Errorf("attachments %q, want one named %q", names, tt.attachmentNamed)
				}
			}
			if strings.Contains(m.Subject+m.Text, "Ã") {
				t.Errorf("mojibake (UTF-8 read as Latin-1) in %q", excerpt(m.Subject+m.Text))
			}
		})
	}
}

func excerpt(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// TestParse_ReplyWithoutHistoryOrSignature covers the clients of the corpus.
func TestParse_ReplyWithoutHistoryOrSignature(t *testing.T) {
	tests := []struct {
		file, reply string
		prefix      bool // reply must start with it rather than equal it
	}{
		{file: "reply-gmail-quoted-history.eml", reply: "Hello"},
		{file: "reply-apple-mail-iso8859-1.eml", reply: "Hello"},
		{file: "reply-hotmail-quoted-history.eml", reply: "Hello"},
		{file: "reply-android-base64.eml", reply: "Hello"}, // Russian attribution over two lines
		{file: "reply-iphone-qp.eml", reply: "Hello"},      // "Sent from my iPhone" dropped
		{file: "reply-sparrow-mac.eml", reply: "Hello"},    // "-- " signature dropped
		{file: "reply-thunderbird.eml", reply: "Hello"},    // bottom posting
		{file: "reply-yahoo.eml", reply: "Hello"},          // ----- Original Message -----
		{file: "reply-zimbra-comcast.eml", reply: "Hello"},
		{file: "reply-outlook-iso8859-1-quoted-history.eml", reply: "Hello"}, // From:/Sent: block, no Re: subject
		{file: "reply-html-base64-share-block-quoted.eml", reply: "Hi Katharine.", prefix: true},
		{file: "reply-support-ticket-proxmox-8bit.eml", reply: "Hallo Stoiko,", prefix: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := Parse(read(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tt.prefix {
				if !strings.HasPrefix(m.Reply, tt.reply) {
					t.Errorf("reply %q, want it to start with %q", excerpt(m.Reply), tt.reply)
				}
				for _, bad := range []string{"wrote:", "From: xxx@example.com", "Jonas Sterr\nInhaber", "> "} {
					if strings.Contains(m.Reply, bad) {
						t.Errorf("reply keeps history or signature %q:\n%s", bad, excerpt(m.Reply))
					}
				}
				return
			}
			if m.Reply != tt.reply {
				t.Errorf("reply %q, want %q (text %q)", m.Reply, tt.reply, excerpt(m.Text))
			}
		})
	}
}

// TestParse_ForwardKeepsItsContent: a forward is not a reply; what it
// carries is the point.
func TestParse_ForwardKeepsItsContent(t *testing.T) {
	m, err := Parse(read(t, "zimbra-forward-with-attached-message.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Reply != m.Text || len(m.Attachments) != 1 || m.Attachments[0].ContentType != "message/rfc822" || m.Attachments[0].Name != "Test 5.eml" {
		t.Errorf("reply %q text %q attachments %+v", m.Reply, m.Text, m.Attachments)
	}
}

func TestParse_Classification(t *testing.T) {
	tests := []struct {
		file string
		auto Auto
		orig string // bounced Message-ID
	}{
		{"autoreply-vacation-auto-submitted.eml", AutoReplied, ""},
		{"autoreply-outlook-automatic-reply-windows1252.eml", AutoReplied, ""},
		{"autoreply-subject-only-no-auto-submitted.eml", AutoReplied, ""},
		{"autoreply-multipart-alternative-precedence-bulk.eml", AutoReplied, ""},
		{"autoreply-polish-windows1250-subject.eml", AutoReplied, ""},
		{"french-newsletter-html-iso8859-1-subject.eml", Bulk, ""},
		{"malformed-bad-date-header.eml", Bulk, ""}, // Precedence: junk
		{"mdn-read-receipt.eml", Receipt, ""},
		{"arf-complaint-aol.eml", Complaint, ""},
		{"bounce-postfix-mailbox-full-dsn.eml", Bounce, "4E326A95.3010907@example.com"},                                          // text/rfc822-headers
		{"bounce-amazonses-dsn.eml", Bounce, "000001321defbd2a-788e31c8-2be1-422f-a8d4-cf7765cc9ed7-000000@email.amazonses.com"}, // message/rfc822
		{"bounce-office365-undeliverable.eml", Bounce, "20171013111011.20866.254C2F3A4D7AA526@ninomail.com"},
		{"bounce-exim-plain.eml", Bounce, "E1P1ce6-000Egt-GZ@e1.example.org"}, // plain failure notice, pasted headers
		{"bounce-gmail-dsn-failure.eml", Bounce, "D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com"},
		{"dsn-multi-recipient.eml", Bounce, ""},
		{"apple-mail-original-as-attachment-not-bounce.eml", Person, ""}, // an enclosed mail is no bounce
		{"outlook2000-windows1252-qp.eml", Person, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := Parse(read(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.Auto != tt.auto {
				t.Errorf("auto %q (%s), want %q", m.Auto, m.AutoReason, tt.auto)
			}
			if tt.auto != Person && !m.SuppressAutoReply {
				t.Error("automatic mail must suppress automatic replies")
			}
			if tt.auto == Bounce && m.Bounce.OriginalMessageID != tt.orig {
				t.Errorf("bounced message %q, want %q", m.Bounce.OriginalMessageID, tt.orig)
			}
		})
	}
	m, _ := Parse(read(t, "dsn-multi-recipient.eml"))
	if len(m.Bounce.Recipients) != 3 || m.Bounce.Recipients[1].Action != "delayed" || m.Bounce.Recipients[0].Status != "5.0.0" {
		t.Errorf("recipients %+v", m.Bounce.Recipients)
	}
}

// TestParse_XAutoResponseSuppressIsNoAutoReply: the header asks for no
// automatic answer; it does not make a person's mail automatic. The mail
// is a real one with the header added.
func TestParse_XAutoResponseSuppressIsNoAutoReply(t *testing.T) {
	raw := append([]byte("X-Auto-Response-Suppress: All\r\n"), read(t, "outlook2000-windows1252-qp.eml")...)
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Auto != Person || !m.SuppressAutoReply {
		t.Errorf("auto %q suppress %v, want a person's mail that asks for no auto-reply", m.Auto, m.SuppressAutoReply)
	}
}

func TestParse_AttachmentLimitNamesWhatIsOver(t *testing.T) {
	m, err := Parser{AttachmentLimit: 10 << 10}.Parse(read(t, "png-image-attachment-84k.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	a := m.Attachments[0]
	if !a.Over || a.Content != nil || a.Name != "mailgun.png" || a.Size != 60168 {
		t.Errorf("attachment %q over %v size %d content %d bytes; want named, sized, not carried", a.Name, a.Over, a.Size, len(a.Content))
	}
	inl, err := Parser{AttachmentLimit: 10 << 10}.Parse(read(t, "html-only-inline-image.eml"))
	if err != nil || len(inl.Attachments) != 1 || inl.Attachments[0].Over || !inl.Attachments[0].Inline || inl.Attachments[0].ContentID == "" {
		t.Errorf("inline image %+v %v", inl.Attachments, err)
	}
	if !inl.FromHTML || inl.Text != "Test of HTML section" {
		t.Errorf("html-only text %q from html %v", inl.Text, inl.FromHTML)
	}
}

func TestParse_UUEncodedAttachment(t *testing.T) {
	m, err := Parse(read(t, "eudora-x-uuencode-attachment.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range m.Attachments {
		if !strings.HasPrefix(string(a.Content), "\x89PNG") {
			t.Errorf("%s does not decode to a PNG: % x", a.Name, a.Content[:min(8, len(a.Content))])
		}
	}
	if len(m.Attachments) != 2 {
		t.Errorf("%d attachments, want 2", len(m.Attachments))
	}
}

func TestParse_NotMail(t *testing.T) {
	for _, raw := range []string{"", "this line is no header\nnor is this\n", "\x00\x01\x02"} {
		if _, err := Parse([]byte(raw)); !errors.Is(err, ErrNotMail) {
			t.Errorf("Parse(%q) = %v, want ErrNotMail", raw, err)
		}
	}
}

// FuzzParse feeds the parser mutations of the real corpus. Parse must not
// panic, and what it returns must be valid UTF-8.
func FuzzParse(f *testing.F) {
	for _, path := range corpusFiles(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Mail built to be expensive, generated rather than kept in testdata:
	// nested past the depth limit, just under it, and too many parts.
	f.Add(nestedBomb(10000))
	f.Add(nestedBomb(DefaultMaxDepth - 1))
	f.Add(manyParts(DefaultMaxParts + 1))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		switch {
		case errors.Is(err, ErrOverLimit):
			if m == nil {
				t.Fatal("no message beside ErrOverLimit")
			}
		case err != nil:
			if !errors.Is(err, ErrNotMail) {
				t.Fatalf("error %v wraps neither ErrNotMail nor ErrOverLimit", err)
			}
			return
		}
		for _, s := range []string{m.Subject, m.Text, m.Reply, m.From.Name, m.From.Addr} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 out: %q", s)
			}
		}
		_ = ExtractReply(m.Text)
	})
}

// BenchmarkParseCorpus parses the whole corpus per iteration and reports
// messages per second.
func BenchmarkParseCorpus(b *testing.B) {
	var msgs [][]byte
	var bytes int64
	for _, path := range corpusFiles(b) {
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, raw)
		bytes += int64(len(raw))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, raw := range msgs {
			if _, err := Parse(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}

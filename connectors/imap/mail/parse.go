// Package mail reads one raw Internet message (RFC 5322/MIME) into what a
// support desk needs from it: who wrote it and to whom, which thread it
// belongs to, the readable text in UTF-8 with the new reply separated from
// quoted history and signatures, its attachments, and whether a machine
// sent it (auto-reply, list or bulk mail, delivery status report, read
// receipt, abuse report).
//
// Parse never trusts declarations blindly: mail in the wild declares wrong
// charsets, breaks its base64, forgets its final boundary and puts raw 8-bit
// bytes in headers. Whatever can be read is read; Message.Warnings says
// what was repaired. Parse fails only when there is no mail to speak of.
package mail

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"net/textproto"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/liaisonhq/liaison/core"
)

// DefaultAttachmentLimit is the size above which an attachment's content is
// not kept (it is still named, with its size).
const DefaultAttachmentLimit = 10 << 20

// MaxMessageSize bounds what Parse reads; larger messages are refused.
const MaxMessageSize = 64 << 20

// ErrNotMail is wrapped by Parse's errors for input that cannot be read as
// a mail at all (no header block, no sender).
var ErrNotMail = errors.New("not a readable mail")

// Address is one mailbox: display name and lower-cased address.
type Address struct {
	Name string `json:"name,omitempty"`
	Addr string `json:"addr"`
}

func (a Address) String() string {
	if a.Name == "" {
		return a.Addr
	}
	return (&mail.Address{Name: a.Name, Address: a.Addr}).String()
}

// Attachment is a file carried by a message: an attachment, an inline image
// or an enclosed message.
type Attachment struct {
	Name        string
	ContentType string
	Size        int64
	ContentID   string // without angle brackets
	Inline      bool
	// Content is nil when Over is set: the file exceeded the parser's
	// attachment limit and is named, not carried.
	Content []byte
	Over    bool
}

// Message is a parsed mail.
type Message struct {
	// MessageID is the Message-ID without angle brackets; when the mail has
	// none, a stable one is derived from its content ("sha256-…@liaison").
	MessageID    string
	HasMessageID bool
	InReplyTo    []string
	References   []string
	Subject      string
	From         Address
	ReplyTo      []Address
	To, Cc       []Address
	Date         time.Time // zero when the Date header is missing or unreadable

	// Text is the readable text of the whole message (text/plain parts, or
	// the HTML turned into text when there is no plain part).
	Text string
	// Reply is the new text of the message: for a reply, Text without the
	// quoted history and the signature; otherwise Text.
	Reply string
	// FromHTML says Text was derived from HTML.
	FromHTML bool

	Attachments []Attachment

	// Auto says why the message is automatic (Person when a person wrote it).
	Auto Auto
	// AutoReason is the header or sign that decided Auto, for logs.
	AutoReason string
	// SuppressAutoReply is set when the sender asked for no automatic
	// answer (X-Auto-Response-Suppress) or the message is itself automatic.
	SuppressAutoReply bool
	// Bounce holds the delivery report of a bounce (Auto == Bounce).
	Bounce *DeliveryReport

	// Warnings lists what was repaired or could not be read.
	Warnings []string

	header textproto.MIMEHeader
}

// Header returns the first value of a header, decoded to UTF-8.
func (m *Message) Header(name string) string {
	return decodeHeader(m.header.Get(name))
}

// IsReply reports whether the message answers another one.
func (m *Message) IsReply() bool {
	return len(m.InReplyTo) > 0 || len(m.References) > 0 || replyPrefix.MatchString(m.Subject)
}

// Parser reads messages with a configured attachment limit.
type Parser struct {
	// AttachmentLimit is the largest attachment kept, in bytes; 0 means
	// DefaultAttachmentLimit, a negative value keeps none.
	AttachmentLimit int64
	// Limits bound the cost of one message; zero fields take the defaults.
	Limits Limits
}

// Parse reads a message with the default attachment limit.
func Parse(raw []byte) (*Message, error) { return Parser{}.Parse(raw) }

// Parse reads one raw message. It returns an error wrapping ErrNotMail when
// raw holds no header block at all, which is what a mailbox reader moves to
// its failed folder; every lesser defect (a missing sender included: the
// caller decides what a mail without one is worth) becomes a Warning.
//
// A message over one of p.Limits comes back with an error wrapping
// ErrOverLimit and, beside it, the Message as far as it was read: at least
// its header (sender, subject, thread). It took at most about MaxTime.
func (p Parser) Parse(raw []byte) (m *Message, err error) {
	lim := p.Limits.withDefaults()
	type parsed struct {
		m   *Message
		err error
	}
	done := make(chan parsed, 1)
	go func() {
		m, err := p.parse(raw, lim)
		done <- parsed{m, err}
	}()
	// The limits keep the work small and the MIME library gives up soon
	// after MaxTime; this is the bound for what neither foresaw. A message
	// past it is answered for from its header, and the goroutine left to
	// finish on its own, so that the next mail is not kept waiting.
	hard := time.NewTimer(lim.MaxTime + lim.MaxTime/2)
	defer hard.Stop()
	select {
	case r := <-done:
		return r.m, r.err
	case <-hard.C:
		return headerOnly(raw, trimLeadingJunk(raw)), overLimit("reading took longer than %s", lim.MaxTime)
	}
}

func (p Parser) parse(raw []byte, lim Limits) (m *Message, err error) {
	if len(raw) > MaxMessageSize {
		return nil, fmt.Errorf("%w: message of %d bytes is over the %d byte limit", ErrNotMail, len(raw), MaxMessageSize)
	}
	defer func() {
		// The MIME library is third-party code fed with hostile input; a
		// panic in it must dead-letter one mail, not stop the intake.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: parser panic: %s", ErrNotMail, core.PanicText(r))
		}
	}()
	limit := p.AttachmentLimit
	if limit == 0 {
		limit = DefaultAttachmentLimit
	}
	body := trimLeadingJunk(raw)
	if err := checkShape(body, lim); err != nil {
		return headerOnly(raw, body), err
	}
	clocked := &clockedReader{r: bytes.NewReader(body), now: lim.Now, deadline: lim.Now().Add(lim.MaxTime)}
	root, err := enmime.NewParser(
		enmime.SkipMalformedParts(true),
		enmime.RawContent(true),
		enmime.MultipartWOBoundaryAsSinglePart(true),
		enmime.SetReadPartErrorPolicy(enmime.AllowCorruptTextPartErrorPolicy),
		enmime.StripMediaTypeInvalidCharacters(true),
	).ReadParts(clocked)
	if clocked.expired {
		return headerOnly(raw, body), overLimit("reading took longer than %s", lim.MaxTime)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotMail, firstLine(err.Error()))
	}
	m = &Message{header: root.Header}
	if len(root.Header) == 0 {
		return nil, fmt.Errorf("%w: no header", ErrNotMail)
	}
	m.readHeaders(raw)
	if m.From.Addr == "" {
		m.warn("no sender address in From or Sender")
	}

	w := walker{m: m, limit: limit, lim: lim, budget: lim.MaxDecoded, deadline: clocked.deadline}
	w.walk(root, false)
	m.Text = normalizeText(strings.Join(w.texts, "\n\n"))
	m.FromHTML = w.fromHTML
	if strings.TrimSpace(m.Text) == "" && w.html != "" {
		m.Text = normalizeText(htmlToText(w.html))
		m.FromHTML = true
	}
	m.classify(root, w)
	m.Reply = strings.TrimSpace(m.Text)
	if m.Auto == Person && !forwardPrefix.MatchString(m.Subject) && (m.IsReply() || hasHistory(m.Text)) {
		// A mail that quotes an earlier one is a reply even when its
		// headers do not say so (a reply sent as a new message).
		m.Reply = ExtractReply(m.Text)
	}
	for _, pe := range collectPartErrors(root) {
		m.warn(pe)
	}
	return m, w.over
}

// headerOnly is the Message of a mail over a limit: what its header says,
// classified by its header alone.
func headerOnly(raw, body []byte) *Message {
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
	if h == nil {
		h = textproto.MIMEHeader{}
	}
	m := &Message{header: h}
	m.readHeaders(raw)
	root := &enmime.Part{Header: h}
	if ct, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil {
		root.ContentType = ct
	}
	m.classify(root, walker{m: m})
	return m
}

func (m *Message) warn(s string) {
	for _, w := range m.Warnings {
		if w == s {
			return
		}
	}
	m.Warnings = append(m.Warnings, s)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// trimLeadingJunk drops what some exports put before the header block:
// whitespace-only lines and an mbox "From " separator line.
func trimLeadingJunk(raw []byte) []byte {
	for {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return raw
		}
		line := raw[:i]
		if len(bytes.TrimSpace(line)) == 0 && len(raw) > i+1 {
			raw = raw[i+1:]
			continue
		}
		if bytes.HasPrefix(line, []byte("From ")) {
			raw = raw[i+1:]
			continue
		}
		return raw
	}
}

var (
	msgIDToken    = regexp.MustCompile(`<([^<>\s]+)>`)
	forwardPrefix = regexp.MustCompile(`(?i)^\s*(fwd?|wg|tr|fw|rv|doorst|vs)\s*:`)
	replyPrefix   = regexp.MustCompile(`(?i)^\s*(re|aw|sv|vs|antw|antwort|réf|ref|rif|odp|ynt|回复|答复|回覆)\s*(\[\d+\])?\s*:`)
)

// parseMsgIDs reads a Message-ID, In-Reply-To or References value: every
// <id>, or, for senders that drop the brackets, the bare word that looks
// like an id.
func parseMsgIDs(v string) []string {
	var out []string
	for _, m := range msgIDToken.FindAllStringSubmatch(v, -1) {
		id := strings.TrimSpace(m[1])
		if id != "" && !contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		for _, f := range strings.Fields(v) {
			f = strings.Trim(f, "<>,;\"'()")
			if strings.Contains(f, "@") && !contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (m *Message) readHeaders(raw []byte) {
	h := m.header
	if ids := parseMsgIDs(h.Get("Message-Id")); len(ids) > 0 {
		m.MessageID, m.HasMessageID = ids[0], true
	} else {
		sum := sha256.Sum256(raw)
		m.MessageID = "sha256-" + hex.EncodeToString(sum[:16]) + "@liaison.invalid"
	}
	m.InReplyTo = parseMsgIDs(strings.Join(h.Values("In-Reply-To"), " "))
	m.References = parseMsgIDs(strings.Join(h.Values("References"), " "))
	m.Subject = decodeHeader(h.Get("Subject"))
	if from := parseAddresses(h.Get("From")); len(from) > 0 {
		m.From = from[0]
	} else if sender := parseAddresses(h.Get("Sender")); len(sender) > 0 {
		m.From = sender[0]
	}
	m.ReplyTo = parseAddresses(h.Get("Reply-To"))
	m.To = parseAddresses(strings.Join(h.Values("To"), ", "))
	m.Cc = parseAddresses(strings.Join(h.Values("Cc"), ", "))
	if d := h.Get("Date"); d != "" {
		if t, err := mail.ParseDate(d); err == nil {
			m.Date = t
		} else {
			m.warn("unreadable Date header")
		}
	}
}

var addrSpec = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?`)

// parseAddresses reads an address list; when it is not valid RFC 5322 (as
// is common), it falls back to picking out anything shaped like an address.
func parseAddresses(v string) []Address {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	var out []Address
	p := mail.AddressParser{WordDecoder: wordDecoder}
	if list, err := p.ParseList(v); err == nil {
		for _, a := range list {
			out = appendAddr(out, Address{Name: decodeHeader(a.Name), Addr: validUTF8(strings.ToLower(a.Address))})
		}
		return out
	}
	dec := decodeHeader(v)
	for _, part := range splitAddressList(dec) {
		if a, err := p.Parse(part); err == nil {
			out = appendAddr(out, Address{Name: validUTF8(a.Name), Addr: validUTF8(strings.ToLower(a.Address))})
			continue
		}
		for _, s := range addrSpec.FindAllString(part, -1) {
			name := strings.TrimSpace(strings.Trim(strings.SplitN(part, "<", 2)[0], ` "'`))
			if strings.Contains(name, "@") {
				name = ""
			}
			out = appendAddr(out, Address{Name: name, Addr: strings.ToLower(s)})
		}
	}
	return out
}

func appendAddr(list []Address, a Address) []Address {
	if a.Addr == "" {
		return list
	}
	for _, x := range list {
		if x.Addr == a.Addr {
			return list
		}
	}
	return append(list, a)
}

// splitAddressList splits on commas and semicolons outside quotes and angle
// brackets.
func splitAddressList(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted && depth > 0:
			depth--
		case (c == ',' || c == ';') && !quoted && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// walker collects the body texts, the HTML alternative and the attachments
// of a part tree.
type walker struct {
	m     *Message
	limit int64
	// lim bounds the walk: the decoded bytes (budget is what may still be
	// decoded) and the time (until deadline). over is set, and the walk
	// stops, at the first limit reached; a zero lim is no bound.
	lim      Limits
	budget   int64
	deadline time.Time
	over     error
	texts    []string
	html     string
	reports  []*enmime.Part // message/delivery-status and friends
	// enclosed holds message/rfc822 and text/rfc822-headers parts.
	enclosed []*enmime.Part
	nAtt     int
	fromHTML bool
}

// walk visits p. inAlt is set below a multipart/alternative, whose children
// are versions of one body rather than several bodies.
func (w *walker) walk(p *enmime.Part, inAlt bool) {
	if w.stopped() {
		return
	}
	ct := strings.ToLower(p.ContentType)
	if p.FirstChild != nil || strings.HasPrefix(ct, "multipart/") {
		switch ct {
		case "multipart/alternative":
			w.walkAlternative(p)
		case "multipart/report":
			// The first part explains, the others are for machines.
			first := true
			for c := p.FirstChild; c != nil; c = c.NextSibling {
				if first {
					w.walk(c, false)
					first = false
					continue
				}
				w.walkReportPart(c)
			}
		default:
			for c := p.FirstChild; c != nil; c = c.NextSibling {
				w.walk(c, inAlt)
			}
		}
		return
	}
	w.leaf(p, len(w.texts) == 0)
}

func (w *walker) walkAlternative(p *enmime.Part) {
	var plain, html, other *enmime.Part
	for c := p.FirstChild; c != nil; c = c.NextSibling {
		ct := strings.ToLower(c.ContentType)
		switch {
		case (ct == "text/plain" || ct == "") && c.Disposition != "attachment" && plain == nil:
			plain = c
		case ct == "text/html" && c.Disposition != "attachment" && html == nil:
			html = c
		case strings.HasPrefix(ct, "multipart/") && other == nil:
			other = c
		}
	}
	if html != nil {
		w.keepHTML(html)
	}
	if plain != nil {
		if t := w.text(plain); strings.TrimSpace(t) != "" {
			w.texts = append(w.texts, t)
			if other != nil {
				w.attachmentsOnly(other)
			}
			return
		}
	}
	if other != nil {
		w.walk(other, true)
		return
	}
	if html != nil {
		w.texts = append(w.texts, htmlToText(w.text(html)))
		w.fromHTML = true
	}
}

// attachmentsOnly collects the files below p (the inline images of the HTML
// version of a body whose plain version was taken).
func (w *walker) attachmentsOnly(p *enmime.Part) {
	if p.FirstChild != nil {
		for c := p.FirstChild; c != nil; c = c.NextSibling {
			w.attachmentsOnly(c)
		}
		return
	}
	ct := strings.ToLower(p.ContentType)
	if ct == "text/html" || ct == "text/plain" && p.FileName == "" {
		return
	}
	w.attach(p)
}

func (w *walker) keepHTML(p *enmime.Part) {
	if w.html == "" {
		w.html = w.text(p)
	}
}

func (w *walker) walkReportPart(p *enmime.Part) {
	ct := strings.ToLower(p.ContentType)
	switch ct {
	case "message/delivery-status", "message/global-delivery-status",
		"message/disposition-notification", "message/feedback-report", "text/delivery-status":
		w.reports = append(w.reports, p)
	case "message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global", "message/global-headers":
		w.enclosed = append(w.enclosed, p)
	default:
		if p.FirstChild != nil {
			for c := p.FirstChild; c != nil; c = c.NextSibling {
				w.walkReportPart(c)
			}
			return
		}
		w.attach(p)
	}
}

// leaf handles a non-multipart part: body text, or a file.
func (w *walker) leaf(p *enmime.Part, first bool) {
	ct := strings.ToLower(p.ContentType)
	disp := strings.ToLower(p.Disposition)
	isText := ct == "text/plain" || ct == "" || ct == "text/html" || ct == "text/enriched" || ct == "text/richtext"
	// A text part is body unless it is marked as an attachment or is a named
	// file that is not the first part (an attached .txt).
	bodyText := isText && disp != "attachment" && (p.FileName == "" || first)
	switch {
	case bodyText && ct == "text/html":
		t := w.text(p)
		w.keepHTML(p)
		w.texts = append(w.texts, htmlToText(t))
		w.fromHTML = true
	case bodyText:
		w.texts = append(w.texts, w.text(p))
	case ct == "message/rfc822" || ct == "message/global":
		w.enclosed = append(w.enclosed, p)
		w.attach(p)
	case ct == "text/rfc822-headers":
		w.enclosed = append(w.enclosed, p)
	case ct == "message/delivery-status" || ct == "message/disposition-notification" || ct == "message/feedback-report":
		w.reports = append(w.reports, p)
	case ct == "application/pkcs7-signature" || ct == "application/x-pkcs7-signature" || ct == "application/pgp-signature":
		// A signature is no file the support team wants.
	default:
		w.attach(p)
	}
}

// stopped reports whether the walk is over a limit: out of time or of
// decoding budget.
func (w *walker) stopped() bool {
	if w.over == nil && w.lim.Now != nil && w.lim.Now().After(w.deadline) {
		w.over = overLimit("reading took longer than %s", w.lim.MaxTime)
	}
	return w.over != nil
}

// content returns a part's content with its transfer encoding undone, or
// nil once the decoding budget is spent.
func (w *walker) content(p *enmime.Part) []byte {
	if w.stopped() {
		return nil
	}
	out, warn := decodeTransfer(p.Header.Get("Content-Transfer-Encoding"), p.Content)
	if warn != "" {
		w.m.warn(warn)
	}
	if w.lim.MaxDecoded > 0 {
		if w.budget -= int64(len(out)); w.budget < 0 {
			w.over = overLimit("decoded content over %d bytes", w.lim.MaxDecoded)
			return nil
		}
	}
	return out
}

// text returns a text part's content in UTF-8.
func (w *walker) text(p *enmime.Part) string {
	b := w.content(p)
	cs := p.Charset
	if cs == "" && strings.ToLower(p.ContentType) == "text/html" {
		cs = htmlCharset(b)
	}
	s, warn := toUTF8(cs, b)
	if warn != "" {
		w.m.warn(warn)
	}
	return s
}

var htmlMetaCharset = regexp.MustCompile(`(?i)<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)`)

func htmlCharset(b []byte) string {
	head := b
	if len(head) > 2048 {
		head = head[:2048]
	}
	if m := htmlMetaCharset.FindSubmatch(head); m != nil {
		return string(m[1])
	}
	return ""
}

func (w *walker) attach(p *enmime.Part) {
	data := w.content(p)
	if w.over != nil {
		return
	}
	w.nAtt++
	name := decodeHeader(p.FileName)
	ct := strings.ToLower(p.ContentType)
	if name == "" && (ct == "message/rfc822" || ct == "message/global") {
		if sub := enclosedSubject(data); sub != "" {
			name = sub + ".eml"
		}
	}
	if name == "" {
		name = fmt.Sprintf("attachment-%d%s", w.nAtt, extensionFor(ct))
	}
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	a := Attachment{
		Name:        name,
		ContentType: ct,
		Size:        int64(len(data)),
		ContentID:   strings.Trim(p.ContentID, "<> "),
		Inline:      strings.EqualFold(p.Disposition, "inline") || p.ContentID != "" && !strings.EqualFold(p.Disposition, "attachment"),
	}
	if ct == "" {
		a.ContentType = "application/octet-stream"
	}
	if w.limit >= 0 && a.Size <= w.limit {
		a.Content = data
	} else {
		a.Over = true
	}
	w.m.Attachments = append(w.m.Attachments, a)
}

func enclosedSubject(data []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	s := decodeHeader(msg.Header.Get("Subject"))
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 {
			return '_'
		}
		return r
	}, s)
	if len(s) > 80 {
		s = s[:80]
	}
	return strings.TrimSpace(s)
}

func extensionFor(ct string) string {
	switch ct {
	case "image/png":
		return ".png"
	case "image/jpeg", "image/jpg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "application/pdf":
		return ".pdf"
	case "message/rfc822", "message/global":
		return ".eml"
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	}
	return ".bin"
}

func collectPartErrors(root *enmime.Part) []string {
	var out []string
	_ = root.DepthMatchAll(func(p *enmime.Part) bool {
		for _, e := range p.Errors {
			// Charset and content-type errors are handled by our own
			// decoding; the structural ones are worth reporting.
			switch e.Name {
			case enmime.ErrorMissingBoundary, enmime.ErrorMalformedChildPart, enmime.ErrorMalformedHeader:
				out = append(out, strings.ToLower(e.Name))
			}
		}
		return false
	})
	return out
}

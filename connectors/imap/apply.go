package imap

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	mailpkg "github.com/liaisonhq/liaison/connectors/imap/mail"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/notify"
)

// Apply implements core.Applier: AddComment and Notify on an email thread
// send a mail (see the package documentation). Other actions are permanent
// errors: a mailbox has no statuses or fields to write.
func (c *Connector) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Target.Kind != core.EmailThread || a.Target.System != c.name {
		return core.Result{}, core.Permanent(fmt.Errorf("imap %q: cannot apply %s to %q: only email threads of this instance", c.name, a.Kind, a.Target))
	}
	switch a.Kind {
	case core.AddComment, core.Notify:
	default:
		return core.Result{}, core.Permanent(fmt.Errorf("imap %q: action %q is not supported on mail threads (only comment and notify)", c.name, a.Kind))
	}
	if a.Kind == core.Notify && strings.TrimSpace(a.Body) == "" {
		return c.acknowledge(ctx, a)
	}
	if c.cfg.smtpAddr == "" {
		return core.Result{}, core.Permanent(fmt.Errorf("imap %q: no smtp server configured to send %s for %q", c.name, a.Kind, a.Target))
	}
	t, err := c.threadFor(ctx, a.Target.ID)
	if err != nil {
		return core.Result{}, err
	}
	auto := a.Kind == core.Notify
	to, cc := c.recipients(a, t, auto)
	if len(to) == 0 {
		return core.Result{}, core.Permanent(fmt.Errorf("imap %q: no recipient for %s on %q: the thread is unknown here and the action names no To", c.name, a.Kind, a.Target))
	}
	release := func() {}
	if auto {
		var reason string
		if release, reason = c.claimAuto(to[0], t); reason != "" {
			suppressedTotal.WithLabelValues(c.name, reason).Inc()
			return core.Result{Note: fmt.Sprintf("automatic mail to %q not sent: %s", to[0], reasonText[reason])}, nil
		}
	}
	ticket := a.Fields["ticket"]
	if ticket == "" && t != nil {
		ticket = t.Token
	}
	body := a.Body
	if body == "" {
		return core.Result{}, core.Permanent(fmt.Errorf("imap %q: %s on %q has an empty body", c.name, a.Kind, a.Target))
	}
	id := ownMessageID(a.Key, a.Target.ID, c.cfg.ownDomain)
	msg, err := c.compose(a, t, id, to, cc, subjectFor(a, t, ticket), body, auto)
	if err != nil {
		release()
		return core.Result{}, core.Permanent(fmt.Errorf("imap %q: compose mail for %q: %w", c.name, a.Target, err))
	}
	from := c.cfg.own
	if auto {
		// RFC 3834 §3.3: automatic responses go out with a null return
		// path, so that a bounce of them cannot start a loop.
		from = ""
	}
	rcpts := slices.Concat(to, cc)
	if err := c.send(ctx, from, rcpts, msg); err != nil {
		release()
		return core.Result{}, err
	}
	sentTotal.WithLabelValues(c.name, string(a.Kind)).Inc()
	c.fileSent(ctx, msg)
	return core.Result{CommentID: id, Note: fmt.Sprintf("mail <%s> sent to %s", id, strings.Join(rcpts, ", "))}, nil
}

var reasonText = map[string]string{
	"daemon":       "the address is a mailer daemon or no-reply address",
	"no_autoreply": "the thread asked for no automatic answer (X-Auto-Response-Suppress, an automatic sender, or a bounce)",
	"loop":         "the sender tripped the loop breaker",
	"rate_limit":   "the per-sender hourly limit of automatic mails is reached",
	"throttled":    "the sender opened more new threads than new_threads_per_sender_per_hour allows",
}

// claimAuto says why an automatic mail to addr must not be sent, or, when
// it may, takes one of the sender's hourly automatic mails
// (ack_per_sender_per_hour) at once, so that two actions applied side by
// side cannot both take the last one; release gives it back when the mail
// is not sent after all.
func (c *Connector) claimAuto(addr string, t *threadState) (release func(), reason string) {
	if reason := c.suppressAuto(addr, t); reason != "" {
		return func() {}, reason
	}
	release, ok := c.acks.reserve(addr, c.clock.Now())
	if !ok {
		return func() {}, "rate_limit"
	}
	return release, ""
}

// suppressAuto says why an automatic mail to addr must not be sent, or "";
// the hourly limit is claimAuto's.
func (c *Connector) suppressAuto(addr string, t *threadState) string {
	switch {
	case isDaemon(addr) || c.isOwnAddress(addr):
		return "daemon"
	case t != nil && t.NoAutoReply:
		return "no_autoreply"
	case c.loop.isTripped(addr, c.clock.Now()):
		return "loop"
	case c.newThreads.isThrottled(addr, c.clock.Now()):
		return "throttled"
	}
	return ""
}

// threadFor returns what the connector knows of a thread: through the
// Sink while Run is running in this process; otherwise (another replica
// holds the mailbox lease) it is rebuilt from the thread's messages in the
// mailboxes. nil when neither knows it: the action must then name its
// recipient.
func (c *Connector) threadFor(ctx context.Context, root string) (*threadState, error) {
	c.mu.Lock()
	sink := c.sink
	c.mu.Unlock()
	if sink == nil {
		return c.threadFromMailboxes(ctx, root)
	}
	t, err := newState(sink, c.name).thread(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("imap %q: %w", c.name, err)
	}
	return t, nil
}

// threadFromMailboxes searches the processed and configured mailboxes for
// the thread's messages (its root, and those whose References or
// In-Reply-To name it) and
// folds them into a thread state the way the intake does.
func (c *Connector) threadFromMailboxes(ctx context.Context, root string) (*threadState, error) {
	cl, delim, done, err := c.errand(ctx)
	if err != nil {
		return nil, core.RetryAfter(fmt.Errorf("imap %q: read thread %q: %w", c.name, root, err), 0)
	}
	defer done()
	header := func(k string) imap.SearchCriteria {
		return imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: k, Value: root}}}
	}
	criteria := &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
		header("Message-ID"),
		{Or: [][2]imap.SearchCriteria{{header("References"), header("In-Reply-To")}}},
	}}}
	var msgs []*parsedMail
	for _, mb := range append([]string{c.cfg.ProcessedMailbox}, c.cfg.Mailboxes...) {
		name := mailboxName(mb, delim)
		if _, err := cl.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			continue // a mailbox not created yet holds nothing
		}
		data, err := cl.UIDSearch(criteria, nil).Wait()
		if err != nil {
			return nil, core.RetryAfter(fmt.Errorf("imap %q: search %q for thread %q: %w", c.name, name, root, err), 0)
		}
		uids := data.AllUIDs()
		if len(uids) == 0 {
			continue
		}
		section := &imap.FetchItemBodySection{Peek: true}
		bufs, err := cl.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return nil, core.RetryAfter(fmt.Errorf("imap %q: fetch thread %q: %w", c.name, root, err), 0)
		}
		for _, b := range bufs {
			m, err := mailpkg.Parser{AttachmentLimit: -1}.Parse(b.FindBodySection(section))
			if err == nil && m.Auto == mailpkg.Person && m.From.Addr != "" && !c.isOwn(m) {
				msgs = append(msgs, m)
			}
		}
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(msgs, func(a, b *parsedMail) int {
		if a.MessageID == root {
			return -1
		}
		if b.MessageID == root {
			return 1
		}
		return a.Date.Compare(b.Date)
	})
	t := &threadState{Root: root, Subject: msgs[0].Subject, Body: msgs[0].Reply, Reporter: msgs[0].From.Addr, ReporterName: msgs[0].From.Name}
	for _, m := range msgs {
		t.addMessage(m.MessageID)
		t.addParticipants(c.participantsOf(m)...)
		t.NoAutoReply = t.NoAutoReply || m.SuppressAutoReply
		if tok := c.tokenOf(m.Subject); tok != "" && t.Token == "" {
			t.Token = tok
		}
	}
	return t, nil
}

type parsedMail = mailpkg.Message

func (t *threadState) subject() string {
	if t == nil {
		return ""
	}
	return t.Subject
}

// recipients: Action.To when set; else the requester, with the other
// participants in copy for a person's reply.
func (c *Connector) recipients(a core.Action, t *threadState, auto bool) (to, cc []string) {
	if a.To != "" || len(a.Recipients) > 0 {
		// Each recipient is one parsed address (an action planned before
		// Recipients existed: To, read as one); a comma inside an address
		// never makes two.
		rcpts := a.Recipients
		if len(rcpts) == 0 {
			if r, err := core.ParseRecipient(a.To); err == nil {
				rcpts = []mail.Address{r}
			}
		}
		for _, r := range rcpts {
			to = append(to, strings.ToLower(r.Address))
		}
		return to, nil
	}
	if t == nil || t.Reporter == "" {
		return nil, nil
	}
	to = []string{t.Reporter}
	if !auto {
		for _, p := range t.Participants {
			if p != t.Reporter && !c.isOwnAddress(p) && !isDaemon(p) {
				cc = append(cc, p)
			}
		}
	}
	return to, cc
}

var rePrefix = regexp.MustCompile(`(?i)^\s*((re|aw|sv|antw|fwd?|wg|tr)\s*(\[\d+\])?\s*:\s*)+`)

// subjectFor is Action.Title, or "Re: <thread subject>", with the ticket
// token added when it is missing.
func subjectFor(a core.Action, t *threadState, ticket string) string {
	s := a.Title
	if s == "" {
		base := rePrefix.ReplaceAllString(t.subject(), "")
		if base == "" {
			base = "your message"
		}
		s = "Re: " + base
	}
	if ticket != "" && !strings.Contains(s, "#"+ticket) {
		s += " [#" + ticket + "]"
	}
	return s
}

// compose writes the mail.
func (c *Connector) compose(a core.Action, t *threadState, id string, to, cc []string, subject, body string, auto bool) ([]byte, error) {
	var h gomail.Header
	h.SetDate(c.clock.Now())
	h.SetAddressList("From", []*gomail.Address{{Address: c.cfg.own}})
	h.SetAddressList("To", addrList(to))
	if len(cc) > 0 {
		h.SetAddressList("Cc", addrList(cc))
	}
	h.SetSubject(subject)
	h.SetMessageID(id)
	// Thread onto the latest message we know of, keeping the root first
	// in References so that any reply finds the thread again.
	refs := []string{a.Target.ID}
	if t != nil {
		for _, m := range t.Messages {
			if m != a.Target.ID {
				refs = append(refs, m)
			}
		}
		if len(refs) > 10 {
			refs = append(refs[:1:1], refs[len(refs)-9:]...)
		}
	}
	h.SetMsgIDList("In-Reply-To", refs[len(refs)-1:])
	h.SetMsgIDList("References", refs)
	h.Set("X-Liaison-Marker", a.Marker())
	if auto {
		h.Set("Auto-Submitted", "auto-replied")
		h.Set("X-Auto-Response-Suppress", "All")
		h.Set("Precedence", "auto_reply")
	}
	var buf bytes.Buffer
	if len(a.Files) == 0 {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := gomail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(w, body); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	mw, err := gomail.CreateWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	var th gomail.InlineHeader
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, err
	}
	text := body
	for _, f := range a.Files {
		if len(f.Content) == 0 && f.URL != "" {
			text += fmt.Sprintf("\n\nAttachment %s: %s", f.Name, f.URL)
		}
	}
	if _, err := io.WriteString(tw, text); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	for _, f := range a.Files {
		if len(f.Content) == 0 {
			continue
		}
		var ah gomail.AttachmentHeader
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		ah.SetContentType(ct, nil)
		ah.SetFilename(f.Name)
		ah.Set("Content-Transfer-Encoding", "base64")
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, err
		}
		if _, err := aw.Write(f.Content); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func addrList(s []string) []*gomail.Address {
	out := make([]*gomail.Address, len(s))
	for i, a := range s {
		out[i] = &gomail.Address{Address: a}
	}
	return out
}

// send delivers msg by SMTP and classifies failures: 5xx replies are
// permanent, 4xx replies and connection errors temporary.
func (c *Connector) send(ctx context.Context, from string, rcpts []string, msg []byte) error {
	sm := c.cfg.SMTP
	tlsConf := c.hooks.tlsConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{ServerName: sm.Host, MinVersion: tls.VersionTLS12}
	}
	var (
		cl  *smtp.Client
		err error
	)
	switch sm.TLS {
	case "tls":
		cl, err = smtp.DialTLS(c.cfg.smtpAddr, tlsConf)
	case "starttls":
		cl, err = smtp.DialStartTLS(c.cfg.smtpAddr, tlsConf)
	default:
		cl, err = smtp.Dial(c.cfg.smtpAddr)
	}
	if err != nil {
		return classifySMTP(fmt.Errorf("imap %q: connect to smtp %q: %w", c.name, c.cfg.smtpAddr, err))
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	if sm.Username != "" {
		if err := cl.Auth(sasl.NewPlainClient("", sm.Username, c.cfg.smtpPass.Reveal())); err != nil {
			return classifySMTP(fmt.Errorf("imap %q: smtp login as %q: %w", c.name, sm.Username, err))
		}
	}
	// On the envelope, a local part that needs quotes gets them, so that
	// the server reads one address.
	envelope := make([]string, len(rcpts))
	for i, r := range rcpts {
		envelope[i] = core.AddrSpec(mail.Address{Address: r})
	}
	if err := notify.Transmit(cl, from, envelope, msg); err != nil {
		return classifySMTP(fmt.Errorf("imap %q: send mail via %q: %w", c.name, c.cfg.smtpAddr, err))
	}
	if err := cl.Quit(); err != nil {
		c.log.Debug("smtp quit failed after the mail was accepted", "err", err)
	}
	return nil
}

func classifySMTP(err error) error {
	if errors.Is(err, notify.ErrAnswerLost) {
		return core.Uncertain(err)
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.Code >= 500 {
			return core.Permanent(err)
		}
		return core.RetryAfter(err, time.Minute)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return core.RetryAfter(err, 0)
	}
	return err
}

// rateLimiter allows n automatic mails per address per rolling hour. It is
// held in memory: after a restart an address may get up to n more.
type rateLimiter struct {
	mu   sync.Mutex
	n    int
	sent window
}

func newRateLimiter(n int) *rateLimiter { return &rateLimiter{n: n, sent: newWindow(time.Hour)} }

// reserve takes one of addr's mails of the hour, if one is left; release
// gives it back.
func (r *rateLimiter) reserve(addr string, now time.Time) (release func(), ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent.recent(addr, now)) >= r.n {
		return nil, false
	}
	r.sent.add(addr, now)
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		ts := r.sent.at[addr]
		if i := slices.Index(ts, now); i >= 0 {
			r.sent.at[addr] = slices.Delete(ts, i, i+1)
		}
	}, true
}

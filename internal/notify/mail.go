package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/liaisonhq/liaison/core"
)

// SMTP is the outgoing mail server notifications and digests are sent
// through.
type SMTP struct {
	Host string
	// Port defaults to 587, or 465 for TLS "tls".
	Port int
	// TLS is "starttls" (the default), "tls" (implicit TLS, smtps) or
	// "plain", which is only allowed to a loopback host (a local relay).
	TLS      string
	Username string
	Password core.Secret
	// From is the sender address of every mail (required).
	From string
	// TLSConfig overrides the TLS settings (tests with their own CA).
	TLSConfig *tls.Config
}

func (s *SMTP) check() error {
	var errs []error
	if s.Host == "" {
		errs = append(errs, errors.New("notify.smtp.host is empty"))
	}
	switch s.TLS {
	case "", "starttls":
		s.TLS = "starttls"
	case "tls", "smtps":
		s.TLS = "tls"
	case "plain":
		if !isLoopback(s.Host) {
			errs = append(errs, fmt.Errorf("notify.smtp.tls %q is only allowed for a loopback host, not %q: use starttls or tls", s.TLS, s.Host))
		}
	default:
		errs = append(errs, fmt.Errorf("notify.smtp.tls %q: want starttls, tls or plain", s.TLS))
	}
	if s.Port == 0 {
		s.Port = 587
		if s.TLS == "tls" {
			s.Port = 465
		}
	}
	if s.Port < 0 || s.Port > 65535 {
		errs = append(errs, fmt.Errorf("notify.smtp.port %d is not a port", s.Port))
	}
	if a, err := mail.ParseAddress(s.From); err != nil || a.Address != s.From {
		errs = append(errs, fmt.Errorf("notify.smtp.from %q: want a bare mail address such as liaison@example.com", s.From))
	}
	if s.Username != "" && s.Password == "" {
		errs = append(errs, fmt.Errorf("notify.smtp: a username (%q) but no password: set password_env or password_file", s.Username))
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *SMTP) addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Mail is one plain-text mail the notifier sends.
type Mail struct {
	// To are the recipients, each one address (never a list to split).
	To      []mail.Address
	Subject string
	Body    string
	// HTML, when set, is the same message as Body in HTML: the mail is
	// then multipart/alternative (the weekly digest).
	HTML string
	// ID seeds the Message-ID, so that a resent mail (a retried action,
	// a digest sent again after a crash) carries the same one and
	// receivers can tell.
	ID string
	// Headers are added as they are (X-Liaison-Marker, ...).
	Headers map[string]string
}

// Mail sends m through the configured SMTP server, marked as an automatic
// mail (Auto-Submitted: auto-generated, RFC 3834) so that vacation
// responders stay quiet. Without an SMTP server it fails permanently.
func (n *Notifier) Mail(ctx context.Context, m Mail) error {
	sm := n.o.SMTP
	if sm == nil {
		return core.Permanent(fmt.Errorf("notify: cannot mail %s: no smtp server is configured (notify.smtp)", addrSpecs(m.To)))
	}
	if len(m.To) == 0 {
		return core.Permanent(errors.New("notify: a mail with no recipient"))
	}
	msg, err := n.compose(sm, m)
	if err != nil {
		return core.Permanent(fmt.Errorf("notify: compose mail to %s: %w", addrSpecs(m.To), err))
	}
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	rcpts := envelope(m.To)
	if err := n.send(ctx, sm, rcpts, msg); err != nil {
		return err
	}
	n.log.Info("notification mailed", "to", strings.Join(rcpts, ", "), "via", sm.addr())
	return nil
}

func (n *Notifier) compose(sm *SMTP, m Mail) ([]byte, error) {
	var h gomail.Header
	h.SetDate(n.clock.Now())
	h.SetAddressList("From", []*gomail.Address{{Name: "Liaison", Address: sm.From}})
	to := make([]*gomail.Address, len(m.To))
	for i, a := range m.To {
		to[i] = &gomail.Address{Name: a.Name, Address: a.Address}
	}
	h.SetAddressList("To", to)
	h.SetSubject(m.Subject)
	h.SetMessageID(messageID(m.ID, sm.From))
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Auto-Response-Suppress", "All")
	h.Set("Precedence", "bulk")
	for k, v := range m.Headers {
		h.Set(k, v)
	}
	var buf bytes.Buffer
	if m.HTML != "" {
		if err := alternative(&buf, h, m.Body, m.HTML); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := gomail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, m.Body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// alternative writes a multipart/alternative message: the text part
// first, the HTML part last (the one clients prefer).
func alternative(buf *bytes.Buffer, h gomail.Header, text, html string) error {
	w, err := gomail.CreateInlineWriter(buf, h)
	if err != nil {
		return err
	}
	for _, p := range []struct{ typ, body string }{{"text/plain", text}, {"text/html", html}} {
		var ph gomail.InlineHeader
		ph.SetContentType(p.typ, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := w.CreatePart(ph)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(pw, p.body); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	return w.Close()
}

// envelope is the addresses as the SMTP envelope carries them.
func envelope(as []mail.Address) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = core.AddrSpec(a)
	}
	return out
}

// addrSpecs lists addresses for a message or a note.
func addrSpecs(as []mail.Address) string { return strings.Join(envelope(as), ", ") }

// messageID derives a Message-ID from seed (random when empty) in the
// sender's domain.
func messageID(seed, from string) string {
	domain := "liaison.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		domain = d
	}
	if seed == "" {
		seed = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	sum := sha256.Sum256([]byte(seed))
	return "liaison." + hex.EncodeToString(sum[:12]) + "@" + domain
}

// send delivers msg; connection and reply failures are classified.
func (n *Notifier) send(ctx context.Context, sm *SMTP, rcpts []string, msg []byte) error {
	addr := sm.addr()
	d := &net.Dialer{Timeout: n.o.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return classifySMTP(fmt.Errorf("notify: connect to smtp %q: %w", addr, err))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	tlsConf := sm.TLSConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{ServerName: sm.Host, MinVersion: tls.VersionTLS12}
	}
	var cl *smtp.Client
	switch sm.TLS {
	case "tls":
		cl = smtp.NewClient(tls.Client(conn, tlsConf))
	case "starttls":
		cl, err = smtp.NewClientStartTLS(conn, tlsConf)
		if err != nil {
			conn.Close()
			return classifySMTP(fmt.Errorf("notify: starttls with smtp %q: %w", addr, err))
		}
	default:
		cl = smtp.NewClient(conn)
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	if sm.Username != "" {
		if err := cl.Auth(sasl.NewPlainClient("", sm.Username, sm.Password.Reveal())); err != nil {
			return classifySMTP(fmt.Errorf("notify: smtp login to %q as %q: %w", addr, sm.Username, err))
		}
	}
	if err := Transmit(cl, sm.From, rcpts, msg); err != nil {
		return classifySMTP(fmt.Errorf("notify: send mail to %s via %q: %w", strings.Join(rcpts, ", "), addr, err))
	}
	if err := cl.Quit(); err != nil {
		n.log.Debug("smtp quit failed after the mail was accepted", "err", err)
	}
	return nil
}

// Transmit is smtp.Client.SendMail, telling a mail the server may have
// taken from one it did not: once the whole message is out, a failure
// other than the server's reply (a timeout, a connection dropped while the
// server was answering) leaves its outcome unknown (ErrAnswerLost). Sent
// again, such a mail could reach its reader twice.
func Transmit(cl *smtp.Client, from string, rcpts []string, msg []byte) error {
	if err := cl.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := cl.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err // the message did not end: the server cannot take it
	}
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrAnswerLost, err)
	}
	return nil
}

// ErrAnswerLost marks a mail that was sent whole and not answered.
var ErrAnswerLost = errors.New("the smtp server took the whole mail but its answer was lost")

// classifySMTP: a mail that may have been taken is of unknown outcome
// (core.Uncertain); 5xx replies are permanent; 4xx replies are retried
// after a minute; connection errors and timeouts are retried.
func classifySMTP(err error) error {
	if errors.Is(err, ErrAnswerLost) {
		return core.Uncertain(err)
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.Code >= 500 {
			return core.Permanent(err)
		}
		return core.RetryAfter(err, time.Minute)
	}
	return core.RetryAfter(err, 0)
}

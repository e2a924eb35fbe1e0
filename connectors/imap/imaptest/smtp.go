package imaptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPOptions configure the SMTP sink.
type SMTPOptions struct {
	// User and Password, when set, are required (AUTH PLAIN).
	User, Password string
}

// SMTP is an in-process SMTP server that keeps what it is sent.
type SMTP struct {
	Addr string

	opts    SMTPOptions
	srv     *smtp.Server
	mu      sync.Mutex
	changed chan struct{}
	mails   []Mail
	failN   int
	failErr *smtp.SMTPError
	slowN   int
	slow    time.Duration
}

// Mail is one accepted mail: envelope and raw message.
type Mail struct {
	From string // "" for a null reverse path
	To   []string
	Data []byte
}

// StartSMTP starts an SMTP sink on 127.0.0.1 with a random port.
func StartSMTP(opts SMTPOptions) (*SMTP, error) {
	s := &SMTP{opts: opts, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imaptest: smtp listen: %w", err)
	}
	s.srv, s.Addr = srv, ln.Addr().String()
	go srv.Serve(ln)
	return s, nil
}

// Port returns the listening port.
func (s *SMTP) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Close stops the server.
func (s *SMTP) Close() error { return s.srv.Close() }

// Messages returns the mails accepted so far.
func (s *SMTP) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Reset forgets the mails accepted so far.
func (s *SMTP) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = nil
}

// FailNext makes the next n mails fail at DATA with the given reply code
// (421, 451 temporary; 550, 554 permanent).
func (s *SMTP) FailNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN = n
	s.failErr = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "imaptest: refused as asked"}
}

// AnswerLate makes the server take the next n mails (they are kept, as
// a server that accepted them) and answer each only after d: a client
// that stopped waiting before cannot know that they went out.
func (s *SMTP) AnswerLate(n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slowN, s.slow = n, d
}

// Wait blocks until at least n mails were accepted or ctx ends.
func (s *SMTP) Wait(ctx context.Context, n int) ([]Mail, error) {
	for {
		s.mu.Lock()
		if len(s.mails) >= n {
			out := append([]Mail(nil), s.mails...)
			s.mu.Unlock()
			return out, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return s.Messages(), fmt.Errorf("imaptest: waiting for %d mails: %w", n, ctx.Err())
		case <-ch:
		}
	}
}

type smtpSession struct {
	s      *SMTP
	authed bool
	from   string
	to     []string
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.opts.User || pass != ss.s.opts.Password {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 {
		s.failN--
		return s.failErr
	}
	s.mails = append(s.mails, Mail{From: ss.from, To: append([]string(nil), ss.to...), Data: b})
	close(s.changed)
	s.changed = make(chan struct{})
	if s.slowN > 0 {
		s.slowN--
		d := s.slow
		s.mu.Unlock()
		time.Sleep(d)
		s.mu.Lock()
	}
	return nil
}

func (ss *smtpSession) Reset() { ss.from, ss.to = "", nil }

func (ss *smtpSession) Logout() error { return nil }

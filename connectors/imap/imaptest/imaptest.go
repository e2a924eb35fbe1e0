// Package imaptest runs an in-process IMAP server (go-imap's
// imapmemserver) and an SMTP sink on loopback ports, for the imap
// connector's tests, the lead's end-to-end tests and the sandbox
// (`make run`): deliver a mail with Append, watch what the gateway sends
// with SMTP.Messages.
//
//	srv, _ := imaptest.Start(imaptest.Options{})
//	defer srv.Close()
//	srv.Append("INBOX", raw)            // the connector sees it (IDLE wakes up)
//	out, _ := imaptest.StartSMTP(imaptest.SMTPOptions{})
//	defer out.Close()
//	out.Wait(ctx, 1)                     // until one mail was sent
//
// Connector configuration for them: host 127.0.0.1, port srv.Port(),
// tls plain, username srv.User, password from srv.Password.
package imaptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Options configure the IMAP server.
type Options struct {
	// User and Password default to "support@example.com" and "secret".
	User, Password string
	// Mailboxes to create besides INBOX.
	Mailboxes []string
	// NoMove leaves MOVE and UIDPLUS out of the capabilities, as on old
	// servers.
	NoMove bool
	// Debug receives the protocol exchange, when set.
	Debug io.Writer
}

// Server is a running in-process IMAP server with one user.
type Server struct {
	User, Password string
	Addr           string

	mem  *imapmemserver.Server
	user *imapmemserver.User
	srv  *imapserver.Server
	ln   *listener
}

// Start starts a server on 127.0.0.1 with a random port.
func Start(opts Options) (*Server, error) {
	if opts.User == "" {
		opts.User = "support@example.com"
	}
	if opts.Password == "" {
		opts.Password = "secret"
	}
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(opts.User, opts.Password)
	for _, mb := range append([]string{"INBOX"}, opts.Mailboxes...) {
		if err := user.Create(mb, nil); err != nil {
			return nil, fmt.Errorf("imaptest: create mailbox %q: %w", mb, err)
		}
	}
	mem.AddUser(user)
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapESearch: {}, imap.CapListExtended: {}}
	if !opts.NoMove {
		caps[imap.CapMove] = struct{}{}
		caps[imap.CapUIDPlus] = struct{}{}
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
		DebugWriter:  opts.Debug,
	})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imaptest: listen: %w", err)
	}
	ln := &listener{Listener: inner, conns: map[net.Conn]struct{}{}}
	go srv.Serve(ln)
	return &Server{User: opts.User, Password: opts.Password, Addr: inner.Addr().String(), mem: mem, user: user, srv: srv, ln: ln}, nil
}

// Port returns the listening port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Close stops the server and closes every connection.
func (s *Server) Close() error { return s.srv.Close() }

// Append delivers a message to a mailbox, as an MTA would, and returns its
// UID. Clients idling on the mailbox are told at once. A leading mbox
// "From " separator line (as exported .eml files sometimes carry) is
// dropped, as a delivery agent does: the in-memory server cannot serve
// such a message.
func (s *Server) Append(mailbox string, raw []byte) (uint32, error) {
	raw = StripMboxFrom(raw)
	data, err := s.user.Append(mailbox, literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{})
	if err != nil {
		return 0, fmt.Errorf("imaptest: append to %q: %w", mailbox, err)
	}
	return uint32(data.UID), nil
}

// Messages returns the raw messages of a mailbox in UID order, and their
// flags.
func (s *Server) Messages(mailbox string) ([]Message, error) {
	cl, err := s.client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	sel, err := cl.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("imaptest: select %q: %w", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := cl.Fetch(imap.SeqSetNum(seqRange(sel.NumMessages)...), &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("imaptest: fetch %q: %w", mailbox, err)
	}
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, Message{UID: uint32(m.UID), Flags: flagStrings(m.Flags), Raw: m.FindBodySection(section)})
	}
	slices.SortFunc(out, func(a, b Message) int { return int(a.UID) - int(b.UID) })
	return out, nil
}

// Message is one stored message.
type Message struct {
	UID   uint32
	Flags []string
	Raw   []byte
}

// Seen reports whether the message carries \Seen.
func (m Message) Seen() bool { return slices.Contains(m.Flags, string(imap.FlagSeen)) }

// Count returns how many messages a mailbox holds.
func (s *Server) Count(mailbox string) (int, error) {
	data, err := s.user.Status(mailbox, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return 0, fmt.Errorf("imaptest: status %q: %w", mailbox, err)
	}
	return int(*data.NumMessages), nil
}

// UIDValidity returns a mailbox's UIDVALIDITY.
func (s *Server) UIDValidity(mailbox string) (uint32, error) {
	data, err := s.user.Status(mailbox, &imap.StatusOptions{UIDValidity: true})
	if err != nil {
		return 0, fmt.Errorf("imaptest: status %q: %w", mailbox, err)
	}
	return data.UIDValidity, nil
}

// RecreateMailbox deletes a mailbox and creates it again with the same
// messages, as a server restore or migration does: the messages get new
// UIDs under a new UIDVALIDITY.
func (s *Server) RecreateMailbox(mailbox string) error {
	msgs, err := s.Messages(mailbox)
	if err != nil {
		return err
	}
	if err := s.user.Delete(mailbox); err != nil {
		return fmt.Errorf("imaptest: delete %q: %w", mailbox, err)
	}
	if err := s.user.Create(mailbox, nil); err != nil {
		return fmt.Errorf("imaptest: create %q: %w", mailbox, err)
	}
	for _, m := range msgs {
		if _, err := s.Append(mailbox, m.Raw); err != nil {
			return err
		}
	}
	return nil
}

// DropConnections closes every open client connection, as a server
// restart or a network failure does; the server keeps listening.
func (s *Server) DropConnections() int { return s.ln.dropAll() }

// Connections counts the client connections accepted so far.
func (s *Server) Connections() int {
	s.ln.mu.Lock()
	defer s.ln.mu.Unlock()
	return s.ln.accepted
}

func (s *Server) client() (*imapclient.Client, error) {
	cl, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		return nil, fmt.Errorf("imaptest: dial: %w", err)
	}
	if err := cl.Login(s.User, s.Password).Wait(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("imaptest: login: %w", err)
	}
	return cl, nil
}

func seqRange(n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i + 1)
	}
	return out
}

func flagStrings(f []imap.Flag) []string {
	out := make([]string, len(f))
	for i, x := range f {
		out[i] = string(x)
	}
	return out
}

type literal struct {
	io.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

// listener remembers its connections so that they can be dropped.
type listener struct {
	net.Listener
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.accepted++
	l.mu.Unlock()
	return &trackedConn{Conn: c, l: l}, nil
}

func (l *listener) dropAll() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.conns)
	for c := range l.conns {
		c.Close()
		delete(l.conns, c)
	}
	return n
}

type trackedConn struct {
	net.Conn
	l    *listener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c.Conn)
		c.l.mu.Unlock()
	})
	err := c.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// StripMboxFrom drops a leading mbox "From " separator line.
func StripMboxFrom(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			return raw[i+1:]
		}
	}
	return raw
}

// ReplaceHeader returns raw with header name set to value: each
// occurrence (with its folded lines) replaced, or the header added at the
// end of the header block. Tests derive the mail they need from a real one
// this way, changing one header only.
func ReplaceHeader(raw []byte, name, value string) ([]byte, error) {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	nl := "\r\n"
	if end < 0 {
		end, nl = bytes.Index(raw, []byte("\n\n")), "\n"
	}
	if end < 0 {
		return nil, errors.New("mail without a header block")
	}
	lines := strings.Split(string(raw[:end]), nl)
	var out []string
	found := false
	for i := 0; i < len(lines); i++ {
		k, _, ok := strings.Cut(lines[i], ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) && !strings.HasPrefix(lines[i], " ") && !strings.HasPrefix(lines[i], "\t") {
			out = append(out, name+": "+value)
			found = true
			for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], " ") || strings.HasPrefix(lines[i+1], "\t")) {
				i++ // folded continuation of the replaced header
			}
			continue
		}
		out = append(out, lines[i])
	}
	if !found {
		out = append(out, name+": "+value)
	}
	return append([]byte(strings.Join(out, nl)), raw[end:]...), nil
}

package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/liaisonhq/liaison/core"
)

// hooks let tests steer time and observe the runner. Production leaves
// them zero.
type hooks struct {
	// after replaces time.After for IDLE renewal and polling.
	after func(d time.Duration) <-chan time.Time
	// backoff replaces time.After for the wait before a reconnect.
	backoff func(d time.Duration) <-chan time.Time
	// idling is called each time an IDLE command was accepted.
	idling func(mailbox string)
	// tlsConfig replaces the TLS configuration (a test CA).
	tlsConfig *tls.Config
}

func (c *Connector) after(d time.Duration) <-chan time.Time {
	if c.hooks.after != nil {
		return c.hooks.after(d)
	}
	return time.After(d)
}

const (
	minBackoff = time.Second
	maxBackoff = 2 * time.Minute
	// fetchBatch bounds how many messages are fetched, ingested and moved
	// at once: memory stays small and a crash repeats little.
	fetchBatch = 25
	// healthySession is how long a session must have lasted for the next
	// reconnect to start again from minBackoff.
	healthySession = time.Minute
)

// intakeMu serialises message processing across the mailboxes of one
// process: thread state is read, changed and written per message.
var intakeMu sync.Mutex

// Run implements core.Runner. It reads every configured mailbox until ctx
// ends, reconnecting with backoff after errors, and returns nil then.
func (c *Connector) Run(ctx context.Context, sink core.Sink) error {
	c.mu.Lock()
	c.sink = sink
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sink = nil
		c.mu.Unlock()
	}()
	var wg sync.WaitGroup
	for _, mb := range c.cfg.Mailboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runMailbox(ctx, sink, mb)
		}()
	}
	wg.Wait()
	return nil
}

func (c *Connector) runMailbox(ctx context.Context, sink core.Sink, mailbox string) {
	backoff := minBackoff
	for ctx.Err() == nil {
		started := c.clock.Now()
		// A panic ends the session, to be reconnected like a dropped
		// connection: a mailbox holds strangers' mail, and one message
		// we trip over must not stop the gateway.
		err := core.Contain(func() error { return c.session(ctx, sink, mailbox) })
		var p *core.Panic
		if errors.As(err, &p) {
			c.log.Error("imap session panicked", "mailbox", mailbox, "panic", p.Text, "stack", string(p.Stack))
		}
		if ctx.Err() != nil {
			return
		}
		if c.clock.Now().Sub(started) > healthySession {
			backoff = minBackoff
		}
		reconnects.WithLabelValues(c.name, mailbox).Inc()
		wait := backoff/2 + rand.N(backoff/2+1)
		c.log.Warn("imap session ended; reconnecting", "mailbox", mailbox, "err", err, "in", wait)
		sleep := time.After
		if c.hooks.backoff != nil {
			sleep = c.hooks.backoff
		}
		select {
		case <-ctx.Done():
			return
		case <-sleep(wait):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

var errConnClosed = errors.New("connection closed by server")

// session connects, selects the mailbox and reads it until ctx ends or the
// connection fails.
func (c *Connector) session(ctx context.Context, sink core.Sink, mailbox string) error {
	wake := make(chan struct{}, 1)
	cl, err := c.dial(wake)
	if err != nil {
		return err
	}
	defer cl.Close()
	// imapclient's commands take no context: closing the connection is
	// what unblocks them when ctx ends.
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()

	delim, err := c.delimiter(cl)
	if err != nil {
		return err
	}
	mb := mailboxName(mailbox, delim)
	processed := mailboxName(c.cfg.ProcessedMailbox, delim)
	failed := mailboxName(c.cfg.FailedMailbox, delim)
	boxes := []string{processed, failed}
	if c.cfg.ThrottledMailbox != "" {
		boxes = append(boxes, mailboxName(c.cfg.ThrottledMailbox, delim))
	}
	for _, name := range boxes {
		if err := ensureMailbox(cl, name); err != nil {
			return err
		}
	}
	caps := cl.Caps()
	condstore := caps.Has(imap.CapCondStore)
	sel, err := cl.Select(mb, &imap.SelectOptions{CondStore: condstore}).Wait()
	if err != nil {
		return fmt.Errorf("select mailbox %q: %w", mb, err)
	}
	st := newState(sink, c.name)
	cur, err := st.mailbox(ctx, mailbox)
	if err != nil {
		return err
	}
	if cur.UIDValidity != 0 && cur.UIDValidity != sel.UIDValidity {
		// The mailbox was recreated or renumbered: UIDs mean nothing any
		// more. Read it again from the start; every event's DeliveryID is
		// the hash of its message, so what was ingested before comes back
		// as a duplicate the store drops, and processed mail was moved out.
		c.log.Warn("UIDVALIDITY changed: re-reading the mailbox; already ingested messages de-duplicate by content hash",
			"mailbox", mailbox, "old", cur.UIDValidity, "new", sel.UIDValidity)
		cur = mailboxCursor{}
	}
	if cur.UIDValidity == 0 {
		cur.UIDValidity = sel.UIDValidity
		if err := st.setMailbox(ctx, mailbox, cur); err != nil {
			return err
		}
	}
	r := &reader{c: c, cl: cl, sink: sink, st: st, mailbox: mailbox, processed: processed, failed: failed, delim: delim, cur: cur,
		condstore: condstore, move: caps.Has(imap.CapMove) || caps.Has(imap.CapIMAP4rev2) || caps.Has(imap.CapUIDPlus)}
	// CONDSTORE (RFC 7162): nothing in the mailbox changed since the cursor
	// was written, so there is nothing new to search for.
	unchanged := condstore && cur.ModSeq != 0 && sel.HighestModSeq == cur.ModSeq
	noNew := sel.UIDNext != 0 && uint32(sel.UIDNext) <= cur.LastUID+1
	if !(unchanged || noNew) {
		if err := r.drain(ctx); err != nil {
			return err
		}
	}
	if condstore && sel.HighestModSeq > r.cur.ModSeq {
		r.cur.ModSeq = sel.HighestModSeq
	}
	useIdle := c.cfg.idle && (caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2))
	for {
		if useIdle {
			err = c.idle(ctx, cl, mailbox, wake)
		} else {
			err = c.pollWait(ctx, cl)
		}
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := r.drain(ctx); err != nil {
			return err
		}
	}
}

// idle waits in IDLE until the server reports new mail, idle_renew passes
// (servers drop an IDLE after 30 minutes), the connection drops, or ctx ends.
func (c *Connector) idle(ctx context.Context, cl *imapclient.Client, mailbox string, wake <-chan struct{}) error {
	cmd, err := cl.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if c.hooks.idling != nil {
		c.hooks.idling(mailbox)
	}
	closed := false
	select {
	case <-wake:
	// A server may drop a notification (some do under load, or for mail
	// delivered just before IDLE began): look again every poll interval,
	// so that no mail waits for the renewal.
	case <-c.after(min(c.cfg.idleRenew, c.cfg.poll)):
	case <-ctx.Done():
	case <-cl.Closed():
		closed = true
	}
	if err := cmd.Close(); err != nil && !closed {
		return fmt.Errorf("end idle: %w", err)
	}
	if closed {
		return errConnClosed
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	return nil
}

func (c *Connector) pollWait(ctx context.Context, cl *imapclient.Client) error {
	select {
	case <-ctx.Done():
		return nil
	case <-cl.Closed():
		return errConnClosed
	case <-c.after(c.cfg.poll):
		return nil
	}
}

// dial connects and authenticates. wake receives a token whenever the
// server announces a new message count (EXISTS) outside a command.
func (c *Connector) dial(wake chan<- struct{}) (*imapclient.Client, error) {
	tlsConf := c.hooks.tlsConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{ServerName: c.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	opts := &imapclient.Options{
		TLSConfig: tlsConf,
		Dialer:    &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	var (
		cl  *imapclient.Client
		err error
	)
	switch c.cfg.TLS {
	case "imaps":
		cl, err = imapclient.DialTLS(c.cfg.addr, opts)
	case "starttls":
		cl, err = imapclient.DialStartTLS(c.cfg.addr, opts)
	default:
		cl, err = imapclient.DialInsecure(c.cfg.addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %q: %w", c.cfg.addr, err)
	}
	if err := cl.WaitGreeting(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("greeting from %q: %w", c.cfg.addr, err)
	}
	if c.cfg.xoauth2 != "" {
		err = cl.Authenticate(&xoauth2{user: c.cfg.Username, token: c.cfg.xoauth2})
	} else {
		err = cl.Login(c.cfg.Username, c.cfg.password.Reveal()).Wait()
	}
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("log in to %q as %q: %w", c.cfg.addr, c.cfg.Username, err)
	}
	return cl, nil
}

// xoauth2 is the SASL XOAUTH2 mechanism (Gmail, Microsoft 365).
type xoauth2 struct {
	user  string
	token core.Secret
}

func (x *xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token.Reveal() + "\x01\x01"), nil
}

// Next answers the server's error challenge with an empty response, as the
// mechanism requires; the server then fails the command.
func (x *xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }

var _ sasl.Client = (*xoauth2)(nil)

// delimiter is the server's hierarchy delimiter, asked for (a LIST round
// trip) on the first connection only: every session and errand needs it,
// and a server does not change it.
func (c *Connector) delimiter(cl *imapclient.Client) (rune, error) {
	if d := c.delim.Load(); d != 0 {
		return d, nil
	}
	list, err := cl.List("", "", nil).Collect()
	if err != nil {
		return 0, fmt.Errorf("list hierarchy delimiter: %w", err)
	}
	d := '/'
	for _, l := range list {
		if l.Delim != 0 {
			d = l.Delim
			break
		}
	}
	c.delim.Store(d)
	return d, nil
}

// mailboxName writes a configured name ("Liaison/Processed") with the
// server's hierarchy delimiter.
func mailboxName(name string, delim rune) string {
	if delim == 0 || delim == '/' || strings.EqualFold(name, "INBOX") {
		return name
	}
	return strings.ReplaceAll(name, "/", string(delim))
}

func ensureMailbox(cl *imapclient.Client, name string) error {
	err := cl.Create(name, nil).Wait()
	if err == nil {
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) && (ie.Code == imap.ResponseCodeAlreadyExists || ie.Type == imap.StatusResponseTypeNo && strings.Contains(strings.ToLower(ie.Text), "exist")) {
		return nil
	}
	return fmt.Errorf("create mailbox %q: %w", name, err)
}

// reader reads one selected mailbox.
type reader struct {
	c                 *Connector
	cl                *imapclient.Client
	sink              core.Sink
	st                *state
	mailbox           string
	processed, failed string
	delim             rune
	cur               mailboxCursor
	condstore, move   bool
	warnedNoMove      bool
}

// drain takes in every message above the cursor, a batch at a time.
func (r *reader) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		uids, err := r.newUIDs()
		if err != nil {
			return err
		}
		if len(uids) == 0 {
			return nil
		}
		if len(uids) > fetchBatch {
			uids = uids[:fetchBatch]
		}
		if err := r.batch(ctx, uids); err != nil {
			return err
		}
	}
	return nil
}

// newUIDs lists the UIDs above the cursor, ascending.
func (r *reader) newUIDs() ([]imap.UID, error) {
	var set imap.UIDSet
	set.AddRange(imap.UID(r.cur.LastUID+1), 0) // last+1:*
	data, err := r.cl.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search mailbox %q: %w", r.mailbox, err)
	}
	var out []imap.UID
	for _, u := range data.AllUIDs() {
		// "n:*" includes the highest UID even when it is below n.
		if uint32(u) > r.cur.LastUID {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out, nil
}

// batch fetches, ingests and files one batch of messages. The cursor moves
// only after Ingest returned nil and the messages were moved.
func (r *reader) batch(ctx context.Context, uids []imap.UID) error {
	section := &imap.FetchItemBodySection{Peek: true}
	set := imap.UIDSetNum(uids...)
	msgs, err := r.cl.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}, ModSeq: r.condstore}).Collect()
	if err != nil {
		return fmt.Errorf("fetch from mailbox %q: %w", r.mailbox, err)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(int64(a.UID) - int64(b.UID)) })

	intakeMu.Lock()
	defer intakeMu.Unlock()
	var (
		events           []core.Event
		verdicts         []verdict
		okUIDs, badUIDs  []imap.UID
		elsewhere        = map[string][]imap.UID{} // by the verdict's fileTo
		maxUID           uint32
		maxModSeq        uint64
		fetchedSomething bool
	)
	for _, msg := range msgs {
		if msg.UID == 0 {
			continue
		}
		fetchedSomething = true
		raw := msg.FindBodySection(section)
		v, err := r.c.intake(ctx, r.st, raw, r.mailbox)
		if err != nil {
			r.st.discard()
			return err
		}
		events = append(events, v.events...)
		verdicts = append(verdicts, v)
		switch {
		case v.outcome == outFailed:
			badUIDs = append(badUIDs, msg.UID)
		case v.fileTo != "":
			to := mailboxName(v.fileTo, r.delim)
			elsewhere[to] = append(elsewhere[to], msg.UID)
		default:
			okUIDs = append(okUIDs, msg.UID)
		}
		maxUID = max(maxUID, uint32(msg.UID))
		maxModSeq = max(maxModSeq, msg.ModSeq)
	}
	if !fetchedSomething {
		// The messages vanished between SEARCH and FETCH (moved by
		// someone else): step over them.
		maxUID = uint32(uids[len(uids)-1])
	}
	if len(events) > 0 {
		if err := r.sink.Ingest(ctx, events); err != nil {
			r.st.discard()
			return fmt.Errorf("ingest %d events from mailbox %q: %w", len(events), r.mailbox, err)
		}
	}
	if err := r.st.flush(ctx); err != nil {
		return err
	}
	if err := r.file(okUIDs, r.processed); err != nil {
		return err
	}
	if err := r.file(badUIDs, r.failed); err != nil {
		return err
	}
	for to, uids := range elsewhere {
		if err := r.file(uids, to); err != nil {
			return err
		}
	}
	for _, v := range verdicts {
		messagesTotal.WithLabelValues(r.c.name, r.mailbox, string(v.outcome)).Inc()
		switch v.outcome {
		case outFailed:
			r.c.log.Error("unreadable message moved to the failed mailbox", "mailbox", r.mailbox, "failed_mailbox", r.failed, "reason", v.reason)
		case outNewThread, outReply, outBounce, outThrottled:
			r.c.log.Info("message ingested", "mailbox", r.mailbox, "outcome", v.outcome, "what", v.reason)
		default:
			r.c.log.Info("message filed without event", "mailbox", r.mailbox, "outcome", v.outcome, "what", v.reason)
		}
	}
	r.cur.LastUID = max(r.cur.LastUID, maxUID)
	if maxModSeq > r.cur.ModSeq {
		r.cur.ModSeq = maxModSeq
	}
	return r.st.setMailbox(ctx, r.mailbox, r.cur)
}

// file flags messages \Seen and moves them to mailbox. Without MOVE or
// UIDPLUS it copies them instead: an EXPUNGE without UIDPLUS would remove
// every message anyone marked \Deleted, and nothing may be deleted.
func (r *reader) file(uids []imap.UID, mailbox string) error {
	if len(uids) == 0 {
		return nil
	}
	set := imap.UIDSetNum(uids...)
	if err := r.cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		return fmt.Errorf("flag messages seen in %q: %w", r.mailbox, err)
	}
	if !r.move {
		if !r.warnedNoMove {
			r.c.log.Warn("server offers neither MOVE nor UIDPLUS: processed messages are copied and left in place (the cursor skips them)", "mailbox", r.mailbox)
			r.warnedNoMove = true
		}
		if _, err := r.cl.Copy(set, mailbox).Wait(); err != nil {
			return fmt.Errorf("copy messages to %q: %w", mailbox, err)
		}
		return nil
	}
	if _, err := r.cl.Move(set, mailbox).Wait(); err != nil {
		return fmt.Errorf("move messages to %q: %w", mailbox, err)
	}
	return nil
}

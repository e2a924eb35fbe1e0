package imap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/liaisonhq/liaison/core"
)

// ticketRecord is what the connector knows of a thread's help-desk
// ticket: its number, learned when the gateway created the ticket (the
// acknowledgement action carries it), and the acknowledgement's progress.
// It is kept under <instance>:ticket:<hash of the root>, apart from the
// thread state the intake rewrites with every mail.
type ticketRecord struct {
	V      int    `json:"v"`
	Ticket string `json:"ticket,omitempty"`
	// AckID is the acknowledgement's Message-ID, written before the mail
	// is handed to the SMTP server; AckState is "sending" until the
	// server accepted it, then "sent".
	AckID    string `json:"ack_id,omitempty"`
	AckState string `json:"ack_state,omitempty"`
}

const (
	ackSending = "sending"
	ackSent    = "sent"
)

func (s *state) ticketOf(ctx context.Context, root string) (ticketRecord, error) {
	var r ticketRecord
	_, err := s.get(ctx, s.key("ticket", hashKey(root)), &r)
	return r, err
}

// writeTicket writes a thread's ticket record at once (not through the
// overlay): Apply runs beside the intake, and the record must be durable
// before a mail leaves.
func (s *state) writeTicket(ctx context.Context, root string, r ticketRecord) error {
	s.put(s.key("ticket", hashKey(root)), withVersion(r))
	return s.flush(ctx)
}

func withVersion(r ticketRecord) ticketRecord { r.V = stateVersion; return r }

// acknowledge applies a Notify without a body on a thread: the
// acknowledgement of the ticket the gateway opened for it (ticket number in
// Fields["ticket"]). It first learns the ticket's token for the thread, so
// that a mail naming it is let in only from the thread's participants.
// Then, unless acknowledgements are off or the thread must get no
// automatic mail, it mails the requester once: the Message-ID is recorded
// before the mail is sent, and an attempt that finds it recorded but not
// confirmed looks for it in the sent mailbox and never sends it again.
func (c *Connector) acknowledge(ctx context.Context, a core.Action) (core.Result, error) {
	root := a.Target.ID
	ticket := strings.TrimSpace(a.Fields["ticket"])
	sink := c.currentSink()
	var (
		st  *state
		rec ticketRecord
		// elsewhere: the ticket was opened for another thread, which
		// this one was linked to later; it is not new to its requester.
		elsewhere bool
	)
	if sink != nil {
		st = newState(sink, c.name)
		var err error
		if rec, err = st.ticketOf(ctx, root); err != nil {
			return core.Result{}, fmt.Errorf("imap %q: %w", c.name, err)
		}
		if ticket != "" {
			// The thread that opened the ticket owns its token; a later
			// thread linked to the ticket does not take it over.
			owner, err := st.rootOfToken(ctx, ticket)
			if err != nil {
				return core.Result{}, fmt.Errorf("imap %q: %w", c.name, err)
			}
			elsewhere = owner != "" && owner != root
			if owner == "" {
				st.putToken(ticket, root)
			}
			if owner == "" || rec.Ticket != ticket {
				rec.Ticket = ticket
				if err := st.writeTicket(ctx, root, rec); err != nil {
					return core.Result{}, fmt.Errorf("imap %q: %w", c.name, err)
				}
			}
		}
	}
	switch rec.AckState {
	case ackSent:
		return core.Result{CommentID: rec.AckID, Note: "acknowledgement <" + rec.AckID + "> was sent before"}, nil
	case ackSending:
		// An earlier attempt ended between recording and confirming: the
		// SMTP server may have taken the mail. Sent only if it is found.
		found, err := c.inSent(ctx, rec.AckID)
		if err != nil {
			return core.Result{}, err
		}
		if found {
			rec.AckState = ackSent
			if err := st.writeTicket(ctx, root, rec); err != nil {
				return core.Result{}, fmt.Errorf("imap %q: %w", c.name, err)
			}
			return core.Result{CommentID: rec.AckID, Note: "acknowledgement <" + rec.AckID + "> found in " + c.cfg.SentMailbox}, nil
		}
		suppressedTotal.WithLabelValues(c.name, "uncertain").Inc()
		return core.Result{Note: "acknowledgement <" + rec.AckID + "> not sent again: an earlier attempt may have reached the requester"}, nil
	}
	if !c.cfg.acknowledge {
		suppressedTotal.WithLabelValues(c.name, "disabled").Inc()
		return core.Result{Note: "no acknowledgement sent: acknowledgements are off for this mailbox"}, nil
	}
	t, err := c.threadFor(ctx, root)
	if err != nil {
		return core.Result{}, err
	}
	if t == nil || t.Reporter == "" {
		return core.Result{Note: "no acknowledgement sent: the thread is not known here"}, nil
	}
	if elsewhere {
		return core.Result{Note: "no acknowledgement sent: ticket #" + ticket + " was opened for another mail thread"}, nil
	}
	to := t.Reporter
	release, reason := c.claimAuto(to, t)
	if reason != "" {
		suppressedTotal.WithLabelValues(c.name, reason).Inc()
		return core.Result{Note: fmt.Sprintf("no acknowledgement sent to %q: %s", to, reasonText[reason])}, nil
	}
	sent := false
	defer func() {
		if !sent {
			release()
		}
	}()
	if ticket == "" {
		ticket = t.Token
	}
	var body strings.Builder
	data := map[string]any{"Ticket": ticket, "Subject": t.Subject, "Sender": to, "SenderName": t.ReporterName, "Thread": root}
	if err := c.cfg.ack.Execute(&body, data); err != nil {
		return core.Result{}, core.Permanent(fmt.Errorf("imap %q: ack template: %w", c.name, err))
	}
	id := ownMessageID(a.Key, root, c.cfg.ownDomain)
	msg, err := c.compose(a, t, id, []string{to}, nil, subjectFor(a, t, ticket), body.String(), true)
	if err != nil {
		return core.Result{}, core.Permanent(fmt.Errorf("imap %q: compose acknowledgement for %q: %w", c.name, a.Target, err))
	}
	if st != nil {
		rec.AckID, rec.AckState = id, ackSending
		if err := st.writeTicket(ctx, root, rec); err != nil {
			return core.Result{}, fmt.Errorf("imap %q: %w", c.name, err)
		}
	}
	// RFC 3834 §3.3: a null return path, so that a bounce of it cannot
	// start a loop.
	if err := c.send(ctx, "", []string{to}, msg); err != nil {
		if st != nil && !core.IsUncertain(err) {
			// The server refused it or was never reached: nothing left.
			// One the server may have taken stays recorded as sending,
			// and is not sent again.
			rec.AckID, rec.AckState = "", ""
			if werr := st.writeTicket(ctx, root, rec); werr != nil {
				c.log.Warn("acknowledgement not sent and its record not cleared: it will not be tried again", "thread", root, "err", werr)
			}
		}
		return core.Result{}, err
	}
	sent = true
	sentTotal.WithLabelValues(c.name, string(a.Kind)).Inc()
	c.fileSent(ctx, msg)
	if st != nil {
		rec.AckState = ackSent
		if err := st.writeTicket(ctx, root, rec); err != nil {
			// Sent and filed: a retry finds it in the sent mailbox.
			return core.Result{}, fmt.Errorf("imap %q: acknowledgement sent, record not written: %w", c.name, err)
		}
	}
	return core.Result{CommentID: id, Note: fmt.Sprintf("acknowledgement <%s> sent to %s", id, to)}, nil
}

// Applied implements core.AppliedChecker: a mail whose earlier attempt may
// have been sent is looked for, by its Message-ID, in the sent mailbox,
// where every mail the gateway sends is filed (and where many providers
// file it themselves).
func (c *Connector) Applied(ctx context.Context, a core.Action) (core.Result, bool, error) {
	if a.Target.Kind != core.EmailThread || a.Target.System != c.name || (a.Kind != core.AddComment && a.Kind != core.Notify) {
		return core.Result{}, false, nil
	}
	id := ownMessageID(a.Key, a.Target.ID, c.cfg.ownDomain)
	found, err := c.inSent(ctx, id)
	if err != nil || !found {
		return core.Result{}, false, err
	}
	return core.Result{CommentID: id, Note: "mail <" + id + "> found in " + c.cfg.SentMailbox}, true, nil
}

// inSent reports whether the sent mailbox holds a mail with Message-ID id.
func (c *Connector) inSent(ctx context.Context, id string) (bool, error) {
	cl, delim, done, err := c.errand(ctx)
	if err != nil {
		return false, core.RetryAfter(fmt.Errorf("imap %q: look for <%s> in %q: %w", c.name, id, c.cfg.SentMailbox, err), 0)
	}
	defer done()
	if _, err := cl.Select(mailboxName(c.cfg.SentMailbox, delim), &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return false, nil // no sent mailbox yet: nothing was filed in it
	}
	data, err := cl.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
	if err != nil {
		return false, core.RetryAfter(fmt.Errorf("imap %q: search %q for <%s>: %w", c.name, c.cfg.SentMailbox, id, err), 0)
	}
	return len(data.AllUIDs()) > 0, nil
}

// fileSent files a copy of a mail the SMTP server accepted in the sent
// mailbox, flagged \Seen. A failure is logged, not returned: the mail is
// sent, and saying otherwise would send it again.
func (c *Connector) fileSent(ctx context.Context, msg []byte) {
	err := func() error {
		cl, delim, done, err := c.errand(ctx)
		if err != nil {
			return err
		}
		defer done()
		name := mailboxName(c.cfg.SentMailbox, delim)
		err = appendSeen(cl, name, msg)
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
			// The mailbox is missing (TRYCREATE, or a plain NO on servers
			// that omit it): created once, not checked before every mail.
			if err := ensureMailbox(cl, name); err != nil {
				return err
			}
			err = appendSeen(cl, name, msg)
		}
		return err
	}()
	if err != nil {
		c.log.Warn("sent mail not filed in the sent mailbox", "mailbox", c.cfg.SentMailbox, "err", err)
	}
}

func appendSeen(cl *imapclient.Client, mailbox string, msg []byte) error {
	cmd := cl.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	if _, err := cmd.Write(msg); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

func (c *Connector) currentSink() core.Sink {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sink
}

// errand opens a connection for one short errand (a lookup, a copy to
// file), closed by done or when ctx ends (imapclient's commands take no
// context), and returns the server's hierarchy delimiter.
func (c *Connector) errand(ctx context.Context) (cl *imapclient.Client, delim rune, done func(), err error) {
	cl, err = c.dial(make(chan struct{}, 1))
	if err != nil {
		return nil, 0, nil, err
	}
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	done = func() { stop(); cl.Close() }
	if delim, err = c.delimiter(cl); err != nil {
		done()
		return nil, 0, nil, err
	}
	return cl, delim, done, nil
}

package imap

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/mail"
	"github.com/liaisonhq/liaison/core"
)

// newThreadLimiter counts, per sender, the mails that would start a new
// thread (and so a ticket) over a sliding hour. Two help desks that
// acknowledge each other's new tickets each answer with a new mail: one
// ticket and one acknowledgement per round, without end. A sender over the
// limit opens no more threads and gets no automatic mail until it has been
// quiet for an hour; its mail goes to its latest thread instead.
//
// The counting is the loop breaker's (over new threads only, per hour);
// what is added is the sender's latest thread. It is held in memory: after
// a restart a looping sender may open up to limit more threads.
type newThreadLimiter struct {
	count  *loopBreaker
	mu     sync.Mutex
	latest map[string]string // sender → root of the last thread it opened
}

func newNewThreadLimiter(limit int, onTrip func(string, int)) *newThreadLimiter {
	return &newThreadLimiter{count: newLoopBreaker(limit, time.Hour, onTrip), latest: map[string]string{}}
}

// record counts a mail from sender that would open thread root at now. Under
// the limit it becomes the sender's latest thread; over it, record returns
// the latest thread, where the mail goes instead.
func (l *newThreadLimiter) record(sender, root string, now time.Time) (latest string, over bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count.record(sender, now) {
		return l.latest[sender], true
	}
	l.latest[sender] = root
	return root, false
}

// isThrottled reports whether sender is over the limit at now.
func (l *newThreadLimiter) isThrottled(sender string, now time.Time) bool {
	return l.count.isTripped(sender, now)
}

// intakeThrottled takes in a mail of a throttled sender that would have
// opened a new thread: it is kept on the sender's latest thread, as an
// internal comment (or, with throttled_mailbox, filed there and only
// counted), and the thread says, in its "throttled" field, which sender
// was throttled and why, for one note to the agents.
func (c *Connector) intakeThrottled(ctx context.Context, st *state, raw []byte, m *mail.Message, mailbox, latest string, now time.Time) (verdict, error) {
	t, err := st.thread(ctx, latest)
	if err != nil {
		return verdict{}, err
	}
	if t == nil {
		return verdict{}, fmt.Errorf("imap %q: the latest thread %q of throttled sender %q is not in the store", c.name, latest, m.From.Addr)
	}
	c.loop.record(m.From.Addr, now) // the loop breaker counts every mail
	where := "added to this ticket as internal notes"
	if c.cfg.ThrottledMailbox != "" {
		where = fmt.Sprintf("filed in the mailbox %q", c.cfg.ThrottledMailbox)
	}
	t.Throttled = fmt.Sprintf("%s sent more than %d mails within an hour that would each have opened a new ticket "+
		"(often an automatic responder answering ours). Until it has been quiet for an hour, its mails open no ticket "+
		"and get no automatic answer; they are %s.", m.From.Addr, c.cfg.NewThreadsPerHour, where)
	t.addMessage(m.MessageID)
	if now.After(t.Updated) {
		t.Updated = now
	}
	st.putThread(t)
	st.putRootOf(m.MessageID, latest)

	fields := c.messageFields(m, mailbox)
	fields["threaded"] = "throttled"
	var cm core.Comment
	if c.cfg.ThrottledMailbox == "" {
		created := m.Date
		if created.IsZero() {
			created = now
		}
		cm = core.Comment{
			ID:        m.MessageID,
			Author:    m.From.Addr,
			Body:      fmt.Sprintf("Mail from %s (throttled, not opened as a ticket), subject %q:\n\n%s", m.From.Addr, m.Subject, commentBody(m)),
			Public:    false,
			CreatedAt: created,
			Files:     files(m),
		}
	}
	ev := c.threadEvent(core.Commented, latest, t, fields, raw, now, cm)
	return verdict{events: []core.Event{ev}, outcome: outThrottled, fileTo: c.cfg.ThrottledMailbox,
		reason: fmt.Sprintf("mail %s from throttled sender %q kept on its latest thread %q", m.MessageID, m.From.Addr, latest)}, nil
}

// Package imap is Liaison's support-mailbox connector: mail that arrives
// in an IMAP mailbox becomes events about email threads
// (imap/email_thread/<root Message-ID>), and replies and acknowledgements
// the rules ask for leave by SMTP.
//
// # Intake (core.Runner)
//
// Run keeps one IMAP connection per configured mailbox. It reads new
// messages by UID from a cursor (UIDVALIDITY + last UID, kept through the
// Sink), waits with IDLE when the server offers it (re-issued every
// idle_renew, under the 29 minutes after which servers drop it) or polls
// every poll_interval, and reconnects with backoff after a drop. CONDSTORE
// is used when offered: a mailbox whose HIGHESTMODSEQ and UIDNEXT did not
// move is not searched. QRESYNC is not enabled: the intake only needs new
// UIDs, which QRESYNC's expunge resynchronisation does not improve, and the
// IMAP client library does not parse VANISHED responses.
//
// Each message is parsed (package mail), classified and handed to the
// Sink; only once Ingest returned nil is it flagged \Seen and moved to
// processed_mailbox and the cursor advanced. A message that cannot be read
// is moved to failed_mailbox and counted (liaison_imap_messages_total with
// outcome "failed"), and logged without its content. Nothing is deleted.
//
// Every event's DeliveryID is the SHA-256 of the raw message, so reading a
// mailbox again (after a UIDVALIDITY change, or a crash between Ingest and
// the move) yields only duplicates, which the store drops.
//
// # Events
//
// A person's mail is an event about its thread. Ref.ID is the thread root:
// the first Message-ID of the thread, found from In-Reply-To/References
// (through our own Message-IDs, which carry their thread's root, and a
// Message-ID → root map kept in the Sink's cursors), else References[0],
// else the mail's own Message-ID. A mail with no references whose subject
// carries a known ticket token ("[#4521]", see ticket_token; a token is
// known once the gateway opened that ticket for a thread, see Outgoing
// mail) joins that thread. Either way, a mail joins a known thread only
// when its sender is a participant of it (its requester, anyone its mails
// went to or copied, an agent of participants.agents, or with
// participants.same_domain anyone at the requester's domain); otherwise it
// starts a thread of its own with Fields["follow_up_of"] and
// ["follow_up_token"] naming the other thread and its ticket.
//
//   - Type Mailed for the first mail of a thread, Commented for the next;
//     Item.Seen = [Type].
//   - Item: Title = the thread's first subject, Body = the first mail's new
//     text, Reporter = the first sender's address; UpdatedAt/Version grow
//     with every mail, so each event carries the whole current snapshot.
//   - Item.Comments: the mail itself (ID = Message-ID, Author = sender,
//     Body = reply text without quoted history and signature, Public = true,
//     Files = attachments, with Over set and a line in Body for those over
//     attachment_limit). The first mail is a comment too: a rule mirroring
//     replies skips it with `Comment.ID != Item.ID`.
//   - Item.Fields, about the mail of this event: from, from_name, to, cc
//     (comma-separated addresses), subject, message_id, in_reply_to,
//     references (space-separated), mailbox; about the thread:
//     participants (every address seen in From/Reply-To/To/Cc, less the
//     gateway and daemons, sorted, comma-separated), collaborators
//     (participants less the requester), requester_name, token (the ticket
//     token of the thread), threaded (how it was threaded: "" for a new
//     thread, in_reply_to, references, message_id or token), follow_up_of
//     and follow_up_token (see above), no_autoreply ("true" when a sender
//     asked for no automatic answer with X-Auto-Response-Suppress, wrote
//     through a list (List-Id), the loop breaker tripped, or the
//     requester's address bounced), loop ("tripped"), throttled (see
//     below), attachments_over_limit.
//
// Automatic mail never creates an event, so it can never open a ticket:
// Auto-Submitted other than "no", Precedence bulk/junk/list, X-Autoreply and
// kin, auto-reply subjects, List-Unsubscribe newsletters, null Return-Path,
// read receipts and abuse reports are counted (outcome "auto") and moved to
// processed_mailbox. A copy of the gateway's own mail (From own_address, or
// one of its Message-IDs) is ignored the same way (outcome "own").
//
// A bounce (a multipart/report delivery status, or a mailer daemon's
// failure notice) of a mail in a known thread is a Bounced event on that
// thread: the snapshot as above plus Fields bounce_of (the bounced
// Message-ID), bounced_to, bounce_delayed, and an internal comment
// (Public = false) saying what failed. A bounce of an unknown mail is
// counted (outcome "bounce_unmatched") and moved, nothing else.
//
// A sender with more than loop_threshold mails within loop_window trips the
// loop breaker: it is logged and counted (liaison_imap_loop_breaker_trips_total),
// its mail is still ingested with Fields["loop"] = "tripped", and no
// automatic mail goes to it. A sender whose mails would open more than
// new_threads_per_sender_per_hour new threads within an hour (two help
// desks acknowledging each other) is throttled, counted the same way: its
// further mails open no thread but go, as internal comments (Public =
// false), to the last thread it opened, or with throttled_mailbox are
// filed there; that thread's Fields["throttled"] says who and why, and the
// sender gets no automatic mail until it has been quiet for an hour.
//
// # Outgoing mail (core.Applier)
//
// Apply sends mail by SMTP for actions on imap/email_thread records:
//
//   - core.AddComment: a reply from the help desk. To: the requester, Cc:
//     the other participants (or Action.To, comma-separated, when set).
//   - core.Notify with a Body: an automatic mail to the requester (or
//     Action.To). It carries Auto-Submitted: auto-replied and
//     X-Auto-Response-Suppress: All, is sent with a null envelope sender
//     (RFC 3834), and is not sent (Result.Note says why, no error) to
//     daemons, the mailbox's own addresses (own_address, aliases), a thread
//     marked no_autoreply, a sender whose loop breaker tripped or who is
//     throttled, or past ack_per_sender_per_hour.
//   - core.Notify without a Body: the acknowledgement of the ticket the
//     gateway opened for the thread (its number in Action.Fields["ticket"]).
//     The connector first learns the ticket's token for the thread; then,
//     unless acknowledge is false (or there is no smtp), it mails the ack
//     template (data: .Ticket .Subject .Sender .SenderName .Thread) to the
//     requester only, once per thread, under the rules above. Its
//     Message-ID is recorded (in the Sink's cursors) before it is sent; an
//     attempt that finds it recorded but unconfirmed looks for it in
//     sent_mailbox and never sends it again.
//
// Every mail sent is filed in sent_mailbox (flagged \Seen). Applied
// (core.AppliedChecker) looks for an action's Message-ID there, so that a
// reply whose earlier attempt may have been sent is not sent twice. A
// mail the SMTP server took whole without answering (a timeout, a dropped
// connection) is an error of unknown outcome (core.Uncertain): the engine
// waits before it looks it up, and an acknowledgement stays recorded as
// sending, so it is never sent again. A reply is sent again if it is not
// found: an agent's answer must reach the customer.
//
// What Apply knows of the thread (requester, participants, subject, token,
// message ids) comes from the state Run keeps when Run is running in the
// same process, and otherwise is rebuilt by searching the processed and
// configured mailboxes for the thread's messages (another replica holds
// the mailbox lease). Both set In-Reply-To and References from the thread, put the ticket
// token in the subject ("Re: <first subject> [#<ticket>]", ticket from
// Action.Fields["ticket"] or the thread's token; Action.Title replaces the
// subject), and use a Message-ID derived from the action key that carries
// the thread root, so a retried send reuses it and the copy that comes
// back is recognised and ignored. Result.CommentID is that Message-ID.
// SMTP 5xx replies are permanent failures, 4xx and connection errors
// temporary.
package imap

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/liaisonhq/liaison/core"
	"github.com/prometheus/client_golang/prometheus"
)

func init() { core.Register("imap", New) }

// Connector is one configured mailbox intake and mail sender.
type Connector struct {
	name  string
	cfg   *settings
	log   *slog.Logger
	clock core.Clock
	loop  *loopBreaker
	acks  *rateLimiter
	// newThreads throttles senders that open threads in a loop.
	newThreads *newThreadLimiter

	// delim is the server's hierarchy delimiter once learned (see
	// delimiter); 0 until then.
	delim atomic.Int32

	// hooks lets tests observe and steer the runner; zero in production.
	hooks hooks

	mu   sync.Mutex
	sink core.Sink // set while Run is running; Apply reads thread state through it
}

// New builds an imap connector from its configuration. It validates the
// configuration and reads the secrets it names, but does not connect.
func New(s core.Setup) (core.Connector, error) {
	var cfg Config
	if err := s.Decode(&cfg); err != nil {
		return nil, fmtErr(s.Name, "config: %w", err)
	}
	env := s.Env
	if env == nil {
		env = func(string) string { return "" }
	}
	st, err := compile(cfg, env)
	if err != nil {
		return nil, fmtErr(s.Name, "config: %w", err)
	}
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	clock := s.Clock
	if clock == nil {
		clock = core.SystemClock{}
	}
	c := &Connector{name: s.Name, cfg: st, log: log, clock: clock} // the daemon names the connector in log
	c.loop = newLoopBreaker(st.LoopThreshold, st.loopWindow, func(sender string, n int) {
		loopTrips.WithLabelValues(c.name).Inc()
		c.log.Warn("loop breaker tripped: sender gets no automatic mail", "sender", sender, "mails", n, "window", st.loopWindow)
	})
	c.acks = newRateLimiter(st.AckPerHour)
	c.newThreads = newNewThreadLimiter(st.NewThreadsPerHour, func(sender string, n int) {
		loopTrips.WithLabelValues(c.name).Inc()
		c.log.Warn("sender throttled: its new mails open no ticket and get no automatic mail", "sender", sender, "new_threads", n, "limit", st.NewThreadsPerHour)
	})
	return c, nil
}

// Name implements core.Connector.
func (c *Connector) Name() string { return c.name }

// Metrics, on the default registry.
var (
	messagesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_imap_messages_total",
		Help: "Messages read from IMAP mailboxes, by outcome (new_thread, reply, auto, bounce, bounce_unmatched, own, throttled, failed).",
	}, []string{"instance", "mailbox", "outcome"})
	reconnects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_imap_reconnects_total",
		Help: "IMAP connections lost and re-established.",
	}, []string{"instance", "mailbox"})
	loopTrips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_imap_loop_breaker_trips_total",
		Help: "Senders that sent more than loop_threshold mails within loop_window, or opened more than new_threads_per_sender_per_hour threads.",
	}, []string{"instance"})
	sentTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_imap_sent_total",
		Help: "Mails sent by SMTP, by action kind.",
	}, []string{"instance", "kind"})
	suppressedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_imap_autoreplies_suppressed_total",
		Help: "Automatic mails not sent, by reason (daemon, no_autoreply, loop, throttled, rate_limit, disabled, uncertain).",
	}, []string{"instance", "reason"})
)

func init() {
	prometheus.MustRegister(messagesTotal, reconnects, loopTrips, sentTotal, suppressedTotal)
}

// Interface guards.
var (
	_ core.Connector      = (*Connector)(nil)
	_ core.Runner         = (*Connector)(nil)
	_ core.Applier        = (*Connector)(nil)
	_ core.AppliedChecker = (*Connector)(nil)
)

func fmtErr(instance, format string, args ...any) error {
	return fmt.Errorf("imap %q: "+format, append([]any{instance}, args...)...)
}

package imap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/mail"
	"github.com/liaisonhq/liaison/core"
)

// outcome is what became of one message; it labels the messages metric.
type outcome string

const (
	outNewThread       outcome = "new_thread"       // a mail that starts a thread: Mailed event
	outReply           outcome = "reply"            // a mail in a known thread: Commented event
	outAuto            outcome = "auto"             // auto-reply, list, bulk, receipt, complaint: no event
	outBounce          outcome = "bounce"           // a bounce of a known thread's mail: Bounced event
	outBounceUnmatched outcome = "bounce_unmatched" // a bounce of a mail we do not know: no event
	outOwn             outcome = "own"              // a copy of the gateway's own mail: no event
	outThrottled       outcome = "throttled"        // a throttled sender's would-be new thread: on its latest thread
	outFailed          outcome = "failed"           // unreadable: moved to the failed mailbox
)

// verdict is the result of taking in one message.
type verdict struct {
	events  []core.Event
	outcome outcome
	// reason says why, for the log line; it never holds message content
	// beyond the Message-ID and addresses.
	reason string
	// fileTo is the mailbox the message goes to instead of the processed
	// one ("": the processed or failed one, by outcome).
	fileTo string
}

// deliveryID is the inbox de-duplication key of a message: the hash of its
// raw bytes. A Message-ID is not a safe key (senders reuse and forge them),
// while the same bytes read again after a UIDVALIDITY change, a crash or a
// second copy in another mailbox are the same delivery.
func deliveryID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// intake turns one raw message into events, reading and updating the
// thread state in st. An error means the state could not be read: the
// batch is retried later. A message that cannot be used is a verdict with
// outcome outFailed, not an error.
//
// A mail over one of the parser's limits (a MIME bomb) is taken in as far
// as it was read, with a line saying it was not read in full, and goes to
// the failed mailbox all the same.
func (c *Connector) intake(ctx context.Context, st *state, raw []byte, mailbox string) (verdict, error) {
	m, err := mail.Parser{AttachmentLimit: c.cfg.AttachmentLimit}.Parse(raw)
	if !errors.Is(err, mail.ErrOverLimit) {
		if err != nil {
			return verdict{outcome: outFailed, reason: err.Error()}, nil
		}
		return c.intakeParsed(ctx, st, raw, m, mailbox)
	}
	m.Reply = strings.TrimSpace(m.Reply + "\n\n" + unreadNotice(err))
	v, ierr := c.intakeParsed(ctx, st, raw, m, mailbox)
	if ierr != nil {
		return verdict{}, ierr
	}
	v.outcome, v.reason = outFailed, v.reason+": "+err.Error()
	return v, nil
}

// unreadNotice is the line a ticket gets for a mail that was not read in
// full; err wraps mail.ErrOverLimit and says why.
func unreadNotice(err error) string {
	why := strings.TrimPrefix(err.Error(), mail.ErrOverLimit.Error()+": ")
	return fmt.Sprintf("[This mail could not be read in full (%s). The support team has the original.]", why)
}

// intakeParsed is intake once the mail is parsed.
func (c *Connector) intakeParsed(ctx context.Context, st *state, raw []byte, m *mail.Message, mailbox string) (verdict, error) {
	now := c.clock.Now()
	if c.isOwn(m) {
		return verdict{outcome: outOwn, reason: "copy of the gateway's own mail " + m.MessageID}, nil
	}
	if m.Auto == mail.Bounce {
		return c.intakeBounce(ctx, st, raw, m, now)
	}
	if m.Auto != mail.Person {
		return verdict{outcome: outAuto, reason: fmt.Sprintf("automatic mail (%s: %s) from %q", m.Auto, m.AutoReason, m.From.Addr)}, nil
	}
	if m.From.Addr == "" {
		return verdict{outcome: outFailed, reason: "no sender address in From or Sender"}, nil
	}

	root, how, followUp, t, err := c.thread(ctx, st, m)
	if err != nil {
		return verdict{}, err
	}
	if t == nil {
		if t, err = st.thread(ctx, root); err != nil {
			return verdict{}, err
		}
	}
	typ, out := core.Commented, outReply
	if t == nil {
		if latest, over := c.newThreads.record(m.From.Addr, root, now); over && latest != "" {
			return c.intakeThrottled(ctx, st, raw, m, mailbox, latest, now)
		}
		typ, out = core.Mailed, outNewThread
		t = &threadState{Root: root, Subject: m.Subject, Body: m.Reply, Reporter: m.From.Addr, ReporterName: m.From.Name}
		// The requester of a thread we only know from its replies is the
		// first person we hear from.
		if followUp != "" {
			t.FollowUpOf = followUp
			if t.FollowUpToken, err = c.ticketOfThread(ctx, st, followUp); err != nil {
				return verdict{}, err
			}
		}
	}
	t.addMessage(m.MessageID)
	t.addParticipants(c.participantsOf(m)...)
	if m.Date.After(t.Updated) {
		t.Updated = m.Date
	}
	if t.Updated.IsZero() || t.Updated.After(now.Add(24*time.Hour)) {
		// No date, or one from the future: the arrival time orders the
		// thread's snapshots.
		t.Updated = now
	}
	if m.SuppressAutoReply {
		t.NoAutoReply = true
	}
	// A token in the subject becomes the thread's token field (which links
	// it to that ticket) only when the ticket is this thread's: learned
	// when the gateway opened it (see acknowledge). A token nobody taught
	// us may be a stranger's guess, and a reply to our mail may quote
	// another ticket's token beside its own.
	if token := c.tokenOf(m.Subject); token != "" && t.Token == "" {
		owner, err := st.rootOfToken(ctx, token)
		if err != nil {
			return verdict{}, err
		}
		if owner == root {
			t.Token = token
		}
	}
	tripped := c.loop.record(m.From.Addr, now)
	if tripped {
		t.NoAutoReply = true
	}
	st.putThread(t)
	st.putRootOf(m.MessageID, root)

	fields := c.messageFields(m, mailbox)
	fields["threaded"] = how
	if tripped {
		fields["loop"] = "tripped"
	}
	created := m.Date
	if created.IsZero() {
		created = now
	}
	ev := c.threadEvent(typ, root, t, fields, raw, now, core.Comment{
		ID:        m.MessageID,
		Author:    m.From.Addr,
		Body:      commentBody(m),
		Public:    true,
		CreatedAt: created,
		Files:     files(m),
	})
	return verdict{events: []core.Event{ev}, outcome: out, reason: fmt.Sprintf("mail %s from %q in thread %q (%s)", m.MessageID, m.From.Addr, root, orNew(how))}, nil
}

// threadEvent is the event of one mail (cm) in thread root: a snapshot of
// the thread, with fields (the mail's own) completed by the thread's, and
// the mail as its one comment.
func (c *Connector) threadEvent(typ core.EventType, root string, t *threadState, fields map[string]string, raw []byte, now time.Time, cm core.Comment) core.Event {
	fields["participants"] = strings.Join(t.Participants, ",")
	fields["collaborators"] = strings.Join(without(t.Participants, t.Reporter), ",")
	fields["requester_name"] = t.ReporterName
	if t.Token != "" {
		fields["token"] = t.Token
	}
	if t.NoAutoReply {
		fields["no_autoreply"] = "true"
	}
	if t.FollowUpOf != "" {
		fields["follow_up_of"] = core.Ref{System: c.name, Kind: core.EmailThread, ID: t.FollowUpOf}.String()
		fields["follow_up_token"] = t.FollowUpToken
	}
	if t.Throttled != "" {
		fields["throttled"] = t.Throttled
	}
	var comments []core.Comment
	if cm.ID != "" {
		comments = []core.Comment{cm}
	}
	return core.Event{
		Source:     c.name,
		DeliveryID: deliveryID(raw),
		Via:        core.ViaPush,
		Type:       typ,
		At:         now,
		Raw:        raw,
		Item: core.Item{
			Ref:       core.Ref{System: c.name, Kind: core.EmailThread, ID: root},
			Title:     t.Subject,
			Body:      t.Body,
			Reporter:  t.Reporter,
			Fields:    fields,
			UpdatedAt: t.Updated,
			Version:   t.Count,
			Seen:      []core.EventType{typ},
			Comments:  comments,
		},
	}
}

func orNew(how string) string {
	if how == "" {
		return "new"
	}
	return "by " + how
}

// thread finds the thread root of a person's mail, and says how it was
// found ("" for a new thread). followUp is set when the mail names a known
// thread (by In-Reply-To, References or the subject's ticket token) whose
// participants do not include the sender: such a mail starts a thread of
// its own, flagged for a person to decide, so that a stranger never adds
// to another customer's ticket. known is the thread at root when finding
// it meant reading it (nil otherwise: the caller reads it).
func (c *Connector) thread(ctx context.Context, st *state, m *mail.Message) (root, how, followUp string, known *threadState, err error) {
	// Most recent reference first: the message replied to, then the
	// References from newest to oldest.
	type cand struct{ id, how string }
	var cands []cand
	for _, id := range m.InReplyTo {
		cands = append(cands, cand{id, "in_reply_to"})
	}
	for i := len(m.References) - 1; i >= 0; i-- {
		cands = append(cands, cand{m.References[i], "references"})
	}
	for _, cd := range cands {
		r, err := parseOwnMessageID(cd.id, c.cfg.ownDomain)
		if err != nil || r == "" {
			if r, err = st.rootOf(ctx, cd.id); err != nil {
				return "", "", "", nil, err
			}
		}
		if r != "" {
			return c.admit(ctx, st, m, r, cd.how)
		}
	}
	// The message itself may be known (a second copy of it).
	if r, err := st.rootOf(ctx, m.MessageID); err != nil || r != "" {
		return r, "message_id", "", nil, err
	}
	switch {
	case len(m.References) > 0:
		// RFC 5322: References starts with the thread's first message.
		return m.References[0], "references", "", nil, nil
	case len(m.InReplyTo) > 0:
		return m.InReplyTo[0], "in_reply_to", "", nil, nil
	}
	if tok := c.tokenOf(m.Subject); tok != "" {
		r, err := st.rootOfToken(ctx, tok)
		if err != nil {
			return "", "", "", nil, err
		}
		if r != "" {
			return c.admit(ctx, st, m, r, "token")
		}
	}
	return m.MessageID, "", "", nil, nil
}

// admit returns thread root (and the thread, read to decide) as m's
// thread when m's sender takes part in it, and otherwise a new thread of
// m's own that follows up on root.
func (c *Connector) admit(ctx context.Context, st *state, m *mail.Message, root, how string) (string, string, string, *threadState, error) {
	t, err := st.thread(ctx, root)
	if err != nil {
		return "", "", "", nil, err
	}
	if t == nil || c.participant(t, m.From.Addr) {
		return root, how, "", t, nil
	}
	return m.MessageID, "", root, nil, nil
}

// participant reports whether addr may add to thread t: one of its
// requester and the people its mails were sent or copied to, an agent
// (participants.agents), or, with participants.same_domain, someone at the
// requester's domain.
func (c *Connector) participant(t *threadState, addr string) bool {
	addr = strings.ToLower(addr)
	if t.isParticipant(addr) || strings.EqualFold(addr, t.Reporter) {
		return true
	}
	_, domain, _ := strings.Cut(addr, "@")
	for _, a := range c.cfg.agents {
		if a == addr || a == domain {
			return true
		}
	}
	if c.cfg.Participants.SameDomain {
		_, rd, _ := strings.Cut(strings.ToLower(t.Reporter), "@")
		return rd != "" && rd == domain
	}
	return false
}

// ticketOfThread is the ticket token of thread root: the ticket the
// gateway opened for it, else the token its mails carried.
func (c *Connector) ticketOfThread(ctx context.Context, st *state, root string) (string, error) {
	rec, err := st.ticketOf(ctx, root)
	if err != nil || rec.Ticket != "" {
		return rec.Ticket, err
	}
	t, err := st.thread(ctx, root)
	if err != nil || t == nil {
		return "", err
	}
	return t.Token, nil
}

// intakeBounce records a bounce against the thread of the mail that
// bounced, as an internal comment and a Bounced event.
func (c *Connector) intakeBounce(ctx context.Context, st *state, raw []byte, m *mail.Message, now time.Time) (verdict, error) {
	orig := ""
	if m.Bounce != nil {
		orig = m.Bounce.OriginalMessageID
	}
	if orig == "" {
		return verdict{outcome: outBounceUnmatched, reason: fmt.Sprintf("bounce %s names no original message", m.MessageID)}, nil
	}
	root, err := parseOwnMessageID(orig, c.cfg.ownDomain)
	if err != nil || root == "" {
		if root, err = st.rootOf(ctx, orig); err != nil {
			return verdict{}, err
		}
	}
	if root == "" {
		return verdict{outcome: outBounceUnmatched, reason: fmt.Sprintf("bounce %s of unknown message %s", m.MessageID, orig)}, nil
	}
	t, err := st.thread(ctx, root)
	if err != nil {
		return verdict{}, err
	}
	if t == nil {
		return verdict{outcome: outBounceUnmatched, reason: fmt.Sprintf("bounce %s of message %s in unknown thread %q", m.MessageID, orig, root)}, nil
	}
	// A bounce never triggers mail to the address that bounced.
	t.NoAutoReply = t.NoAutoReply || bouncedReporter(m, t)
	t.Count++
	if now.After(t.Updated) {
		t.Updated = now
	}
	st.putThread(t)

	fields := map[string]string{
		"bounce_of":  orig,
		"message_id": m.MessageID,
		"from":       m.From.Addr,
	}
	var rcpts []string
	for _, r := range m.Bounce.Recipients {
		rcpts = append(rcpts, r.Addr)
	}
	if len(rcpts) > 0 {
		fields["bounced_to"] = strings.Join(rcpts, ",")
	}
	if m.Bounce.Delayed {
		fields["bounce_delayed"] = "true"
	}
	ev := c.threadEvent(core.Bounced, root, t, fields, raw, now, core.Comment{
		ID:        m.MessageID,
		Author:    m.From.Addr,
		Body:      bounceBody(m, orig),
		Public:    false,
		CreatedAt: now,
	})
	return verdict{events: []core.Event{ev}, outcome: outBounce, reason: fmt.Sprintf("bounce %s of %s in thread %q", m.MessageID, orig, root)}, nil
}

func bouncedReporter(m *mail.Message, t *threadState) bool {
	for _, r := range m.Bounce.Recipients {
		if strings.EqualFold(r.Addr, t.Reporter) && !strings.EqualFold(r.Action, "delayed") {
			return true
		}
	}
	return false
}

func bounceBody(m *mail.Message, orig string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Delivery of message <%s> failed", orig)
	if m.Bounce.Delayed {
		b.Reset()
		fmt.Fprintf(&b, "Delivery of message <%s> is delayed", orig)
	}
	b.WriteString(" (reported by " + m.From.Addr + ").\n")
	for _, r := range m.Bounce.Recipients {
		fmt.Fprintf(&b, "- %s: %s %s %s\n", r.Addr, r.Action, r.Status, r.Diagnostic)
	}
	if len(m.Bounce.Recipients) == 0 {
		text := m.Reply
		if len(text) > 2000 {
			text = text[:2000] + "…"
		}
		b.WriteString("\n" + text + "\n")
	}
	return strings.TrimSpace(b.String())
}

// isOwn reports whether m is a copy of the gateway's own mail: sent from
// its address (or an alias) or carrying one of its Message-IDs.
func (c *Connector) isOwn(m *mail.Message) bool {
	if m.From.Addr != "" && c.isOwnAddress(m.From.Addr) {
		return true
	}
	_, err := parseOwnMessageID(m.MessageID, c.cfg.ownDomain)
	return err == nil
}

func (c *Connector) tokenOf(subject string) string {
	if c.cfg.token == nil {
		return ""
	}
	if sm := c.cfg.token.FindStringSubmatch(subject); len(sm) > 1 {
		return sm[1]
	}
	return ""
}

// participantsOf lists the people a mail involves: sender, recipients and
// copies, less the gateway itself and mailer daemons.
func (c *Connector) participantsOf(m *mail.Message) []string {
	var out []string
	add := func(as ...mail.Address) {
		for _, a := range as {
			if a.Addr == "" || c.isOwnAddress(a.Addr) || isDaemon(a.Addr) {
				continue
			}
			out = append(out, a.Addr)
		}
	}
	add(m.From)
	add(m.ReplyTo...)
	add(m.To...)
	add(m.Cc...)
	return out
}

// isOwnAddress reports whether addr is the mailbox's: own_address or one
// of its aliases.
func (c *Connector) isOwnAddress(addr string) bool {
	addr = strings.ToLower(addr)
	return addr == c.cfg.own || slices.Contains(c.cfg.aliases, addr)
}

func isDaemon(addr string) bool {
	local, _, _ := strings.Cut(strings.ToLower(addr), "@")
	switch local {
	case "mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply":
		return true
	}
	return false
}

func without(list []string, v string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func (c *Connector) messageFields(m *mail.Message, mailbox string) map[string]string {
	addrs := func(as []mail.Address) string {
		s := make([]string, len(as))
		for i, a := range as {
			s[i] = a.Addr
		}
		return strings.Join(s, ",")
	}
	f := map[string]string{
		"from":        m.From.Addr,
		"from_name":   m.From.Name,
		"to":          addrs(m.To),
		"cc":          addrs(m.Cc),
		"subject":     m.Subject,
		"message_id":  m.MessageID,
		"in_reply_to": strings.Join(m.InReplyTo, " "),
		"references":  strings.Join(m.References, " "),
		"mailbox":     mailbox,
	}
	var over []string
	for _, a := range m.Attachments {
		if a.Over {
			over = append(over, a.Name)
		}
	}
	if len(over) > 0 {
		f["attachments_over_limit"] = strings.Join(over, ",")
	}
	return f
}

// commentBody is the comment text of a mail: its new text. A file too
// large to keep is not named here: it goes with the comment's files,
// marked Over, and whatever writes the comment names it (once).
func commentBody(m *mail.Message) string {
	return strings.TrimSpace(m.Reply)
}

func files(m *mail.Message) []core.Attachment {
	var out []core.Attachment
	for _, a := range m.Attachments {
		out = append(out, core.Attachment{
			Name:        a.Name,
			ContentType: a.ContentType,
			Size:        a.Size,
			Content:     a.Content,
			Over:        a.Over,
		})
	}
	return out
}

// loopBreaker counts mails per sender in a sliding window. A sender over
// the threshold is reported once per trip and gets no automatic mail until
// the window has passed quietly.
type loopBreaker struct {
	mu        sync.Mutex
	threshold int
	seen      window
	tripped   map[string]bool
	onTrip    func(sender string, n int)
}

func newLoopBreaker(threshold int, span time.Duration, onTrip func(string, int)) *loopBreaker {
	return &loopBreaker{threshold: threshold, seen: newWindow(span), tripped: map[string]bool{}, onTrip: onTrip}
}

// record counts a mail from sender at now and reports whether the sender
// is over the threshold.
func (l *loopBreaker) record(sender string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.seen.add(sender, now)
	over := n > l.threshold
	if over && !l.tripped[sender] {
		l.tripped[sender] = true
		if l.onTrip != nil {
			l.onTrip(sender, n)
		}
	}
	if !over {
		delete(l.tripped, sender)
	}
	return over
}

// isTripped reports whether sender is over the threshold at now.
func (l *loopBreaker) isTripped(sender string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen.recent(sender, now)) > l.threshold
}

// window keeps the times of events per key (a sender, a recipient) over a
// sliding span; times older than span are forgotten when the key is next
// looked at. Its owner locks it.
type window struct {
	span time.Duration
	at   map[string][]time.Time
}

func newWindow(span time.Duration) window {
	return window{span: span, at: map[string][]time.Time{}}
}

// recent returns key's times within span before now, oldest first.
func (w window) recent(key string, now time.Time) []time.Time {
	ts := w.at[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= w.span {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(w.at, key)
	} else {
		w.at[key] = ts
	}
	return ts
}

// add records an event of key at now and returns how many are within span.
func (w window) add(key string, now time.Time) int {
	ts := append(w.recent(key, now), now)
	w.at[key] = ts
	return len(ts)
}

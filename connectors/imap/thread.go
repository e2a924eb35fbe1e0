package imap

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// The connector keeps a little state of its own through the Sink's cursors
// (the store's cursor table), all under keys prefixed with the instance
// name, all versioned JSON:
//
//	<instance>:mailbox:<mailbox>   the mailbox cursor: UIDVALIDITY, last UID, HIGHESTMODSEQ
//	<instance>:thread:<hash>       a thread: subject, first text, requester, participants, token
//	<instance>:msg:<hash>          Message-ID → thread root, for replies that name a non-root message
//	<instance>:token:<ticket>      ticket token → thread root, for mail that only carries "[#4521]"
//	<instance>:ticket:<hash>       a thread's ticket and acknowledgement (ack.go)
//
// Hashes are the first 16 bytes of SHA-256, hex, so that any Message-ID
// fits a cursor key.

const stateVersion = 1

// mailboxCursor is where reading a mailbox stands.
type mailboxCursor struct {
	V           int    `json:"v"`
	UIDValidity uint32 `json:"uidvalidity"`
	LastUID     uint32 `json:"last_uid"`
	ModSeq      uint64 `json:"modseq,omitempty"`
}

// threadState is what the connector knows of a thread, so that every event
// about it carries the whole snapshot (the store replaces a record's fields
// with the newest snapshot's; see core.Merge).
type threadState struct {
	V            int       `json:"v"`
	Root         string    `json:"root"`
	Subject      string    `json:"subject"`
	Body         string    `json:"body"`
	Reporter     string    `json:"reporter"`
	ReporterName string    `json:"reporter_name,omitempty"`
	Participants []string  `json:"participants"`
	Messages     []string  `json:"messages"` // Message-IDs in arrival order, the last 50
	Count        int64     `json:"count"`
	Token        string    `json:"token,omitempty"`
	NoAutoReply  bool      `json:"no_autoreply,omitempty"`
	Updated      time.Time `json:"updated"`
	// FollowUpOf is the root of another thread that the first mail named
	// (by its references or its ticket token) although its sender takes
	// no part in it; FollowUpToken is that thread's ticket.
	FollowUpOf    string `json:"follow_up_of,omitempty"`
	FollowUpToken string `json:"follow_up_token,omitempty"`
	// Throttled says why mail of a throttled sender was added to this
	// thread instead of opening tickets (see newThreadLimiter).
	Throttled string `json:"throttled,omitempty"`
}

const maxThreadMessages = 50

func (t *threadState) has(id string) bool { return slices.Contains(t.Messages, id) }

func (t *threadState) addMessage(id string) {
	if t.has(id) {
		return
	}
	t.Messages = append(t.Messages, id)
	if len(t.Messages) > maxThreadMessages {
		// Keep the root and the latest ones: References are built from them.
		t.Messages = append(t.Messages[:1:1], t.Messages[len(t.Messages)-maxThreadMessages+1:]...)
	}
	t.Count++
}

func (t *threadState) addParticipants(addrs ...string) {
	for _, a := range addrs {
		if a != "" && !slices.Contains(t.Participants, a) {
			t.Participants = append(t.Participants, a)
		}
	}
	slices.Sort(t.Participants)
}

func (t *threadState) isParticipant(addr string) bool {
	return addr != "" && slices.Contains(t.Participants, strings.ToLower(addr))
}

func hashKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// state reads and writes the connector's cursors. Writes made while
// processing a batch are held in an overlay and written only after the
// batch's events were ingested, so that a failed Ingest leaves no trace.
type state struct {
	sink    core.Sink
	name    string
	overlay map[string]string
	order   []string
}

func newState(sink core.Sink, name string) *state {
	return &state{sink: sink, name: name, overlay: map[string]string{}}
}

func (s *state) key(kind, id string) string { return s.name + ":" + kind + ":" + id }

func (s *state) get(ctx context.Context, key string, v any) (bool, error) {
	raw, ok := s.overlay[key]
	if !ok {
		var err error
		raw, err = s.sink.Cursor(ctx, key)
		if err != nil {
			return false, fmt.Errorf("read cursor %q: %w", key, err)
		}
	}
	if raw == "" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		// A cursor we cannot read is treated as absent, not as a reason to
		// stop the intake; dedupe by message hash keeps this safe.
		return false, nil
	}
	return true, nil
}

func (s *state) put(key string, v any) {
	b, _ := json.Marshal(v)
	if _, ok := s.overlay[key]; !ok {
		s.order = append(s.order, key)
	}
	s.overlay[key] = string(b)
}

// flush writes the overlay, in the order it was written.
func (s *state) flush(ctx context.Context) error {
	for _, k := range s.order {
		if err := s.sink.SetCursor(ctx, k, s.overlay[k]); err != nil {
			return fmt.Errorf("write cursor %q: %w", k, err)
		}
	}
	s.discard()
	return nil
}

func (s *state) discard() {
	clear(s.overlay)
	s.order = s.order[:0]
}

func (s *state) thread(ctx context.Context, root string) (*threadState, error) {
	var t threadState
	ok, err := s.get(ctx, s.key("thread", hashKey(root)), &t)
	if err != nil || !ok {
		return nil, err
	}
	return &t, nil
}

func (s *state) putThread(t *threadState) {
	t.V = stateVersion
	s.put(s.key("thread", hashKey(t.Root)), t)
}

type pointer struct {
	V    int    `json:"v"`
	Root string `json:"root"`
}

func (s *state) rootOf(ctx context.Context, msgID string) (string, error) {
	var p pointer
	ok, err := s.get(ctx, s.key("msg", hashKey(msgID)), &p)
	if err != nil || !ok {
		return "", err
	}
	return p.Root, nil
}

func (s *state) putRootOf(msgID, root string) {
	s.put(s.key("msg", hashKey(msgID)), pointer{V: stateVersion, Root: root})
}

func (s *state) rootOfToken(ctx context.Context, token string) (string, error) {
	var p pointer
	ok, err := s.get(ctx, s.key("token", token), &p)
	if err != nil || !ok {
		return "", err
	}
	return p.Root, nil
}

func (s *state) putToken(token, root string) {
	s.put(s.key("token", token), pointer{V: stateVersion, Root: root})
}

func (s *state) mailbox(ctx context.Context, name string) (mailboxCursor, error) {
	var c mailboxCursor
	_, err := s.get(ctx, s.key("mailbox", name), &c)
	return c, err
}

// setMailbox writes a mailbox cursor at once: it is called only after the
// messages up to it were ingested and moved.
func (s *state) setMailbox(ctx context.Context, name string, c mailboxCursor) error {
	c.V = stateVersion
	b, _ := json.Marshal(c)
	if err := s.sink.SetCursor(ctx, s.key("mailbox", name), string(b)); err != nil {
		return fmt.Errorf("write mailbox cursor %q: %w", name, err)
	}
	return nil
}

// Our own Message-IDs: "liaison.<24 hex of the action key's hash>.<thread
// root in base32>@<own domain>". The root travels in the id, so a reply
// that names only our mail in In-Reply-To threads correctly even when the
// connector's state was lost; the hash makes a retried send reuse its id.

var b32 = base32.HexEncoding.WithPadding(base32.NoPadding)

const maxEmbeddedRoot = 200

// ownMessageID returns the Message-ID (without brackets) of the mail an
// action sends.
func ownMessageID(key, root, domain string) string {
	sum := sha256.Sum256([]byte(key))
	id := "liaison." + hex.EncodeToString(sum[:12])
	if root != "" && len(root) <= maxEmbeddedRoot {
		id += "." + strings.ToLower(b32.EncodeToString([]byte(root)))
	}
	return id + "@" + domain
}

var errNotOurs = errors.New("not a gateway message id")

// parseOwnMessageID reports whether id is one of ours and returns the
// thread root it carries ("" when it carries none).
func parseOwnMessageID(id, domain string) (root string, err error) {
	local, dom, ok := strings.Cut(id, "@")
	if !ok || !strings.EqualFold(dom, domain) || !strings.HasPrefix(strings.ToLower(local), "liaison.") {
		return "", errNotOurs
	}
	parts := strings.SplitN(local, ".", 3)
	if len(parts[1]) != 24 {
		return "", errNotOurs
	}
	if len(parts) < 3 {
		return "", nil
	}
	b, err := b32.DecodeString(strings.ToUpper(parts[2]))
	if err != nil {
		return "", errNotOurs
	}
	return string(b), nil
}

package core

import (
	"crypto/sha256"
	"encoding/hex"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// ActionKind is what an action does to its target.
type ActionKind string

// Action kinds.
const (
	Create     ActionKind = "create"
	Transition ActionKind = "transition"
	AddComment ActionKind = "comment"
	SetFields  ActionKind = "set_fields"
	AddLink    ActionKind = "link"
	Notify     ActionKind = "notify"
)

// ActionState is where an action is in the outbox.
type ActionState string

// Outbox states.
const (
	Pending ActionState = "pending"
	Done    ActionState = "done"
	Dead    ActionState = "dead" // retries exhausted or a permanent error; see LastError
)

// Action is one write the gateway means to make. Actions are planned from a
// case's state, kept in the durable outbox under their Key until the target
// confirms them, and never planned twice: the Key is derived from the rule
// and the records involved, not from the event that happened to trigger it.
type Action struct {
	Key     string     `json:"key"`
	Case    CaseID     `json:"case"`
	Rule    string     `json:"rule"`
	Kind    ActionKind `json:"kind"`
	Target  Ref        `json:"target"`  // for Create: System and Kind only
	Subject Ref        `json:"subject"` // the record the rule was about
	Reason  string     `json:"reason,omitempty"`

	// Transition.
	Status Status `json:"status,omitempty"` // canonical target
	Native string `json:"native,omitempty"` // native target status, from the mappings

	// Create and SetFields. Fields are keyed by native field name; Create
	// also uses Title, Body and Labels.
	Title  string            `json:"title,omitempty"`
	Body   string            `json:"body,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
	Labels []string          `json:"labels,omitempty"`
	Role   Role              `json:"role,omitempty"` // Create: link role from Subject to the new record

	// AddComment. Author is who wrote the mirrored source comment, for a
	// system that can post on a person's behalf (a customer's mailed reply
	// shown as theirs in the help desk).
	Public        bool         `json:"public,omitempty"`
	Author        string       `json:"author,omitempty"`
	SourceComment string       `json:"source_comment,omitempty"` // mirrored from Subject's comment
	Files         []Attachment `json:"attachments,omitempty"`

	// AddLink: the record to link Target to (a remote link in the target
	// system), with its URL and title when known.
	Other    Ref    `json:"other,omitempty"`
	OtherURL string `json:"other_url,omitempty"`

	// Notify: a webhook URL, or a mail address as the rule wrote it. A
	// mail address is parsed once, when planned, into Recipients, which is
	// what the mail goes to: a formatted address is never split again.
	To         string         `json:"to,omitempty"`
	Recipients []mail.Address `json:"recipients,omitempty"`

	// SyncField and SyncValue, set on writes made by a sync rule, name the
	// canonical field and value; Complete stores them as the last synced
	// value so a later change on both sides is seen as a conflict.
	SyncField string `json:"sync_field,omitempty"`
	SyncValue string `json:"sync_value,omitempty"`

	// Outbox bookkeeping, filled by the store.
	State       ActionState `json:"state,omitempty"`
	Attempts    int         `json:"attempts,omitempty"`
	NextAttempt time.Time   `json:"next_attempt,omitempty"`
	LastError   string      `json:"last_error,omitempty"`
	CreatedAt   time.Time   `json:"created_at,omitempty"`
	// Sent is when an attempt whose outcome is unknown started (a write
	// that timed out, or a resend begun): until a lookup proves it absent,
	// that write may still take effect. Zero when none is known.
	Sent time.Time `json:"sent,omitempty"`
	// Unsent says that no attempt can be in flight: none was ever made (the
	// reconcile that planned it ended without trying it), or the last one
	// was answered. An action with neither Sent nor Unsent and no attempts
	// may have been tried by the claim that planned it.
	Unsent bool `json:"unsent,omitempty"`
}

// Marker is the deterministic marker a connector puts on what this action
// creates or writes (a label, tag, hidden field or comment suffix), so that a
// later look-up finds it even if the gateway's database was lost.
func (a *Action) Marker() string { return MarkerFor(a.Key) }

// MarkerFor derives the marker of an action key: "liaison-" and twelve hex
// digits, safe as a Jira label or a Zendesk tag.
func MarkerFor(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "liaison-" + hex.EncodeToString(sum[:6])
}

// markerRE matches a marker as MarkerFor makes them.
var markerRE = regexp.MustCompile(`^liaison-[0-9a-f]{12}$`)

// IsMarker reports whether s is a marker as MarkerFor makes them, so that a
// connector takes a label, tag or field value for one only when it is.
func IsMarker(s string) bool { return markerRE.MatchString(s) }

// ActionKey joins the parts that identify an action. Parts must not depend
// on which event triggered the reconcile.
func ActionKey(parts ...string) string { return strings.Join(parts, "|") }

// Result is what a connector reports after applying an action.
type Result struct {
	// Created is the record a Create made (or found by its marker).
	Created Ref `json:"created,omitempty"`
	// Item is the target's snapshot after the write, when the API returned
	// it; the store keeps it so the next reconcile sees the write at once.
	Item *Item `json:"item,omitempty"`
	// CommentID is the id of the comment an AddComment made.
	CommentID string `json:"comment_id,omitempty"`
	// Note says anything worth keeping in the audit log ("already in status").
	Note string `json:"note,omitempty"`
}

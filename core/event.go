package core

import "time"

// EventType says what was observed about a record.
type EventType string

// Event types. Connectors use the closest one; rules match on them through
// Item.Seen.
const (
	Created          EventType = "created"
	Updated          EventType = "updated"
	Deleted          EventType = "deleted"
	Commented        EventType = "commented"
	StatusChange     EventType = "status_changed"
	Opened           EventType = "opened"
	Reopened         EventType = "reopened"
	Merged           EventType = "merged"
	ClosedUnmerged   EventType = "closed_unmerged"
	Approved         EventType = "approved"
	ChangesRequested EventType = "changes_requested"
	Pushed           EventType = "pushed"
	Mailed           EventType = "mailed"
	Bounced          EventType = "bounced"
)

// Via says how an event reached the gateway.
type Via string

// The paths an event can take in.
const (
	ViaWebhook Via = "webhook"
	ViaPoll    Via = "poll"
	ViaPush    Via = "push"  // a connection the connector holds open (IMAP IDLE)
	ViaApply   Via = "apply" // the snapshot a write of ours returned
)

// Event is something observed about one record. The engine never acts on
// an event directly: it records it, updates the record's snapshot, and marks
// the record's case dirty. Reconciliation then looks at state, not events.
type Event struct {
	// Source is the connector instance that observed the event and
	// DeliveryID its unique id there (webhook delivery id, or a poll-derived
	// key such as ref@updated); the inbox de-duplicates on the pair.
	Source     string    `json:"source"`
	DeliveryID string    `json:"delivery_id"`
	Via        Via       `json:"via"`
	Type       EventType `json:"type"`
	// Item is the record's snapshot as of this event. For a comment-only
	// event it may hold just Ref, UpdatedAt and the comment.
	Item    Item     `json:"item"`
	Changes []Change `json:"changes,omitempty"`
	// Links are links the source states explicitly (a remote link, a custom
	// field holding another record's key, a mail's In-Reply-To).
	Links []Link    `json:"links,omitempty"`
	At    time.Time `json:"at"`
	// Raw is the body as received, kept for inspection and pruned by the
	// retention policy once the event is processed.
	Raw []byte `json:"-"`
}

// Change is one field transition a source reported (Jira's changelog).
type Change struct {
	Field string `json:"field"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
}

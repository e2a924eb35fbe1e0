package core

import (
	"slices"
	"time"
)

// CaseID identifies a case in the store. It is stable while the case's
// records stay connected; when two cases are joined by a link the joined case
// keeps one of the ids.
type CaseID int64

// Case is the connected group of linked records that belong to one support
// problem: the unit of reconciliation. The store loads it whole.
type Case struct {
	ID    CaseID `json:"id"`
	Items []Item `json:"items"` // sorted by Ref
	Links []Link `json:"links"`
	// Keys holds the outbox state of every action already planned for the
	// case's records, by key, so planning never repeats one.
	Keys map[string]ActionState `json:"-"`
	// Mirrors maps a mirrored comment (MirrorKey of source record and
	// comment id, and target record) to the id of the copy.
	Mirrors map[string]string `json:"-"`
	// Synced holds the value last synchronised for a field between two
	// records (SyncKey), which is how a change on both sides is detected.
	Synced map[string]string `json:"-"`
	// MentionedBy are the records of other cases whose text names one of
	// this case's records without linking it (core.Link.Joins), in Ref
	// order; the store loads them with the case.
	MentionedBy []Item `json:"-"`
	// Candidates are records of other cases that a duplicate rule may link
	// this case to; the engine fills them when the mappings have one.
	Candidates []Item `json:"-"`
	// Marks counts the times the case was marked dirty, as of the load:
	// a release after planning from this load keeps the case queued only
	// when it was marked since (Release.Seen).
	Marks int64 `json:"-"`
}

// Item returns the case's record r, or nil.
func (c *Case) Item(r Ref) *Item {
	for i := range c.Items {
		if c.Items[i].Ref == r {
			return &c.Items[i]
		}
	}
	return nil
}

// OfKind returns the case's live records of kind k (any system when system
// is ""), in Ref order.
func (c *Case) OfKind(system string, k Kind) []*Item {
	var out []*Item
	for i := range c.Items {
		it := &c.Items[i]
		if it.Ref.Kind == k && (system == "" || it.Ref.System == system) && !it.Deleted {
			out = append(out, it)
		}
	}
	return out
}

// Refs returns the refs of the case's records.
func (c *Case) Refs() []Ref {
	out := make([]Ref, len(c.Items))
	for i := range c.Items {
		out[i] = c.Items[i].Ref
	}
	return out
}

// MirrorKey names a comment copy: source record and comment, and target.
func MirrorKey(src Ref, commentID string, target Ref) string {
	return src.String() + "#" + commentID + ">" + target.String()
}

// SyncKey names the last synchronised value of a field between two records.
func SyncKey(a, b Ref, field string) string {
	x, y := a.String(), b.String()
	if y < x {
		x, y = y, x
	}
	return x + "|" + y + "|" + field
}

// Sort puts the case's records and links in a stable order, so that
// planning is deterministic.
func (c *Case) Sort() {
	slices.SortFunc(c.Items, func(a, b Item) int { return compareRef(a.Ref, b.Ref) })
	slices.SortFunc(c.MentionedBy, func(a, b Item) int { return compareRef(a.Ref, b.Ref) })
	slices.SortFunc(c.Links, func(a, b Link) int {
		if d := compareRef(a.From, b.From); d != 0 {
			return d
		}
		return compareRef(a.To, b.To)
	})
}

func compareRef(a, b Ref) int {
	switch {
	case a.String() < b.String():
		return -1
	case a.String() > b.String():
		return 1
	}
	return 0
}

// AuditEntry records which rule did what to which record, and why.
type AuditEntry struct {
	At     time.Time  `json:"at"`
	Case   CaseID     `json:"case"`
	Target Ref        `json:"target"`
	Rule   string     `json:"rule"`
	Kind   ActionKind `json:"kind"`
	Key    string     `json:"key"`
	Detail string     `json:"detail"` // what changed: "status → Ready for QA", "comment 10023"
	Reason string     `json:"reason,omitempty"`
}

// Conflict is a field changed on both sides since the last sync; it is
// recorded and reported, never silently overwritten.
type Conflict struct {
	At    time.Time `json:"at"`
	Case  CaseID    `json:"case"`
	Rule  string    `json:"rule"`
	Field string    `json:"field"`
	A     Ref       `json:"a"`
	AVal  string    `json:"a_value"`
	B     Ref       `json:"b"`
	BVal  string    `json:"b_value"`
	Last  string    `json:"last_synced"`
}

package core

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Status is a canonical status: the shared vocabulary that each system's
// native statuses map to in the mapping files.
type Status string

// Canonical statuses, in the order a problem moves through them. The order
// is what "forward" means for a transition without an explicit from-guard.
const (
	StatusNew              Status = "new"
	StatusOpen             Status = "open"
	StatusOnHold           Status = "on_hold"
	StatusInProgress       Status = "in_progress"
	StatusInReview         Status = "in_review"
	StatusReadyForQA       Status = "ready_for_qa"
	StatusQAValidated      Status = "qa_validated"
	StatusPreprodValidated Status = "preprod_validated"
	StatusPending          Status = "pending"
	StatusDone             Status = "done"
	StatusSolved           Status = "solved"
	StatusClosed           Status = "closed"
)

// Statuses lists the canonical statuses in their forward order.
var Statuses = []Status{
	StatusNew, StatusOpen, StatusOnHold, StatusInProgress, StatusInReview,
	StatusReadyForQA, StatusQAValidated, StatusPreprodValidated, StatusPending,
	StatusDone, StatusSolved, StatusClosed,
}

// Rank is s's position in Statuses, or -1 when s is not canonical.
func (s Status) Rank() int { return slices.Index(Statuses, s) }

// Known reports whether s is canonical.
func (s Status) Known() bool { return s.Rank() >= 0 }

// Item is a normalized snapshot of one record. Connectors fill what their
// system has; the store keeps the newest snapshot per Ref, judged by
// UpdatedAt and then Version.
type Item struct {
	Ref      Ref               `json:"ref"`
	Title    string            `json:"title,omitempty"`
	Body     string            `json:"body,omitempty"`
	Native   string            `json:"native_status,omitempty"` // status as the system names it
	Status   Status            `json:"status,omitempty"`        // canonical, filled from the mappings
	Priority string            `json:"priority,omitempty"`      // native priority name
	Reporter string            `json:"reporter,omitempty"`      // identity in that system (login, e-mail)
	Assignee string            `json:"assignee,omitempty"`
	Labels   []string          `json:"labels,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"` // custom fields by their native name; also branch, commits, org
	URL      string            `json:"url,omitempty"`
	// CreatedAt is when the record was made at its source; when a
	// connector does not say, the store keeps the time of the first
	// snapshot it saw. Response-time targets count from it.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// UpdatedAt and Version order snapshots of the same record; a snapshot
	// older than the stored one is ignored, so late events do no harm.
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version,omitempty"`
	// Seen is every event type ever observed on the record (a set, merged by
	// the store), so that rules can ask "was it ever merged" in a way that
	// does not depend on the order events arrive in.
	Seen []EventType `json:"seen,omitempty"`
	// Path is the record's native statuses as observed, oldest first, each
	// with the time of the first snapshot seen in it (a run of snapshots in
	// one status is one step). The store merges it like Seen, so rules can
	// ask "did the fix pass QA before pre-production" whatever order the
	// events came in. A status a record passed between two snapshots is
	// missing: rules read a missing step as "not done", never as done.
	Path     []StatusStep `json:"path,omitempty"`
	Comments []Comment    `json:"comments,omitempty"`
	// Marker is the deterministic marker the gateway put on a record it
	// created (a label, tag or hidden field); empty for records made by people.
	Marker string `json:"marker,omitempty"`
	// Untrusted marks a record whose author may not link records by
	// naming them (a pull request from outside the repository's members):
	// the keys found in its text are mentions only (Link.Joins).
	Untrusted bool `json:"untrusted,omitempty"`
	// Deleted records stay in their case so that history reads right, but
	// rules do not act on them.
	Deleted bool `json:"deleted,omitempty"`
}

// StatusStep is one native status a record was observed in, and since when.
// Left marks a status known only because the tracker's history says the
// record left it (the from of a status change): how the record got there
// is a change the gateway has not seen yet (see Item.HistoryGap).
type StatusStep struct {
	Native string    `json:"status"`
	At     time.Time `json:"at"`
	Left   bool      `json:"left,omitempty"`
}

// maxPath bounds Path: a record that bounced between statuses for years
// keeps its recent history, which is all a validation chain looks at.
const maxPath = 32

// mergePath joins two observed paths and the step of a snapshot (native
// status since at) in time order, one step per run of the same status.
// The result does not depend on the order the snapshots arrived in.
func mergePath(a, b []StatusStep, native string, at time.Time) []StatusStep {
	all := make([]StatusStep, 0, len(a)+len(b)+1)
	all = append(append(all, a...), b...)
	if native != "" && !at.IsZero() {
		all = append(all, StatusStep{Native: native, At: at.UTC()})
	}
	if len(all) == 0 {
		return nil
	}
	slices.SortStableFunc(all, func(x, y StatusStep) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		if c := strings.Compare(x.Native, y.Native); c != 0 {
			return c
		}
		// A step seen entered stands for its run over one only left.
		switch {
		case x.Left == y.Left:
			return 0
		case y.Left:
			return -1
		}
		return 1
	})
	out := all[:1]
	for _, st := range all[1:] {
		if !strings.EqualFold(st.Native, out[len(out)-1].Native) {
			out = append(out, st)
		}
	}
	if len(out) > maxPath {
		out = out[len(out)-maxPath:]
	}
	return slices.Clip(out)
}

// HistoryGap reports whether the record's path has a status the tracker's
// history says it left but whose arrival the gateway has not seen (a
// webhook that overtook the one before it): the path before that step is
// not known yet. The first step is where the known history starts.
func (it *Item) HistoryGap() bool {
	for i, st := range it.Path {
		if i > 0 && st.Left {
			return true
		}
	}
	return false
}

// HasSeen reports whether an event of type t was ever observed on the item.
func (it *Item) HasSeen(t EventType) bool { return slices.Contains(it.Seen, t) }

// Field returns a field's value by its native name, or "" when it is not
// set. The well-known names read the item's own fields, as SetField
// writes them.
func (it *Item) Field(name string) string {
	switch name {
	case "priority":
		return it.Priority
	case "assignee":
		return it.Assignee
	case "title", "summary", "subject":
		return it.Title
	}
	return it.Fields[name]
}

// SetField writes a field by its native name, as an action's Fields name
// it: priority, assignee, requester or reporter, and status go to the
// item's own fields; tags or labels (space- or comma-separated) are added
// to Labels; anything else is a custom field. It changes the item's maps
// and slices in place: Clone first to keep the original.
func (it *Item) SetField(name, v string) {
	switch name {
	case "priority":
		it.Priority = v
	case "assignee":
		it.Assignee = v
	case "requester", "reporter":
		it.Reporter = v
	case "status":
		it.Native = v
	case "tags", "labels":
		for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			if !slices.Contains(it.Labels, l) {
				it.Labels = append(it.Labels, l)
			}
		}
	case "remove_tags":
		// Zendesk's own field name; the escalation levels use it to take
		// an agent's escalate tag off once acted on.
		for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			it.Labels = slices.DeleteFunc(it.Labels, func(x string) bool { return strings.EqualFold(x, l) })
		}
	default:
		if it.Fields == nil {
			it.Fields = map[string]string{}
		}
		it.Fields[name] = v
	}
}

// Clone returns a copy that shares no map or slice with it.
func (it *Item) Clone() Item {
	cp := *it
	cp.Labels = slices.Clone(it.Labels)
	cp.Fields = maps.Clone(it.Fields)
	cp.Comments = slices.Clone(it.Comments)
	cp.Seen = slices.Clone(it.Seen)
	cp.Path = slices.Clone(it.Path)
	return cp
}

// Comment is one comment, reply or note on a record.
type Comment struct {
	ID        string       `json:"id"`
	Author    string       `json:"author,omitempty"`
	Body      string       `json:"body"`
	Public    bool         `json:"public"` // visible to the customer; internal notes are false
	CreatedAt time.Time    `json:"created_at"`
	Deleted   bool         `json:"deleted,omitempty"`
	Files     []Attachment `json:"attachments,omitempty"`
	// Marker is set when the connector recognises the comment as written by
	// the gateway (it carries the action key); such a comment is never
	// mirrored back, which is what keeps sync loops from forming.
	Marker string `json:"marker,omitempty"`
}

// Attachment is a file on a comment. Over is set when the file exceeded a
// size limit and was named rather than carried.
//
// Its content is kept once, by Hash, in the store's blobs (see Blobs),
// never in a snapshot, an event's or an action's JSON: a connector that
// read the file (a mail's attachment) hands it over in Content, which only
// travels in memory to the store's Ingest; one that applies it opens the
// blob by Hash. A file known only at its source has a URL instead.
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size,omitempty"`
	URL         string `json:"url,omitempty"`
	Hash        string `json:"hash,omitempty"`
	Content     []byte `json:"-"`
	Over        bool   `json:"over_limit,omitempty"`
}

// Newer reports whether snapshot a should replace snapshot b of the same record.
// Equal snapshots replace each other, which keeps re-delivery idempotent.
func Newer(a, b *Item) bool {
	if !a.UpdatedAt.Equal(b.UpdatedAt) {
		return a.UpdatedAt.After(b.UpdatedAt)
	}
	return a.Version >= b.Version
}

// Merge returns the snapshot to keep when next arrives for a record whose
// stored snapshot is prev (nil when unknown). Comments and Seen are unions,
// so that a partial event (one comment) never erases what was known; the
// rest comes from whichever snapshot is newer.
func Merge(prev *Item, next Item) Item {
	if prev == nil {
		next.Seen = uniqEvents(next.Seen)
		next.Path = mergePath(nil, next.Path, next.Native, next.UpdatedAt)
		if next.CreatedAt.IsZero() {
			next.CreatedAt = next.UpdatedAt
		}
		return next
	}
	out := *prev
	if Newer(&next, prev) {
		out = next
		if out.Title == "" && prev.Title != "" && next.Native == "" {
			// A comment-only event carries no fields; keep the known ones.
			out.Title, out.Body, out.Native, out.Status = prev.Title, prev.Body, prev.Native, prev.Status
			out.Priority, out.Reporter, out.Assignee = prev.Priority, prev.Reporter, prev.Assignee
			out.Labels, out.Fields, out.URL, out.Marker = prev.Labels, prev.Fields, prev.URL, prev.Marker
			out.Untrusted = prev.Untrusted
		}
	}
	out.Seen = uniqEvents(append(slices.Clone(prev.Seen), next.Seen...))
	out.Path = mergePath(prev.Path, next.Path, next.Native, next.UpdatedAt)
	out.Comments = mergeComments(prev.Comments, next.Comments)
	out.Deleted = prev.Deleted || next.Deleted
	// The earliest creation time anyone reported stands; a snapshot that
	// reports none counts as made no later than it was seen, so the result
	// is the same whichever snapshot arrived first.
	out.CreatedAt = prev.CreatedAt
	c := next.CreatedAt
	if c.IsZero() {
		c = next.UpdatedAt
	}
	if !c.IsZero() && (out.CreatedAt.IsZero() || c.Before(out.CreatedAt)) {
		out.CreatedAt = c
	}
	return out
}

func uniqEvents(s []EventType) []EventType {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func mergeComments(a, b []Comment) []Comment {
	if len(b) == 0 {
		return a
	}
	out := slices.Clone(a)
	for _, c := range b {
		i := slices.IndexFunc(out, func(x Comment) bool { return x.ID == c.ID })
		if i < 0 {
			out = append(out, c)
			continue
		}
		// A deletion sticks; otherwise the later edit wins.
		del := out[i].Deleted || c.Deleted
		out[i] = c
		out[i].Deleted = del
	}
	slices.SortStableFunc(out, func(x, y Comment) int { return x.CreatedAt.Compare(y.CreatedAt) })
	return out
}

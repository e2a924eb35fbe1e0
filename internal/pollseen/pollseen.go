// Package pollseen holds what the connectors that poll a window of recent
// changes (Jira, Mantis) do alike with what a poll has seen. Seen is the
// part of the cursor that stops a record re-read in the poll overlap from
// being reported again: the update time last reported per record, kept
// only for the window the next poll re-reads and bounded in size, stored
// as a JSON object of record key → update time (RFC 3339, UTC). Classify
// gives the event of a re-read record its type from what happened in the
// window.
package pollseen

import (
	"maps"
	"slices"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Max bounds the records a cursor remembers.
const Max = 5000

// Seen maps a record's key to the update time last reported for it
// (RFC 3339 with nanoseconds, UTC).
type Seen map[string]string

// Clone returns a copy to fill for the next cursor; the stored one stays
// as it was if the poll fails.
func (s Seen) Clone() Seen {
	if s == nil {
		return Seen{}
	}
	return maps.Clone(s)
}

// Mark records that key was read with update time updated. It returns the
// stamp (for a DeliveryID of "<ref>@<stamp>") and false when that state
// was already reported.
func (s Seen) Mark(key string, updated time.Time) (stamp string, fresh bool) {
	stamp = updated.UTC().Format(time.RFC3339Nano)
	if s[key] == stamp {
		return stamp, false
	}
	s[key] = stamp
	return stamp, true
}

// Prune forgets records last seen before the window the next poll reads
// (and stamps it cannot read), then the oldest beyond Max.
func (s Seen) Prune(before time.Time) {
	for k, v := range s {
		if t, err := time.Parse(time.RFC3339Nano, v); err != nil || t.Before(before) {
			delete(s, k)
		}
	}
	if len(s) <= Max {
		return
	}
	type entry struct {
		key string
		at  time.Time
	}
	all := make([]entry, 0, len(s))
	for k, v := range s {
		t, _ := time.Parse(time.RFC3339Nano, v) // every stamp left parsed above
		all = append(all, entry{k, t})
	}
	slices.SortFunc(all, func(a, b entry) int { return a.at.Compare(b.at) })
	for _, e := range all[:len(all)-Max] {
		delete(s, e.key)
	}
}

// Classify sets the type of the event a poll made of a record it read,
// and the record's Seen, from what happened in the window the poll covered
// (from on): the record created, its status changed (statusChanged, which
// the caller reads from the record's history), a comment added (any of
// ev.Item.Comments at or after from). The type is the latest kind of thing
// in that order, Updated when none; Seen keeps all of them.
func Classify(ev *core.Event, from, created time.Time, statusChanged bool) {
	var seen []core.EventType
	if !created.IsZero() && !created.Before(from) {
		seen = append(seen, core.Created)
	}
	if statusChanged {
		seen = append(seen, core.StatusChange)
	}
	if slices.ContainsFunc(ev.Item.Comments, func(c core.Comment) bool { return !c.CreatedAt.Before(from) }) {
		seen = append(seen, core.Commented)
	}
	switch {
	case slices.Contains(seen, core.StatusChange):
		ev.Type = core.StatusChange
	case slices.Contains(seen, core.Commented):
		ev.Type = core.Commented
	case slices.Contains(seen, core.Created):
		ev.Type = core.Created
	default:
		ev.Type = core.Updated
		seen = append(seen, core.Updated)
	}
	ev.Item.Seen = seen
}

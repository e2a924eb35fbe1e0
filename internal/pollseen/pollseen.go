// Package pollseen is the part of a polling connector's cursor that stops
// a record re-read in the poll overlap from being reported again: the
// update time last reported per record, kept only for the window the next
// poll re-reads and bounded in size. Jira and Mantis store it in their
// cursors as a JSON object of record key → update time (RFC 3339, UTC).
package pollseen

import (
	"maps"
	"slices"
	"time"
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

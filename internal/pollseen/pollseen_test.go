package pollseen

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// TestMark_ReportsAStateOnce: the same update time of a record is fresh
// only the first time; a newer one is fresh again.
func TestMark_ReportsAStateOnce(t *testing.T) {
	s := Seen{}
	steps := []struct {
		key   string
		at    time.Time
		stamp string
		fresh bool
	}{
		{"KBOT-1", t0, "2026-03-02T09:00:00Z", true},
		{"KBOT-1", t0.In(time.FixedZone("CET", 3600)), "2026-03-02T09:00:00Z", false},
		{"KBOT-2", t0, "2026-03-02T09:00:00Z", true},
		{"KBOT-1", t0.Add(1500 * time.Millisecond), "2026-03-02T09:00:01.5Z", true},
	}
	for i, st := range steps {
		stamp, fresh := s.Mark(st.key, st.at)
		if stamp != st.stamp || fresh != st.fresh {
			t.Fatalf("step %d: Mark(%s) = %q, %v; want %q, %v", i, st.key, stamp, fresh, st.stamp, st.fresh)
		}
	}
}

// TestClone_LeavesTheStoredCursorAlone: marks on the clone do not reach
// the cursor it came from; a cursor without seen records clones to an
// empty set that can be marked.
func TestClone_LeavesTheStoredCursorAlone(t *testing.T) {
	var stored Seen
	if err := json.Unmarshal([]byte(`{"7":"2026-03-02T09:00:00Z"}`), &stored); err != nil {
		t.Fatal(err)
	}
	next := stored.Clone()
	next.Mark("8", t0)
	if len(stored) != 1 || len(next) != 2 {
		t.Fatalf("stored %v, next %v", stored, next)
	}
	var none Seen
	none.Clone().Mark("1", t0) // must not panic on a nil map
}

// TestPrune_DropsOldUnreadableAndOverflow: records older than the window,
// and stamps that are not times, go; past Max the oldest go, by time (a
// stamp with a fraction of a second is newer than the whole second, though
// it sorts first as text).
func TestPrune_DropsOldUnreadableAndOverflow(t *testing.T) {
	tests := []struct {
		name string
		seen Seen
		keep []string
		drop []string
	}{
		{
			name: "window",
			seen: Seen{"old": "2026-03-02T08:59:59Z", "edge": "2026-03-02T09:00:00Z", "new": "2026-03-02T09:05:00Z", "junk": "yesterday"},
			keep: []string{"edge", "new"},
			drop: []string{"old", "junk"},
		},
		{
			name: "overflow",
			seen: func() Seen {
				s := Seen{}
				for i := range Max - 1 {
					s.Mark("k"+strconv.Itoa(i), t0.Add(time.Duration(i+2)*time.Second))
				}
				s.Mark("whole", t0.Add(time.Second))
				s.Mark("fraction", t0.Add(1500*time.Millisecond))
				return s
			}(),
			keep: []string{"fraction", "k0", "k" + strconv.Itoa(Max-2)},
			drop: []string{"whole"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.seen.Prune(t0)
			for _, k := range tc.keep {
				if _, ok := tc.seen[k]; !ok {
					t.Errorf("%s was dropped", k)
				}
			}
			for _, k := range tc.drop {
				if _, ok := tc.seen[k]; ok {
					t.Errorf("%s was kept", k)
				}
			}
			if len(tc.seen) > Max {
				t.Errorf("%d records kept; Max is %d", len(tc.seen), Max)
			}
		})
	}
}

// TestClassify_LatestKindWinsSeenKeepsAll: the event's type is a status
// change over a comment over a creation in the window; what happened
// before the window does not count; Seen lists every kind, in that order.
func TestClassify_LatestKindWinsSeenKeepsAll(t *testing.T) {
	before, in := t0.Add(-time.Minute), t0.Add(time.Minute)
	tests := []struct {
		name     string
		created  time.Time
		status   bool
		comments []time.Time
		typ      core.EventType
		seen     []core.EventType
	}{
		{"nothing in the window", before, false, []time.Time{before}, core.Updated, []core.EventType{core.Updated}},
		{"no creation time", time.Time{}, false, nil, core.Updated, []core.EventType{core.Updated}},
		{"created", t0, false, nil, core.Created, []core.EventType{core.Created}},
		{"created and commented", in, false, []time.Time{before, in}, core.Commented, []core.EventType{core.Created, core.Commented}},
		{"everything", in, true, []time.Time{in}, core.StatusChange, []core.EventType{core.Created, core.StatusChange, core.Commented}},
		{"moved only", before, true, []time.Time{before}, core.StatusChange, []core.EventType{core.StatusChange}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := core.Event{}
			for _, at := range tc.comments {
				ev.Item.Comments = append(ev.Item.Comments, core.Comment{CreatedAt: at})
			}
			Classify(&ev, t0, tc.created, tc.status)
			if ev.Type != tc.typ || !slices.Equal(ev.Item.Seen, tc.seen) {
				t.Fatalf("type %s, seen %v; want %s, %v", ev.Type, ev.Item.Seen, tc.typ, tc.seen)
			}
		})
	}
}

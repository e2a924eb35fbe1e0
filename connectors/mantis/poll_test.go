package mantis

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/mantis/fake"
	"github.com/liaisonhq/liaison/core"
)

// TestPollReadsEveryChangeOnceAcrossPages: five issues changed since the
// cursor, two per page, newest first; the scan returns each once, skips
// the project that is not ours, and the next poll re-reads the overlap
// without reporting anything again.
func TestPollReadsEveryChangeOnceAcrossPages(t *testing.T) {
	e := newEnv(t, envOpts{})
	cur := e.conn.CursorAt(e.clock.Now())
	var want []string
	for i := range 5 {
		e.clock.Add(time.Minute)
		want = append(want, strconv.Itoa(e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "bug " + strconv.Itoa(i)})))
		e.fake.AddIssue(fake.IssueSpec{Project: projOther, Summary: "not ours"})
	}
	evs, cur := e.pollAll(cur)
	got := ids(evs)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("polled %v; want %v", got, want)
	}
	for _, ev := range evs {
		if ev.Type != core.Created || ev.Via != core.ViaPoll || ev.DeliveryID != ev.Item.Ref.String()+"@"+ev.Item.UpdatedAt.Format(time.RFC3339Nano) {
			t.Fatalf("event %+v", ev)
		}
	}
	e.clock.Add(30 * time.Second)
	again, _ := e.pollAll(cur)
	if len(again) != 0 {
		t.Fatalf("the overlap re-read reported %v again", ids(again))
	}
}

// TestPollStopsPagingPastTheCursor: a hundred issues older than the cursor
// lie below the one new change; the poll reads one page and stops.
func TestPollStopsPagingPastTheCursor(t *testing.T) {
	e := newEnv(t, envOpts{})
	for range 100 {
		e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "old"})
	}
	e.clock.Add(time.Hour)
	cur := e.conn.CursorAt(e.clock.Now())
	e.clock.Add(time.Minute)
	id := e.fake.AddIssue(fake.IssueSpec{Project: projMisc, Summary: "new"})
	e.calls()
	evs, _ := e.pollAll(cur)
	if got := ids(evs); !slices.Equal(got, []string{strconv.Itoa(id)}) {
		t.Fatalf("polled %v; want only %d", got, id)
	}
	if calls := e.calls(); len(calls) != 1 {
		t.Fatalf("calls %v; want one page read", calls)
	}
}

// TestPollCursorHoldsUntilTheScanEnds: the list is newest first, so the
// cursor handed back after the first page must not move its time: a crash
// before the older pages are read would skip them. Polling again from the
// cursor stored before the page re-reads it, never skips.
func TestPollCursorHoldsUntilTheScanEnds(t *testing.T) {
	e := newEnv(t, envOpts{})
	start := e.conn.CursorAt(e.clock.Now())
	for range 3 {
		e.clock.Add(time.Minute)
		e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "b"})
	}
	first, mid, more, err := e.conn.Poll(context.Background(), start)
	if err != nil || !more {
		t.Fatalf("more %v, err %v; want a second page", more, err)
	}
	var c0, c1 cursor
	_ = json.Unmarshal([]byte(start), &c0)
	_ = json.Unmarshal([]byte(mid), &c1)
	if !c1.Since.Equal(c0.Since) || c1.Scan == nil || c1.Scan.Page != 2 {
		t.Fatalf("mid-scan cursor %s; want the old since and page 2", mid)
	}
	// The process dies here: mid is never stored. The next poll starts over.
	again, _, _, err := e.conn.Poll(context.Background(), start)
	if err != nil || !slices.Equal(ids(again), ids(first)) || again[0].DeliveryID != first[0].DeliveryID {
		t.Fatalf("re-poll %v (err %v); want %v with the same delivery ids", ids(again), err, ids(first))
	}
	rest, end := e.pollAll(mid)
	if len(first)+len(rest) != 3 {
		t.Fatalf("scan read %v then %v; want three issues", ids(first), ids(rest))
	}
	var c2 cursor
	_ = json.Unmarshal([]byte(end), &c2)
	if !c2.Since.Equal(e.clock.Now()) || c2.Scan != nil {
		t.Fatalf("final cursor %s; want since at the newest update", end)
	}
}

// TestPollOverlapCatchesALateWrite: an issue whose update time is older
// than the cursor (a write that committed late) is still read when it is
// within poll_overlap, and missed only beyond it.
func TestPollOverlapCatchesALateWrite(t *testing.T) {
	e := newEnv(t, envOpts{})
	cur := e.conn.CursorAt(e.clock.Now())
	e.clock.Add(10 * time.Minute)
	e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "first"})
	_, cur = e.pollAll(cur)
	e.clock.Add(-90 * time.Second) // within the 2m overlap
	late := e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "late"})
	e.clock.Add(-5 * time.Minute) // beyond it
	e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "too late"})
	evs, _ := e.pollAll(cur)
	if got := ids(evs); !slices.Equal(got, []string{strconv.Itoa(late)}) {
		t.Fatalf("polled %v; want the late write %d", got, late)
	}
}

// TestPollEventTypes: a status change (from the history), a note and a
// plain edit each give their event type, with the status change's from
// and to.
func TestPollEventTypes(t *testing.T) {
	e := newEnv(t, envOpts{})
	a := e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "a"})
	b := e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "b"})
	c := e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "c"})
	e.clock.Add(time.Hour)
	cur := e.conn.CursorAt(e.clock.Now())
	e.clock.Add(time.Minute)
	e.fake.Update(a, func(i *fake.Issue) { i.Status = "confirmed" })
	e.fake.AddNote(b, e.dev, "Reproduced on 4.2.", true)
	e.fake.Update(c, func(i *fake.Issue) { i.Summary = "c, reworded" })
	evs, _ := e.pollAll(cur)
	byID := map[string]core.Event{}
	for _, ev := range evs {
		byID[ev.Item.Ref.ID] = ev
	}
	if ev := byID[strconv.Itoa(a)]; ev.Type != core.StatusChange || len(ev.Changes) != 1 || ev.Changes[0] != (core.Change{Field: "status", From: "new", To: "confirmed"}) || ev.Item.Native != "confirmed" {
		t.Fatalf("status change event %+v", ev)
	}
	ev := byID[strconv.Itoa(b)]
	if ev.Type != core.Commented || len(ev.Item.Comments) != 1 || ev.Item.Comments[0].Public || ev.Item.Comments[0].Author != "dana@acme.example" {
		t.Fatalf("note event %+v", ev)
	}
	if ev := byID[strconv.Itoa(c)]; ev.Type != core.Updated || ev.Item.Title != "c, reworded" {
		t.Fatalf("edit event %+v", ev)
	}
}

// TestPollRefusesAForeignCursor: a cursor of another version is an error,
// not a silent restart.
func TestPollRefusesAForeignCursor(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, s := range []string{`{"v":2}`, `not json`, `{"v":1,"scan":{"page":0}}`} {
		if _, next, _, err := e.conn.Poll(context.Background(), s); err == nil || next != s {
			t.Errorf("cursor %q: err %v, next %q; want an error and the cursor kept", s, err, next)
		}
	}
}

// TestPollCursorStaysBehindOurClock: an issue stamped an hour ahead (the
// Mantis server's clock runs fast) does not carry the cursor past our
// clock, so a change made after it, stamped earlier, is still read.
func TestPollCursorStaysBehindOurClock(t *testing.T) {
	e := newEnv(t, envOpts{})
	cur := e.conn.CursorAt(e.clock.Now())
	e.clock.Add(time.Hour)
	e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "from the future"})
	e.clock.Add(-59 * time.Minute)
	_, cur = e.pollAll(cur)
	e.clock.Add(30 * time.Second)
	later := e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "made later"})
	evs, _ := e.pollAll(cur)
	if !slices.Contains(ids(evs), strconv.Itoa(later)) {
		t.Fatalf("polled %v; want %d", ids(evs), later)
	}
}

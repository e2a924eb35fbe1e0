package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// TestPaused_NoWritesUntilResumeThenOnce: while an admin has paused a
// record (or its whole case), events about the case are still stored but
// nothing is written to it (or for the case at all); after the resume the
// case is planned again and every due write happens once, ending where a
// run without the pause ends.
func TestPaused_NoWritesUntilResumeThenOnce(t *testing.T) {
	ticket := story0
	for _, c := range []struct {
		name  string
		whole bool
	}{
		{"record", false},
		{"whole case", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			unpaused := newWorld(t, defaults(t))
			unpaused.submit(t, story(t, unpaused)...)
			unpaused.drain(t)
			unpaused.drain(t)

			w := newWorld(t, defaults(t))
			evs := story(t, w)
			w.submit(t, evs[:2]...) // the tickets exist, nothing reconciled yet
			if added, err := w.st.Pause(ctx, store.Pause{Ref: ticket, Whole: c.whole, By: "grace", Reason: "migration"}); err != nil || !added {
				t.Fatalf("Pause = %v, %v", added, err)
			}
			held := func(wr core.Ref) bool { return c.whole || wr == ticket }
			for _, batch := range [][]core.Event{nil, evs[2:5], evs[5:]} {
				w.submit(t, batch...)
				w.drain(t)
				for name, s := range w.sys {
					for _, wr := range s.Writes() {
						if held(wr.Target) {
							t.Fatalf("while paused, %s got write %s (%s) to %s", name, wr.Key, wr.Kind, wr.Target)
						}
					}
				}
			}
			it, err := w.st.Item(ctx, ticket)
			if err != nil || len(it.Comments) != 1 || it.Comments[0].Author != "ada@customer.example" {
				t.Fatalf("while paused, the ticket's comment was not stored: %+v, %v", it, err)
			}

			if found, err := w.st.Resume(ctx, ticket, c.whole, "grace"); err != nil || !found {
				t.Fatalf("Resume = %v, %v", found, err)
			}
			w.drain(t)
			toTicket := 0
			for _, s := range w.sys {
				for _, wr := range s.Writes() {
					if wr.Target == ticket {
						toTicket++
					}
				}
			}
			if toTicket == 0 {
				t.Error("after resume, nothing was written to the ticket")
			}
			keys := w.writeKeys()
			w.drain(t)
			if again := w.writeKeys(); len(again) != len(keys) {
				t.Errorf("a second reconcile wrote %d more times", len(again)-len(keys))
			}
			if d := duplicates(keys); len(d) > 0 {
				t.Errorf("written twice: %v", d)
			}
			if got, want := w.state(), unpaused.state(); got != want {
				t.Errorf("after resume the systems hold\n%s\nwant (as without the pause)\n%s", got, want)
			}
		})
	}
}

// TestPaused_APendingActionWaitsForTheResume: an action already in the
// outbox when its record is paused is not applied (nor dead-lettered)
// while paused, and the case does not come back at once for it; after the
// resume it is applied once.
func TestPaused_APendingActionWaitsForTheResume(t *testing.T) {
	ctx := context.Background()
	// No rules: nothing else (a response-time target) makes the case due
	// later, so only the pause's recheck keeps it from coming back at once.
	w := newWorld(t, &core.Mappings{})
	evs := story(t, w)
	w.submit(t, evs[:2]...)
	w.drain(t)
	c, err := w.st.CaseOf(ctx, story0)
	if err != nil {
		t.Fatal(err)
	}
	note := core.Action{Key: "by-hand-note", Case: c, Rule: "by-hand", Kind: core.AddComment, Target: story0, Subject: story0, Body: "note"}
	if _, err := w.st.Enqueue(ctx, []core.Action{note}); err != nil {
		t.Fatal(err)
	}
	// As a reconcile leaves what it planned and did not try: known never
	// sent, so tried without waiting out another attempt's grace.
	if err := w.st.Sending(ctx, note.Key, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.Pause(ctx, store.Pause{Ref: story0, By: "grace"}); err != nil {
		t.Fatal(err)
	}
	// Something touches the case, so that it is reconciled while paused.
	if err := w.st.MarkDirty(ctx, c, time.Time{}); err != nil {
		t.Fatal(err)
	}
	written := func() int {
		n := 0
		for _, wr := range w.sys["zendesk"].Writes() {
			if wr.Key == note.Key {
				n++
			}
		}
		return n
	}
	// Claimed by hand: a Drain would never end if the case came back at
	// once.
	for _, step := range []struct {
		wait time.Duration
		due  bool
	}{
		{time.Second, true},   // marked dirty
		{time.Second, false},  // not back at once for the pending action
		{pausedRecheck, true}, // looked at again later
		{time.Second, false},
	} {
		w.clock.Add(step.wait)
		ids, err := w.st.ClaimCases(ctx, w.eng.o.Owner, w.clock.Now(), 10, w.eng.o.Lease)
		if err != nil {
			t.Fatal(err)
		}
		if due := slices.Equal(ids, []core.CaseID{c}); due != step.due || (!due && len(ids) > 0) {
			t.Fatalf("%v on, claimed %v; want case %d due: %v", step.wait, ids, c, step.due)
		}
		w.eng.ReconcileAll(ctx, ids)
	}
	if written() != 0 {
		t.Fatal("the pending action was applied while its record was paused")
	}
	if pending, err := w.st.Actions(ctx, c, core.Pending); err != nil || len(pending) != 1 || pending[0].Key != note.Key {
		t.Fatalf("while paused the outbox holds %v, %v; want the note pending", pending, err)
	}
	if _, err := w.st.Resume(ctx, story0, false, "grace"); err != nil {
		t.Fatal(err)
	}
	w.drain(t)
	w.drain(t)
	if n := written(); n != 1 {
		t.Errorf("after resume the note was written %d times, want 1", n)
	}
}

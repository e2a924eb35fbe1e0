package engine

import (
	"context"
	"testing"

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

package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store/storetest"
)

func TestPause_HoldsFollowTheCaseAndResumeMarksItDirty(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, clock *testClock) {
		storetest.Story(t, s, workloadEpoch)
		ctx := context.Background()
		ticket, stray, issue := storetest.StoryTicket, storetest.Stray, storetest.StoryIssue
		holds := func(r core.Ref) []string {
			t.Helper()
			c, err := s.CaseOf(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := s.Paused(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, p := range ps {
				if p.Case != c {
					t.Errorf("hold %+v is given case %d, want %d", p, p.Case, c)
				}
				out = append(out, fmt.Sprintf("%s whole=%v by %s at %s: %s", p.Ref, p.Whole, p.By, p.At.UTC().Format(time.RFC3339), p.Reason))
			}
			return out
		}
		for _, c := range []struct {
			p         Pause
			wantAdded bool
		}{
			{Pause{Ref: ticket, By: "grace", Reason: "customer migration"}, true},
			{Pause{Ref: ticket, By: "alan", Reason: "again"}, false}, // the first hold is kept
			{Pause{Ref: issue, Whole: true, By: "alan"}, true},
		} {
			added, err := s.Pause(ctx, c.p)
			if err != nil || added != c.wantAdded {
				t.Fatalf("Pause(%+v) = %v, %v; want %v", c.p, added, err, c.wantAdded)
			}
		}
		if _, err := s.Pause(ctx, Pause{Ref: core.Ref{System: "jira", Kind: "dev_ticket", ID: "NOPE-1"}, By: "grace"}); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("pausing an unknown record: %v, want ErrNotFound", err)
		}
		at := workloadEpoch.UTC().Format(time.RFC3339)
		want := []string{
			issue.String() + " whole=true by alan at " + at + ": ",
			ticket.String() + " whole=false by grace at " + at + ": customer migration",
		}
		slices.Sort(want)
		if got := holds(ticket); !slices.Equal(got, want) {
			t.Errorf("holds = %q, want %q", got, want)
		}
		if got := holds(stray); len(got) != 0 {
			t.Errorf("the stray ticket's own case is held: %q", got)
		}
		// Joined to the held case, the stray ticket is held with it.
		if err := s.LinkByHand(ctx, core.Link{From: stray, To: issue, Role: core.DuplicateOf}, "grace"); err != nil {
			t.Fatal(err)
		}
		c, _ := s.CaseOf(ctx, stray)
		cases, records, err := s.PausedIn(ctx, []core.CaseID{c})
		if err != nil || !cases[c] || !records[ticket] || records[stray] || len(records) != 1 {
			t.Errorf("PausedIn(%d) = %v, %v, %v; want the case whole and the ticket", c, cases, records, err)
		}

		// Drain the queue: a resume must make the case due again by itself.
		if _, err := s.ClaimCases(ctx, "w", clock.now, 100, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseCase(ctx, c, "w", time.Time{}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			ref       core.Ref
			whole     bool
			wantFound bool
			wantLeft  int
		}{
			{ticket, false, true, 1},
			{ticket, false, false, 1},
			{stray, true, true, 0}, // any record of the case ends the case's hold
			{stray, true, false, 0},
		} {
			found, err := s.Resume(ctx, r.ref, r.whole, "grace")
			if err != nil || found != r.wantFound {
				t.Fatalf("Resume(%s, whole=%v) = %v, %v; want %v", r.ref, r.whole, found, err, r.wantFound)
			}
			if got := holds(ticket); len(got) != r.wantLeft {
				t.Errorf("after Resume(%s, whole=%v) holds = %q, want %d", r.ref, r.whole, got, r.wantLeft)
			}
			claimed, err := s.ClaimCases(ctx, "w", clock.now, 100, time.Minute)
			if err != nil || slices.Contains(claimed, c) != r.wantFound {
				t.Errorf("after Resume(%s, whole=%v) claimed %v, %v; want case %d due: %v", r.ref, r.whole, claimed, err, c, r.wantFound)
			}
			for _, id := range claimed {
				if err := s.ReleaseCase(ctx, id, "w", time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		var kinds []string
		for _, r := range []core.Ref{ticket, issue, stray} {
			es, err := s.Audit(ctx, r, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Kind == "pause" || e.Kind == "resume" {
					kinds = append(kinds, e.Detail)
				}
			}
		}
		slices.Sort(kinds)
		wantAudit := []string{
			"alan paused sync of the case of " + issue.String(),
			"grace paused sync of " + ticket.String() + ": customer migration",
			"grace resumed sync of " + ticket.String(),
			"grace resumed sync of the case of " + stray.String(),
		}
		slices.Sort(wantAudit)
		if !slices.Equal(kinds, wantAudit) {
			t.Errorf("audit = %q, want %q", kinds, wantAudit)
		}
	})
}

// BenchmarkPausedIn is the read each reconcile pass adds: the pauses of a
// batch of 64 cases, one of them paused.
func BenchmarkPausedIn(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(testing.TB, core.Clock) *Store
	}{{"sqlite", openSQLiteTest}, {"postgres", openPostgresTest}} {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b, &testClock{now: workloadEpoch})
			storetest.Story(b, s, workloadEpoch)
			ctx := context.Background()
			if _, err := s.Pause(ctx, Pause{Ref: storetest.StoryTicket, By: "grace"}); err != nil {
				b.Fatal(err)
			}
			c, _ := s.CaseOf(ctx, storetest.StoryTicket)
			ids := []core.CaseID{c}
			for i := range 63 {
				ids = append(ids, c+core.CaseID(i+1))
			}
			for b.Loop() {
				if _, records, err := s.PausedIn(ctx, ids); err != nil || !records[storetest.StoryTicket] {
					b.Fatalf("PausedIn = %v, %v", records, err)
				}
			}
		})
	}
}

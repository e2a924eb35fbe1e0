package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
)

func errorsIsNotFound(err error) bool { return errors.Is(err, core.ErrNotFound) }

var queueBehaviours = []behaviour{
	{"Claim_DueCasesComeOldestFirst", func(f *fixture) {
		var ids []core.CaseID
		for _, r := range []core.Ref{ticket, dev, pr} {
			f.ingest(event(r.System, "d-"+r.ID, snap(r, "x", "open", at(0))))
			ids = append(ids, f.caseOf(r))
			f.clock.Advance(time.Second)
		}
		if got := f.claim("w1", 2); !slices.Equal(got, ids[:2]) {
			f.t.Fatalf("claimed %v, want the two oldest %v", got, ids[:2])
		}
		f.wantDue("w2", ids[2])
	}},

	{"Claim_AClaimedCaseIsNotHandedOutTwice", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "x", "open", at(0))))
		id := f.caseOf(ticket)
		f.wantDue("w1", id)
		f.wantDue("w2")
		// New dirtiness while claimed does not hand it out either.
		f.ingest(event("zendesk", "d2", snap(ticket, "y", "open", at(time.Minute))))
		if err := f.s.MarkDirty(f.ctx, id, time.Time{}); err != nil {
			f.t.Fatal(err)
		}
		f.wantDue("w2")
		f.release(id, "w1", time.Time{})
		f.wantDue("w2", id)
	}},

	{"Claim_DirtinessWhileClaimedCollapsesIntoOneMoreRun", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "x", "open", at(0))))
		id := f.caseOf(ticket)
		f.wantDue("w1", id)
		for i := range 3 {
			f.ingest(event("zendesk", fmt.Sprint("again", i), snap(ticket, "x", "open", at(time.Duration(i+1)*time.Minute))))
		}
		f.release(id, "w1", time.Time{})
		if cases, _ := f.depth(); cases != 1 {
			f.t.Fatalf("queue holds %d cases, want the one", cases)
		}
		f.wantDue("w2", id)
		f.release(id, "w2", time.Time{})
		if cases, _ := f.depth(); cases != 0 {
			f.t.Fatalf("queue holds %d cases after a clean run, want 0", cases)
		}
		f.wantDue("w3")
	}},

	{"Claim_RetryAtSchedulesTheNextRun", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "x", "open", at(0))))
		id := f.caseOf(ticket)
		f.wantDue("w1", id)
		f.release(id, "w1", f.clock.Now().Add(time.Minute))
		f.wantDue("w1")
		f.clock.Advance(59 * time.Second)
		f.wantDue("w1")
		f.clock.Advance(time.Second)
		f.wantDue("w1", id)
	}},

	{"Claim_DirtinessBeatsALaterRetry", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "x", "open", at(0))))
		id := f.caseOf(ticket)
		f.wantDue("w1", id)
		f.ingest(event("zendesk", "d2", snap(ticket, "y", "open", at(time.Minute))))
		f.release(id, "w1", f.clock.Now().Add(time.Hour))
		f.wantDue("w2", id)
	}},

	{"Claim_AnExpiredLeaseIsClaimedAgain", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "x", "open", at(0))))
		id := f.caseOf(ticket)
		f.wantDue("w1", id) // lease: one minute
		f.clock.Advance(59 * time.Second)
		f.wantDue("w2")
		f.clock.Advance(time.Second)
		f.wantDue("w2", id)
		// The first worker's late release no longer holds anything.
		f.release(id, "w1", time.Time{})
		f.wantDue("w3")
		f.release(id, "w2", time.Time{})
		if cases, _ := f.depth(); cases != 0 {
			f.t.Fatalf("queue holds %d cases, want 0", cases)
		}
	}},

	{"Release_ACaseWithPendingActionsStaysQueued", func(f *fixture) {
		id := f.linked()
		f.wantDue("w1", id)
		// Enqueued under the claim by a worker the releaser did not
		// know of (a join can hand a case to two workers of one owner).
		f.enqueue(comment("a", id))
		f.release(id, "w1", time.Time{})
		f.wantDue("w2", id)
		// Not due before its next attempt.
		if err := f.s.Fail(f.ctx, "a", "503 from the tracker", f.clock.Now().Add(time.Hour), false); err != nil {
			f.t.Fatal(err)
		}
		f.release(id, "w2", time.Time{})
		f.wantDue("w3")
		f.clock.Advance(time.Hour)
		f.wantDue("w3", id)
		// Done: the release lets it go.
		if err := f.s.Complete(f.ctx, f.actions(id, core.Pending)[0], core.Result{CommentID: "9"}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		f.release(id, "w3", time.Time{})
		if cases, actions := f.depth(); cases != 0 || actions != 0 {
			f.t.Fatalf("queue holds %d cases and %d pending actions after the action was done, want 0 and 0", cases, actions)
		}
	}},

	{"MarkDirty_ATimerIsNotDueEarly", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "x", "open", at(0))))
		id := f.caseOf(ticket)
		f.drain()
		if err := f.s.MarkDirty(f.ctx, id, f.clock.Now().Add(time.Hour)); err != nil {
			f.t.Fatal(err)
		}
		f.wantDue("w1")
		// An earlier mark brings it forward; a later one does not push it back.
		if err := f.s.MarkDirty(f.ctx, id, f.clock.Now().Add(10*time.Minute)); err != nil {
			f.t.Fatal(err)
		}
		if err := f.s.MarkDirty(f.ctx, id, f.clock.Now().Add(2*time.Hour)); err != nil {
			f.t.Fatal(err)
		}
		f.clock.Advance(10 * time.Minute)
		f.wantDue("w1", id)
	}},

	{"Claim_AJoinWhileClaimedKeepsTheClaim", func(f *fixture) {
		// The claimed case is the smaller one, so it is the one joined away.
		f.ingest(event("zendesk", "z1", snap(ticket, "x", "open", at(0))))
		small := f.caseOf(ticket)
		f.wantDue("w1", small)
		f.ingest(event("jira", "j1", snap(dev, "y", "To Do", at(0)), core.Link{From: dev, To: dev2, Role: core.DuplicateOf}))
		big := f.caseOf(dev)
		f.ingest(event("zendesk", "z2", snap(ticket, "x", "open", at(time.Minute)), core.Link{From: ticket, To: dev, Role: core.EscalatedTo}))
		if got := f.sameCase(ticket, dev, dev2); got != big {
			f.t.Fatalf("joined case = %d, want the larger %d", got, big)
		}
		// w1 loaded the ticket's case; nobody else may act on the ticket
		// until w1 lets go, though the joined case is dirty.
		f.wantDue("w2")
		f.release(small, "w1", time.Time{})
		f.wantDue("w2", big)
	}},

	{"Claim_AJoinOfTwoClaimedCasesWaitsForBothLeases", func(f *fixture) {
		a, b, id := f.joinTwoClaims(0)
		f.release(a, "w1", time.Time{})
		f.release(b, "w2", time.Time{})
		f.wantDue("w3")
		f.clock.Advance(time.Minute)
		f.wantDue("w3", id)
	}},

	{"Claim_AJoinOfTwoClaimsIsFreeOnceTheLaterOwnerReleasedAndTheEarlierLeaseEnded", func(f *fixture) {
		// As after a crash: w1's claim is a dead worker's, still running;
		// w2 claimed the other case later, and finished. The joined case
		// waits for w1's lease, not for w2's.
		_, b, id := f.joinTwoClaims(30 * time.Second)
		f.clock.Advance(31 * time.Second) // w1's lease is over, w2's is not
		f.wantDue("w3")
		f.release(b, "w2", time.Time{})
		f.wantDue("w3", id)
	}},

	{"Claim_AJoinOfTwoClaimsWaitsForTheEarlierLeaseAfterTheLaterOwnerReleased", func(f *fixture) {
		_, b, id := f.joinTwoClaims(30 * time.Second)
		// w1 may still be working on the ticket it loaded.
		f.release(b, "w2", time.Time{})
		f.wantDue("w3")
		f.clock.Advance(31 * time.Second)
		f.wantDue("w3", id)
	}},

	{"Claim_AHeldLeaseOutlivesAReleaseThatSawEverything", func(f *fixture) {
		// w2 loads the joined case after the join, so its release finds
		// nothing new; the row must still hold w1's lease, or the next
		// mark would hand the ticket w1 loaded to a third worker.
		_, _, id := f.joinTwoClaims(30 * time.Second)
		if err := f.s.ReleaseCases(f.ctx, "w2", []core.Release{{Case: id, Seen: f.load(id).Marks}}); err != nil {
			f.t.Fatal(err)
		}
		f.ingest(event("zendesk", "z3", snap(ticket, "x", "pending", at(2*time.Minute))))
		f.wantDue("w3")
		f.clock.Advance(31 * time.Second)
		f.wantDue("w3", id)
	}},

	{"Claim_ASplitOffPartWaitsForTheLease", func(f *fixture) {
		in := event("github", "g1", snap(pr, "KBOT-88", "open", at(0)))
		in.Discovered = discovered(pr, dev)
		f.ingest(in)
		id := f.sameCase(pr, dev)
		f.wantDue("w1", id)
		in = event("github", "g2", snap(pr, "none", "open", at(time.Minute)))
		in.Discovered = []core.Link{}
		f.ingest(in)
		a, b := f.caseOf(pr), f.caseOf(dev)
		if a == b {
			f.t.Fatal("no split")
		}
		split := a
		if a == id {
			split = b
		}
		// w1 loaded both records with the case; the part split off it
		// must wait until w1's lease is over.
		f.wantDue("w2")
		f.release(id, "w1", time.Time{})
		f.wantDue("w2", id)
		f.release(id, "w2", time.Time{})
		f.clock.Advance(time.Minute)
		f.wantDue("w3", split)
	}},

	{"Claim_ConcurrentClaimersNeverShareACase", func(f *fixture) {
		const cases = 40
		batch := make([]core.Ingest, cases)
		for i := range batch {
			r := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: fmt.Sprint(i)}
			batch[i] = event("zendesk", fmt.Sprint("d", i), snap(r, "x", "open", at(0)))
		}
		f.ingest(batch...)
		var (
			mu  sync.Mutex
			got = map[core.CaseID]string{}
			wg  sync.WaitGroup
			bad []string
		)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprint("w", w)
				for {
					ids, err := f.s.ClaimCases(f.ctx, owner, f.clock.Now(), 3, time.Minute)
					if err != nil {
						mu.Lock()
						bad = append(bad, err.Error())
						mu.Unlock()
						return
					}
					if len(ids) == 0 {
						return
					}
					mu.Lock()
					for _, id := range ids {
						if prev, dup := got[id]; dup {
							bad = append(bad, fmt.Sprintf("case %d claimed by %s and %s", id, prev, owner))
						}
						got[id] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(bad) > 0 {
			f.t.Fatal(bad)
		}
		if len(got) != cases {
			f.t.Fatalf("claimed %d cases, want %d", len(got), cases)
		}
	}},

	{"QueueDepth_CountsQueuedCasesAndPendingActions", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "x", "open", at(0))), event("jira", "d2", snap(dev, "y", "To Do", at(0))))
		id := f.caseOf(ticket)
		f.enqueue(
			core.Action{Key: "a", Case: id, Kind: core.AddComment, Target: ticket, Subject: ticket},
			core.Action{Key: "b", Case: id, Kind: core.AddComment, Target: ticket, Subject: ticket},
		)
		if err := f.s.Fail(f.ctx, "b", "boom", time.Time{}, true); err != nil {
			f.t.Fatal(err)
		}
		if c, a := f.depth(); c != 2 || a != 1 {
			f.t.Fatalf("QueueDepth = %d cases, %d actions; want 2, 1", c, a)
		}
	}},
}

package storetest

import (
	"context"
	"slices"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// The batch methods a worker uses for a whole claim: one read, one record
// of the writes, one release.
var batchBehaviours = []behaviour{
	{"LoadCases_InTheOrderAsked", func(f *fixture) {
		f.ingest(event("zendesk", "z1", snap(ticket, "a", "open", at(0))))
		f.ingest(event("jira", "j1", snap(dev, "b", "To Do", at(0))))
		a, b := f.caseOf(ticket), f.caseOf(dev)
		cs, err := f.s.LoadCases(f.ctx, []core.CaseID{b, 999_999, a})
		if err != nil {
			f.t.Fatal(err)
		}
		if len(cs) != 3 {
			f.t.Fatalf("LoadCases returned %d cases for 3 ids", len(cs))
		}
		if cs[0].ID != b || !slices.Equal(refs(cs[0]), []core.Ref{dev}) {
			f.t.Fatalf("first case = %d %v, want %d [%s]", cs[0].ID, refs(cs[0]), b, dev)
		}
		if cs[1].ID != 999_999 || len(cs[1].Items) != 0 {
			f.t.Fatalf("an unknown case loaded as %d with %d records, want empty", cs[1].ID, len(cs[1].Items))
		}
		if cs[2].ID != a || !slices.Equal(refs(cs[2]), []core.Ref{ticket}) {
			f.t.Fatalf("last case = %d %v, want %d [%s]", cs[2].ID, refs(cs[2]), a, ticket)
		}
	}},

	{"CompleteAll_OneThatCannotBeRecordedFailsAlone", func(f *fixture) {
		id := f.linked()
		a, b, c := comment("a", id), comment("b", id), comment("c", id)
		f.enqueue(a, b, c)
		// A snapshot that cannot be encoded fails b after its outbox row
		// was already marked done inside the transaction.
		bad := core.Item{Ref: dev, Title: "Crash", Native: "In Progress", UpdatedAt: time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC)}
		errs := f.s.CompleteAll(f.ctx, []core.Completion{
			{Action: a, Result: core.Result{CommentID: "1"}},
			{Action: b, Result: core.Result{CommentID: "2", Item: &bad}},
			{Action: c, Result: core.Result{CommentID: "3"}},
		})
		if len(errs) != 3 || errs[0] != nil || errs[1] == nil || errs[2] != nil {
			f.t.Fatalf("CompleteAll errors = %v, want only the second", errs)
		}
		if got := keys(f.actions(id, core.Done)); !slices.Equal(got, []string{"a", "c"}) {
			f.t.Fatalf("done = %v, want [a c]", got)
		}
		if got := keys(f.actions(id, core.Pending)); !slices.Equal(got, []string{"b"}) {
			f.t.Fatalf("pending = %v, want [b]: its half-recorded completion must roll back", got)
		}
		if st := f.item(dev).Native; st != "To Do" {
			f.t.Fatalf("dev ticket status = %q: the failed completion's snapshot was kept", st)
		}
		c2 := f.load(id)
		if c2.Mirrors[core.MirrorKey(ticket, "c-a", dev)] != "1" || c2.Mirrors[core.MirrorKey(ticket, "c-c", dev)] != "3" {
			f.t.Fatalf("mirrors = %v, want those of a and c", c2.Mirrors)
		}
		if _, ok := c2.Mirrors[core.MirrorKey(ticket, "c-b", dev)]; ok {
			f.t.Fatal("the failed completion's mirror was kept")
		}
		if audited := f.audited(dev); !slices.Equal(audited, []string{"a", "c"}) {
			f.t.Fatalf("audited = %v, want [a c]", audited)
		}
	}},

	{"CompleteRelease_ReleasesACaseTheCompletionsAloneChanged", func(f *fixture) {
		id, c, a := f.claimedWithComment()
		moved := snap(dev, "Crash", "In Progress", at(time.Minute))
		errs, made := f.completeRelease(id, c, core.Completion{Action: a, Result: core.Result{CommentID: "1", Item: &moved}})
		if errs[0] != nil || len(made) != 1 || made[0].Case != id {
			f.t.Fatalf("CompleteRelease = %v, %+v; want the completion recorded and the case released", errs, made)
		}
		if made[0].Seen != c.Marks+1 {
			f.t.Fatalf("released with Seen %d, want the load's %d and the completion's own mark", made[0].Seen, c.Marks)
		}
		if st := f.item(dev).Native; st != "In Progress" {
			f.t.Fatalf("dev ticket status = %q, want the completion's snapshot", st)
		}
		// Released: no longer claimed, and not queued again for the
		// completion's own mark.
		f.wantDue("w2")
		// Another event queues it as usual.
		f.ingest(event("zendesk", "z9", snap(ticket, "Login fails", "pending", at(time.Hour))))
		f.wantDue("w2", id)
	}},

	{"CompleteRelease_KeepsTheClaimOfACaseChangedMeanwhile", func(f *fixture) {
		id, c, a := f.claimedWithComment()
		f.ingest(event("zendesk", "z2", snap(ticket, "Login fails", "pending", at(time.Minute))))
		errs, made := f.completeRelease(id, c, core.Completion{Action: a, Result: core.Result{CommentID: "1"}})
		if errs[0] != nil || len(made) != 0 {
			f.t.Fatalf("CompleteRelease = %v, %+v; want the completion recorded and the case kept claimed", errs, made)
		}
		if got := keys(f.actions(id, core.Done)); !slices.Equal(got, []string{"a"}) {
			f.t.Fatalf("done = %v, want [a]", got)
		}
		f.wantDue("w2") // still w's
		f.release(id, "w", time.Time{})
		f.wantDue("w2", id) // marked since w's load: due again
	}},

	{"CompleteRelease_KeepsTheClaimOfACaseACompletionAddedTo", func(f *fixture) {
		id, c, a := f.claimedWithComment()
		esc := core.Action{Key: "escalate", Case: id, Rule: "escalate", Kind: core.Create, Target: core.Ref{System: "jira", Kind: core.DevTicket},
			Subject: ticket, Role: core.EscalatedTo}
		f.enqueue(esc)
		made2 := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-90"}
		errs, made := f.completeRelease(id, c, core.Completion{Action: a, Result: core.Result{CommentID: "1"}},
			core.Completion{Action: esc, Result: core.Result{Created: made2}})
		if errs[0] != nil || errs[1] != nil || len(made) != 0 {
			f.t.Fatalf("CompleteRelease = %v, %+v; want both recorded and the case kept claimed", errs, made)
		}
		f.sameCase(ticket, dev, made2)
	}},

	{"CompleteRelease_KeepsTheClaimWhenACompletionFails", func(f *fixture) {
		id, c, a := f.claimedWithComment()
		b := comment("b", id)
		f.enqueue(b)
		bad := core.Item{Ref: dev, Title: "Crash", Native: "In Progress", UpdatedAt: time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC)}
		errs, made := f.completeRelease(id, c, core.Completion{Action: a, Result: core.Result{CommentID: "1"}},
			core.Completion{Action: b, Result: core.Result{CommentID: "2", Item: &bad}})
		if errs[0] != nil || errs[1] == nil || len(made) != 0 {
			f.t.Fatalf("CompleteRelease = %v, %+v; want the second failed and the case kept claimed", errs, made)
		}
		f.wantDue("w2")
	}},

	{"ReleaseCases_EachAsReleaseCaseWould", func(f *fixture) {
		var ids []core.CaseID
		for i, r := range []core.Ref{ticket, ticket2, dev, dev2} {
			f.ingest(event(r.System, key("d", i), snap(r, "x", "open", at(0))))
			ids = append(ids, f.caseOf(r))
		}
		if got := f.claim("w1", 3); len(got) != 3 {
			f.t.Fatalf("claimed %v, want 3 cases", got)
		}
		other := f.claim("w2", 1)
		// The ticket is marked dirty while claimed; ticket2 wants a
		// retry in an hour; dev is done.
		if err := f.s.MarkDirty(f.ctx, ids[0], time.Time{}); err != nil {
			f.t.Fatal(err)
		}
		retry := f.clock.Now().Add(time.Hour)
		err := f.s.ReleaseCases(f.ctx, "w1", []core.Release{
			{Case: ids[2]}, {Case: ids[0]}, {Case: ids[1], RetryAt: retry}, {Case: other[0]},
		})
		if err != nil {
			f.t.Fatal(err)
		}
		f.wantDue("w3", ids[0])
		if c, _ := f.depth(); c != 3 {
			f.t.Fatalf("queue holds %d cases, want 3 (the dirty one, the retry, and w2's claim)", c)
		}
		f.clock.Advance(2 * time.Hour)
		if got := f.claim("w3", 10); !slices.Contains(got, ids[1]) || slices.Contains(got, ids[2]) {
			f.t.Fatalf("after the retry time claimed %v, want %d and not %d", got, ids[1], ids[2])
		}
	}},

	{"ReleaseCases_MarksAlreadyPlannedFromDoNotRequeue", func(f *fixture) {
		f.ingest(event("zendesk", "z1", snap(ticket, "a", "open", at(0))))
		f.ingest(event("zendesk", "z2", snap(ticket2, "b", "open", at(0))))
		a, b := f.caseOf(ticket), f.caseOf(ticket2)
		if got := f.claim("w1", 2); len(got) != 2 {
			f.t.Fatalf("claimed %v", got)
		}
		// The owner's own writes mark both cases; it then loads them
		// again and plans from what it wrote.
		for _, id := range []core.CaseID{a, b} {
			if err := f.s.MarkDirty(f.ctx, id, time.Time{}); err != nil {
				f.t.Fatal(err)
			}
		}
		seenA, seenB := f.load(a).Marks, f.load(b).Marks
		if seenA == 0 || seenB == 0 {
			f.t.Fatal("a queued case loaded with no marks")
		}
		// b is marked once more after that load: an event the plan did
		// not see.
		if err := f.s.MarkDirty(f.ctx, b, time.Time{}); err != nil {
			f.t.Fatal(err)
		}
		if err := f.s.ReleaseCases(f.ctx, "w1", []core.Release{{Case: a, Seen: seenA}, {Case: b, Seen: seenB}}); err != nil {
			f.t.Fatal(err)
		}
		f.wantDue("w2", b)
	}},

	{"IngestClaim_ClaimsTheFreeCasesItMarks", func(f *fixture) {
		ic, ok := f.s.(interface {
			IngestClaim(ctx context.Context, batch []core.Ingest, owner string, lease time.Duration) ([]bool, []core.CaseID, error)
		})
		if !ok {
			f.t.Skip("this store does not claim at ingest")
		}
		f.ingest(event("zendesk", "z1", snap(ticket, "a", "open", at(0))))
		busy := f.caseOf(ticket)
		if got := f.claim("other", 10); !slices.Equal(got, []core.CaseID{busy}) {
			f.t.Fatalf("setup: claimed %v", got)
		}
		fresh, claimed, err := ic.IngestClaim(f.ctx, []core.Ingest{
			event("zendesk", "z2", snap(ticket, "a", "pending", at(time.Minute))),
			event("jira", "j1", snap(dev, "b", "To Do", at(0))),
		}, "w1", time.Minute)
		if err != nil {
			f.t.Fatal(err)
		}
		if !slices.Equal(fresh, []bool{true, true}) {
			f.t.Fatalf("fresh = %v", fresh)
		}
		free := f.caseOf(dev)
		if !slices.Equal(claimed, []core.CaseID{free}) {
			f.t.Fatalf("claimed %v at ingest, want only the free case %d (not %d, which other holds)", claimed, free, busy)
		}
		if got := f.claim("w2", 10); len(got) != 0 {
			f.t.Fatalf("cases %v could be claimed again while held", got)
		}
		// The busy case was marked while other held it: other's release
		// leaves it due, and w1's release of its own case ends its claim.
		f.release(busy, "other", time.Time{})
		f.release(free, "w1", time.Time{})
		f.wantDue("w2", busy)
	}},
}

// claimedWithComment stores a ticket escalated to a dev ticket, claims
// their case for "w", loads it and enqueues a comment action on it.
func (f *fixture) claimedWithComment() (core.CaseID, *core.Case, core.Action) {
	f.t.Helper()
	id := f.linked()
	f.wantDue("w", id)
	c := f.load(id)
	a := comment("a", id)
	f.enqueue(a)
	return id, c, a
}

// completeRelease records done and asks to release case id for "w" as
// loaded (c).
func (f *fixture) completeRelease(id core.CaseID, c *core.Case, done ...core.Completion) ([]error, []core.Release) {
	f.t.Helper()
	cr, ok := f.s.(interface {
		CompleteRelease(context.Context, string, []core.Completion, []core.Release) ([]error, []core.Release)
	})
	if !ok {
		f.t.Skip("the store has no CompleteRelease")
	}
	return cr.CompleteRelease(f.ctx, "w", done, []core.Release{{Case: id, Seen: c.Marks}})
}

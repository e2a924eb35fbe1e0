package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
)

var ingestBehaviours = []behaviour{
	{"EnqueueOnRead_StoresTheReadWithThePlanMadeOnIt", func(f *fixture) {
		rp := f.readPlanner()
		id, c := f.placeholderClaimed()
		added := []bool{true}
		fresh, outs := f.enqueueOnRead(rp, "fetch:1", core.PlannedCase{Case: id, Seen: c.Marks, OnRead: true, Actions: []core.Action{comment("a", id)}})
		if !fresh[0] || !outs[0].Stood || !slices.Equal(outs[0].Added, added) {
			f.t.Fatalf("EnqueueOnRead = %v, %+v; want the read new and the plan standing", fresh, outs)
		}
		if it := f.item(dev); it.Title != "Crash" || it.Native != "In Review" {
			f.t.Fatalf("read snapshot = %+v", it)
		}
		if got := keys(f.actions(id, core.Pending)); !slices.Equal(got, []string{"a"}) {
			f.t.Fatalf("pending = %v, want the planned action", got)
		}
		// Its Seen counts the read's own mark: released with it, the case
		// is not queued again for what the plan already saw.
		if outs[0].Seen != c.Marks+1 {
			f.t.Fatalf("Seen = %d, want the load's %d and the read's own mark", outs[0].Seen, c.Marks)
		}
		if err := f.s.ReleaseCases(f.ctx, "w", []core.Release{{Case: id, Seen: outs[0].Seen, RetryAt: at(time.Hour)}}); err != nil {
			f.t.Fatal(err)
		}
		f.wantDue("x")
	}},

	{"EnqueueOnRead_APlanOnACaseMarkedSinceItsLoadIsNotEnqueued", func(f *fixture) {
		id, c := f.placeholderClaimed()
		f.ingest(event("zendesk", "z2", snap(ticket, "Login fails", "pending", at(time.Minute))))
		f.wantPlanRefused(id, c, event("jira", "fetch:1", snap(dev, "Crash", "In Review", at(time.Minute))))
	}},

	{"EnqueueOnRead_APlanOnAReadThatLinksAnotherRecordIsNotEnqueued", func(f *fixture) {
		id, c := f.placeholderClaimed()
		f.wantPlanRefused(id, c, event("jira", "fetch:1", snap(dev, "Crash", "In Review", at(time.Minute)), core.Link{From: pr, To: dev, Role: core.Fixes}))
		f.sameCase(ticket, dev, pr)
	}},

	{"EnqueueOnRead_APlanOnACaseJoinedSinceItsLoadIsNotEnqueued", func(f *fixture) {
		id, c := f.placeholderClaimed()
		// Another customer's ticket escalated to the same developer
		// ticket joins its case and this one.
		f.ingest(event("zendesk", "z2", snap(ticket2, "Login fails too", "open", at(time.Minute)), core.Link{From: ticket2, To: dev, Role: core.EscalatedTo}))
		f.sameCase(ticket, ticket2, dev)
		f.wantPlanRefused(id, c, event("jira", "fetch:1", snap(dev, "Crash", "In Review", at(time.Minute))))
	}},

	{"EnqueueOnRead_APlanWithoutReadsIsEnqueuedAsEnqueueDoes", func(f *fixture) {
		rp := f.readPlanner()
		id, c := f.placeholderClaimed()
		// Marked since its load, but it saw no read: enqueued all the same.
		f.ingest(event("zendesk", "z2", snap(ticket, "Login fails", "pending", at(time.Minute))))
		fresh, outs := f.enqueueOnRead(rp, "fetch:1", core.PlannedCase{Case: id, Seen: c.Marks, Actions: []core.Action{comment("a", id)}})
		if !fresh[0] || !outs[0].Stood || !slices.Equal(outs[0].Added, []bool{true}) || outs[0].Seen != c.Marks {
			f.t.Fatalf("EnqueueOnRead = %v, %+v; want the plan enqueued with the load's marks", fresh, outs)
		}
	}},

	{"Ingest_NewEventIsStoredAndQueued", func(f *fixture) {
		fresh := f.ingest(event("zendesk", "d1", snap(ticket, "Login fails", "open", at(time.Minute))))
		if !fresh[0] {
			f.t.Fatal("first delivery reported as duplicate")
		}
		if it := f.item(ticket); it.Title != "Login fails" || it.Native != "open" || !it.UpdatedAt.Equal(at(time.Minute)) {
			f.t.Fatalf("snapshot = %+v", it)
		}
		c := f.caseOf(ticket)
		if cases, _ := f.depth(); cases != 1 {
			f.t.Fatalf("queue holds %d cases, want 1", cases)
		}
		f.wantDue("w", c)
	}},

	{"Ingest_DuplicateDeliveryChangesNothing", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "Login fails", "open", at(time.Minute))))
		f.drain()
		// The same delivery again, even with other content, is ignored
		// whole: no snapshot change, no link, no dirty mark.
		again := event("zendesk", "d1", snap(ticket, "Changed", "solved", at(time.Hour)), core.Link{From: ticket, To: dev, Role: core.EscalatedTo})
		if fresh := f.ingest(again); fresh[0] {
			f.t.Fatal("redelivery reported as new")
		}
		if it := f.item(ticket); it.Title != "Login fails" {
			f.t.Fatalf("redelivery changed the snapshot: %+v", it)
		}
		if _, err := f.s.CaseOf(f.ctx, dev); !errorsIsNotFound(err) {
			f.t.Fatalf("redelivery's link was written: CaseOf(dev) = %v", err)
		}
		if cases, _ := f.depth(); cases != 0 {
			f.t.Fatalf("redelivery queued %d cases", cases)
		}
		evs, err := f.s.Events(f.ctx, ticket, 10)
		if err != nil || len(evs) != 1 {
			f.t.Fatalf("Events = %d, %v; want the one delivery", len(evs), err)
		}
		// The same delivery id from another source is another event.
		if fresh := f.ingest(event("zendesk-eu", "d1", snap(ticket, "Login fails", "open", at(time.Minute)))); !fresh[0] {
			f.t.Fatal("same delivery id from another source reported as duplicate")
		}
	}},

	{"Ingest_EventThatChangesNothingLeavesTheCaseClean", func(f *fixture) {
		link := core.Link{From: ticket, To: dev, Role: core.EscalatedTo}
		f.ingest(event("zendesk", "d1", snap(ticket, "Login fails", "open", at(time.Minute)), link))
		f.ingest(event("jira", "j1", snap(dev, "Crash", "To Do", at(time.Minute))))
		f.drain()
		// Our own write coming back: a new delivery, the same snapshot
		// and the same link. Stored, but nothing to reconcile.
		if fresh := f.ingest(event("zendesk", "d2", snap(ticket, "Login fails", "open", at(time.Minute)), link)); !fresh[0] {
			f.t.Fatal("new delivery reported as duplicate")
		}
		if cases, _ := f.depth(); cases != 0 {
			f.t.Fatalf("an event that changed nothing queued %d cases", cases)
		}
		evs, err := f.s.Events(f.ctx, ticket, 10)
		if err != nil || len(evs) != 2 {
			f.t.Fatalf("Events = %d, %v; want both deliveries", len(evs), err)
		}
		// A changed snapshot, or a changed link, does queue it.
		c := f.caseOf(ticket)
		f.ingest(event("zendesk", "d3", snap(ticket, "Login fails", "solved", at(2*time.Minute)), link))
		f.wantDue("w", c)
		f.release(c, "w", time.Time{})
		f.ingest(event("zendesk", "d4", snap(ticket, "Login fails", "solved", at(2*time.Minute)),
			core.Link{From: ticket, To: dev, Role: core.Fixes}))
		f.wantDue("w", c)
	}},

	{"Ingest_DuplicateWithinOneBatchIsNewOnce", func(f *fixture) {
		e := event("jira", "d1", snap(dev, "Crash", "To Do", at(0)))
		fresh := f.ingest(e, e, event("jira", "d2", snap(dev, "Crash", "In Progress", at(time.Minute))))
		if !slices.Equal(fresh, []bool{true, false, true}) {
			f.t.Fatalf("fresh = %v, want [true false true]", fresh)
		}
		if it := f.item(dev); it.Native != "In Progress" {
			f.t.Fatalf("native = %q, want the newer snapshot's", it.Native)
		}
	}},

	{"Ingest_LateOlderSnapshotKeepsNewerFieldsButAddsComments", func(f *fixture) {
		newer := snap(dev, "Crash on login", "In Review", at(2*time.Hour))
		newer.Comments = []core.Comment{{ID: "c2", Body: "PR opened", CreatedAt: at(2 * time.Hour)}}
		older := snap(dev, "Crash", "To Do", at(time.Hour))
		older.Seen = []core.EventType{core.Created}
		older.Comments = []core.Comment{{ID: "c1", Body: "seen it", CreatedAt: at(time.Hour)}}
		f.ingest(event("jira", "d2", newer))
		f.ingest(event("jira", "d1", older))
		it := f.item(dev)
		if it.Title != "Crash on login" || it.Native != "In Review" || !it.UpdatedAt.Equal(at(2*time.Hour)) {
			f.t.Fatalf("late older snapshot overwrote the newer one: %+v", it)
		}
		if got := commentIDs(it); !slices.Equal(got, []string{"c1", "c2"}) {
			f.t.Fatalf("comments = %v, want the union [c1 c2] in time order", got)
		}
		if !it.HasSeen(core.Created) || !it.HasSeen(core.Updated) {
			f.t.Fatalf("seen = %v, want both event types", it.Seen)
		}
	}},

	{"Ingest_CommentOnlyEventKeepsKnownFields", func(f *fixture) {
		full := snap(ticket, "Login fails", "open", at(0))
		full.Priority = "high"
		f.ingest(event("zendesk", "d1", full))
		for i, id := range []string{"c1", "c2"} {
			only := core.Item{Ref: ticket, UpdatedAt: at(time.Duration(i+1) * time.Minute), Seen: []core.EventType{core.Commented},
				Comments: []core.Comment{{ID: id, Body: "reply " + id, Public: true, CreatedAt: at(time.Duration(i+1) * time.Minute)}}}
			f.ingest(event("zendesk", "c-"+id, only))
		}
		it := f.item(ticket)
		if it.Title != "Login fails" || it.Priority != "high" || it.Native != "open" {
			f.t.Fatalf("comment-only events erased fields: %+v", it)
		}
		if got := commentIDs(it); !slices.Equal(got, []string{"c1", "c2"}) {
			f.t.Fatalf("comments = %v, want [c1 c2]", got)
		}
	}},

	{"Ingest_AnyArrivalOrderGivesTheSameSnapshot", func(f *fixture) {
		// Four deliveries of one record, with a duplicate, in every order:
		// each order goes to its own record and all must end the same.
		base := []core.Item{
			{Title: "Crash", Native: "To Do", UpdatedAt: at(1 * time.Minute), Seen: []core.EventType{core.Created},
				Comments: []core.Comment{{ID: "1", Body: "a", CreatedAt: at(time.Minute)}}},
			{Title: "Crash!", Native: "In Progress", UpdatedAt: at(2 * time.Minute), Seen: []core.EventType{core.StatusChange}},
			{UpdatedAt: at(3 * time.Minute), Seen: []core.EventType{core.Commented},
				Comments: []core.Comment{{ID: "2", Body: "b", CreatedAt: at(3 * time.Minute)}}},
			{Title: "Crash!", Native: "Done", UpdatedAt: at(4 * time.Minute), Version: 2, Seen: []core.EventType{core.StatusChange}},
		}
		var want string
		for n, perm := range permutations([]int{0, 1, 2, 3, 1}) {
			r := core.Ref{System: "jira", Kind: core.DevTicket, ID: fmt.Sprintf("P-%d", n)}
			for _, i := range perm {
				it := base[i]
				it.Ref = r
				// The source's creation time: without it core.Merge keeps
				// the first snapshot's time, which depends on arrival.
				it.CreatedAt = at(30 * time.Second)
				f.ingest(event("jira", fmt.Sprintf("%s-d%d", r.ID, i), it))
			}
			got := f.item(r)
			got.Ref = core.Ref{}
			b, _ := json.Marshal(got)
			if want == "" {
				want = string(b)
				continue
			}
			if string(b) != want {
				f.t.Fatalf("order %v gives\n%s\nwant\n%s", perm, b, want)
			}
		}
	}},

	{"Ingest_UnlinkedRecordsGetCasesOfTheirOwn", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "A", "open", at(0))), event("zendesk", "d2", snap(ticket2, "B", "open", at(0))))
		if f.caseOf(ticket) == f.caseOf(ticket2) {
			f.t.Fatal("two unlinked records share a case")
		}
	}},

	{"Ingest_ExplicitLinkJoinsCases", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "Login fails", "open", at(0))))
		f.ingest(event("jira", "d2", snap(dev, "Crash", "To Do", at(0))))
		before := []core.CaseID{f.caseOf(ticket), f.caseOf(dev)}
		f.drain()
		f.ingest(event("zendesk", "d3", snap(ticket, "Login fails", "open", at(time.Minute)),
			core.Link{From: ticket, To: dev, Role: core.EscalatedTo}))
		id := f.sameCase(ticket, dev)
		if !slices.Contains(before, id) {
			f.t.Fatalf("joined case %d is neither of %v", id, before)
		}
		c := f.load(id)
		if !slices.Equal(refs(c), []core.Ref{dev, ticket}) {
			f.t.Fatalf("case records = %v, want [dev ticket] sorted by ref", refs(c))
		}
		if len(c.Links) != 1 || c.Links[0] != (core.Link{From: ticket, To: dev, Role: core.EscalatedTo, Origin: core.Explicit}) {
			f.t.Fatalf("links = %+v", c.Links)
		}
		for _, old := range before {
			if old != id {
				if gone := f.load(old); len(gone.Items) != 0 || len(gone.Links) != 0 {
					f.t.Fatalf("joined-away case %d still loads %v", old, refs(gone))
				}
			}
		}
		f.wantDue("w", id)
		f.connected(ticket, dev)
	}},

	{"Ingest_LinkToUnknownRecordCreatesPlaceholderInSameCase", func(f *fixture) {
		f.ingest(event("zendesk", "d1", snap(ticket, "Login fails", "open", at(0)),
			core.Link{From: ticket, To: dev, Role: core.EscalatedTo}))
		f.sameCase(ticket, dev)
		if ph := f.item(dev); ph.Ref != dev || ph.Title != "" || !ph.UpdatedAt.IsZero() {
			f.t.Fatalf("placeholder = %+v, want only its Ref", ph)
		}
		f.ingest(event("jira", "d2", snap(dev, "Crash", "To Do", at(time.Minute))))
		if it := f.item(dev); it.Title != "Crash" {
			f.t.Fatalf("first real snapshot did not replace the placeholder: %+v", it)
		}
		f.sameCase(ticket, dev)
	}},

	{"Ingest_DiscoveredLinksReplaceTheRecordsEarlierOnes", func(f *fixture) {
		f.ingest(event("jira", "j1", snap(dev, "A", "To Do", at(0))), event("jira", "j2", snap(dev2, "B", "To Do", at(0))))
		in := event("github", "g1", snap(pr, "KBOT-88: fix", "open", at(time.Minute)))
		in.Discovered = discovered(pr, dev)
		f.ingest(in)
		f.sameCase(pr, dev)
		f.drain()

		// The title now names KBOT-89 instead.
		in = event("github", "g2", snap(pr, "KBOT-89: fix", "open", at(2*time.Minute)))
		in.Discovered = discovered(pr, dev2)
		f.ingest(in)
		id := f.sameCase(pr, dev2)
		other := f.caseOf(dev)
		if other == id {
			f.t.Fatal("the link to KBOT-88 survived its key's removal from the title")
		}
		c := f.load(id)
		if len(c.Links) != 1 || c.Links[0].To != dev2 || c.Links[0].Origin != core.Discovered || c.Links[0].Role != core.Fixes {
			f.t.Fatalf("links = %+v", c.Links)
		}
		// Both the case left behind and the one that gained are dirty.
		got := f.claim("w", 10)
		slices.Sort(got)
		want := []core.CaseID{id, other}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			f.t.Fatalf("due cases = %v, want %v", got, want)
		}
		f.connected(pr, dev, dev2)
	}},

	{"Ingest_RemovingTheOnlyConnectingLinkSplitsTheCase", func(f *fixture) {
		// ticket —explicit— dev ←discovered— pr
		f.ingest(event("zendesk", "z1", snap(ticket, "Login", "open", at(0)), core.Link{From: ticket, To: dev, Role: core.EscalatedTo}))
		in := event("github", "g1", snap(pr, "KBOT-88", "open", at(0)))
		in.Discovered = discovered(pr, dev)
		f.ingest(in)
		id := f.sameCase(ticket, dev, pr)
		// Enqueue an action about the pull request: it must follow it.
		// (Dead, so that it does not keep the case due by itself.)
		f.enqueue(core.Action{Key: "pr-comment", Case: id, Rule: "r", Kind: core.AddComment, Target: pr, Subject: pr})
		if err := f.s.Fail(f.ctx, "pr-comment", "403 forbidden", time.Time{}, true); err != nil {
			f.t.Fatal(err)
		}
		f.drain()

		in = event("github", "g2", snap(pr, "unrelated", "open", at(time.Minute)))
		in.Discovered = []core.Link{} // searched, and the key is gone
		f.ingest(in)
		if got := f.sameCase(ticket, dev); got != id {
			t := f.t
			t.Fatalf("the larger part changed id from %d to %d", id, got)
		}
		split := f.caseOf(pr)
		if split == id {
			f.t.Fatal("pull request still in the case after its only link was removed")
		}
		if c := f.load(split); !slices.Equal(refs(c), []core.Ref{pr}) || len(c.Links) != 0 {
			f.t.Fatalf("split-off case = %v %v", refs(c), c.Links)
		}
		if as := f.actions(split, ""); !slices.Equal(keys(as), []string{"pr-comment"}) {
			f.t.Fatalf("actions of split-off case = %v, want the pull request's", keys(as))
		}
		if as := f.actions(id, ""); len(as) != 0 {
			f.t.Fatalf("actions left with the old case = %v", keys(as))
		}
		got := f.claim("w", 10)
		slices.Sort(got)
		want := []core.CaseID{id, split}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			f.t.Fatalf("due cases = %v, want both parts %v", got, want)
		}
		f.connected(ticket, dev, pr)
	}},

	{"Ingest_AnEventNotSearchedForKeysKeepsTheDiscoveredLinks", func(f *fixture) {
		in := event("github", "g1", snap(pr, "KBOT-88", "open", at(0)))
		in.Discovered = discovered(pr, dev)
		f.ingest(in)
		id := f.sameCase(pr, dev)
		// A comment-only event: the engine had no text to search, so
		// Discovered is nil.
		only := core.Item{Ref: pr, UpdatedAt: at(time.Minute), Seen: []core.EventType{core.Commented},
			Comments: []core.Comment{{ID: "c1", Body: "LGTM", CreatedAt: at(time.Minute)}}}
		f.ingest(event("github", "g2", only))
		if got := f.sameCase(pr, dev); got != id {
			f.t.Fatalf("a comment-only event moved the pull request from case %d to %d", id, got)
		}
		if c := f.load(id); len(c.Links) != 1 {
			f.t.Fatalf("links = %+v, want the discovered link kept", c.Links)
		}
	}},

	{"Ingest_RemovedLinkThatStillConnectsAnotherWayDoesNotSplit", func(f *fixture) {
		f.ingest(event("jira", "j1", snap(dev, "A", "To Do", at(0)), core.Link{From: dev, To: dev2, Role: core.DuplicateOf}))
		in := event("github", "g1", snap(pr, "KBOT-88 KBOT-89", "open", at(0)))
		in.Discovered = discovered(pr, dev, dev2)
		f.ingest(in)
		id := f.sameCase(pr, dev, dev2)
		in = event("github", "g2", snap(pr, "KBOT-88", "open", at(time.Minute)))
		in.Discovered = discovered(pr, dev)
		f.ingest(in)
		if got := f.sameCase(pr, dev, dev2); got != id {
			f.t.Fatalf("case changed from %d to %d though still connected", id, got)
		}
		if c := f.load(id); len(c.Links) != 2 {
			f.t.Fatalf("links = %+v, want dev→dev2 and pr→dev", c.Links)
		}
	}},

	{"Ingest_DiscoveredLinkNeverRemovesAStatedOne", func(f *fixture) {
		f.ingest(event("github", "g1", snap(pr, "x", "open", at(0)), core.Link{From: pr, To: dev, Role: core.Fixes}))
		in := event("github", "g2", snap(pr, "KBOT-88", "open", at(time.Minute)))
		in.Discovered = discovered(pr, dev)
		f.ingest(in)
		in = event("github", "g3", snap(pr, "nothing", "open", at(2*time.Minute)))
		in.Discovered = []core.Link{}
		f.ingest(in)
		id := f.sameCase(pr, dev)
		if c := f.load(id); len(c.Links) != 1 || c.Links[0].Origin != core.Explicit {
			f.t.Fatalf("links = %+v, want the explicit link kept", c.Links)
		}
	}},

	// A poll that finds the version of a record a webhook brought is
	// flagged Had (not a missed webhook), whatever its delivery id; one
	// that finds a newer version, or a record never seen, is not.
	{"Ingest_HadFlagsAVersionAlreadyHeld", func(f *fixture) {
		poll := func(id string, it core.Item) core.Ingest {
			in := event("jira", id, it)
			in.Event.Via = core.ViaPoll
			return in
		}
		v1 := snap(dev, "B", "To Do", at(time.Minute))
		v1.Version = 3
		older := snap(dev, "B", "To Do", at(0))
		sameTimeNewer := v1
		sameTimeNewer.Version = 4
		newer := snap(dev, "B", "In Progress", at(2*time.Minute))
		batch := []core.Ingest{
			poll("p0", snap(change, "C", "To Do", at(0))), // never seen
			event("jira", "w1", v1),
			poll("p1", v1),
			poll("p2", older),
			poll("p3", sameTimeNewer),
			poll("p4", newer),
		}
		if _, err := f.s.Ingest(f.ctx, batch); err != nil {
			f.t.Fatal(err)
		}
		for i, want := range []bool{false, false, true, true, false, false} {
			if batch[i].Had != want {
				f.t.Errorf("event %s: Had = %v; want %v", batch[i].Event.DeliveryID, batch[i].Had, want)
			}
		}
	}},

	{"Ingest_RoleChangeOfADiscoveredLinkIsAnUpdate", func(f *fixture) {
		in := event("github", "g1", snap(pr, "KBOT-88", "open", at(0)))
		in.Discovered = discovered(pr, dev)
		f.ingest(in)
		id := f.caseOf(pr)
		in = event("github", "g2", snap(pr, "KBOT-88", "open", at(time.Minute)))
		in.Discovered = []core.Link{{From: pr, To: dev, Role: core.ChangeFor}}
		f.ingest(in)
		if got := f.sameCase(pr, dev); got != id {
			f.t.Fatalf("case changed from %d to %d", id, got)
		}
		if c := f.load(id); len(c.Links) != 1 || c.Links[0].Role != core.ChangeFor {
			f.t.Fatalf("links = %+v, want role change_for", c.Links)
		}
	}},

	// A key found with the role mentions (an outsider's pull request, a
	// customer's ticket token) is recorded, seen from both records' cases,
	// and joins nothing: the named record, known or not yet, keeps a case
	// of its own. A link that becomes a mention splits what it joined.
	{"Ingest_MentionJoinsNothing", func(f *fixture) {
		f.ingest(event("jira", "j1", snap(dev, "B", "To Do", at(0))))
		in := event("github", "g1", snap(pr, "KBOT-88 ZD-4521", "open", at(0)))
		in.Discovered = []core.Link{{From: pr, To: dev, Role: core.Mentions}, {From: pr, To: ticket, Role: core.Mentions}}
		f.ingest(in)
		prCase, devCase, ticketCase := f.caseOf(pr), f.caseOf(dev), f.caseOf(ticket)
		if prCase == devCase || prCase == ticketCase || devCase == ticketCase {
			f.t.Fatalf("cases pr %d, dev %d, ticket %d; want three", prCase, devCase, ticketCase)
		}
		mention := core.Link{From: pr, To: dev, Role: core.Mentions, Origin: core.Discovered}
		if c := f.load(devCase); !slices.Equal(refs(c), []core.Ref{dev}) || !slices.Contains(c.Links, mention) ||
			len(c.MentionedBy) != 1 || c.MentionedBy[0].Ref != pr || c.MentionedBy[0].Title != "KBOT-88 ZD-4521" {
			f.t.Fatalf("developer ticket's case %v %+v, mentioned by %+v; want it alone, with the mention and the pull request", refs(c), c.Links, c.MentionedBy)
		}
		if c := f.load(prCase); !slices.Equal(refs(c), []core.Ref{pr}) || len(c.Links) != 2 {
			f.t.Fatalf("pull request's case %v %+v; want it alone, with both mentions", refs(c), c.Links)
		}
		// The ticket's own event lands in its own case.
		f.ingest(event("zendesk", "z1", snap(ticket, "A", "open", at(time.Minute))))
		if f.caseOf(ticket) == prCase {
			f.t.Fatal("the mentioned ticket joined the pull request's case")
		}

		pr2 := core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/kbot#342"}
		in = event("github", "g2", snap(pr2, "KBOT-88", "open", at(0)))
		in.Discovered = discovered(pr2, dev)
		f.ingest(in)
		f.sameCase(pr2, dev)
		in = event("github", "g3", snap(pr2, "KBOT-88", "open", at(time.Minute)))
		in.Discovered = []core.Link{{From: pr2, To: dev, Role: core.Mentions}}
		f.ingest(in)
		if f.caseOf(pr2) == f.caseOf(dev) {
			f.t.Fatal("a link demoted to a mention still joins its records")
		}
	}},

	{"Ingest_JoinCarriesOutboxAndQueueAlong", func(f *fixture) {
		f.ingest(event("zendesk", "z1", snap(ticket, "A", "open", at(0))))
		f.ingest(event("jira", "j1", snap(dev, "B", "To Do", at(0)), core.Link{From: dev, To: change, Role: core.ChangeFor}))
		small := f.caseOf(ticket)
		f.enqueue(core.Action{Key: "k-ticket", Case: small, Rule: "r", Kind: core.AddComment, Target: ticket, Subject: ticket})
		f.ingest(event("zendesk", "z2", snap(ticket, "A", "open", at(time.Minute)), core.Link{From: ticket, To: dev, Role: core.EscalatedTo}))
		id := f.sameCase(ticket, dev, change)
		if id == small {
			f.t.Fatal("the smaller case kept its id")
		}
		if as := f.actions(id, core.Pending); !slices.Equal(keys(as), []string{"k-ticket"}) {
			f.t.Fatalf("pending actions of joined case = %v", keys(as))
		}
		if c := f.load(id); c.Keys["k-ticket"] != core.Pending {
			f.t.Fatalf("Keys = %v", c.Keys)
		}
		if cases, _ := f.depth(); cases != 1 {
			f.t.Fatalf("queue holds %d cases after the join, want 1", cases)
		}
		f.wantDue("w", id)
	}},

	{"Ingest_LinkBetweenTwoUnknownRecordsPutsBothInOneCase", func(f *fixture) {
		f.ingest(event("imap", "m1", snap(thread, "Help", "", at(0)), core.Link{From: dev, To: dev2, Role: core.DuplicateOf}))
		f.sameCase(dev, dev2)
		if f.caseOf(thread) == f.caseOf(dev) {
			f.t.Fatal("the event's record joined a case it has no link to")
		}
	}},

	{"Ingest_RefusesAnEventThatCannotBeDeduplicated", func(f *fixture) {
		bad := []core.Ingest{
			event("zendesk", "", snap(ticket, "A", "open", at(0))),
			event("", "d1", snap(ticket, "A", "open", at(0))),
			event("zendesk", "d2", core.Item{Title: "no ref"}),
		}
		for _, b := range bad {
			if _, err := f.s.Ingest(f.ctx, []core.Ingest{event("zendesk", "ok", snap(ticket2, "B", "open", at(0))), b}); err == nil {
				f.t.Fatalf("Ingest accepted %+v", b.Event)
			}
		}
		if _, err := f.s.Item(f.ctx, ticket2); !errorsIsNotFound(err) {
			f.t.Fatalf("a refused batch stored its good event: %v", err)
		}
	}},

	{"Ingest_ConcurrentBatchesAllLandAndKeepCasesConnected", func(f *fixture) {
		// Writers race with links among a small pool of records, so that
		// joins and splits interleave.
		pool := make([]core.Ref, 12)
		for i := range pool {
			pool[i] = core.Ref{System: "jira", Kind: core.DevTicket, ID: fmt.Sprintf("C-%d", i)}
		}
		const writers, batches, per = 4, 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					batch := make([]core.Ingest, per)
					for i := range batch {
						n := w*1000 + b*100 + i
						r := pool[n%len(pool)]
						in := event("jira", fmt.Sprintf("w%d-%d-%d", w, b, i), snap(r, "t", "To Do", at(time.Duration(n)*time.Second)))
						if n%3 != 0 {
							in.Discovered = discovered(r, pool[(n*7+w)%len(pool)])
						}
						batch[i] = in
					}
					if _, err := f.s.Ingest(f.ctx, batch); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			f.t.Fatalf("concurrent Ingest: %v", err)
		}
		total := 0
		for _, r := range pool {
			evs, err := f.s.Events(f.ctx, r, 0)
			if err != nil {
				f.t.Fatal(err)
			}
			total += len(evs)
		}
		if total != writers*batches*per {
			f.t.Fatalf("stored %d events, want %d", total, writers*batches*per)
		}
		f.connected(pool...)
	}},

	{"Events_NewestFirstWithoutRawBodies", func(f *fixture) {
		for i := range 3 {
			f.ingest(event("jira", fmt.Sprintf("d%d", i), snap(dev, fmt.Sprint("v", i), "To Do", at(time.Duration(i)*time.Minute))))
		}
		evs, err := f.s.Events(f.ctx, dev, 2)
		if err != nil {
			f.t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].DeliveryID != "d2" || evs[1].DeliveryID != "d1" {
			f.t.Fatalf("Events = %v, want d2 d1", deliveries(evs))
		}
		e := evs[0]
		if e.Source != "jira" || e.Via != core.ViaWebhook || e.Item.Title != "v2" || e.Raw != nil {
			f.t.Fatalf("event = %+v", e)
		}
		if evs, _ := f.s.Events(f.ctx, ticket, 5); len(evs) != 0 {
			f.t.Fatalf("events of an unknown record = %v", deliveries(evs))
		}
	}},
}

func commentIDs(it *core.Item) []string {
	var out []string
	for _, c := range it.Comments {
		out = append(out, c.ID)
	}
	return out
}

func deliveries(evs []core.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.DeliveryID)
	}
	return out
}

// permutations returns every distinct ordering of xs.
func permutations(xs []int) [][]int {
	if len(xs) <= 1 {
		return [][]int{slices.Clone(xs)}
	}
	var out [][]int
	for i := range xs {
		if slices.Contains(xs[:i], xs[i]) {
			continue // the same value first again: the same orderings
		}
		rest := slices.Concat(xs[:i], xs[i+1:])
		for _, p := range permutations(rest) {
			out = append(out, append([]int{xs[i]}, p...))
		}
	}
	return out
}

// readPlanner is the store's EnqueueOnRead, or a skip.
func (f *fixture) readPlanner() interface {
	EnqueueOnRead(context.Context, []core.Ingest, []core.PlannedCase) ([]bool, []core.PlanOutcome, error)
} {
	rp, ok := f.s.(interface {
		EnqueueOnRead(context.Context, []core.Ingest, []core.PlannedCase) ([]bool, []core.PlanOutcome, error)
	})
	if !ok {
		f.t.Skip("the store has no EnqueueOnRead")
	}
	return rp
}

// placeholderClaimed stores a ticket escalated to a dev ticket the store
// knows only by its key, claims their case for "w" and loads it.
func (f *fixture) placeholderClaimed() (core.CaseID, *core.Case) {
	f.t.Helper()
	f.ingest(event("zendesk", "d1", snap(ticket, "Login fails", "open", at(0)), core.Link{From: ticket, To: dev, Role: core.EscalatedTo}))
	id := f.sameCase(ticket, dev)
	f.wantDue("w", id)
	return id, f.load(id)
}

// enqueueOnRead reads the dev ticket back (delivery d) with plans.
func (f *fixture) enqueueOnRead(rp interface {
	EnqueueOnRead(context.Context, []core.Ingest, []core.PlannedCase) ([]bool, []core.PlanOutcome, error)
}, d string, plans ...core.PlannedCase) ([]bool, []core.PlanOutcome) {
	f.t.Helper()
	fresh, outs, err := rp.EnqueueOnRead(f.ctx, []core.Ingest{event("jira", d, snap(dev, "Crash", "In Review", at(time.Minute)))}, plans)
	if err != nil {
		f.t.Fatalf("EnqueueOnRead: %v", err)
	}
	return fresh, outs
}

// wantPlanRefused reads the dev ticket back (read) with a plan made on
// case id as loaded (c), and wants the read stored and the plan refused.
func (f *fixture) wantPlanRefused(id core.CaseID, c *core.Case, read core.Ingest) {
	f.t.Helper()
	fresh, outs, err := f.readPlanner().EnqueueOnRead(f.ctx, []core.Ingest{read},
		[]core.PlannedCase{{Case: id, Seen: c.Marks, OnRead: true, Actions: []core.Action{comment("a", id)}}})
	if err != nil || !fresh[0] || outs[0].Stood || outs[0].Added != nil {
		f.t.Fatalf("EnqueueOnRead = %v, %+v, %v; want the read stored and the plan refused", fresh, outs, err)
	}
	if it := f.item(dev); it.Native != "In Review" {
		f.t.Fatalf("the read was not stored: %+v", it)
	}
	if as := f.actions(id, core.Pending); len(as) != 0 {
		f.t.Fatalf("a refused plan enqueued %v", keys(as))
	}
}

package storetest

import (
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// comment is an action mirroring a ticket comment onto the dev ticket.
func comment(k string, id core.CaseID) core.Action {
	return core.Action{Key: k, Case: id, Rule: "mirror-comments", Kind: core.AddComment, Target: dev, Subject: ticket,
		Body: "customer says hi", SourceComment: "c-" + k, Reason: "public reply"}
}

// linked ingests a ticket escalated to a dev ticket and returns their case.
func (f *fixture) linked() core.CaseID {
	f.t.Helper()
	f.ingest(event("zendesk", "z1", snap(ticket, "Login fails", "open", at(0)), core.Link{From: ticket, To: dev, Role: core.EscalatedTo}))
	f.ingest(event("jira", "j1", snap(dev, "Crash", "To Do", at(0))))
	return f.sameCase(ticket, dev)
}

var outboxBehaviours = []behaviour{
	{"Enqueue_SkipsKeysAlreadyPlanned", func(f *fixture) {
		id := f.linked()
		if added := f.enqueue(comment("a", id), comment("b", id)); !slices.Equal(added, []bool{true, true}) {
			f.t.Fatalf("Enqueue added %v, want both", added)
		}
		f.clock.Advance(time.Second)
		// Only the first c is new: b was planned before, and the second c
		// repeats the first.
		if added := f.enqueue(comment("b", id), comment("c", id), comment("c", id)); !slices.Equal(added, []bool{false, true, false}) {
			f.t.Fatalf("Enqueue added %v, want [false true false]", added)
		}
		as := f.actions(id, "")
		if !slices.Equal(keys(as), []string{"a", "b", "c"}) {
			f.t.Fatalf("actions = %v, want oldest first", keys(as))
		}
		a := as[0]
		if a.State != core.Pending || a.Attempts != 0 || !a.CreatedAt.Equal(Epoch) || a.Case != id ||
			a.Body != "customer says hi" || a.Target != dev || a.Subject != ticket || a.Rule != "mirror-comments" {
			f.t.Fatalf("stored action = %+v", a)
		}
		if as[2].CreatedAt.Equal(Epoch) {
			f.t.Fatal("CreatedAt of a later enqueue not from the clock")
		}
		if c := f.load(id); len(c.Keys) != 3 || c.Keys["b"] != core.Pending {
			f.t.Fatalf("Keys = %v", c.Keys)
		}
	}},

	{"Enqueue_FilesAnActionUnderItsSubjectsCaseNow", func(f *fixture) {
		f.ingest(event("zendesk", "z1", snap(ticket, "x", "open", at(0))))
		stale := f.caseOf(ticket)
		// A join retires the ticket's case id while the action is planned.
		f.ingest(event("jira", "j1", snap(dev, "y", "To Do", at(0)), core.Link{From: dev, To: dev2, Role: core.DuplicateOf}))
		f.ingest(event("jira", "j2", snap(dev, "y", "To Do", at(time.Minute)), core.Link{From: dev, To: ticket, Role: core.EscalatedTo}))
		id := f.sameCase(ticket, dev)
		if id == stale {
			f.t.Fatal("setup: the ticket's case kept its id")
		}
		f.enqueue(comment("late", stale))
		if as := f.actions(id, core.Pending); !slices.Equal(keys(as), []string{"late"}) {
			f.t.Fatalf("actions of the live case = %v", keys(as))
		}
	}},

	{"Actions_FilterByState", func(f *fixture) {
		id := f.linked()
		f.enqueue(comment("a", id), comment("b", id), comment("c", id))
		if err := f.s.Complete(f.ctx, comment("a", id), core.Result{CommentID: "1"}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		if err := f.s.Fail(f.ctx, "b", "no", time.Time{}, true); err != nil {
			f.t.Fatal(err)
		}
		for st, want := range map[core.ActionState][]string{core.Done: {"a"}, core.Dead: {"b"}, core.Pending: {"c"}, "": {"a", "b", "c"}} {
			if got := keys(f.actions(id, st)); !slices.Equal(got, want) {
				f.t.Fatalf("Actions(%q) = %v, want %v", st, got, want)
			}
		}
	}},

	{"Complete_MarksDoneAndAppendsAudit", func(f *fixture) {
		id := f.linked()
		a := comment("k1", id)
		f.enqueue(a)
		f.clock.Advance(time.Minute)
		if err := f.s.Complete(f.ctx, a, core.Result{CommentID: "10023", Note: "ok"}, core.AuditEntry{Detail: "comment 10023"}); err != nil {
			f.t.Fatal(err)
		}
		as := f.actions(id, core.Done)
		if len(as) != 1 || as[0].Key != "k1" {
			f.t.Fatalf("done actions = %v", keys(as))
		}
		if c := f.load(id); c.Keys["k1"] != core.Done {
			f.t.Fatalf("Keys = %v", c.Keys)
		}
		entries, err := f.s.Audit(f.ctx, dev, 10)
		if err != nil {
			f.t.Fatal(err)
		}
		want := core.AuditEntry{At: Epoch.Add(time.Minute), Case: id, Target: dev, Rule: "mirror-comments", Kind: core.AddComment,
			Key: "k1", Detail: "comment 10023", Reason: "public reply"}
		if len(entries) != 1 || entries[0] != want {
			f.t.Fatalf("audit = %+v\nwant %+v", entries, want)
		}
	}},

	{"Complete_OfAnActionNeverEnqueuedRecordsItDone", func(f *fixture) {
		id := f.linked()
		if err := f.s.Complete(f.ctx, comment("direct", id), core.Result{}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		if got := keys(f.actions(id, core.Done)); !slices.Equal(got, []string{"direct"}) {
			f.t.Fatalf("done = %v", got)
		}
	}},

	{"Complete_LinksTheCreatedRecordIntoTheSubjectsCase", func(f *fixture) {
		f.ingest(event("zendesk", "z1", snap(ticket, "Login fails", "open", at(0))))
		id := f.caseOf(ticket)
		f.drain()
		a := core.Action{Key: "escalate|4521", Case: id, Rule: "escalate", Kind: core.Create,
			Target: core.Ref{System: "jira", Kind: core.DevTicket}, Subject: ticket, Role: core.EscalatedTo, Title: "Login fails"}
		f.enqueue(a)
		if err := f.s.Complete(f.ctx, a, core.Result{Created: dev}, core.AuditEntry{Detail: "created KBOT-88"}); err != nil {
			f.t.Fatal(err)
		}
		if got := f.sameCase(ticket, dev); got != id {
			f.t.Fatalf("created record in case %d, want the subject's %d", got, id)
		}
		if it := f.item(dev); it.Marker != a.Marker() {
			f.t.Fatalf("placeholder marker = %q, want %q", it.Marker, a.Marker())
		}
		c := f.load(id)
		if len(c.Links) != 1 || c.Links[0] != (core.Link{From: ticket, To: dev, Role: core.EscalatedTo, Origin: core.Ours}) {
			f.t.Fatalf("links = %+v", c.Links)
		}
		if entries, _ := f.s.Audit(f.ctx, dev, 1); len(entries) != 1 || entries[0].Kind != core.Create {
			f.t.Fatalf("audit of the created record = %+v", entries)
		}
		f.wantDue("w", id)
	}},

	{"Complete_CreatedRecordAlreadyKnownJoinsItsCase", func(f *fixture) {
		f.ingest(event("zendesk", "z1", snap(ticket, "Login fails", "open", at(0))))
		in := event("github", "g1", snap(pr, "KBOT-88", "open", at(0)))
		in.Discovered = discovered(pr, dev)
		f.ingest(in)
		f.ingest(event("jira", "j1", snap(dev, "Crash", "To Do", at(0))))
		id := f.caseOf(ticket)
		a := core.Action{Key: "escalate", Case: id, Rule: "escalate", Kind: core.Create, Target: core.Ref{System: "jira", Kind: core.DevTicket},
			Subject: ticket, Role: core.EscalatedTo}
		f.enqueue(a)
		// The create found its record by marker: one already linked to a PR.
		if err := f.s.Complete(f.ctx, a, core.Result{Created: dev}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		joined := f.sameCase(ticket, dev, pr)
		if it := f.item(dev); it.Title != "Crash" {
			f.t.Fatalf("the known record's snapshot was replaced: %+v", it)
		}
		if as := f.actions(joined, core.Done); !slices.Equal(keys(as), []string{"escalate"}) {
			f.t.Fatalf("done actions of the joined case = %v", keys(as))
		}
		if entries, _ := f.s.Audit(f.ctx, core.Ref{System: "jira", Kind: core.DevTicket}, 5); len(entries) != 0 {
			f.t.Fatalf("audit filed under the kind-only target: %+v", entries)
		}
		if entries, _ := f.s.Audit(f.ctx, dev, 5); len(entries) != 1 || entries[0].Case != joined {
			f.t.Fatalf("audit = %+v, want one entry in case %d", entries, joined)
		}
		f.connected(ticket, dev, pr)
	}},

	{"Complete_KeepsTheReturnedSnapshotUnlessOlder", func(f *fixture) {
		id := f.linked()
		f.drain()
		a := core.Action{Key: "t1", Case: id, Rule: "pr-opened", Kind: core.Transition, Target: dev, Subject: ticket, Native: "In Review"}
		after := snap(dev, "Crash", "In Review", at(time.Hour))
		if err := f.s.Complete(f.ctx, a, core.Result{Item: &after}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		if it := f.item(dev); it.Native != "In Review" {
			f.t.Fatalf("native = %q, want the returned snapshot's", it.Native)
		}
		f.wantDue("w", id)
		stale := snap(dev, "Crash", "To Do", at(time.Minute))
		stale.Ref = core.Ref{} // the target's ref is implied
		if err := f.s.Complete(f.ctx, core.Action{Key: "t0", Case: id, Kind: core.Transition, Target: dev, Subject: ticket},
			core.Result{Item: &stale}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		if it := f.item(dev); it.Native != "In Review" {
			f.t.Fatalf("an older returned snapshot overwrote the newer: %q", it.Native)
		}
	}},

	{"Complete_RecordsTheMirrorOfAComment", func(f *fixture) {
		id := f.linked()
		a := comment("m1", id)
		f.enqueue(a)
		if err := f.s.Complete(f.ctx, a, core.Result{CommentID: "10023"}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		c := f.load(id)
		if got := c.Mirrors[core.MirrorKey(ticket, "c-m1", dev)]; got != "10023" {
			f.t.Fatalf("Mirrors = %v, want the copy's id", c.Mirrors)
		}
		if other := f.load(f.caseOfOrZero(ticket2)); len(other.Mirrors) != 0 {
			f.t.Fatalf("mirror leaked to another case: %v", other.Mirrors)
		}
	}},

	{"Complete_RecordsSyncedFieldValues", func(f *fixture) {
		id := f.linked()
		a := core.Action{Key: "s1", Case: id, Rule: "sync-priority", Kind: core.SetFields, Target: dev, Subject: ticket,
			Fields: map[string]string{"priority": "High"}}
		if err := f.s.Complete(f.ctx, a, core.Result{}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		c := f.load(id)
		if got := c.Synced[core.SyncKey(dev, ticket, "priority")]; got != "High" {
			f.t.Fatalf("Synced = %v", c.Synced)
		}
	}},

	{"Complete_RecordsTheCanonicalValueOfASyncWrite", func(f *fixture) {
		id := f.linked()
		a := core.Action{Key: "s2", Case: id, Rule: "priority", Kind: core.SetFields, Target: dev, Subject: ticket,
			Fields: map[string]string{"priority": "Highest"}, SyncField: "priority", SyncValue: "urgent"}
		if err := f.s.Complete(f.ctx, a, core.Result{}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		if got := f.load(id).Synced[core.SyncKey(ticket, dev, "priority")]; got != "urgent" {
			f.t.Fatalf("synced priority = %q, want the canonical urgent", got)
		}
	}},

	{"Complete_ALinkJoinsTheCasesOfItsTwoRecords", func(f *fixture) {
		id := f.linked()
		f.ingest(event("zendesk", "z2", snap(ticket2, "Login fails too", "open", at(0))))
		if f.caseOf(ticket2) == id {
			f.t.Fatal("the second ticket starts in the first case")
		}
		// A duplicate found: ticket2 is linked to the open developer ticket.
		a := core.Action{Key: "dup", Case: f.caseOf(ticket2), Rule: "known-problem", Kind: core.AddLink,
			Target: dev, Subject: ticket2, Other: ticket2, Role: core.DuplicateOf}
		f.enqueue(a)
		if err := f.s.Complete(f.ctx, a, core.Result{}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		joined := f.sameCase(ticket, dev, ticket2)
		c := f.load(joined)
		found := false
		for _, l := range c.Links {
			if l.From == ticket2 && l.To == dev && l.Role == core.DuplicateOf && l.Origin == core.Ours {
				found = true
			}
		}
		if !found {
			f.t.Fatalf("links %+v lack ticket2 —duplicate_of→ dev", c.Links)
		}
	}},

	{"Complete_ALinkLeavesADiscoveredLinkDiscovered", func(f *fixture) {
		pr := core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/app#341"}
		discovered := core.Link{From: pr, To: dev, Role: core.Fixes, Origin: core.Discovered}
		f.ingest(core.Ingest{Event: event("github", "g1", snap(pr, "KBOT-88 fix", "open", at(0))).Event, Discovered: []core.Link{discovered}})
		id := f.sameCase(pr, dev)
		// A rule adds a remote link on the developer ticket to the PR.
		a := core.Action{Key: "rl", Case: id, Rule: "pull-request-linked", Kind: core.AddLink, Target: dev, Subject: pr, Other: pr}
		f.enqueue(a)
		if err := f.s.Complete(f.ctx, a, core.Result{}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		// The key leaves the title: the link goes, since it was only ever discovered.
		f.ingest(core.Ingest{Event: event("github", "g2", snap(pr, "a fix", "open", at(time.Minute))).Event, Discovered: []core.Link{}})
		for _, l := range f.load(f.caseOf(pr)).Links {
			if (l.From == pr && l.To == dev) || (l.From == dev && l.To == pr) {
				f.t.Fatalf("link %+v outlived its key", l)
			}
		}
	}},

	{"Fail_CountsAttemptsAndSchedulesTheRetry", func(f *fixture) {
		id := f.linked()
		f.enqueue(comment("k", id))
		next := f.clock.Now().Add(30 * time.Second)
		if err := f.s.Fail(f.ctx, "k", "503 from jira", next, false); err != nil {
			f.t.Fatal(err)
		}
		if err := f.s.Fail(f.ctx, "k", "429 from jira", next.Add(time.Minute), false); err != nil {
			f.t.Fatal(err)
		}
		as := f.actions(id, core.Pending)
		if len(as) != 1 || as[0].Attempts != 2 || as[0].LastError != "429 from jira" || !as[0].NextAttempt.Equal(next.Add(time.Minute)) {
			f.t.Fatalf("after two failures: %+v", as)
		}
		if dl, _ := f.s.DeadLetters(f.ctx); len(dl) != 0 {
			f.t.Fatalf("dead letters = %v", keys(dl))
		}
		err := f.s.Fail(f.ctx, "no-such-key", "x", time.Time{}, false)
		errIs(f.t, err, core.ErrNotFound, "Fail of an unknown key")
	}},

	{"Replay_SaysNothingIsInFlight", func(f *fixture) {
		id := f.linked()
		f.enqueue(comment("k", id))
		if err := f.s.Fail(f.ctx, "k", "500 from jira", f.clock.Now(), true); err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.s.Replay(f.ctx, "k"); err != nil {
			f.t.Fatal(err)
		}
		if as := f.actions(id, core.Pending); len(as) != 1 || as[0].Attempts != 0 || !as[0].Unsent {
			f.t.Fatalf("after Replay: %+v; want no attempts and nothing in flight", as)
		}
	}},

	{"Sending_KeepsTheStartOfAWriteOfUnknownOutcome", func(f *fixture) {
		id := f.linked()
		f.enqueue(comment("k", id))
		sent := f.clock.Now().Add(-time.Minute)
		if err := f.s.Sending(f.ctx, "k", sent); err != nil {
			f.t.Fatal(err)
		}
		// A failure (the write timed out) leaves the start as it was,
		// and a replay of a dead letter too: it is still to be looked up.
		if err := f.s.Fail(f.ctx, "k", "context deadline exceeded", f.clock.Now(), true); err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.s.Replay(f.ctx, "k"); err != nil {
			f.t.Fatal(err)
		}
		as := f.actions(id, core.Pending)
		if len(as) != 1 || !as[0].Sent.Equal(sent) || as[0].Unsent || as[0].Attempts != 0 {
			f.t.Fatalf("after Sending, Fail and Replay: %+v, want sent at %v", as, sent)
		}
		if err := f.s.Sending(f.ctx, "k", time.Time{}); err != nil {
			f.t.Fatal(err)
		}
		if as := f.actions(id, core.Pending); len(as) != 1 || !as[0].Sent.IsZero() || !as[0].Unsent {
			f.t.Fatalf("after clearing: %+v", as)
		}
		errIs(f.t, f.s.Sending(f.ctx, "no-such-key", sent), core.ErrNotFound, "Sending of an unknown key")
	}},

	{"Fail_AfterCompleteLeavesTheActionDone", func(f *fixture) {
		id := f.linked()
		a := comment("k", id)
		f.enqueue(a)
		if err := f.s.Complete(f.ctx, a, core.Result{}, core.AuditEntry{}); err != nil {
			f.t.Fatal(err)
		}
		if err := f.s.Fail(f.ctx, "k", "late timeout", time.Time{}, true); err != nil {
			f.t.Fatal(err)
		}
		if got := keys(f.actions(id, core.Done)); !slices.Equal(got, []string{"k"}) {
			f.t.Fatalf("done = %v", got)
		}
	}},

	{"Fail_KeepsAnErrorShort", func(f *fixture) {
		id := f.linked()
		f.enqueue(comment("k", id))
		if err := f.s.Fail(f.ctx, "k", strings.Repeat("x", 1<<20), time.Time{}, true); err != nil {
			f.t.Fatal(err)
		}
		dl, err := f.s.DeadLetters(f.ctx)
		if err != nil || len(dl) != 1 {
			f.t.Fatalf("DeadLetters = %v, %v", keys(dl), err)
		}
		if n := len(dl[0].LastError); n == 0 || n > 10000 {
			f.t.Fatalf("stored error of %d bytes", n)
		}
	}},

	{"Replay_MovesDeadLettersBackAndMarksTheirCasesDirty", func(f *fixture) {
		id := f.linked()
		f.enqueue(comment("a", id), comment("b", id), comment("c", id))
		for _, k := range []string{"a", "b"} {
			if err := f.s.Fail(f.ctx, k, "403 forbidden", time.Time{}, true); err != nil {
				f.t.Fatal(err)
			}
		}
		if dl, _ := f.s.DeadLetters(f.ctx); !slices.Equal(keys(dl), []string{"a", "b"}) {
			f.t.Fatalf("dead letters = %v", keys(dl))
		}
		// c waits for a retry in an hour, so that only the replay can
		// make the case due now.
		if err := f.s.Fail(f.ctx, "c", "503 unavailable", f.clock.Now().Add(time.Hour), false); err != nil {
			f.t.Fatal(err)
		}
		f.drain()
		n, err := f.s.Replay(f.ctx, "b", "c", "unknown")
		if err != nil || n != 1 {
			f.t.Fatalf("Replay(b, c, unknown) = %d, %v; want 1 (only b was dead)", n, err)
		}
		pending := f.actions(id, core.Pending)
		if !slices.Equal(keys(pending), []string{"b", "c"}) || pending[0].Attempts != 0 {
			f.t.Fatalf("pending = %+v", pending)
		}
		f.wantDue("w", id)
		if n, err := f.s.Replay(f.ctx); err != nil || n != 1 {
			f.t.Fatalf("Replay() = %d, %v; want the remaining 1", n, err)
		}
		if dl, _ := f.s.DeadLetters(f.ctx); len(dl) != 0 {
			f.t.Fatalf("dead letters left: %v", keys(dl))
		}
	}},
}

func (f *fixture) caseOfOrZero(r core.Ref) core.CaseID {
	c, _ := f.s.CaseOf(f.ctx, r)
	return c
}

package storetest

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
)

var miscBehaviours = []behaviour{
	{"Lease_OneHolderUntilItRunsOut", func(f *fixture) {
		lease := func(owner string, ttl time.Duration) bool {
			f.t.Helper()
			ok, err := f.s.Lease(f.ctx, "poll:jira", owner, f.clock.Now(), ttl)
			if err != nil {
				f.t.Fatal(err)
			}
			return ok
		}
		if !lease("replica-a", 30*time.Second) {
			f.t.Fatal("a free lease was refused")
		}
		if lease("replica-b", 30*time.Second) {
			f.t.Fatal("a held lease was granted to another owner")
		}
		f.clock.Advance(20 * time.Second)
		if !lease("replica-a", 30*time.Second) {
			f.t.Fatal("the holder could not renew")
		}
		f.clock.Advance(20 * time.Second) // the renewal holds until +50s
		if lease("replica-b", 30*time.Second) {
			f.t.Fatal("a renewed lease was taken before it ran out")
		}
		f.clock.Advance(10 * time.Second)
		if !lease("replica-b", 30*time.Second) {
			f.t.Fatal("a lease that ran out was not taken over")
		}
		if lease("replica-a", 30*time.Second) {
			f.t.Fatal("the old holder got the lease back while the new one holds it")
		}
		if ok, err := f.s.Lease(f.ctx, "poll:github", "replica-a", f.clock.Now(), time.Minute); err != nil || !ok {
			f.t.Fatalf("another lease name = %v, %v; want granted", ok, err)
		}
	}},

	{"Lease_RacingReplicasGetOneWinner", func(f *fixture) {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins []string
		)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprint("replica-", i)
				ok, err := f.s.Lease(f.ctx, "poll:zendesk", owner, f.clock.Now(), time.Minute)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					wins = append(wins, "error: "+err.Error())
				} else if ok {
					wins = append(wins, owner)
				}
			}()
		}
		wg.Wait()
		if len(wins) != 1 {
			f.t.Fatalf("winners = %v, want exactly one", wins)
		}
	}},

	{"Cursor_StoresTheLastValuePerSource", func(f *fixture) {
		if c, err := f.s.Cursor(f.ctx, "jira"); err != nil || c != "" {
			f.t.Fatalf("Cursor of a new source = %q, %v; want empty", c, err)
		}
		for _, v := range []string{"2025-03-10T09:00:00Z", "2025-03-10T09:05:00Z"} {
			if err := f.s.SetCursor(f.ctx, "jira", v); err != nil {
				f.t.Fatal(err)
			}
		}
		if err := f.s.SetCursor(f.ctx, "zendesk", "1741597200"); err != nil {
			f.t.Fatal(err)
		}
		if c, _ := f.s.Cursor(f.ctx, "jira"); c != "2025-03-10T09:05:00Z" {
			f.t.Fatalf("Cursor = %q, want the last one set", c)
		}
		if c, _ := f.s.Cursor(f.ctx, "zendesk"); c != "1741597200" {
			f.t.Fatalf("Cursor(zendesk) = %q", c)
		}
	}},

	{"Prune_DropsOldRawBodiesAuditEntriesAndInboxRows", func(f *fixture) {
		id := f.linked() // two events with raw bodies at the epoch
		a := comment("k", id)
		if err := f.s.Complete(f.ctx, a, core.Result{}, core.AuditEntry{Detail: "old"}); err != nil {
			f.t.Fatal(err)
		}
		f.clock.Advance(8 * 24 * time.Hour)
		f.ingest(event("jira", "j2", snap(dev, "Crash", "In Progress", at(8*24*time.Hour))))
		if err := f.s.Complete(f.ctx, comment("k2", id), core.Result{}, core.AuditEntry{Detail: "new"}); err != nil {
			f.t.Fatal(err)
		}
		now := f.clock.Now()
		n, err := f.s.Prune(f.ctx, now.Add(-7*24*time.Hour), now.Add(-7*24*time.Hour))
		if err != nil {
			f.t.Fatal(err)
		}
		if n != 5 {
			f.t.Fatalf("Prune changed %d rows, want 2 raw bodies, 1 audit entry and 2 inbox rows", n)
		}
		if n, err := f.s.Prune(f.ctx, now.Add(-7*24*time.Hour), now.Add(-7*24*time.Hour)); err != nil || n != 0 {
			f.t.Fatalf("second Prune = %d, %v; want nothing left to do", n, err)
		}
		entries, _ := f.s.Audit(f.ctx, dev, 10)
		if len(entries) != 1 || entries[0].Detail != "new" {
			f.t.Fatalf("audit after prune = %+v", entries)
		}
		// The snapshots stay; only the old event rows go, so the database
		// does not grow without bound.
		if evs, _ := f.s.Events(f.ctx, dev, 10); len(evs) != 1 {
			f.t.Fatalf("events after prune = %v", deliveries(evs))
		}
		// A delivery older than the retention sent again is stored again,
		// and changes nothing: its snapshot is older.
		f.ingest(event("jira", "j1", snap(dev, "Crash", "To Do", at(0))))
		if it := f.item(dev); it.Native != "In Progress" {
			f.t.Fatalf("a very late redelivery changed the record to %q", it.Native)
		}
		// Pruning everything up to now takes the rest: two raw bodies, the
		// newer audit entry and two inbox rows.
		if n, err := f.s.Prune(f.ctx, now.Add(time.Second), now.Add(time.Second)); err != nil || n != 5 {
			f.t.Fatalf("Prune up to now = %d, %v; want 5", n, err)
		}
	}},

	{"Audit_NewestFirstAtMostN", func(f *fixture) {
		id := f.linked()
		for i := range 4 {
			f.clock.Advance(time.Second)
			if err := f.s.Complete(f.ctx, comment(fmt.Sprint("k", i), id), core.Result{}, core.AuditEntry{Detail: fmt.Sprint(i)}); err != nil {
				f.t.Fatal(err)
			}
		}
		entries, err := f.s.Audit(f.ctx, dev, 3)
		if err != nil {
			f.t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Detail)
		}
		if !slices.Equal(got, []string{"3", "2", "1"}) {
			f.t.Fatalf("audit = %v, want [3 2 1]", got)
		}
		if all, _ := f.s.Audit(f.ctx, dev, 0); len(all) != 4 {
			f.t.Fatalf("Audit(n=0) = %d entries, want all 4", len(all))
		}
		if none, _ := f.s.Audit(f.ctx, ticket, 10); len(none) != 0 {
			f.t.Fatalf("audit of another record = %+v", none)
		}
	}},

	{"Conflicts_NewestFirstAtMostN", func(f *fixture) {
		id := f.linked()
		for i := range 3 {
			c := core.Conflict{At: at(time.Duration(i) * time.Minute), Case: id, Rule: "sync-priority", Field: "priority",
				A: ticket, AVal: fmt.Sprint("a", i), B: dev, BVal: fmt.Sprint("b", i), Last: "normal"}
			if err := f.s.RecordConflict(f.ctx, c); err != nil {
				f.t.Fatal(err)
			}
		}
		got, err := f.s.Conflicts(f.ctx, 2)
		if err != nil {
			f.t.Fatal(err)
		}
		want := core.Conflict{At: at(2 * time.Minute), Case: id, Rule: "sync-priority", Field: "priority",
			A: ticket, AVal: "a2", B: dev, BVal: "b2", Last: "normal"}
		if len(got) != 2 || got[0] != want || got[1].AVal != "a1" {
			f.t.Fatalf("conflicts = %+v", got)
		}
	}},

	{"Lookups_OfUnknownThingsAreNotFoundOrEmpty", func(f *fixture) {
		_, err := f.s.Item(f.ctx, ticket)
		errIs(f.t, err, core.ErrNotFound, "Item of an unknown record")
		_, err = f.s.CaseOf(f.ctx, ticket)
		errIs(f.t, err, core.ErrNotFound, "CaseOf an unknown record")
		c := f.load(424242)
		if c.ID != 424242 || len(c.Items) != 0 || len(c.Links) != 0 || c.Keys == nil || c.Mirrors == nil || c.Synced == nil {
			f.t.Fatalf("unknown case = %+v, want empty with usable maps", c)
		}
		if as := f.actions(424242, ""); len(as) != 0 {
			f.t.Fatalf("actions of an unknown case = %v", keys(as))
		}
		if err := f.s.ReleaseCase(f.ctx, 424242, "w", time.Time{}); err != nil {
			f.t.Fatalf("releasing an unknown case: %v", err)
		}
		if err := f.s.Ping(f.ctx); err != nil {
			f.t.Fatalf("Ping: %v", err)
		}
	}},
}

var recordsBehaviours = []behaviour{
	{"Records_NewestFirstBySelectorWithoutPlaceholders", func(f *fixture) {
		f.ingest(
			event("jira", "j1", snap(dev, "old", "To Do", at(time.Minute))),
			event("jira", "j2", snap(dev2, "new", "To Do", at(3*time.Minute))),
			event("jira", "j3", snap(change, "change", "Open", at(2*time.Minute))),
			// The ticket's link makes a placeholder of another dev ticket.
			event("zendesk", "z1", snap(ticket, "ticket", "open", at(4*time.Minute)),
				core.Link{From: ticket, To: core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-1"}, Role: core.EscalatedTo}),
		)
		records := func(sel core.Selector, since time.Time, n int) []core.Ref {
			f.t.Helper()
			its, err := f.s.Records(f.ctx, sel, since, n)
			if err != nil {
				f.t.Fatal(err)
			}
			var out []core.Ref
			for _, it := range its {
				out = append(out, it.Ref)
			}
			return out
		}
		for _, c := range []struct {
			sel   core.Selector
			since time.Time
			n     int
			want  []core.Ref
		}{
			{core.Selector{System: "jira", Kind: core.DevTicket}, time.Time{}, 10, []core.Ref{dev2, dev}},
			{core.Selector{Kind: core.DevTicket}, time.Time{}, 1, []core.Ref{dev2}},
			{core.Selector{System: "jira"}, at(2 * time.Minute), 10, []core.Ref{dev2, change}},
			{core.Selector{}, time.Time{}, 0, []core.Ref{ticket, dev2, change, dev}},
			{core.Selector{System: "github"}, time.Time{}, 10, nil},
		} {
			if got := records(c.sel, c.since, c.n); !slices.Equal(got, c.want) {
				f.t.Errorf("Records(%s, since %v, %d) = %v, want %v", c.sel, c.since, c.n, got, c.want)
			}
		}
		// A placeholder's first event makes it a known record.
		f.ingest(event("jira", "j4", snap(core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-1"}, "now known", "To Do", at(5*time.Minute))))
		if got := records(core.Selector{Kind: core.DevTicket}, time.Time{}, 1); len(got) != 1 || got[0].ID != "KBOT-1" {
			f.t.Fatalf("Records after the placeholder's event = %v", got)
		}
	}},

	{"Records_LeaveOutTheGatewaysOrphans", func(f *fixture) {
		// Two tickets the gateway made (they carry its marker): one
		// recorded and linked to its customer ticket, one whose create
		// timed out and was never linked (an orphan). And a person's.
		made, orphan := snap(dev, "made", "To Do", at(time.Minute)), snap(dev2, "orphan", "To Do", at(2*time.Minute))
		made.Marker, orphan.Marker = core.MarkerFor("create-a"), core.MarkerFor("create-b")
		f.ingest(
			event("jira", "j1", made),
			event("jira", "j2", orphan),
			event("jira", "j3", snap(change, "a person's", "Open", at(3*time.Minute))),
			event("zendesk", "z1", snap(ticket, "ticket", "open", at(4*time.Minute)),
				core.Link{From: ticket, To: dev, Role: core.EscalatedTo, Origin: core.Ours}),
		)
		its, err := f.s.Records(f.ctx, core.Selector{System: "jira"}, time.Time{}, 10)
		if err != nil {
			f.t.Fatal(err)
		}
		var got []core.Ref
		for _, it := range its {
			got = append(got, it.Ref)
		}
		if want := []core.Ref{change, dev}; !slices.Equal(got, want) {
			f.t.Fatalf("Records = %v, want %v (no orphan)", got, want)
		}
	}},
}

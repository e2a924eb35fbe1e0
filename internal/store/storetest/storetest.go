// Package storetest is the behaviour every core.Store must show, as one
// suite that runs against each implementation (SQLite and PostgreSQL in
// internal/store, and any fake the engine's tests use):
//
//	func TestSQLite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock core.Clock) core.Store { ... })
//	}
//
// Each behaviour opens its own empty store with the suite's clock, so that
// the times the store stamps (received, due, created) are known.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Opener returns a new, empty store that reads time from clock. It should
// register the store's Close with t.Cleanup.
type Opener func(t *testing.T, clock core.Clock) core.Store

// Run runs every behaviour of the contract as a subtest.
func Run(t *testing.T, open Opener) {
	for _, b := range behaviours {
		t.Run(b.name, func(t *testing.T) {
			clock := NewClock(Epoch)
			f := &fixture{t: t, s: open(t, clock), clock: clock, ctx: context.Background()}
			b.run(f)
		})
	}
}

// Epoch is where the suite's clock starts.
var Epoch = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

// Clock is a settable core.Clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now implements core.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type behaviour struct {
	name string
	run  func(f *fixture)
}

// fixture holds one behaviour's store and the helpers that read as the
// support domain.
type fixture struct {
	t     *testing.T
	s     core.Store
	clock *Clock
	ctx   context.Context
}

// Records the behaviours use.
var (
	ticket  = core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
	ticket2 = core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4522"}
	dev     = core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}
	dev2    = core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-89"}
	change  = core.Ref{System: "jira", Kind: core.ChangeTicket, ID: "DO-12"}
	pr      = core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/kbot#341"}
	pr2     = core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/kbot#342"}
	thread  = core.Ref{System: "imap", Kind: core.EmailThread, ID: "<CAF=1@mail.example.com>"}
)

// at is a time relative to the epoch, for UpdatedAt values.
func at(d time.Duration) time.Time { return Epoch.Add(d) }

// event builds an ingest of a snapshot of r.
func event(source, delivery string, it core.Item, links ...core.Link) core.Ingest {
	typ := core.Updated
	if len(it.Seen) > 0 {
		typ = it.Seen[0]
	}
	return core.Ingest{Event: core.Event{
		Source: source, DeliveryID: delivery, Via: core.ViaWebhook, Type: typ,
		Item: it, Links: links, At: it.UpdatedAt, Raw: []byte(`{"delivery":"` + delivery + `"}`),
	}}
}

// snap is a snapshot of r with a title and native status at time t.
func snap(r core.Ref, title, native string, t time.Time) core.Item {
	return core.Item{Ref: r, Title: title, Native: native, UpdatedAt: t, Seen: []core.EventType{core.Updated}}
}

func discovered(from core.Ref, to ...core.Ref) []core.Link {
	var out []core.Link
	for _, r := range to {
		out = append(out, core.Link{From: from, To: r, Role: core.Fixes, Origin: core.Discovered})
	}
	return out
}

func (f *fixture) ingest(batch ...core.Ingest) []bool {
	f.t.Helper()
	fresh, err := f.s.Ingest(f.ctx, batch)
	if err != nil {
		f.t.Fatalf("Ingest: %v", err)
	}
	if len(fresh) != len(batch) {
		f.t.Fatalf("Ingest returned %d flags for %d events", len(fresh), len(batch))
	}
	return fresh
}

func (f *fixture) item(r core.Ref) *core.Item {
	f.t.Helper()
	it, err := f.s.Item(f.ctx, r)
	if err != nil {
		f.t.Fatalf("Item(%s): %v", r, err)
	}
	return it
}

func (f *fixture) caseOf(r core.Ref) core.CaseID {
	f.t.Helper()
	c, err := f.s.CaseOf(f.ctx, r)
	if err != nil {
		f.t.Fatalf("CaseOf(%s): %v", r, err)
	}
	return c
}

func (f *fixture) load(id core.CaseID) *core.Case {
	f.t.Helper()
	c, err := f.s.LoadCase(f.ctx, id)
	if err != nil {
		f.t.Fatalf("LoadCase(%d): %v", id, err)
	}
	return c
}

// audited returns the keys of the audit entries about r, sorted.
func (f *fixture) audited(r core.Ref) []string {
	f.t.Helper()
	entries, err := f.s.Audit(f.ctx, r, 0)
	if err != nil {
		f.t.Fatalf("Audit(%s): %v", r, err)
	}
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	return keys
}

func (f *fixture) claim(owner string, n int) []core.CaseID {
	f.t.Helper()
	ids, err := f.s.ClaimCases(f.ctx, owner, f.clock.Now(), n, time.Minute)
	if err != nil {
		f.t.Fatalf("ClaimCases(%s): %v", owner, err)
	}
	return ids
}

func (f *fixture) release(id core.CaseID, owner string, retryAt time.Time) {
	f.t.Helper()
	if err := f.s.ReleaseCase(f.ctx, id, owner, retryAt); err != nil {
		f.t.Fatalf("ReleaseCase(%d, %s): %v", id, owner, err)
	}
}

// drain claims and releases everything due, so that nothing is due. A
// case with an action pending stays queued, due at its next attempt.
func (f *fixture) drain() {
	f.t.Helper()
	for _, id := range f.claim("drain", 1000) {
		f.release(id, "drain", time.Time{})
	}
	if got := f.claim("drain", 1000); len(got) != 0 {
		f.t.Fatalf("cases %v still due after drain", got)
	}
}

func (f *fixture) depth() (cases, actions int) {
	f.t.Helper()
	c, a, err := f.s.QueueDepth(f.ctx)
	if err != nil {
		f.t.Fatalf("QueueDepth: %v", err)
	}
	return c, a
}

func (f *fixture) enqueue(as ...core.Action) []bool {
	f.t.Helper()
	added, err := f.s.Enqueue(f.ctx, as)
	if err != nil {
		f.t.Fatalf("Enqueue: %v", err)
	}
	return added
}

func (f *fixture) actions(id core.CaseID, st core.ActionState) []core.Action {
	f.t.Helper()
	as, err := f.s.Actions(f.ctx, id, st)
	if err != nil {
		f.t.Fatalf("Actions(%d, %q): %v", id, st, err)
	}
	return as
}

func keys(as []core.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Key
	}
	return out
}

func refs(c *core.Case) []core.Ref { return c.Refs() }

// sameCase asserts that all rs are in one case, and returns it.
func (f *fixture) sameCase(rs ...core.Ref) core.CaseID {
	f.t.Helper()
	c := f.caseOf(rs[0])
	for _, r := range rs[1:] {
		if got := f.caseOf(r); got != c {
			f.t.Fatalf("%s is in case %d, %s in case %d; want one case", rs[0], c, r, got)
		}
	}
	return c
}

// connected asserts the store's case invariants for the records (see
// CheckCases).
func (f *fixture) connected(rs ...core.Ref) {
	f.t.Helper()
	CheckCases(f.t, f.s, rs...)
}

// CheckCases asserts the store's case invariants for the records: every
// record's case holds it, both ends of every link of a case are records of
// that case, and a case's records are connected by its links. Fault and
// load tests call it after the dust settles.
func CheckCases(t testing.TB, s core.Store, rs ...core.Ref) {
	t.Helper()
	ctx := context.Background()
	for _, r := range rs {
		id, err := s.CaseOf(ctx, r)
		if err != nil {
			t.Fatalf("CaseOf(%s): %v", r, err)
		}
		c, err := s.LoadCase(ctx, id)
		if err != nil {
			t.Fatalf("LoadCase(%d): %v", id, err)
		}
		if c.Item(r) == nil {
			t.Fatalf("case %d of %s does not hold it (holds %v)", id, r, refs(c))
		}
		adj := map[core.Ref][]core.Ref{}
		for _, l := range c.Links {
			if c.Item(l.From) == nil || c.Item(l.To) == nil {
				t.Fatalf("case %d has link %s → %s leaving it", id, l.From, l.To)
			}
			adj[l.From] = append(adj[l.From], l.To)
			adj[l.To] = append(adj[l.To], l.From)
		}
		seen := map[core.Ref]bool{r: true}
		queue := []core.Ref{r}
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			for _, y := range adj[x] {
				if !seen[y] {
					seen[y] = true
					queue = append(queue, y)
				}
			}
		}
		if len(seen) != len(c.Items) {
			t.Fatalf("case %d is not connected: %s reaches %d of its %d records", id, r, len(seen), len(c.Items))
		}
	}
}

// joinTwoClaims gives the ticket and the dev ticket a case each, claimed
// by w1 and, stagger later, by w2 (leases of a minute), then links them:
// the two claimed cases a and b join into id.
func (f *fixture) joinTwoClaims(stagger time.Duration) (a, b, id core.CaseID) {
	f.t.Helper()
	f.ingest(event("zendesk", "z1", snap(ticket, "x", "open", at(0))))
	f.ingest(event("jira", "j1", snap(dev, "y", "To Do", at(0))))
	a, b = f.caseOf(ticket), f.caseOf(dev)
	if got := f.claim("w1", 1); !slices.Equal(got, []core.CaseID{a}) {
		f.t.Fatalf("w1 claimed %v, want %v", got, a)
	}
	f.clock.Advance(stagger)
	f.wantDue("w2", b)
	f.ingest(event("zendesk", "z2", snap(ticket, "x", "open", at(time.Minute)), core.Link{From: ticket, To: dev, Role: core.EscalatedTo}))
	return a, b, f.sameCase(ticket, dev)
}

func (f *fixture) wantDue(owner string, want ...core.CaseID) {
	f.t.Helper()
	got := f.claim(owner, 100)
	if !slices.Equal(got, want) {
		f.t.Fatalf("ClaimCases(%s) = %v, want %v", owner, got, want)
	}
}

func errIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

func key(parts ...any) string { return fmt.Sprint(parts...) }

// behaviours is the whole contract, by area.
var behaviours = slices.Concat(ingestBehaviours, queueBehaviours, outboxBehaviours, batchBehaviours, miscBehaviours, recordsBehaviours, blobBehaviours)

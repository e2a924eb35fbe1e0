package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
)

// faultyStore fails (or panics in) one store call, once.
type faultyStore struct {
	core.Store
	call  string // "load", "enqueue", "ingest"
	panic bool
	done  atomic.Bool
}

var errBusy = errors.New("store: wait for the writer: context deadline exceeded")

func (s *faultyStore) trip(call string) error {
	if call != s.call || s.done.Swap(true) {
		return nil
	}
	if s.panic {
		panic("store fault in " + call)
	}
	return errBusy
}

func (s *faultyStore) LoadCases(ctx context.Context, ids []core.CaseID) ([]*core.Case, error) {
	if err := s.trip("load"); err != nil {
		return nil, err
	}
	return s.Store.LoadCases(ctx, ids)
}

func (s *faultyStore) Enqueue(ctx context.Context, as []core.Action) ([]bool, error) {
	if err := s.trip("enqueue"); err != nil {
		return nil, err
	}
	return s.Store.Enqueue(ctx, as)
}

// Ingest and EnqueueOnRead store the fetched record (the webhook's
// ingest comes first, and the fault is armed after it).
func (s *faultyStore) Ingest(ctx context.Context, batch []core.Ingest) ([]bool, error) {
	if err := s.trip("ingest"); err != nil {
		return nil, err
	}
	return s.Store.Ingest(ctx, batch)
}

// EnqueueOnRead also enqueues.
func (s *faultyStore) EnqueueOnRead(ctx context.Context, batch []core.Ingest, plans []core.PlannedCase) ([]bool, []core.PlanOutcome, error) {
	if err := errors.Join(s.trip("ingest"), s.trip("enqueue")); err != nil {
		return nil, nil, err
	}
	return s.Store.(readPlanner).EnqueueOnRead(ctx, batch, plans)
}

// readsAlone is a store with none of the engine's shortcuts: it takes
// records read back only as events, not with the plans made on them, and
// releases cases apart from their completions. The engine stores the
// read, loads the case and plans again, and loads it once more after the
// writes.
type readsAlone struct{ core.Store }

// slowTracker is a Jira whose reads of one record time out, once.
type slowTracker struct {
	*sandbox.Connector
	done atomic.Bool
}

func (s *slowTracker) Fetch(ctx context.Context, r core.Ref) (*core.Item, error) {
	if !s.done.Swap(true) {
		return nil, context.DeadlineExceeded
	}
	return s.Connector.Fetch(ctx, r)
}

// panickyTracker panics in its first read or its first write.
type panickyTracker struct {
	*sandbox.Connector
	inFetch bool
	done    atomic.Bool
}

func (p *panickyTracker) Fetch(ctx context.Context, r core.Ref) (*core.Item, error) {
	if p.inFetch && !p.done.Swap(true) {
		panic("tracker fault in a read")
	}
	return p.Connector.Fetch(ctx, r)
}

func (p *panickyTracker) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if !p.inFetch && !p.done.Swap(true) {
		panic("tracker fault in a write")
	}
	return p.Connector.Apply(ctx, a)
}

// panickyRules makes the first evaluation of any rule condition panic.
func panickyRules(m *core.Mappings) *core.Mappings {
	cp := *m
	var tripped atomic.Bool
	cp.Rules = nil
	for _, r := range m.Rules {
		r2 := *r
		if r.If != nil {
			c := *r.If
			eval := c.Eval
			c.Eval = func(env *core.Env) (bool, error) {
				if !tripped.Swap(true) {
					panic("rule fault")
				}
				return eval(env)
			}
			r2.If = &c
		}
		cp.Rules = append(cp.Rules, &r2)
	}
	return &cp
}

// TestReconcile_AFailedReconcileStaysQueued: a merged pull request names
// a developer ticket the gateway has never seen, so its reconcile reads
// the ticket from Jira, then moves it to Ready for QA. Whatever fails on
// the way once (the read times out, the store is busy loading, storing the
// read record or enqueueing, a rule, the store or the tracker panics)
// leaves the case queued with a retry time, and the ticket is moved all
// the same.
func TestReconcile_AFailedReconcileStaysQueued(t *testing.T) {
	tests := []struct {
		name  string
		store *faultyStore
		alone bool // the store takes reads alone (readsAlone)
		fetch bool
		rules bool
		// tracker stands for Jira (its Connector is filled in).
		tracker *panickyTracker
	}{
		{name: "no fault"},
		{name: "fetch times out", fetch: true},
		{name: "store busy loading the case", store: &faultyStore{call: "load"}},
		{name: "storing the fetched record with the plan fails", store: &faultyStore{call: "ingest"}},
		{name: "storing the fetched record alone fails", store: &faultyStore{call: "ingest"}, alone: true},
		{name: "enqueueing fails", store: &faultyStore{call: "enqueue"}},
		{name: "enqueueing after the read alone fails", store: &faultyStore{call: "enqueue"}, alone: true},
		{name: "the store panics", store: &faultyStore{call: "load", panic: true}},
		{name: "a rule panics", rules: true},
		{name: "the tracker panics in its read", tracker: &panickyTracker{inFetch: true}},
		{name: "the tracker panics in its write", tracker: &panickyTracker{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, merged := mergedFixForUnseenTicket(t)
			o := Options{}
			jira := core.Connector(w.sys["jira"])
			if tc.fetch {
				jira = &slowTracker{Connector: w.sys["jira"]}
			}
			if tc.tracker != nil {
				tc.tracker.Connector = w.sys["jira"]
				jira = tc.tracker
			}
			o.Connectors = []core.Connector{w.sys["imap"], w.sys["zendesk"], jira, w.sys["github"]}
			eng := w.newEngine(t, o)
			if tc.rules {
				eng.SetMappings(panickyRules(eng.Mappings()))
			}
			w.submit(t, merged)
			if tc.store != nil {
				eng.o.Store = tc.store
				tc.store.Store = w.st
				if tc.alone {
					eng.o.Store = readsAlone{tc.store}
				}
			}
			w.drain(t)
			if (tc.store != nil && !tc.store.done.Load()) || (tc.tracker != nil && !tc.tracker.done.Load()) {
				t.Fatal("the fault was never met: the test proves nothing")
			}
			// A write that panicked may have landed: it is looked up
			// once it can no longer be in flight, minutes on.
			step := 2 * time.Second
			if tc.tracker != nil && !tc.tracker.inFetch {
				step = time.Minute
			}
			for range 5 {
				w.drainAt(t, step)
			}
			w.wantReadyForQA(t)
		})
	}
}

// mergedFixForUnseenTicket is a world whose Jira has KBOT-88 In Review,
// which the gateway learns of only from the title of a merged pull
// request, and that pull request's merge event, not yet submitted.
func mergedFixForUnseenTicket(t *testing.T) (*world, core.Event) {
	w := newWorld(t, defaults(t))
	dev := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}
	pr := core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/app#341"}
	w.put(t, core.Item{Ref: dev, Title: "Reset link gives 500", Native: "In Review", Priority: "High"}, core.Created)
	return w, w.put(t, core.Item{Ref: pr, Title: "KBOT-88: reset tokens in UTC", Native: "merged", URL: "https://gh/341"}, core.Merged)
}

// wantReadyForQA wants KBOT-88 moved on and nothing left queued.
func (w *world) wantReadyForQA(t *testing.T) {
	t.Helper()
	dev := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}
	if got, ok := w.sys["jira"].Record(dev); !ok || got.Native != "Ready for QA" {
		t.Fatalf("KBOT-88 is %q, want Ready for QA", got.Native)
	}
	if cases, actions, err := w.st.QueueDepth(context.Background()); err != nil || cases != 0 || actions != 0 {
		t.Fatalf("%d cases and %d actions still queued (err %v)", cases, actions, err)
	}
}

// TestReconcile_AReadBackRecordIsPlannedOnAsRead: a merged pull request
// names a Jira ticket the gateway has not seen. The engine reads the
// ticket and plans on it as read, storing it with the actions, and the
// case, settled by the writes, is released with them: it is loaded once.
// A store that takes reads alone, and can only complete and release
// apart, costs a load between the read and the plan and one after the
// writes.
func TestReconcile_AReadBackRecordIsPlannedOnAsRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alone bool
		loads int64
	}{
		{"with the plan", false, 1},
		{"alone", true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, merged := mergedFixForUnseenTicket(t)
			eng := w.newEngine(t, Options{})
			eng.o.CheckSettled = false // its load would count
			w.submit(t, merged)
			lc := &loadCounter{Store: w.st}
			eng.o.Store = lc
			if tc.alone {
				eng.o.Store = readsAlone{lc}
			}
			w.drain(t)
			w.wantReadyForQA(t)
			if n := lc.loads.Load(); n != tc.loads {
				t.Errorf("the case was loaded %d times, want %d", n, tc.loads)
			}
		})
	}
}

// Package engine runs Liaison's loop: events in (group-committed to the
// store), dirty cases out to workers that plan with core.PlanCase and apply
// the outbox through the connectors, pollers under leases, and retention.
// It knows connectors only through core's capability interfaces.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/journal"
)

// Options configure an Engine. Store, Connectors and Mappings are required.
type Options struct {
	Store      core.Store
	Connectors []core.Connector
	Mappings   *core.Mappings
	Metrics    *Metrics
	Clock      core.Clock
	Log        *slog.Logger
	// Owner names this replica in claims and leases (default: random).
	Owner string
	// Workers reconcile cases concurrently (default 16: they spend most of
	// their time waiting on connectors and on the group commit). It is
	// also how many connector calls are made at once, all batches
	// together, so that a tracker sees no more than it did one case per
	// worker.
	Workers int
	// Lease bounds how long a claimed case or a poll source stays with a
	// replica that stopped answering (default 30s).
	Lease time.Duration
	// MaxAttempts before an action goes to the dead-letter list (default 8),
	// with exponential backoff from BackoffBase up to BackoffMax (default
	// 1s, 10m), each wait between half and all of its step (jitter),
	// unless the service asked for a longer wait.
	MaxAttempts             int
	BackoffBase, BackoffMax time.Duration
	// RetryAfterMax caps the wait a service may ask for (Retry-After, a
	// rate-limit reset) before the next attempt (default 1h): a wrong
	// header must not park an action for years. Such a wait still counts
	// as an attempt.
	RetryAfterMax time.Duration
	// ApplyTimeout bounds one Apply call (default 60s).
	ApplyTimeout time.Duration
	// UncertainGrace is how long after ApplyTimeout a write whose outcome
	// is unknown (it timed out, or its connection broke after sending) may
	// still take effect at a slow service (default 30s). Only then is it
	// looked up by its marker; until then it is neither re-sent nor
	// looked up.
	UncertainGrace time.Duration
	// LookupWindow is how long after that a create of unknown outcome
	// that its marker search does not find is searched for again before
	// it is created anew: searches lag behind writes (default 2m).
	LookupWindow time.Duration
	// PollInterval is used for pollers that do not say (default 1m).
	PollInterval time.Duration
	// IdleWait is how often idle workers look for due cases that no local
	// event announced: retries coming due, and work other replicas queued
	// (default 250ms).
	IdleWait time.Duration
	// MaxBatch caps events per group commit (default 512).
	MaxBatch int
	// Batch is how many cases a worker claims and reconciles together,
	// sharing their store reads and writes (default 128).
	Batch int
	// Linger is how long a case claimed at ingest may wait for others to
	// share its reconcile, while ingests come more often than once per
	// Linger and other cases are being reconciled (default 10ms;
	// negative: never). A case that arrives after a quiet spell, or while
	// no other is being reconciled, is reconciled at once.
	Linger time.Duration
	// Journal is the folder of the intake journal ("": none). With one,
	// Accept answers once a webhook's events are appended to it, and the
	// store takes them in behind: the acknowledgement does not wait for
	// the store's writer. It must be on the store's disk (see
	// store.JournalDir).
	Journal string
	// IntakeLinger is how long journaled events may wait for others to
	// share their commit while another commit is under way (default 5ms;
	// with none under way they go at once). A commit of one event costs
	// nearly what one of dozens does: the pages of the same indexes
	// written again, and a sync.
	IntakeLinger time.Duration
	// RawRetention and AuditRetention drive pruning (defaults 7 and 90 days).
	RawRetention, AuditRetention time.Duration
	// Notifier applies Notify actions that name a destination (mail or
	// outbound webhook); nil dead-letters them with a clear error. A
	// Notify without one goes to its target's connector.
	Notifier core.Applier
	// CheckSettled loads again every case released with its completions
	// as settled (its plan, made in memory on the case as the writes left
	// it, needing nothing more) and counts in Unsettled those whose
	// stored state plans more. It is how tests hold the in-memory plan to
	// the store's, at the cost of the load the release saved.
	CheckSettled bool
}

// Engine is the running gateway core. Create it with New, start it with Run.
type Engine struct {
	o        Options
	log      *slog.Logger
	conns    map[string]core.Connector
	mappings atomic.Pointer[core.Mappings]
	ingestCh chan *ingestReq
	wake     chan struct{}
	started  time.Time
	m        *Metrics
	finds    pollFinds    // changes polling found first, waiting for their webhooks
	busy     atomic.Int64 // cases being reconciled now
	// unsettled counts the cases released as settled that the store's
	// state plans more for (Options.CheckSettled).
	unsettled atomic.Int64
	// committing is set while Run's group committers are up; without them,
	// Submit writes directly (tools and tests that drive the engine
	// synchronously).
	committing atomic.Bool
	// untried holds the keys of actions planned by a running reconcile
	// and not attempted yet (see perform).
	untried sync.Map
	// seen holds what firstSight reported (links, conflicts), so that each
	// is logged once per process.
	seenMu sync.Mutex
	seen   map[string]struct{}

	gate *actionGate
	// calls holds a token per connector call under way (Workers of them).
	calls chan struct{}
	// held stops the workers from claiming (Hold).
	held atomic.Bool
	// looking is held by the idle worker that looks for due cases (idle),
	// lingering by the one that waits for handed cases to gather (linger).
	looking, lingering atomic.Bool
	// commits counts the group commits under way; committed is told
	// (when not already) as one ends. The intake's gatherer waits for
	// more requests only while a commit is under way (gatherLoop).
	commits   atomic.Int32
	committed chan struct{}
	// handed holds cases claimed by ingest (IngestClaimer) for the
	// workers, oldest first; lastHand is when cases were last handed.
	handMu   sync.Mutex
	handed   []handedCase
	lastHand time.Time
	// overflow is when (unix ns, 0: not now) ingest first left cases to
	// the ordinary claims because too many were handed already; the
	// workers clear it once a claim finds the queue drained (see Lag).
	overflow atomic.Int64
	// running holds, per batch a worker is reconciling, when its oldest
	// case was handed over (see Lag); under handMu.
	running map[*time.Time]struct{}

	// journal is the intake journal while Run runs (nil: none). Once it
	// is closed, Accept's appends fail with ErrClosed and go to Submit.
	journal atomic.Pointer[journal.Journal]
	// journalCh takes journaled requests to gatherLoop.
	journalCh chan *ingestReq

	// jitter returns a random duration in [0, n) (backoff).
	jitter func(n int64) int64

	candMu  sync.Mutex
	cand    []core.Item
	candAt  time.Time
	candFor *core.Mappings
}

// New checks the options and builds an engine.
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.Mappings == nil {
		return nil, errors.New("engine: store and mappings are required")
	}
	o.Clock = cmp.Or[core.Clock](o.Clock, core.SystemClock{})
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.Owner = cmp.Or(o.Owner, fmt.Sprintf("replica-%08x", rand.Uint32()))
	o.Workers = cmp.Or(o.Workers, 16)
	o.Lease = cmp.Or(o.Lease, 30*time.Second)
	o.MaxAttempts = cmp.Or(o.MaxAttempts, 8)
	o.BackoffBase = cmp.Or(o.BackoffBase, time.Second)
	o.BackoffMax = cmp.Or(o.BackoffMax, 10*time.Minute)
	o.RetryAfterMax = cmp.Or(o.RetryAfterMax, time.Hour)
	o.ApplyTimeout = cmp.Or(o.ApplyTimeout, 60*time.Second)
	o.UncertainGrace = cmp.Or(o.UncertainGrace, 30*time.Second)
	o.LookupWindow = cmp.Or(o.LookupWindow, 2*time.Minute)
	o.PollInterval = cmp.Or(o.PollInterval, time.Minute)
	o.IdleWait = cmp.Or(o.IdleWait, 250*time.Millisecond)
	o.MaxBatch = cmp.Or(o.MaxBatch, 512)
	o.Batch = cmp.Or(o.Batch, 128)
	o.Linger = cmp.Or(o.Linger, 10*time.Millisecond)
	o.IntakeLinger = cmp.Or(o.IntakeLinger, 5*time.Millisecond)
	o.RawRetention = cmp.Or(o.RawRetention, 7*24*time.Hour)
	o.AuditRetention = cmp.Or(o.AuditRetention, 90*24*time.Hour)
	e := &Engine{o: o, log: o.Log, conns: map[string]core.Connector{}, m: o.Metrics,
		ingestCh: make(chan *ingestReq, 4096), journalCh: make(chan *ingestReq, journalPending), wake: make(chan struct{}, 1), committed: make(chan struct{}, 1), seen: map[string]struct{}{}, gate: newActionGate(),
		calls: make(chan struct{}, o.Workers), jitter: rand.Int64N}
	for _, c := range o.Connectors {
		if _, dup := e.conns[c.Name()]; dup {
			return nil, fmt.Errorf("engine: two connectors named %q", c.Name())
		}
		e.conns[c.Name()] = c
		if u, ok := c.(core.BlobUser); ok {
			if b, ok := o.Store.(core.Blobs); ok {
				u.UseBlobs(b)
			}
		}
	}
	e.mappings.Store(o.Mappings)
	if e.m != nil {
		backlog := e.IntakeBacklog
		e.m.backlog.Store(&backlog)
	}
	return e, nil
}

// Connector returns the instance named name.
func (e *Engine) Connector(name string) (core.Connector, bool) {
	c, ok := e.conns[name]
	return c, ok
}

// Mappings returns the mappings in force.
func (e *Engine) Mappings() *core.Mappings { return e.mappings.Load() }

// SetMappings swaps in reloaded mappings; the next reconcile of every case
// uses them. The caller has validated them (an invalid folder never gets
// here: the old mappings stay).
func (e *Engine) SetMappings(m *core.Mappings) { e.mappings.Store(m) }

// Store returns the engine's store.
func (e *Engine) Store() core.Store { return e.o.Store }

// Metrics returns the engine's metrics (nil when none were configured).
func (e *Engine) Metrics() *Metrics { return e.m }

// claimReleaser is a store that can end every claim at once (SQLite).
type claimReleaser interface {
	ReleaseClaims(ctx context.Context) (int, error)
}

// releaseDeadClaims ends the claims and poll leases a process that died
// left, when this one holds the intake journal's lock: on a store with a
// journal (SQLite) that lock proves no other process uses it, so nothing
// claimed is being worked on, and the work need not wait for the leases
// to run out.
func (e *Engine) releaseDeadClaims(ctx context.Context) {
	cr, ok := e.o.Store.(claimReleaser)
	if !ok {
		return
	}
	n, err := cr.ReleaseClaims(ctx)
	if err != nil {
		e.log.Error("releasing the claims of an earlier process failed; its cases wait for their leases", "err", err)
		return
	}
	if n > 0 {
		e.log.Info("released the claims of an earlier process", "cases", n)
	}
}

// Run starts the group committers, workers, pollers, runners and the
// retention loop, and blocks until ctx ends. In-flight reconciles finish
// (their actions complete or stay in the outbox) before Run returns.
func (e *Engine) Run(ctx context.Context) error {
	e.started = e.o.Clock.Now()
	var wg sync.WaitGroup
	commitCtx, stopCommit := context.WithCancel(context.WithoutCancel(ctx))
	j := e.openJournal(commitCtx)
	if j != nil {
		e.releaseDeadClaims(ctx)
	}
	e.journal.Store(j)
	e.committing.Store(true)
	for range committers {
		wg.Add(1)
		go func() { defer wg.Done(); e.commitLoop(commitCtx) }()
	}
	gatherCtx, stopGather := context.WithCancel(context.WithoutCancel(ctx))
	gathered := make(chan struct{})
	go func() { defer close(gathered); e.gatherLoop(gatherCtx) }()

	var workers sync.WaitGroup
	for i := 0; i < e.o.Workers; i++ {
		workers.Add(1)
		go func() { defer workers.Done(); e.workLoop(ctx) }()
	}
	for _, c := range e.conns {
		if s, ok := c.(core.Starter); ok {
			if err := s.Start(ctx); err != nil {
				e.log.Error("connector did not start", "connector", c.Name(), "err", err)
			}
		}
		if p, ok := c.(core.Poller); ok {
			workers.Add(1)
			go func() { defer workers.Done(); e.pollLoop(ctx, c.Name(), p) }()
		}
		if r, ok := c.(core.Runner); ok {
			workers.Add(1)
			go func() { defer workers.Done(); e.runLoop(ctx, c.Name(), r) }()
		}
	}
	workers.Add(1)
	go func() { defer workers.Done(); e.retentionLoop(ctx) }()
	<-ctx.Done()
	workers.Wait()
	// Cases claimed at ingest that no worker took up are released, due:
	// whoever runs next takes them without waiting for the lease.
	if left, _ := e.takeHanded(math.MaxInt); len(left) > 0 {
		rel := make([]core.Release, len(left))
		for i, id := range left {
			rel[i] = core.Release{Case: id}
		}
		e.releaseCases(ctx, rel)
	}
	// Workers are done; nobody submits any more. Stop the committers last,
	// once the journal takes no more: they take in what is still waiting
	// (a poll page read before shutdown, webhooks acknowledged).
	var err error
	if j != nil {
		err = j.Close()
	}
	stopGather()
	<-gathered
	stopCommit()
	wg.Wait()
	e.committing.Store(false)
	e.journal.Store(nil)
	if err != nil {
		return fmt.Errorf("engine: close the intake journal: %w", err)
	}
	return nil
}

// Hold stops the workers from taking up dirty cases until Resume: events
// are still made durable and their cases marked, but nothing is acted on.
// Reconciles under way finish.
func (e *Engine) Hold() { e.held.Store(true) }

// Resume lets the workers take up dirty cases again.
func (e *Engine) Resume() {
	e.held.Store(false)
	e.notify()
}

func (e *Engine) notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

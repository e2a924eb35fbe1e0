package engine

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
)

type ingestReq struct {
	batch []core.Ingest
	fresh []bool
	err   error
	done  chan struct{}
	// seqs are the request's records in the intake journal (none: not
	// journaled). Nobody waits for a journaled request: it was
	// acknowledged once appended.
	seqs []uint64
	// parts are the journaled requests gathered into this one.
	parts []*ingestReq
}

// Submit makes events durable and returns, per event, whether it was new
// (not a re-delivery). It returns only after the store committed them, so
// a caller may acknowledge its source once Submit returns nil. Concurrent
// calls share one transaction (group commit): while one batch commits, the
// next accumulates, so batching adds no delay of its own.
func (e *Engine) Submit(ctx context.Context, events []core.Event) ([]bool, error) {
	if len(events) == 0 {
		return nil, nil
	}
	req, err := e.prepare(events, nil)
	if err != nil {
		return nil, err
	}
	if e.committing.Load() {
		select {
		case e.ingestCh <- req:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		select {
		case <-req.done:
		case <-ctx.Done():
			// The batch may still commit; the sender's retry then de-duplicates.
			return nil, ctx.Err()
		}
	} else {
		req.fresh, req.err = e.o.Store.Ingest(ctx, req.batch)
		if req.err == nil {
			e.account(req.batch, req.fresh)
		}
	}
	if req.err != nil {
		return nil, req.err
	}
	return req.fresh, nil
}

// prepare checks events and finds the links their text states, for an
// ingest request. One malformed event must not fail the others it would
// share a commit with: it is refused here, with its own request. encoded
// is each event's JSON where the caller has it (the intake journal's), or
// nil.
func (e *Engine) prepare(events []core.Event, encoded [][]byte) (*ingestReq, error) {
	for i, ev := range events {
		if ev.Source == "" || ev.DeliveryID == "" || ev.Item.Ref.System == "" || ev.Item.Ref.ID == "" || !ev.Item.Ref.Kind.Known() {
			return nil, core.Malformed("event %d of %d: source, delivery id and a complete ref are required (source %q, ref %q)",
				i+1, len(events), ev.Source, ev.Item.Ref)
		}
	}
	m := e.mappings.Load()
	req := &ingestReq{batch: make([]core.Ingest, len(events)), done: make(chan struct{})}
	for i, ev := range events {
		in := core.Ingest{Event: ev}
		if encoded != nil {
			in.Encoded = encoded[i]
		}
		// Only a snapshot that carries text can say which keys it mentions;
		// a comment-only event leaves the discovered links as they are.
		if hasText(&ev.Item) {
			in.Discovered = m.Discover(&ev.Item)
			if in.Discovered == nil {
				in.Discovered = []core.Link{}
			}
		}
		req.batch[i] = in
	}
	return req, nil
}

// account logs and counts a stored batch, and wakes the workers.
func (e *Engine) account(batch []core.Ingest, fresh []bool) {
	for i := range batch {
		ev := &batch[i].Event
		if fresh[i] {
			for _, l := range batch[i].Discovered {
				if l.Joins() {
					e.logLink("linked by a key in its text", l)
				} else {
					e.logLink("mentioned in its text, not linked", l)
				}
			}
			for _, l := range ev.Links {
				e.logLink("linked as the source states", l)
			}
		}
		if e.m != nil {
			e.m.EventsIn.WithLabelValues(ev.Source, string(ev.Via)).Inc()
			if !fresh[i] {
				e.m.Duplicates.WithLabelValues(ev.Source).Inc()
			}
			switch {
			case ev.Via == core.ViaWebhook || ev.Via == core.ViaPush:
				e.finds.brought(&ev.Item)
			case ev.Via == core.ViaPoll && fresh[i] && !batch[i].Had:
				// A poll that finds what a webhook brought is the poll
				// doing its job; one that finds it first waits for it.
				if e.finds.found(ev.Source, &ev.Item, e.o.Clock.Now()) {
					e.m.PollFound.WithLabelValues(ev.Source).Inc()
				}
			}
		}
	}
	if e.m != nil {
		for _, source := range e.finds.due(e.o.Clock.Now()) {
			e.m.PollFound.WithLabelValues(source).Inc()
		}
	}
	e.notify()
}

func hasText(it *core.Item) bool {
	return it.Title != "" || it.Body != "" || len(it.Fields) > 0
}

// committers is how many group committers run. Several, so that a batch
// is written while those before it wait for the disk (the SQLite store
// syncs its log after the writer's turn, several syncs at once): the next
// webhook waits for the statements ahead of it, not also for their fsync.
// As many as the store's concurrent log syncs; more would only queue.
const committers = 4

// commitLoop is a group committer: it takes every request waiting, up to
// MaxBatch events, and commits them in one store transaction. Once ctx
// ends it commits what is still waiting, then returns: Run stops the
// committers last, when nothing more is submitted.
func (e *Engine) commitLoop(ctx context.Context) {
	for {
		first, ok := next(ctx, e.ingestCh)
		if !ok {
			return
		}
		reqs := []*ingestReq{first}
		n := len(first.batch)
	collect:
		for n < e.o.MaxBatch {
			select {
			case r := <-e.ingestCh:
				reqs = append(reqs, r)
				n += len(r.batch)
			default:
				break collect
			}
		}
		all := make([]core.Ingest, 0, n)
		for _, r := range reqs {
			all = append(all, r.batch...)
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		e.commits.Add(1)
		fresh, err := e.ingest(cctx, all)
		e.commits.Add(-1)
		select {
		case e.committed <- struct{}{}:
		default:
		}
		cancel()
		if e.m != nil {
			e.m.IngestBatch.Observe(float64(len(all)))
		}
		if err == nil {
			e.account(all, fresh)
		}
		off := 0
		for _, r := range reqs {
			if err != nil {
				r.err = err
			} else {
				r.fresh = fresh[off : off+len(r.batch)]
			}
			off += len(r.batch)
			if len(r.seqs) > 0 {
				e.journaled(ctx, r)
			}
			close(r.done)
		}
	}
}

// next waits for the next request on ch; once ctx has ended, it takes
// one only if it is waiting, and reports false when none is.
func next(ctx context.Context, ch <-chan *ingestReq) (*ingestReq, bool) {
	select {
	case r := <-ch:
		return r, true
	case <-ctx.Done():
	}
	select {
	case r := <-ch:
		return r, true
	default:
		return nil, false
	}
}

// IngestClaimer is a store that can claim the cases an ingest marks dirty
// in the ingest's own transaction (store.Store can).
type IngestClaimer interface {
	IngestClaim(ctx context.Context, batch []core.Ingest, owner string, lease time.Duration) ([]bool, []core.CaseID, error)
}

// maxHanded bounds the cases claimed at ingest and not yet taken up: past
// it, a busy replica leaves new work to the ordinary claims (its own
// workers' later, or another replica's).
const maxHanded = 4096

// ingest stores a group commit's events. When the workers are running and
// not behind, the cases it marks are claimed in the same transaction and
// handed to them: no claim of their own, so one write less per event.
func (e *Engine) ingest(ctx context.Context, all []core.Ingest) ([]bool, error) {
	ic, ok := e.o.Store.(IngestClaimer)
	if !ok || e.held.Load() || e.handedLen() >= maxHanded {
		if ok && !e.held.Load() {
			e.overflow.CompareAndSwap(0, time.Now().UnixNano())
		}
		return e.o.Store.Ingest(ctx, all)
	}
	at := time.Now()
	fresh, claimed, err := ic.IngestClaim(ctx, all, e.o.Owner, e.o.Lease)
	if err == nil && len(claimed) > 0 {
		e.handMu.Lock()
		gap := at.Sub(e.lastHand)
		e.lastHand = at
		for _, id := range claimed {
			e.handed = append(e.handed, handedCase{id, at, gap})
		}
		e.handMu.Unlock()
	}
	return fresh, err
}

// handedCase is a case claimed at ingest, and when (by the wall clock, as
// the claim's timeout is counted), and how long after the hand-off before.
type handedCase struct {
	id  core.CaseID
	at  time.Time
	gap time.Duration
}

// lingerBatch is how many handed cases end a linger at once.
const lingerBatch = 16

// linger makes a worker about to take up handed cases wait, while they
// come more often than once per Linger, until the oldest has waited
// Linger or lingerBatch have gathered: several cases reconciled together
// cost little more than one (one read, whose SQLite page cache starts
// empty whenever the database changed, and one release), and at a steady
// rate they would otherwise go one by one. Only while other cases are
// being reconciled, though: with none, the workers and the store's
// writer are idle, and waiting would only delay the case. One worker
// lingers; it reports true to the others, which go back to waiting
// instead of taking the cases it waits for.
func (e *Engine) linger(ctx context.Context) (another bool) {
	if e.o.Linger <= 0 {
		return false
	}
	e.handMu.Lock()
	var wait time.Duration
	if n := len(e.handed); n > 0 && n < lingerBatch && e.handed[0].gap < e.o.Linger && e.busy.Load() > 0 {
		wait = e.o.Linger - time.Since(e.handed[0].at)
	}
	e.handMu.Unlock()
	if wait <= 0 {
		return false
	}
	if !e.lingering.CompareAndSwap(false, true) {
		return true
	}
	defer e.lingering.Store(false)
	clock.Sleep(ctx, wait)
	return false
}

func (e *Engine) handedLen() int {
	e.handMu.Lock()
	defer e.handMu.Unlock()
	return len(e.handed)
}

// takeHanded takes up to n of the cases claimed at ingest, and says when
// the oldest of them was claimed.
func (e *Engine) takeHanded(n int) ([]core.CaseID, time.Time) {
	e.handMu.Lock()
	defer e.handMu.Unlock()
	n = min(n, len(e.handed))
	if n == 0 {
		return nil, time.Time{}
	}
	ids := make([]core.CaseID, n)
	for i, h := range e.handed[:n] {
		ids[i] = h.id
	}
	oldest := e.handed[0].at
	e.handed = slices.Delete(e.handed, 0, n)
	return ids, oldest
}

// sink adapts the engine for core.Runner connectors.
type sink struct{ e *Engine }

func (s sink) Ingest(ctx context.Context, evs []core.Event) error {
	_, err := s.e.Submit(ctx, evs)
	return err
}

func (s sink) Cursor(ctx context.Context, key string) (string, error) {
	return s.e.o.Store.Cursor(ctx, key)
}

func (s sink) SetCursor(ctx context.Context, key, v string) error {
	return s.e.o.Store.SetCursor(ctx, key, v)
}

// Sink returns the engine as a core.Sink, for runners and tools.
func (e *Engine) Sink() core.Sink { return sink{e} }

// logLink says once per process that two records were linked; events that
// repeat a link (every edit of a pull request) stay quiet.
func (e *Engine) logLink(msg string, l core.Link) {
	if e.firstSight("link", l.From.String(), l.To.String()) {
		e.log.Info(msg, "from", l.From.String(), "to", l.To.String(), "role", string(l.Role))
	}
}

// firstSight reports whether this process has not seen the thing the
// parts name before. It bounds its memory by forgetting everything now and
// then, which at worst reports a thing twice.
func (e *Engine) firstSight(parts ...string) bool {
	k := strings.Join(parts, "\x00")
	e.seenMu.Lock()
	defer e.seenMu.Unlock()
	if _, seen := e.seen[k]; seen {
		return false
	}
	if len(e.seen) > 100_000 {
		clear(e.seen)
	}
	e.seen[k] = struct{}{}
	return true
}

// Lag is how far the workers are behind the intake, in time: how long the
// oldest case handed to them at ingest has waited (for a worker, or in
// the batch a worker is reconciling), or, once so many wait
// that new ones go to the ordinary claims, how long ago that began (until
// a claim finds the queue drained). Held workers are not behind: they
// were told to wait. The server refuses webhooks past a bound of it
// (backpressure), so that an event's delay to its write stays bounded.
func (e *Engine) Lag() time.Duration {
	if e.held.Load() {
		return 0
	}
	now := time.Now()
	var lag time.Duration
	if o := e.overflow.Load(); o != 0 {
		lag = now.Sub(time.Unix(0, o))
	}
	e.handMu.Lock()
	if len(e.handed) > 0 {
		lag = max(lag, now.Sub(e.handed[0].at))
	}
	for at := range e.running {
		lag = max(lag, now.Sub(*at))
	}
	e.handMu.Unlock()
	return lag
}

// running1 records a batch under way whose oldest case was handed over at
// oldest, for Lag, until the returned func is called.
func (e *Engine) running1(oldest time.Time) (done func()) {
	at := &oldest
	e.handMu.Lock()
	if e.running == nil {
		e.running = map[*time.Time]struct{}{}
	}
	e.running[at] = struct{}{}
	e.handMu.Unlock()
	return func() {
		e.handMu.Lock()
		delete(e.running, at)
		e.handMu.Unlock()
	}
}

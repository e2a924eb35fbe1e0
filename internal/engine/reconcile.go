package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
)

// maxPasses bounds plan→apply rounds within one claim: a create makes a
// record that further rules act on at once, but a rule set that never
// settles must not hold a worker forever.
const maxPasses = 6

func (e *Engine) workLoop(ctx context.Context) {
	for ctx.Err() == nil {
		now := e.o.Clock.Now()
		var ids []core.CaseID
		var claimed, oldest time.Time
		var err error
		if !e.held.Load() {
			if e.linger(ctx) {
				e.idle(ctx)
				continue
			}
			if ids, claimed = e.takeHanded(e.o.Batch); len(ids) == 0 {
				claimed = time.Now()
				behind := e.overflow.Load()
				ids, err = e.o.Store.ClaimCases(ctx, e.o.Owner, now, e.o.Batch, e.o.Lease)
				if err == nil && len(ids) < e.o.Batch {
					e.overflow.Store(0) // the queue is drained: no longer behind
				}
				if behind != 0 {
					// Cases left to the ordinary claims may have waited
					// since the overflow began: Lag counts them so.
					oldest = time.Unix(0, behind)
				}
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("claiming dirty cases failed", "err", err)
				clock.Sleep(ctx, e.o.IdleWait)
			}
			continue
		}
		if len(ids) == 0 {
			e.idle(ctx)
			continue
		}
		e.notify() // a full batch may leave more: let a sleeping worker look
		// The claim lapses at now+Lease, and then another replica may take
		// the cases and apply the same actions: the reconciles of this
		// claim stop a margin before (their connector calls cancelled),
		// leaving the cases due. A claimed case is finished even during
		// shutdown: its actions either complete or stay pending in the
		// outbox, and the release keeps it due for whoever runs next.
		// (By the wall clock from the claim, not the engine's clock, which
		// tests set to another day.)
		rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), claimed.Add(e.o.Lease-e.o.Lease/6))
		if oldest.IsZero() || claimed.Before(oldest) {
			oldest = claimed
		}
		done := e.running1(oldest)
		e.ReconcileAll(rctx, ids)
		done()
		cancel()
	}
}

// idle waits for work. Ingest and full batches wake a worker; the cases
// that come due later (retries, another replica's events, claims that
// lapsed) are found by looking every IdleWait, which one idle worker does
// for all: the others would only repeat its look.
func (e *Engine) idle(ctx context.Context) {
	var tick <-chan time.Time
	if e.looking.CompareAndSwap(false, true) {
		defer e.looking.Store(false)
		t := time.NewTimer(e.o.IdleWait)
		defer t.Stop()
		tick = t.C
	}
	select {
	case <-ctx.Done():
	case <-e.wake:
	case <-tick:
	}
}

// Reconcile brings one claimed case to the state its rules want and
// releases the claim (see ReconcileAll).
func (e *Engine) Reconcile(ctx context.Context, id core.CaseID) {
	e.ReconcileAll(ctx, []core.CaseID{id})
}

// caseRun is one case's progress through a batch of reconciles.
type caseRun struct {
	id       core.CaseID
	c        *core.Case
	retryAt  time.Time
	seen     int64 // the case's marks at the last load (core.Release.Seen)
	active   bool  // needs another pass
	fetched  map[core.Ref]bool
	read     []core.Event // records read back this pass, planned on before they are stored
	loaded   *core.Case   // the case as this pass planned on it, before the planner filled it in
	plan     []core.Action
	pending  []core.Action
	done     []core.Completion // applied this pass, to record
	paused   *paused           // what an admin paused (paused.go)
	settled  bool              // released with its completions (see settles)
	released bool
}

// ReconcileAll brings claimed cases to the state their rules want: it loads
// them, plans, enqueues what is new, applies what is due, and repeats for
// the cases whose writes changed them. The cases of a batch share each
// pass's read, enqueue, completion record and release, so that the store
// commits once for all of them; their connector calls run side by side.
// Failures are recorded per action and never stop the other actions or
// cases. It releases the claims when done.
func (e *Engine) ReconcileAll(ctx context.Context, ids []core.CaseID) {
	start := time.Now()
	e.busy.Add(int64(len(ids)))
	defer e.busy.Add(-int64(len(ids)))
	runs := make([]*caseRun, len(ids))
	for i, id := range ids {
		runs[i] = &caseRun{id: id, active: true, fetched: map[core.Ref]bool{}}
	}
	// The actions this reconcile planned are marked untried until their
	// first attempt: only they can be written without asking the connector
	// whether an earlier attempt landed (see perform).
	var planned []string
	defer func() {
		for _, k := range planned {
			e.untried.Delete(k)
		}
	}()
	for pass := 0; pass < maxPasses; pass++ {
		var active []*caseRun
		for _, r := range runs {
			if r.active {
				active = append(active, r)
			}
		}
		if len(active) == 0 {
			break
		}
		if ctx.Err() != nil {
			for _, r := range active {
				r.retryAt = e.o.Clock.Now() // the claim is running out: due again at once
			}
			break
		}
		e.passSafely(ctx, active, &planned)
		// Cases that are done go at once: a case waiting for the slowest
		// of its batch could not be taken up for its next event.
		e.release(ctx, runs, start, false)
	}
	e.release(ctx, runs, start, true)
}

// release ends the claims of the runs that are done (all when final).
func (e *Engine) release(ctx context.Context, runs []*caseRun, start time.Time, final bool) {
	var rel []core.Release
	n := 0
	for _, r := range runs {
		if r.released || (r.active && !final) {
			continue
		}
		r.released = true
		n++
		if !r.settled { // else released with its completions
			rel = append(rel, core.Release{Case: r.id, RetryAt: r.retryAt, Seen: r.seen})
		}
	}
	if e.m != nil {
		d := time.Since(start).Seconds()
		for range n {
			e.m.ReconcileTime.Observe(d)
		}
	}
	if len(rel) > 0 {
		e.releaseCases(ctx, rel)
	}
}

// releaseCases ends claims, even when ctx has ended or the claim's deadline
// has passed: the claim itself is good until the lease runs out.
func (e *Engine) releaseCases(ctx context.Context, rel []core.Release) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.o.Store.ReleaseCases(rctx, e.o.Owner, rel); err != nil {
		e.log.Error("releasing cases failed", "cases", len(rel), "err", err)
	}
}

// passSafely is pass, with a panic (a rule, a connector, the store) ending
// the pass rather than the process: the cases stay queued, due again after
// a backoff, like after any other failure of a reconcile.
func (e *Engine) passSafely(ctx context.Context, active []*caseRun, untried *[]string) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("reconcile panicked; its cases are tried again", "cases", len(active), "panic", core.PanicText(p), "stack", string(debug.Stack()))
			e.retrySoon(active)
		}
	}()
	e.pass(ctx, active, untried)
}

// retrySoon leaves runs due again after the first backoff step, for a
// reconcile that failed before it could finish them.
func (e *Engine) retrySoon(runs []*caseRun) {
	at := e.o.Clock.Now().Add(e.o.BackoffBase)
	for _, r := range runs {
		r.active = false
		r.retryAt = earliest(r.retryAt, at)
	}
}

// pass runs one plan→apply round over the active cases and leaves active
// those whose writes changed them. It adds the keys it marked untried to
// untried. Whatever fails on the way leaves the cases it touched due again
// (a retry time): a case released with nothing scheduled would never be
// looked at again unless something touched it.
func (e *Engine) pass(ctx context.Context, active []*caseRun, untried *[]string) {
	marked := len(*untried)
	ids := make([]core.CaseID, len(active))
	for i, r := range active {
		ids[i] = r.id
		r.active, r.read, r.loaded, r.plan, r.pending, r.done, r.paused = false, nil, nil, nil, nil, nil, nil
	}
	cases, err := e.o.Store.LoadCases(ctx, ids)
	if err != nil {
		e.log.Error("loading cases failed", "cases", len(ids), "err", err)
		e.retrySoon(active)
		return
	}
	now := e.o.Clock.Now()
	m := e.mappings.Load()
	var all []core.Action
	var planning []*caseRun
	live := active[:0:0]
	for i, r := range active {
		r.c = cases[i]
		r.seen = r.c.Marks
		if len(r.c.Items) == 0 {
			r.seen = 0 // joined into another case since it was marked
			continue
		}
		live = append(live, r)
	}
	fetched := e.fetchPlaceholders(ctx, live)
	rp, onReads := e.o.Store.(readPlanner)
	_, canSettle := e.o.Store.(completeReleaser)
	if !onReads {
		e.storeReads(ctx, fetched)
	}
	reads := false
	for i, r := range live {
		if fetched[i].failed {
			// Planned with what is known, and again once the record
			// can be read: what it would change must not be lost.
			r.retryAt = earliest(r.retryAt, now.Add(e.o.BackoffBase))
		}
		if read := fetched[i].read; len(read) > 0 {
			if !onReads {
				r.active = true // stored: plan again with what was fetched
				continue
			}
			withReads(r.c, read)
			r.read, reads = read, true
		}
		if canSettle {
			r.loaded = cloneCase(r.c) // the planner fills in statuses
		}
		r.plan = e.planCase(ctx, r, m, now)
		all = append(all, r.plan...)
		planning = append(planning, r)
	}
	all, ok := e.holdPaused(ctx, planning, all, now)
	if !ok {
		return
	}
	// Only an action this enqueue added can be known never tried: an
	// outbox row already there may be another claim's attempt.
	fresh := make(map[string]bool, len(all))
	var added []bool
	switch {
	case reads:
		if planning, added, err = e.planOnReads(ctx, rp, planning); err != nil {
			e.log.Error("storing fetched records and the actions planned on them failed", "cases", len(planning), "err", err)
			e.retrySoon(planning)
			return
		}
		all = all[:0]
		for _, r := range planning {
			all = append(all, r.plan...)
		}
	case len(all) > 0:
		if added, err = e.o.Store.Enqueue(ctx, all); err != nil {
			e.log.Error("enqueueing actions failed", "cases", len(planning), "err", err)
			e.retrySoon(planning)
			return
		}
	}
	for i, a := range all {
		if added[i] {
			fresh[a.Key] = true
			e.untried.Store(a.Key, true)
			*untried = append(*untried, a.Key)
		}
	}
	var applying []*caseRun
	for _, r := range planning {
		if !hasPending(r.c) && allFresh(r.plan, fresh) {
			// Nothing was pending when the case was loaded and every
			// planned action is new: the plan, in enqueue order, is what
			// is pending, without reading it back.
			r.pending = make([]core.Action, 0, len(r.plan))
			for _, a := range r.plan {
				a.State = core.Pending
				r.pending = append(r.pending, a)
			}
		} else if r.pending, err = e.o.Store.Actions(ctx, r.id, core.Pending); err != nil {
			e.log.Error("listing actions failed", "case", r.id, "err", err)
			r.retryAt = earliest(r.retryAt, now.Add(e.o.BackoffBase))
			continue
		}
		if len(r.pending) > 0 {
			applying = append(applying, r)
		}
	}
	apply := func(r *caseRun) {
		defer func() {
			if p := recover(); p != nil {
				e.log.Error("applying actions panicked; the case is tried again", "case", r.id, "panic", core.PanicText(p), "stack", string(debug.Stack()))
				r.retryAt = earliest(r.retryAt, e.o.Clock.Now().Add(e.o.BackoffBase))
			}
		}()
		e.applyPending(ctx, r, now)
	}
	// One case, the usual one, is applied here: a goroutine of its own
	// would grow a new stack through the HTTP client for every webhook.
	if len(applying) == 1 {
		apply(applying[0])
	} else {
		var wg sync.WaitGroup
		for _, r := range applying {
			wg.Go(func() { apply(r) })
		}
		wg.Wait()
	}
	e.record(ctx, planning, m, now)
	e.markUnsent(ctx, (*untried)[marked:])
}

// readPlanner is a store that takes records read back from their trackers
// together with the actions planned on them (store.Store can:
// EnqueueOnRead).
type readPlanner interface {
	EnqueueOnRead(ctx context.Context, reads []core.Ingest, plans []core.PlannedCase) ([]bool, []core.PlanOutcome, error)
}

// planOnReads stores the records this pass read back and enqueues the
// plans of the cases, in one transaction. A plan made on a read stands
// only if the case is still what it saw; a case whose plan did not stand
// is planned again from the store, in the next pass. It returns the cases
// whose plans stand and, for their actions in order, which were new.
func (e *Engine) planOnReads(ctx context.Context, rp readPlanner, planning []*caseRun) ([]*caseRun, []bool, error) {
	var evs []core.Event
	plans := make([]core.PlannedCase, len(planning))
	for i, r := range planning {
		evs = append(evs, r.read...)
		plans[i] = core.PlannedCase{Case: r.id, Seen: r.seen, Actions: r.plan, OnRead: len(r.read) > 0}
	}
	req, err := e.prepare(evs, nil)
	if err != nil {
		return planning, nil, err
	}
	fresh, outs, err := rp.EnqueueOnRead(ctx, req.batch, plans)
	if err != nil {
		return planning, nil, err
	}
	e.account(req.batch, fresh)
	var added []bool
	stand := planning[:0:0]
	for i, r := range planning {
		if !outs[i].Stood {
			r.plan, r.active = nil, true
			continue
		}
		r.seen = outs[i].Seen
		stand = append(stand, r)
		added = append(added, outs[i].Added...)
	}
	return stand, added, nil
}

// markUnsent records that the actions this pass planned and did not try
// (a write before them to the same record waits, or the claim ran out)
// were never sent, before the case is released: the next reconcile may
// then try them at once rather than wait for an attempt that never was.
func (e *Engine) markUnsent(ctx context.Context, keys []string) {
	var left []string
	for _, k := range keys {
		if _, ok := e.untried.Load(k); ok {
			left = append(left, k)
		}
	}
	if len(left) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, k := range left {
		if err := e.o.Store.Sending(sctx, k, time.Time{}); err != nil {
			e.log.Warn("recording an action as never sent failed; it waits before it is tried", "key", k, "err", err)
			return
		}
	}
}

// planCase plans one case, reporting rule errors and new conflicts, and
// returns its actions in enqueue order.
func (e *Engine) planCase(ctx context.Context, r *caseRun, m *core.Mappings, now time.Time) []core.Action {
	// The candidates are read only for a case a duplicate rule searches
	// from: the read holds every other worker that needs them.
	for _, d := range m.Duplicates {
		if d.Searches(r.c) {
			var ok bool
			if r.c.Candidates, ok = e.candidates(ctx, m, now); !ok {
				// Planned without the search; searched again soon.
				r.retryAt = earliest(r.retryAt, now.Add(e.o.BackoffBase))
			}
			break
		}
	}
	plan := core.PlanCase(r.c, m, now)
	// A target falling due is a retry time like any other: stored with
	// the case, so it survives a restart.
	r.retryAt = earliest(r.retryAt, plan.WakeAt)
	for _, err := range plan.Errors {
		over := errors.Is(err, core.ErrOverBudget)
		if over {
			e.log.Error("rule stopped: over its evaluation budget; it fails for this case until the rule is fixed", "case", r.id, "err", err)
		} else {
			e.log.Error("rule failed", "case", r.id, "err", err)
		}
		if e.m != nil {
			e.m.PlanErrors.Inc()
			if over {
				e.m.OverBudget.Inc()
			}
		}
	}
	for _, cf := range plan.Conflicts {
		if !e.firstSight("conflict", cf.Rule, cf.A.String(), cf.AVal, cf.B.String(), cf.BVal, cf.Last) {
			continue // a standing conflict is reported once, not on every reconcile
		}
		e.log.Warn("field changed on both sides; not overwritten", "case", r.id, "rule", cf.Rule, "field", cf.Field,
			"a", cf.A.String(), "b", cf.B.String())
		if err := e.o.Store.RecordConflict(ctx, cf); err != nil {
			e.log.Error("recording conflict failed", "err", err)
		}
		if e.m != nil {
			e.m.Conflicts.Inc()
		}
	}
	core.SortActions(plan.Actions)
	return plan.Actions
}

// applyPending applies a case's due actions in order and keeps what
// succeeded for record. Writes to one record keep their order: once one of
// them waits, the later ones wait too. Other records go on.
func (e *Engine) applyPending(ctx context.Context, r *caseRun, now time.Time) {
	blocked := map[core.Ref]bool{}
	for _, a := range r.pending {
		if ctx.Err() != nil {
			r.retryAt = e.o.Clock.Now()
			return
		}
		if blocked[a.Target] || r.paused.holds(a) {
			continue
		}
		if a.NextAttempt.After(now) {
			blocked[a.Target] = true
			r.retryAt = earliest(r.retryAt, a.NextAttempt)
			continue
		}
		if !e.gate.enter(a.Key, now) {
			// Another worker of this process is applying it, or just
			// did: theirs is the attempt that counts. The store keeps
			// the case queued while the action is pending; the retry
			// time makes the next look wait a moment, rather than
			// come back at once and find it in flight again.
			blocked[a.Target] = true
			r.retryAt = earliest(r.retryAt, now.Add(e.o.IdleWait))
			continue
		}
		select {
		case e.calls <- struct{}{}:
		case <-ctx.Done():
			e.gate.leave(a.Key, false, e.o.Clock.Now())
			r.retryAt = e.o.Clock.Now()
			return
		}
		res, next, out := e.apply(ctx, a)
		<-e.calls
		switch out {
		case appliedOK:
			kept := writeResult(res.Item, r.c, r.done, a)
			if res.Item != nil && kept != res.Item {
				// Someone else changed the record as we wrote: read it
				// whole, with the write, rather than keep half of it.
				if it := e.refetch(ctx, a.Target); it != nil {
					kept = it
				}
			}
			res.Item = kept
			r.done = append(r.done, core.Completion{Action: a, Result: res, Audit: e.auditOf(a, res)})
			continue // the gate is left once the completion is recorded
		case deadLettered:
			// A dead letter is finished as far as ordering goes: the
			// writes after it still run, or they would wait for an
			// event that may never come.
		case retryLater:
			blocked[a.Target] = true
			r.retryAt = earliest(r.retryAt, next)
		}
		e.gate.leave(a.Key, false, e.o.Clock.Now())
	}
}

// record stores the completions of a pass in one transaction and marks
// active the cases whose writes were recorded. A case that settles (its
// plan on the case as the writes left it needs nothing more) is released
// in that transaction instead, where the store can (completeReleaser):
// planning it again would cost a load and a write of its own.
func (e *Engine) record(ctx context.Context, runs []*caseRun, m *core.Mappings, now time.Time) {
	var done []core.Completion
	for _, r := range runs {
		done = append(done, r.done...)
	}
	if len(done) == 0 {
		return
	}
	var rel []core.Release
	var settling []*caseRun
	cr, canRelease := e.o.Store.(completeReleaser)
	if canRelease {
		for _, r := range runs {
			if wake, ok := e.settles(r, m, now); ok {
				rel = append(rel, core.Release{Case: r.id, RetryAt: earliest(r.retryAt, wake), Seen: r.seen})
				settling = append(settling, r)
			}
		}
	}
	// Recorded even when the claim's deadline has passed: the writes were
	// made, and an unrecorded one costs a check at the target next time.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	var made []core.Release
	if len(rel) > 0 {
		errs, made = cr.CompleteRelease(rctx, e.o.Owner, done, rel)
	} else {
		errs = e.o.Store.CompleteAll(rctx, done)
	}
	i := 0
	for _, r := range runs {
		for _, d := range r.done {
			err := errs[i]
			i++
			now := e.o.Clock.Now()
			e.gate.leave(d.Action.Key, err == nil, now)
			a := d.Action
			if err != nil {
				// Applied but not recorded: the next attempt asks the
				// connector (AppliedChecker, markers) before writing again.
				e.log.Error("recording applied action failed", "key", a.Key, "err", err)
				r.retryAt = earliest(r.retryAt, now.Add(e.o.BackoffBase))
				continue
			}
			e.log.Info("applied", "rule", a.Rule, "action", string(a.Kind), "target", d.Audit.Target.String(), "detail", d.Audit.Detail)
			e.count(a, "ok")
			r.active = true // its writes changed it: plan again
		}
	}
	for _, mr := range made {
		for _, r := range settling {
			if r.id == mr.Case {
				r.active, r.settled, r.seen = false, true, mr.Seen
				if e.o.CheckSettled {
					e.checkSettled(rctx, r, m)
				}
			}
		}
	}
}

// completeReleaser is a store that records completions and releases the
// cases they settle in one transaction (store.Store can: CompleteRelease).
type completeReleaser interface {
	CompleteRelease(ctx context.Context, owner string, done []core.Completion, rel []core.Release) ([]error, []core.Release)
}

// settles reports whether the case, with this pass's writes applied to it
// as the store records them, plans nothing more, and when it must be
// looked at again (a target falling due). It answers false whenever it
// cannot tell in memory: a write not applied, a record created, a link
// the gateway adds, a written record outside the case, a duplicate search
// (it reads the store), a rule error or a conflict. The store then
// releases the case only if nothing else changed it meanwhile (see
// store.CompleteRelease).
func (e *Engine) settles(r *caseRun, m *core.Mappings, now time.Time) (time.Time, bool) {
	c := r.loaded
	if c == nil || len(r.done) == 0 || len(r.done) != len(r.pending) {
		return time.Time{}, false
	}
	in := func(ref core.Ref) int {
		for i := range c.Items {
			if c.Items[i].Ref == ref {
				return i
			}
		}
		return -1
	}
	for _, d := range r.done {
		a, res := d.Action, d.Result
		if !res.Created.IsZero() || a.Subject.IsZero() || in(a.Subject) < 0 || (!a.Target.IsZero() && in(a.Target) < 0) {
			return time.Time{}, false
		}
		if a.Kind == core.AddLink && !a.Other.IsZero() && !a.Target.IsZero() && !linked(c, a.Other, a.Target) {
			return time.Time{}, false
		}
		c.Keys[a.Key] = core.Done
		if res.Item != nil {
			it := *res.Item
			if it.Ref.IsZero() {
				it.Ref = a.Target
			}
			j := in(it.Ref)
			if j < 0 {
				return time.Time{}, false
			}
			c.Items[j] = core.Merge(&c.Items[j], it)
		}
		if a.Kind == core.AddComment && a.SourceComment != "" {
			c.Mirrors[core.MirrorKey(a.Subject, a.SourceComment, a.Target)] = res.CommentID
		}
		switch {
		case a.SyncField != "":
			c.Synced[core.SyncKey(a.Subject, a.Target, a.SyncField)] = a.SyncValue
		case a.Kind == core.SetFields && !a.Target.IsZero() && a.Subject != a.Target:
			for f, v := range a.Fields {
				c.Synced[core.SyncKey(a.Subject, a.Target, f)] = v
			}
		}
	}
	for _, d := range m.Duplicates {
		if d.Searches(c) {
			return time.Time{}, false
		}
	}
	plan := core.PlanCase(c, m, now)
	if len(plan.Actions) > 0 || len(plan.Errors) > 0 || len(plan.Conflicts) > 0 {
		return time.Time{}, false
	}
	return plan.WakeAt, true
}

// checkSettled loads a case released as settled and plans it: a plan
// that wants more, on a case nothing else marked since, means settles
// and the store disagree (Options.CheckSettled).
func (e *Engine) checkSettled(ctx context.Context, r *caseRun, m *core.Mappings) {
	cs, err := e.o.Store.LoadCases(ctx, []core.CaseID{r.id})
	if err != nil {
		e.log.Error("checking a settled case: load failed", "case", r.id, "err", err)
		return
	}
	c := cs[0]
	if c.Marks != r.seen {
		return // changed since: its own reconcile will plan it
	}
	plan := core.PlanCase(c, m, e.o.Clock.Now())
	if len(plan.Actions) > 0 {
		e.unsettled.Add(1)
		e.log.Error("a case released as settled plans more from the store", "case", r.id, "first", plan.Actions[0].Key)
	}
}

// Unsettled is how many cases released as settled the store's state
// planned more for (Options.CheckSettled).
func (e *Engine) Unsettled() int64 { return e.unsettled.Load() }

// cloneCase copies what planning reads of a case and may change.
func cloneCase(c *core.Case) *core.Case {
	cp := *c
	cp.Items = make([]core.Item, len(c.Items))
	for i := range c.Items {
		cp.Items[i] = c.Items[i].Clone()
	}
	cp.Links = slices.Clone(c.Links)
	cp.Keys, cp.Mirrors, cp.Synced = cloneMap(c.Keys), cloneMap(c.Mirrors), cloneMap(c.Synced)
	return &cp
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return maps.Clone(m)
}

// linked reports whether the case links a and b, either way.
func linked(c *core.Case, a, b core.Ref) bool {
	for _, l := range c.Links {
		if (l.From == a && l.To == b) || (l.From == b && l.To == a) {
			return true
		}
	}
	return false
}

// allFresh reports whether every action of plan is one the enqueue added.
func allFresh(plan []core.Action, fresh map[string]bool) bool {
	for _, a := range plan {
		if !fresh[a.Key] {
			return false
		}
	}
	return true
}

// hasPending reports whether the loaded case has actions pending in the
// outbox.
func hasPending(c *core.Case) bool {
	for _, st := range c.Keys {
		if st == core.Pending {
			return true
		}
	}
	return false
}

func earliest(a, b time.Time) time.Time {
	if b.IsZero() {
		return a
	}
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// fetchOutcome is what fetchPlaceholders read for one case: the records
// read back, not stored yet, and whether one could not be read (a record
// that does not exist is no failure).
type fetchOutcome struct {
	read   []core.Event
	failed bool
}

// fetchPlaceholders reads the records the cases know only by a key found
// in some text, once per reconcile each. The reads of all the cases go
// side by side (each holding a connector-call token): a batch of cases
// waiting on one read after another was most of a reconcile's time. What
// they bring is stored by the caller, with the plans made on it where the
// store can (planOnReads), else in one ingest (storeReads).
func (e *Engine) fetchPlaceholders(ctx context.Context, runs []*caseRun) []fetchOutcome {
	out := make([]fetchOutcome, len(runs))
	type fetch struct {
		run int
		ref core.Ref
		f   core.Fetcher
		got *core.Item
		err error
	}
	var todo []*fetch
	for i, r := range runs {
		for _, it := range r.c.Items {
			if it.Known() || r.fetched[it.Ref] {
				continue
			}
			r.fetched[it.Ref] = true
			if f, ok := e.conns[it.Ref.System].(core.Fetcher); ok {
				todo = append(todo, &fetch{run: i, ref: it.Ref, f: f})
			}
		}
	}
	if len(todo) == 0 {
		return out
	}
	var wg sync.WaitGroup
	for _, ft := range todo {
		select {
		case e.calls <- struct{}{}:
		case <-ctx.Done():
			ft.err = ctx.Err()
			continue
		}
		read := func() {
			defer func() { <-e.calls }()
			fctx, cancel := context.WithTimeout(ctx, e.o.ApplyTimeout)
			defer cancel()
			ft.err = e.contained("reading "+ft.ref.String(), func() (err error) {
				ft.got, err = ft.f.Fetch(fctx, ft.ref)
				return err
			})
		}
		if len(todo) == 1 {
			read() // as apply does a single case
		} else {
			wg.Go(read)
		}
	}
	wg.Wait()
	for _, ft := range todo {
		if ft.err != nil {
			if !errors.Is(ft.err, core.ErrNotFound) {
				e.log.Warn("fetching linked record failed", "ref", ft.ref.String(), "err", ft.err)
				out[ft.run].failed = true
			}
			continue
		}
		out[ft.run].read = append(out[ft.run].read, core.Event{Source: ft.ref.System, Via: core.ViaPoll, Type: core.Updated,
			DeliveryID: "fetch:" + ft.ref.String() + "@" + ft.got.UpdatedAt.UTC().Format(time.RFC3339Nano),
			Item:       *ft.got, At: e.o.Clock.Now()})
	}
	return out
}

// storeReads stores what fetchPlaceholders read, in one ingest, for a
// store that cannot take the reads with the plans made on them
// (readPlanner); the cases that read something are planned again from the
// store. A failure to store counts as a failed read.
func (e *Engine) storeReads(ctx context.Context, fetched []fetchOutcome) {
	var evs []core.Event
	for _, f := range fetched {
		evs = append(evs, f.read...)
	}
	if len(evs) == 0 {
		return
	}
	if _, err := e.Submit(ctx, evs); err != nil {
		e.log.Error("storing fetched records failed", "err", err)
		for i := range fetched {
			if len(fetched[i].read) > 0 {
				fetched[i].read, fetched[i].failed = nil, true
			}
		}
	}
}

// withReads puts records read back in place of the case's placeholders,
// merged as the store merges them (core.Merge), so that the case can be
// planned as the store will hold it.
func withReads(c *core.Case, read []core.Event) {
	for _, ev := range read {
		for i := range c.Items {
			if c.Items[i].Ref == ev.Item.Ref {
				c.Items[i] = core.Merge(&c.Items[i], ev.Item)
				break
			}
		}
	}
}

// outcome is what became of one attempt at an action.
type outcome int

const (
	appliedOK outcome = iota
	retryLater
	deadLettered
)

// attempt is what perform found or did.
type attempt struct {
	res core.Result
	err error
	// sent is when the write whose outcome err leaves unknown started
	// (zero when err is certain, or came before anything was sent), and
	// recorded what the outbox holds as the action's Sent.
	sent, recorded time.Time
	// settle, when set, means nothing was written: an earlier write of
	// unknown outcome may still land or show up in a search, and is looked
	// up again then.
	settle time.Time
}

// apply performs one outbox action; on failure it records the attempt and
// says whether and when to retry. A success is recorded by the caller.
func (e *Engine) apply(ctx context.Context, a core.Action) (core.Result, time.Time, outcome) {
	at := e.perform(ctx, a)
	if !at.settle.IsZero() {
		e.log.Info("an earlier write may still land; looking it up before writing", "rule", a.Rule,
			"action", string(a.Kind), "target", a.Target.String(), "at", at.settle)
		return at.res, at.settle, retryLater
	}
	if at.err == nil {
		if !a.Sent.IsZero() && e.m != nil {
			e.m.UncertainResolved.Inc()
		}
		return at.res, time.Time{}, appliedOK
	}
	err := at.err
	now := e.o.Clock.Now()
	permanent, wait := core.Classify(err)
	attempts := a.Attempts + 1
	dead := permanent || attempts >= e.o.MaxAttempts
	next := now.Add(max(min(wait, e.o.RetryAfterMax), e.backoff(attempts)))
	if !at.sent.IsZero() {
		// Not before the write can have landed: then look it up.
		next = later(next, at.sent.Add(e.inFlight()+e.o.UncertainGrace))
	}
	// The attempt is recorded even though the claim's deadline (and so
	// ctx) may have run out with it: an attempt that went unrecorded
	// would neither count nor back off.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ferr := e.o.Store.Fail(fctx, a.Key, err.Error(), next, dead); ferr != nil {
		e.log.Error("recording failed action failed", "key", a.Key, "err", ferr)
	}
	// What may still be in flight: this write, when its outcome is
	// unknown; none, when the service answered it; what was, when the
	// look-up before it failed.
	if want := at.sent; !want.Equal(at.recorded) && (!want.IsZero() || at.wrote()) {
		if serr := e.o.Store.Sending(fctx, a.Key, want); serr != nil {
			e.log.Error("recording a write of unknown outcome failed", "key", a.Key, "err", serr)
		}
	}
	if dead {
		e.log.Error("action dead-lettered", "rule", a.Rule, "action", string(a.Kind), "target", a.Target.String(),
			"attempts", attempts, "err", err)
		e.count(a, "dead")
		return at.res, time.Time{}, deadLettered
	}
	e.log.Warn("action failed; will retry", "rule", a.Rule, "action", string(a.Kind), "target", a.Target.String(),
		"attempt", attempts, "retry_in", next.Sub(now).Round(time.Millisecond).String(), "uncertain", !at.sent.IsZero(), "err", err)
	e.count(a, "retry")
	return at.res, next, retryLater
}

// wrote reports whether the attempt got as far as the write itself.
func (at attempt) wrote() bool { return !errors.Is(at.err, errLookup) }

// errLookup marks a failure of the look-up before a write: nothing was sent.
var errLookup = errors.New("looking up an earlier attempt")

// inFlight is the longest a write can run on our side: its own timeout,
// or the claim it runs under, whichever ends first.
func (e *Engine) inFlight() time.Duration { return min(e.o.ApplyTimeout, e.o.Lease) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// auditOf is the audit entry of an applied action.
func (e *Engine) auditOf(a core.Action, res core.Result) core.AuditEntry {
	audit := core.AuditEntry{At: e.o.Clock.Now(), Case: a.Case, Target: a.Target, Rule: a.Rule, Kind: a.Kind, Key: a.Key,
		Detail: describe(a, res), Reason: a.Reason}
	if res.Created != (core.Ref{}) {
		audit.Target = res.Created
	}
	return audit
}

// afterWrite is the target's snapshot as a write leaves it, for a connector
// that does not return one: the next reconcile must see its own transition
// or field write at once, not when (or whether) the source echoes it. The
// update time stays, so the source's next real snapshot replaces it.
func afterWrite(it core.Item, a core.Action) *core.Item {
	switch a.Kind {
	case core.Transition:
		it.Native, it.Status = a.Native, a.Status
	case core.SetFields:
		it = it.Clone()
		for k, v := range a.Fields {
			it.SetField(k, v)
		}
	default:
		return nil
	}
	it.Comments = nil // comments are merged by id; none changed
	return &it
}

func (e *Engine) count(a core.Action, result string) {
	if e.m != nil {
		e.m.Actions.WithLabelValues(a.Target.System, string(a.Kind), result).Inc()
	}
}

// backoff is the wait before attempt+1: BackoffBase doubled per attempt up
// to BackoffMax, of which a random half is taken off (jitter), so that
// actions failing together do not come back together. Each step's wait is
// at least the previous step's, so the waits grow until the cap.
func (e *Engine) backoff(attempt int) time.Duration {
	d := e.o.BackoffBase << min(attempt-1, 20)
	if d <= 0 || d > e.o.BackoffMax {
		d = e.o.BackoffMax
	}
	return d - time.Duration(e.jitter(int64(d/2)+1))
}

// perform finds the connector and applies. An action that may have reached
// its target before (an attempt whose outcome is unknown, one whose
// success was not recorded, one by a replica that died) is first looked up
// by its marker: a create with MarkerFinder, anything else with
// AppliedChecker. A write of unknown outcome is not looked up, nor sent
// again, until it can no longer be in flight (its start + inFlight +
// UncertainGrace); a create's search, which lags behind writes, must then
// miss it for LookupWindow before the create is sent anew.
func (e *Engine) perform(ctx context.Context, a core.Action) attempt {
	var ap core.Applier
	// A notify that names no destination tells the target record's own
	// people through its own system (a mail thread's requester: the
	// mailbox's acknowledgement); one with a destination goes to the
	// notifier.
	if a.Kind == core.Notify && a.To != "" {
		if e.o.Notifier == nil {
			return attempt{err: core.Permanent(errors.New("no notifier configured for notify actions"))}
		}
		ap = e.o.Notifier
	} else {
		c, ok := e.conns[a.Target.System]
		if !ok {
			return attempt{err: core.Permanent(fmt.Errorf("no connector named %q is configured", a.Target.System))}
		}
		if ap, ok = c.(core.Applier); !ok {
			return attempt{err: core.Permanent(fmt.Errorf("connector %q cannot apply actions", a.Target.System))}
		}
	}
	actx, cancel := context.WithTimeout(ctx, e.o.ApplyTimeout)
	defer cancel()
	// An action planned and enqueued by the reconcile running it, and not
	// tried yet, cannot have reached its target. Any other pending action
	// may have: an attempt whose Complete failed, or one by a replica that
	// died before recording it.
	recorded := a.Sent
	start := e.o.Clock.Now()
	if _, untried := e.untried.LoadAndDelete(a.Key); !untried {
		quiet := e.quietAt(a)
		if start.Before(quiet) {
			return attempt{settle: quiet, recorded: recorded}
		}
		res, found, err := e.lookup(actx, ap, a)
		switch {
		case err != nil:
			return attempt{err: fmt.Errorf("%w: %w", errLookup, err), recorded: recorded}
		case found:
			return attempt{res: res, recorded: recorded}
		case a.Kind == core.Create && !quiet.IsZero() && start.Before(quiet.Add(e.o.LookupWindow)):
			return attempt{settle: earliest(quiet.Add(e.o.LookupWindow), start.Add(e.o.LookupWindow/4)), recorded: recorded}
		}
		// Proven absent: sent anew. The start is recorded first, so that
		// after a crash during the write whoever runs next waits for it.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = e.o.Store.Sending(sctx, a.Key, start)
		cancel()
		if err != nil {
			return attempt{err: fmt.Errorf("%w: recording the resend: %w", errLookup, err), recorded: recorded}
		}
		recorded = start
	}
	res, err := applySafely(actx, ap, a)
	at := attempt{res: res, err: err, recorded: recorded}
	if err != nil && core.IsUncertain(err) {
		at.sent = start
	}
	return at
}

// applySafely is ap.Apply with a panic turned into an error of unknown
// outcome: the connector may have sent the write before it panicked.
func applySafely(ctx context.Context, ap core.Applier, a core.Action) (res core.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = core.Uncertain(fmt.Errorf("applying panicked: %s", core.PanicText(p)))
		}
	}()
	return ap.Apply(ctx, a)
}

// quietAt is when a write of a that may still be in flight can no longer
// land: zero when none may be. An action with no attempt recorded may
// still have been tried by the claim that planned it (which died, or
// could not record the outcome), whose calls ended within a lease of the
// action's enqueueing; unless that claim said it never tried it
// (markUnsent).
func (e *Engine) quietAt(a core.Action) time.Time {
	switch {
	case a.Kind == core.Transition || a.Kind == core.SetFields:
		// They set a state: made twice, they change nothing more.
		return time.Time{}
	case !a.Sent.IsZero():
		return a.Sent.Add(e.inFlight() + e.o.UncertainGrace)
	case a.Attempts == 0 && !a.Unsent && !a.CreatedAt.IsZero():
		return a.CreatedAt.Add(e.o.Lease + e.o.UncertainGrace)
	}
	return time.Time{}
}

// lookup asks the connector whether a's write already took effect.
func (e *Engine) lookup(ctx context.Context, ap core.Applier, a core.Action) (core.Result, bool, error) {
	if a.Kind == core.Create {
		f, ok := ap.(core.MarkerFinder)
		if !ok {
			return core.Result{}, false, nil
		}
		ref, err := f.FindByMarker(ctx, a.Target.Kind, a.Marker())
		switch {
		case err == nil:
			return core.Result{Created: ref, Note: "found by marker " + a.Marker()}, true, nil
		case errors.Is(err, core.ErrNotFound):
			return core.Result{}, false, nil
		}
		return core.Result{}, false, fmt.Errorf("looking up marker: %w", err)
	}
	ch, ok := ap.(core.AppliedChecker)
	if !ok {
		return core.Result{}, false, nil
	}
	res, done, err := ch.Applied(ctx, a)
	if err != nil {
		return core.Result{}, false, fmt.Errorf("checking an earlier attempt: %w", err)
	}
	if done {
		res.Note = "already applied"
	}
	return res, done, nil
}

// describe says in a few words what an action did, for the audit log.
func describe(a core.Action, res core.Result) string {
	var s string
	switch a.Kind {
	case core.Create:
		s = "created " + res.Created.String()
	case core.Transition:
		s = "status → " + a.Native
	case core.AddComment:
		vis := "internal note"
		if a.Public {
			vis = "public comment"
		}
		s = vis
		if res.CommentID != "" {
			s += " " + res.CommentID
		}
		if a.SourceComment != "" {
			s += " mirroring " + a.Subject.String() + "#" + a.SourceComment
		}
	case core.SetFields:
		var parts []string
		for k, v := range a.Fields {
			parts = append(parts, k+" = "+v)
		}
		s = "set " + strings.Join(parts, ", ")
	case core.AddLink:
		s = "linked " + a.Other.String()
	case core.Notify:
		if a.To == "" {
			s = "notified the people of " + a.Target.String()
		} else {
			s = "notified " + destination(a.To)
		}
	}
	if res.Note != "" && !strings.Contains(s, res.Note) {
		s += " (" + res.Note + ")"
	}
	return s
}

// Drain reconciles every case that is due now, synchronously, until none
// is left, and returns how many reconciles ran. Tools (simulate, backfill)
// and tests use it instead of background workers.
func (e *Engine) Drain(ctx context.Context) (int, error) {
	if e.started.IsZero() {
		e.started = e.o.Clock.Now()
	}
	n := 0
	for {
		ids, err := e.o.Store.ClaimCases(ctx, e.o.Owner, e.o.Clock.Now(), 64, e.o.Lease)
		if err != nil {
			return n, err
		}
		if len(ids) == 0 {
			return n, ctx.Err()
		}
		for _, id := range ids {
			e.Reconcile(ctx, id)
			n++
		}
	}
}

// Busy reports how much work is under way: cases being reconciled, and
// acknowledged webhooks that the store has not taken in yet.
func (e *Engine) Busy() int { return int(e.busy.Load()) + e.IntakeBacklog() }

// IntakeBacklog reports how many acknowledged webhooks the store has not
// taken in yet: the records the intake journal holds unapplied.
func (e *Engine) IntakeBacklog() int {
	if j := e.journal.Load(); j != nil {
		return j.Pending()
	}
	return 0
}

// candidateWindow bounds how far back a duplicate search looks, and
// candidateTTL how long one read of the candidates serves every reconcile.
const (
	candidateWindow = 180 * 24 * time.Hour
	candidateTTL    = 10 * time.Second
	candidateMax    = 5000
)

// candidates returns the records duplicate rules may link to, read from the
// store at most every candidateTTL: a duplicate found a few seconds late is
// found all the same, and a busy queue does not reread them per case. ok is
// false when they could not all be read.
func (e *Engine) candidates(ctx context.Context, m *core.Mappings, now time.Time) (cand []core.Item, ok bool) {
	e.candMu.Lock()
	defer e.candMu.Unlock()
	if e.candFor == m && now.Sub(e.candAt) < candidateTTL && now.After(e.candAt) {
		return e.cand, true
	}
	var out []core.Item
	seen := map[core.Selector]bool{}
	for _, d := range m.Duplicates {
		if seen[d.Among] {
			continue
		}
		seen[d.Among] = true
		its, err := e.o.Store.Records(ctx, d.Among, now.Add(-candidateWindow), candidateMax)
		if err != nil {
			e.log.Warn("reading duplicate candidates failed; duplicates are searched again soon", "err", err)
			return out, false // not kept: the next case reads again
		}
		out = append(out, its...)
	}
	e.cand, e.candAt, e.candFor = out, now, m
	return out, true
}

// destination names where a notification went without what could be a
// credential: a webhook URL's path and query often are (chat webhooks), so
// only its scheme and host are said.
func destination(to string) string {
	u, err := url.Parse(to)
	if err != nil || u.Host == "" {
		if strings.Contains(to, "://") {
			return "a webhook"
		}
		return to // mail addresses
	}
	return u.Scheme + "://" + u.Host
}

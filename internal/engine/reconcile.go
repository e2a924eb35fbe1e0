package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// maxPasses bounds plan→apply rounds within one claim: a create makes a
// record that further rules act on at once, but a rule set that never
// settles must not hold a worker forever.
const maxPasses = 6

func (e *Engine) workLoop(ctx context.Context) {
	for ctx.Err() == nil {
		now := e.o.Clock.Now()
		ids, err := e.o.Store.ClaimCases(ctx, e.o.Owner, now, 4, e.o.Lease)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("claiming dirty cases failed", "err", err)
				sleep(ctx, e.o.IdleWait)
			}
			continue
		}
		if len(ids) == 0 {
			t := time.NewTimer(e.o.IdleWait)
			select {
			case <-ctx.Done():
			case <-e.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		// The claim lapses at now+Lease, and then another replica may take
		// the case and apply the same actions: the reconciles of this claim
		// stop a margin before (their connector calls cancelled), leaving
		// the case due.
		until := now.Add(e.o.Lease - e.o.Lease/6)
		for _, id := range ids {
			// A claimed case is finished even during shutdown: its actions
			// either complete or stay pending in the outbox, and the release
			// keeps it due for whoever runs next.
			rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), until)
			e.Reconcile(rctx, id)
			cancel()
		}
		e.notify() // let a sleeping worker look for more
	}
}

// Reconcile brings one claimed case to the state its rules want: it loads
// the case, plans, enqueues what is new, applies what is due, and repeats
// while writes change the case. Failures are recorded per action and never
// stop the other actions or cases. It releases the claim when done.
func (e *Engine) Reconcile(ctx context.Context, id core.CaseID) {
	start := time.Now()
	e.busy.Add(1)
	defer e.busy.Add(-1)
	var retryAt time.Time
	fetched := map[core.Ref]bool{}
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
		if ctx.Err() != nil {
			retryAt = e.o.Clock.Now() // the claim is running out: due again at once
			break
		}
		c, err := e.o.Store.LoadCase(ctx, id)
		if err != nil {
			e.log.Error("loading case failed", "case", id, "err", err)
			retryAt = e.o.Clock.Now().Add(e.o.BackoffBase)
			break
		}
		if len(c.Items) == 0 {
			break // joined into another case since it was marked
		}
		if e.fetchPlaceholders(ctx, c, fetched) {
			continue
		}
		now := e.o.Clock.Now()
		m := e.mappings.Load()
		if len(m.Duplicates) > 0 {
			c.Candidates = e.candidates(ctx, m, now)
		}
		plan := core.PlanCase(c, m, now)
		// A target falling due is a retry time like any other: stored with
		// the case, so it survives a restart.
		retryAt = earliest(retryAt, plan.WakeAt)
		for _, err := range plan.Errors {
			e.log.Error("rule failed", "case", id, "err", err)
			if e.m != nil {
				e.m.PlanErrors.Inc()
			}
		}
		for _, cf := range plan.Conflicts {
			if !e.firstSight("conflict", cf.Rule, cf.A.String(), cf.AVal, cf.B.String(), cf.BVal, cf.Last) {
				continue // a standing conflict is reported once, not on every reconcile
			}
			e.log.Warn("field changed on both sides; not overwritten", "case", id, "rule", cf.Rule, "field", cf.Field,
				"a", cf.A.String(), "b", cf.B.String())
			if err := e.o.Store.RecordConflict(ctx, cf); err != nil {
				e.log.Error("recording conflict failed", "err", err)
			}
			if e.m != nil {
				e.m.Conflicts.Inc()
			}
		}
		allNew := true
		if len(plan.Actions) > 0 {
			core.SortActions(plan.Actions)
			added, err := e.o.Store.Enqueue(ctx, plan.Actions)
			if err != nil {
				e.log.Error("enqueueing actions failed", "case", id, "err", err)
				retryAt = now.Add(e.o.BackoffBase)
				break
			}
			// Only when every planned action was new can none of them
			// have been tried before: an outbox row already there may be
			// another claim's attempt.
			allNew = added == len(plan.Actions)
			if allNew {
				for _, a := range plan.Actions {
					e.untried.Store(a.Key, true)
					planned = append(planned, a.Key)
				}
			}
		}
		var pending []core.Action
		if allNew && !hasPending(c) {
			// Nothing was pending when the case was loaded and every
			// planned action is new: the plan, in enqueue order, is what
			// is pending, without reading it back.
			pending = make([]core.Action, 0, len(plan.Actions))
			for _, a := range plan.Actions {
				a.State = core.Pending
				pending = append(pending, a)
			}
		} else if pending, err = e.o.Store.Actions(ctx, id, core.Pending); err != nil {
			e.log.Error("listing actions failed", "case", id, "err", err)
			retryAt = now.Add(e.o.BackoffBase)
			break
		}
		applied := 0
		// Writes to one record keep their order: once one of them waits,
		// the later ones wait too. Other records go on.
		blocked := map[core.Ref]bool{}
		for _, a := range pending {
			if ctx.Err() != nil {
				retryAt = e.o.Clock.Now()
				break
			}
			if blocked[a.Target] {
				continue
			}
			if a.NextAttempt.After(now) {
				blocked[a.Target] = true
				retryAt = earliest(retryAt, a.NextAttempt)
				continue
			}
			if !e.gate.enter(a.Key, now) {
				// Another worker of this process is applying it, or just
				// did: theirs is the attempt that counts.
				blocked[a.Target] = true
				continue
			}
			next, out := e.apply(ctx, a, c.Item(a.Target))
			e.gate.leave(a.Key, out == appliedOK, e.o.Clock.Now())
			switch out {
			case appliedOK:
				applied++
			case deadLettered:
				// A dead letter is finished as far as ordering goes: the
				// writes after it still run, or they would wait for an
				// event that may never come.
			case retryLater:
				blocked[a.Target] = true
				retryAt = earliest(retryAt, next)
			}
		}
		if applied == 0 {
			break
		}
	}
	if e.m != nil {
		e.m.ReconcileTime.Observe(time.Since(start).Seconds())
	}
	// Released even when the claim's deadline has passed: the claim
	// itself is good until the lease runs out.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.o.Store.ReleaseCase(rctx, id, e.o.Owner, retryAt); err != nil {
		e.log.Error("releasing case failed", "case", id, "err", err)
	}
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

// fetchPlaceholders reads records the case knows only by a key found in
// some text, once per reconcile, and reports whether any was ingested.
func (e *Engine) fetchPlaceholders(ctx context.Context, c *core.Case, tried map[core.Ref]bool) bool {
	var evs []core.Event
	for _, it := range c.Items {
		if it.Known() || tried[it.Ref] {
			continue
		}
		tried[it.Ref] = true
		f, ok := e.conns[it.Ref.System].(core.Fetcher)
		if !ok {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, e.o.ApplyTimeout)
		got, err := f.Fetch(fctx, it.Ref)
		cancel()
		if err != nil {
			if !errors.Is(err, core.ErrNotFound) {
				e.log.Warn("fetching linked record failed", "ref", it.Ref.String(), "err", err)
			}
			continue
		}
		evs = append(evs, core.Event{Source: it.Ref.System, Via: core.ViaPoll, Type: core.Updated,
			DeliveryID: "fetch:" + it.Ref.String() + "@" + got.UpdatedAt.UTC().Format(time.RFC3339Nano),
			Item:       *got, At: e.o.Clock.Now()})
	}
	if len(evs) == 0 {
		return false
	}
	if _, err := e.Submit(ctx, evs); err != nil {
		e.log.Error("storing fetched records failed", "err", err)
		return false
	}
	return true
}

// outcome is what became of one attempt at an action.
type outcome int

const (
	appliedOK outcome = iota
	retryLater
	deadLettered
)

// apply performs one outbox action and records the outcome, and when it is
// to be retried, when. current is the target's snapshot, if known.
func (e *Engine) apply(ctx context.Context, a core.Action, current *core.Item) (time.Time, outcome) {
	res, err := e.perform(ctx, a)
	now := e.o.Clock.Now()
	if err == nil {
		if res.Item == nil && current != nil {
			res.Item = afterWrite(*current, a)
		}
		audit := core.AuditEntry{At: now, Case: a.Case, Target: a.Target, Rule: a.Rule, Kind: a.Kind, Key: a.Key,
			Detail: describe(a, res), Reason: a.Reason}
		if res.Created != (core.Ref{}) {
			audit.Target = res.Created
		}
		if err := e.o.Store.Complete(ctx, a, res, audit); err != nil {
			// Applied but not recorded: the next attempt asks the connector
			// (AppliedChecker, markers) before writing again.
			e.log.Error("recording applied action failed", "key", a.Key, "err", err)
			return now.Add(e.o.BackoffBase), retryLater
		}
		e.log.Info("applied", "rule", a.Rule, "action", string(a.Kind), "target", audit.Target.String(), "detail", audit.Detail)
		e.count(a, "ok")
		return time.Time{}, appliedOK
	}
	permanent, wait := core.Classify(err)
	attempts := a.Attempts + 1
	dead := permanent || attempts >= e.o.MaxAttempts
	next := now.Add(max(wait, e.backoff(attempts)))
	if ferr := e.o.Store.Fail(ctx, a.Key, err.Error(), next, dead); ferr != nil {
		e.log.Error("recording failed action failed", "key", a.Key, "err", ferr)
	}
	if dead {
		e.log.Error("action dead-lettered", "rule", a.Rule, "action", string(a.Kind), "target", a.Target.String(),
			"attempts", attempts, "err", err)
		e.count(a, "dead")
		return time.Time{}, deadLettered
	}
	e.log.Warn("action failed; will retry", "rule", a.Rule, "action", string(a.Kind), "target", a.Target.String(),
		"attempt", attempts, "retry_in", next.Sub(now).Round(time.Millisecond).String(), "err", err)
	e.count(a, "retry")
	return next, retryLater
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

func (e *Engine) backoff(attempt int) time.Duration {
	d := e.o.BackoffBase << min(attempt-1, 20)
	if d <= 0 || d > e.o.BackoffMax {
		d = e.o.BackoffMax
	}
	return d
}

// perform finds the connector and applies, first asking whether an earlier
// attempt already did the write: a create finds its marker, and an action
// that may have reached its target before (an earlier attempt, or one
// planned before this process started) is checked when the connector can.
func (e *Engine) perform(ctx context.Context, a core.Action) (core.Result, error) {
	var ap core.Applier
	if a.Kind == core.Notify {
		if e.o.Notifier == nil {
			return core.Result{}, core.Permanent(errors.New("no notifier configured for notify actions"))
		}
		ap = e.o.Notifier
	} else {
		c, ok := e.conns[a.Target.System]
		if !ok {
			return core.Result{}, core.Permanent(fmt.Errorf("no connector named %q is configured", a.Target.System))
		}
		if ap, ok = c.(core.Applier); !ok {
			return core.Result{}, core.Permanent(fmt.Errorf("connector %q cannot apply actions", a.Target.System))
		}
	}
	actx, cancel := context.WithTimeout(ctx, e.o.ApplyTimeout)
	defer cancel()
	// An action planned and enqueued by the reconcile running it, and not
	// tried yet, cannot have reached its target. Any other pending action
	// may have: an attempt whose Complete failed, or one by a replica that
	// died before recording it.
	_, untried := e.untried.LoadAndDelete(a.Key)
	uncertain := !untried
	if a.Kind == core.Create && uncertain {
		if f, ok := ap.(core.MarkerFinder); ok {
			ref, err := f.FindByMarker(actx, a.Target.Kind, a.Marker())
			switch {
			case err == nil:
				return core.Result{Created: ref, Note: "found by marker " + a.Marker()}, nil
			case !errors.Is(err, core.ErrNotFound):
				return core.Result{}, fmt.Errorf("looking up marker: %w", err)
			}
		}
	}
	if ch, ok := ap.(core.AppliedChecker); ok && uncertain && a.Kind != core.Create {
		res, done, err := ch.Applied(actx, a)
		if err != nil {
			return core.Result{}, fmt.Errorf("checking an earlier attempt: %w", err)
		}
		if done {
			res.Note = "already applied"
			return res, nil
		}
	}
	return ap.Apply(actx, a)
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
		s = "notified " + destination(a.To)
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

// Busy reports how many cases are being reconciled right now.
func (e *Engine) Busy() int { return int(e.busy.Load()) }

// candidateWindow bounds how far back a duplicate search looks, and
// candidateTTL how long one read of the candidates serves every reconcile.
const (
	candidateWindow = 180 * 24 * time.Hour
	candidateTTL    = 10 * time.Second
	candidateMax    = 5000
)

// candidates returns the records duplicate rules may link to, read from the
// store at most every candidateTTL: a duplicate found a few seconds late is
// found all the same, and a busy queue does not reread them per case.
func (e *Engine) candidates(ctx context.Context, m *core.Mappings, now time.Time) []core.Item {
	e.candMu.Lock()
	defer e.candMu.Unlock()
	if e.candFor == m && now.Sub(e.candAt) < candidateTTL && now.After(e.candAt) {
		return e.cand
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
			e.log.Warn("reading duplicate candidates failed; duplicates are not searched this time", "err", err)
			continue
		}
		out = append(out, its...)
	}
	e.cand, e.candAt, e.candFor = out, now, m
	return out
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

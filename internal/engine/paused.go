package engine

import (
	"context"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// pausedRecheck is how soon a case with a paused record or paused whole
// is looked at again. A resume marks the case dirty itself; the recheck
// only keeps the case from coming back at once for actions that were
// pending when it was paused (the store keeps such a case queued).
const pausedRecheck = 10 * time.Minute

// pauseReader is a store that keeps admins' pauses of sync
// (internal/store): the cases paused whole and the records paused, of
// the cases ids.
type pauseReader interface {
	PausedIn(ctx context.Context, ids []core.CaseID) (map[core.CaseID]bool, map[core.Ref]bool, error)
}

// paused is what an admin paused in one case: nothing is written for it
// while whole, and nothing to its records listed.
type paused struct {
	whole   bool
	records map[core.Ref]bool
}

// holds reports whether a must wait for a resume. A Create's target names
// a system only, so only a whole-case pause holds it.
func (p *paused) holds(a core.Action) bool {
	return p != nil && (p.whole || p.records[a.Target])
}

// holdPaused takes out of the runs' plans, and so of all (the actions to
// enqueue, returned), what is paused, and notes the pauses on the runs so
// that pending actions on them are not applied either. Held actions are
// neither enqueued nor dead-lettered: sync is level-triggered, so on
// resume the case is planned again from what is true then. When the
// pauses cannot be read nothing is applied (false): the runs are tried
// again soon.
func (e *Engine) holdPaused(ctx context.Context, runs []*caseRun, all []core.Action, now time.Time) ([]core.Action, bool) {
	pr, ok := e.o.Store.(pauseReader)
	if !ok {
		return all, true
	}
	// Only a case with something to write can be held: one that planned
	// nothing and had nothing pending (most of a round after writes) needs
	// no read of the pauses.
	var ids []core.CaseID
	for _, r := range runs {
		if len(r.plan) > 0 || hasPending(r.c) {
			ids = append(ids, r.id)
		}
	}
	if len(ids) == 0 {
		return all, true
	}
	cases, records, err := pr.PausedIn(ctx, ids)
	if err != nil {
		e.log.Error("reading paused sync failed; the cases are tried again", "cases", len(ids), "err", err)
		e.retrySoon(runs)
		return nil, false
	}
	if len(cases) == 0 && len(records) == 0 {
		return all, true
	}
	all = all[:0]
	for _, r := range runs {
		if len(r.plan) == 0 && !hasPending(r.c) {
			continue
		}
		p := &paused{whole: cases[r.id], records: records}
		kept := r.plan[:0]
		for _, a := range r.plan {
			if !p.holds(a) {
				kept = append(kept, a)
			}
		}
		r.plan = kept
		all = append(all, kept...)
		if p.whole || r.pausedRecords(records) {
			r.paused = p
			r.retryAt = earliest(r.retryAt, now.Add(pausedRecheck))
		}
	}
	return all, true
}

// pausedRecords reports whether one of the case's records is paused.
func (r *caseRun) pausedRecords(records map[core.Ref]bool) bool {
	for _, it := range r.c.Items {
		if records[it.Ref] {
			return true
		}
	}
	return false
}

package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// The work queue holds one row per dirty case: due_at (when it may be
// claimed), dirty_gen (bumped by every mark), and the claim (claimed_by,
// claimed_until, and claimed_gen, the dirty_gen seen at claim time).
// held_until is another owner's lease that a join put beside the claim: a
// release hands the case to no one until then (see graph.join).
//
// A row is claimable when it is due and not under a live claim. Claiming
// leaves due_at as it was (in the past), so a claim whose worker died
// becomes claimable again the moment its lease runs out. A mark while
// claimed only bumps dirty_gen; at release a dirty_gen beyond claimed_gen
// means "changed while you worked" and keeps the row, due at once. That is
// how repeated dirtiness collapses into one more run and never into two
// concurrent ones.

// ClaimCases claims up to n due cases for owner until now+lease, oldest
// due first. On PostgreSQL, replicas claiming at once skip each other's
// rows (FOR UPDATE SKIP LOCKED) instead of waiting.
func (s *Store) ClaimCases(ctx context.Context, owner string, now time.Time, n int, lease time.Duration) ([]core.CaseID, error) {
	if owner == "" {
		return nil, errors.New("store: claim cases: empty owner")
	}
	if n <= 0 {
		return nil, nil
	}
	at := unixNano(now)
	// Idle workers look often; asking a reader first keeps a look that
	// finds nothing off the writer.
	var due int
	err := s.be.reader().queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM work WHERE due_at <= $1 AND claimed_until <= $1 LIMIT 1) d`, at).Scan(&due)
	if err != nil {
		return nil, fmt.Errorf("store: look for due cases: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	type claimed struct{ id, due int64 }
	var got []claimed
	err = s.be.write(ctx, false, func(q querier) error {
		got = got[:0]
		return all(q.query(ctx, `UPDATE work SET claimed_by = $1, claimed_until = $2, claimed_gen = dirty_gen
WHERE case_id IN (SELECT case_id FROM work WHERE due_at <= $3 AND claimed_until <= $3
ORDER BY due_at, case_id LIMIT $4`+s.be.skipLocked()+`)
RETURNING case_id, due_at`, owner, at+int64(lease), at, n)).each(func(rs rows) error {
			var c claimed
			err := rs.Scan(&c.id, &c.due)
			got = append(got, c)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim cases for %q: %w", owner, err)
	}
	slices.SortFunc(got, func(a, b claimed) int {
		if a.due != b.due {
			return cmp.Compare(a.due, b.due)
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]core.CaseID, len(got))
	for i, c := range got {
		out[i] = core.CaseID(c.id)
	}
	return out, nil
}

// ReleaseCase ends owner's claim on a case (or on the case it was joined
// into). Marked dirty since the claim: it stays queued, due at once;
// otherwise due at retryAt when that is set, or leaves the queue. A release
// by someone who no longer holds the claim (the lease ran out and another
// worker took it) changes nothing.
func (s *Store) ReleaseCase(ctx context.Context, id core.CaseID, owner string, retryAt time.Time) error {
	return s.ReleaseCases(ctx, owner, []core.Release{{Case: id, RetryAt: retryAt}})
}

// ReleaseCases ends owner's claims on several cases in one transaction.
func (s *Store) ReleaseCases(ctx context.Context, owner string, rel []core.Release) error {
	if owner == "" {
		return errors.New("store: release case: empty owner")
	}
	// In one order, so that two releases cannot each wait for a row the
	// other locked (PostgreSQL).
	rel = slices.Clone(rel)
	slices.SortFunc(rel, func(a, b core.Release) int { return cmp.Compare(a.Case, b.Case) })
	// Not durable: a release lost to a power failure only means the case
	// is claimed again when its lease runs out.
	return s.be.write(ctx, false, func(q querier) error {
		for _, r := range rel {
			if err := s.release(ctx, q, r, owner); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) release(ctx context.Context, q querier, r core.Release, owner string) error {
	c, err := resolveCase(ctx, q, int64(r.Case))
	if err != nil {
		return err
	}
	var (
		gen, clGen int64
		by         string
	)
	err = q.queryRow(ctx, `SELECT dirty_gen, claimed_by, claimed_gen FROM work WHERE case_id = $1`+s.be.forUpdate(), c).
		Scan(&gen, &by, &clGen)
	if isNoRows(err) || (err == nil && by != owner) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: release case %d: %w", c, err)
	}
	// What the owner saw of a case joined into another since says nothing
	// about the other's marks.
	if r.Seen > clGen && c == int64(r.Case) {
		clGen = r.Seen
	}
	due := unixNano(r.RetryAt)
	switch {
	case gen > clGen:
		_, err = q.exec(ctx, `UPDATE work SET claimed_by = '', claimed_until = held_until, held_until = 0 WHERE case_id = $1`, c)
	case due == 0:
		// A case with actions pending stays queued, due when the first
		// may be tried, whatever its releaser saw: a join can hand one
		// case to two workers of one owner, and the other may have
		// enqueued since. Only a queued case is sure to be taken up
		// again after a crash.
		// A case holding another owner's lease stays queued until that
		// lease is over, for the records that owner may still act on.
		var n int64
		n, err = q.exec(ctx, `DELETE FROM work WHERE case_id = $1 AND held_until <= $2
AND NOT EXISTS (SELECT 1 FROM outbox WHERE case_id = $1 AND state = 'pending')`, c, s.now())
		if err != nil || n > 0 {
			break
		}
		if due, err = s.pendingDue(ctx, q, c); err != nil {
			break
		}
		fallthrough
	default:
		_, err = q.exec(ctx, `UPDATE work SET claimed_by = '', claimed_until = held_until, held_until = 0, due_at = $2 WHERE case_id = $1`, c, due)
	}
	if err != nil {
		return fmt.Errorf("store: release case %d: %w", c, err)
	}
	return nil
}

// ReleaseClaims ends every claim on cases and every lease on poll sources,
// and returns how many cases it freed. It is for a process that knows it
// is the only one using the store (on SQLite, the intake journal's lock
// proves that), at start: what is claimed then was claimed by a process
// that died, and waiting out its leases would only stall the work. On
// PostgreSQL, where other replicas hold live claims, it does nothing.
func (s *Store) ReleaseClaims(ctx context.Context) (int, error) {
	if _, ok := s.be.(*sqliteBackend); !ok {
		return 0, nil
	}
	var n int64
	err := s.be.write(ctx, true, func(q querier) error {
		var err error
		if n, err = q.exec(ctx, `UPDATE work SET claimed_by = '', claimed_until = 0, held_until = 0 WHERE claimed_by <> '' OR held_until <> 0`); err != nil {
			return err
		}
		_, err = q.exec(ctx, `DELETE FROM leases`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: release the claims of an earlier process: %w", err)
	}
	return int(n), nil
}

// pendingDue returns when the first of a case's pending actions may be
// tried, not before now (now when none is left: one may have been
// completed since the caller looked).
func (s *Store) pendingDue(ctx context.Context, q querier, c int64) (int64, error) {
	var next int64
	err := q.queryRow(ctx, `SELECT COALESCE(MIN(next_attempt), 0) FROM outbox WHERE case_id = $1 AND state = 'pending'`, c).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("pending actions: %w", err)
	}
	return max(next, s.now()), nil
}

// MarkDirty makes a case (or the case it was joined into) due at at, or
// earlier if it already was; the zero time means now.
func (s *Store) MarkDirty(ctx context.Context, id core.CaseID, at time.Time) error {
	due := unixNano(at)
	if due == 0 {
		due = s.now()
	}
	return s.be.write(ctx, true, func(q querier) error {
		c, err := resolveCase(ctx, q, int64(id))
		if err != nil {
			return err
		}
		return s.bulk.markDirty(ctx, q, []int64{c}, due)
	})
}

// QueueDepth counts queued cases (claimed ones included) and pending
// actions.
func (s *Store) QueueDepth(ctx context.Context) (cases, actions int, err error) {
	var c, a int64
	err = s.be.read(ctx, func(q querier) error {
		if err := q.queryRow(ctx, `SELECT COUNT(*) FROM work`).Scan(&c); err != nil {
			return err
		}
		return q.queryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE state = 'pending'`).Scan(&a)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: queue depth: %w", err)
	}
	return int(c), int(a), nil
}

package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Pause is an admin's hold on sync: of one record (the engine writes
// nothing to it) or, when Whole, of the whole case the record is in (the
// engine writes nothing for that case). Events are still stored meanwhile;
// on Resume the case is planned again from what is true then.
type Pause struct {
	Ref    core.Ref
	Whole  bool        // the record's whole case, wherever joins and splits take it
	Case   core.CaseID // the case the record is in now (set by Paused)
	By     string
	At     time.Time
	Reason string
}

func (p Pause) scope() string {
	if p.Whole {
		return "case"
	}
	return "record"
}

// what names what a pause holds, for audit entries.
func (p Pause) what() string {
	if p.Whole {
		return "the case of " + p.Ref.String()
	}
	return p.Ref.String()
}

// Pause holds sync of p.Ref (or its case), naming p.By, and writes the
// audit entry, in one transaction. It reports false when that hold was
// already there (the first one is kept). The record must be stored.
func (s *Store) Pause(ctx context.Context, p Pause) (bool, error) {
	var added bool
	err := s.be.write(ctx, true, func(q querier) error {
		now := s.now()
		c, err := s.recordCase(ctx, q, p.Ref)
		if err != nil {
			return err
		}
		if c == 0 {
			return notFound("store: pause", p.Ref)
		}
		n, err := q.exec(ctx, `INSERT INTO paused (ref, scope, paused_by, paused_at, reason) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (ref, scope) DO NOTHING`, p.Ref.String(), p.scope(), p.By, now, p.Reason)
		if err != nil {
			return fmt.Errorf("store: pause %s: %w", p.what(), err)
		}
		if added = n > 0; !added {
			return nil
		}
		detail := fmt.Sprintf("%s paused sync of %s", p.By, p.what())
		if p.Reason != "" {
			detail += ": " + p.Reason
		}
		return s.insertAudit(ctx, q, adminEntry(now, c, p.Ref, "pause", detail))
	})
	return added, err
}

// Resume ends the hold on r (whole: every hold on r's case, whichever of
// its records it was kept under), writes the audit entry naming who and
// marks the case dirty, due now, so that it is planned at once with what
// is true then. It reports false when nothing was held.
func (s *Store) Resume(ctx context.Context, r core.Ref, whole bool, who string) (bool, error) {
	var found bool
	err := s.be.write(ctx, true, func(q querier) error {
		now := s.now()
		c, err := s.recordCase(ctx, q, r)
		if err != nil {
			return err
		}
		if c == 0 {
			return notFound("store: resume", r)
		}
		p := Pause{Ref: r, Whole: whole}
		var n int64
		if whole {
			n, err = q.exec(ctx, `DELETE FROM paused WHERE scope = 'case' AND ref IN (SELECT ref FROM items WHERE case_id = $1)`, c)
		} else {
			n, err = q.exec(ctx, `DELETE FROM paused WHERE scope = 'record' AND ref = $1`, r.String())
		}
		if err != nil {
			return fmt.Errorf("store: resume %s: %w", p.what(), err)
		}
		if found = n > 0; !found {
			return nil
		}
		if err := s.insertAudit(ctx, q, adminEntry(now, c, r, "resume", fmt.Sprintf("%s resumed sync of %s", who, p.what()))); err != nil {
			return err
		}
		return s.bulk.markDirty(ctx, q, []int64{c}, now)
	})
	return found, err
}

// Paused returns the holds on the cases ids: whole-case ones and those of
// their records, by case and then ref.
func (s *Store) Paused(ctx context.Context, ids ...core.CaseID) ([]Pause, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	marks := make([]string, len(ids))
	for i, id := range ids {
		args[i] = int64(id)
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	var out []Pause
	err := all(s.be.reader().query(ctx, `SELECT p.ref, p.scope, p.paused_by, p.paused_at, p.reason, i.case_id
FROM paused p JOIN items i ON i.ref = p.ref WHERE i.case_id IN (`+strings.Join(marks, ", ")+`)
ORDER BY i.case_id, p.ref, p.scope`, args...)).each(func(rs rows) error {
		var (
			p          Pause
			ref, scope string
			at, c      int64
		)
		if err := rs.Scan(&ref, &scope, &p.By, &at, &p.Reason, &c); err != nil {
			return err
		}
		var err error
		p.Ref, err = parseRef(ref)
		p.Whole, p.At, p.Case = scope == "case", fromUnixNano(at), core.CaseID(c)
		out = append(out, p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: paused of %d cases: %w", len(ids), err)
	}
	return out, nil
}

// PausedIn is Paused for the engine, which knows the store only through
// core: the cases held whole and the records held.
func (s *Store) PausedIn(ctx context.Context, ids []core.CaseID) (map[core.CaseID]bool, map[core.Ref]bool, error) {
	ps, err := s.Paused(ctx, ids...)
	if err != nil || len(ps) == 0 {
		return nil, nil, err
	}
	cases, records := map[core.CaseID]bool{}, map[core.Ref]bool{}
	for _, p := range ps {
		if p.Whole {
			cases[p.Case] = true
		} else {
			records[p.Ref] = true
		}
	}
	return cases, records, nil
}

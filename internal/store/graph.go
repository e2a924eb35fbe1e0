package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// graph is one write transaction's working view of the records it
// touches: Ingest and Complete load the item rows they need in bulk,
// change them in memory and write them back in bulk at the end. Link rows
// are written at once. Before a join or a split the pending item rows are
// flushed, so that the SQL moving a case's members sees all of them.
//
// Invariants kept (they are what LoadCase and the planner rely on): both
// ends of every link are item rows of the same case, and a case is one
// connected component of the links.
type graph struct {
	s   *Store
	q   querier
	now int64
	// items holds the rows loaded or created; a nil value records that the
	// ref has no row, so that it is not looked up again.
	items map[string]*itemRow
	// touched holds the cases to mark dirty at the end.
	touched map[int64]bool
	// spare holds case ids reserved in advance (one round trip for the
	// batch on PostgreSQL).
	spare []int64
	// reshaped holds the cases whose records or links the transaction
	// changed beyond a snapshot: a record added, a link written or
	// removed, a join or a split (see EnqueueOnRead).
	reshaped map[int64]bool
}

func newGraph(s *Store, q querier, now int64) *graph {
	return &graph{s: s, q: q, now: now, items: map[string]*itemRow{}, touched: map[int64]bool{}, reshaped: map[int64]bool{}}
}

// preload loads the rows of refs in one go and reserves a case id for each
// ref that has none.
func (g *graph) preload(ctx context.Context, refs []string) error {
	if err := g.s.bulk.loadItems(ctx, g.q, refs, g.items); err != nil {
		return err
	}
	missing := 0
	for _, r := range refs {
		if _, ok := g.items[r]; !ok {
			g.items[r] = nil
			missing++
		}
	}
	if missing > 0 {
		ids, err := g.s.be.newCaseIDs(ctx, g.q, missing)
		if err != nil {
			return err
		}
		g.spare = append(g.spare, ids...)
	}
	return nil
}

// item returns the row of ref, or nil when the record is unknown.
func (g *graph) item(ctx context.Context, ref string) (*itemRow, error) {
	if r, ok := g.items[ref]; ok {
		return r, nil
	}
	if err := g.s.bulk.loadItems(ctx, g.q, []string{ref}, g.items); err != nil {
		return nil, err
	}
	r := g.items[ref]
	g.items[ref] = r
	return r, nil
}

// newCase returns a fresh case id.
func (g *graph) newCase(ctx context.Context) (int64, error) {
	if len(g.spare) == 0 {
		ids, err := g.s.be.newCaseIDs(ctx, g.q, 1)
		if err != nil {
			return 0, err
		}
		g.spare = ids
	}
	id := g.spare[0]
	g.spare = g.spare[1:]
	return id, nil
}

// create adds a row for a record not stored yet, in case c (a new case
// when c is 0).
func (g *graph) create(ctx context.Context, r core.Ref, c int64, it core.Item) (*itemRow, error) {
	if c == 0 {
		var err error
		if c, err = g.newCase(ctx); err != nil {
			return nil, err
		}
	}
	it.Ref = r
	row := &itemRow{ref: r.String(), system: r.System, kind: string(r.Kind), caseID: c}
	g.set(row, it)
	g.items[row.ref] = row
	g.touched[c] = true
	g.reshaped[c] = true
	return row, nil
}

// snapshot returns the row's decoded snapshot.
func (g *graph) snapshot(row *itemRow) (*core.Item, error) {
	if row.item == nil {
		it, err := decodeItem(row.ref, row.snapshot)
		if err != nil {
			return nil, err
		}
		row.item = it
	}
	return row.item, nil
}

// set replaces the row's snapshot.
func (g *graph) set(row *itemRow, it core.Item) {
	row.item = &it
	row.updatedAt = unixNano(it.UpdatedAt)
	row.version = it.Version
	row.changed = true
}

// merge folds a snapshot into the record's row (core.Merge), creating the
// row in a new case when the record is unknown, and marks its case dirty.
func (g *graph) merge(ctx context.Context, it core.Item) (*itemRow, error) {
	row, err := g.item(ctx, it.Ref.String())
	if err != nil {
		return nil, err
	}
	if row == nil {
		if row, err = g.create(ctx, it.Ref, 0, core.Merge(nil, it)); err != nil {
			return nil, err
		}
		row.known = true
		return row, nil
	}
	prev, err := g.snapshot(row)
	if err != nil {
		return nil, err
	}
	merged := core.Merge(prev, it)
	var enc []byte
	if row.known && !row.changed && len(row.snapshot) > 0 {
		// An event that changes nothing (typically our own write coming
		// back, carrying the snapshot Complete already stored) neither
		// rewrites the row nor marks the case dirty: a reconcile would
		// plan nothing from it.
		b, err := json.Marshal(&merged)
		if err == nil && bytes.Equal(b, row.snapshot) {
			row.known = true
			return row, nil
		}
		if err == nil {
			enc = b
		}
	}
	g.set(row, merged)
	if enc != nil {
		// The encoding is the new snapshot's: flush keeps it rather
		// than encode the same snapshot again.
		row.snapshot, row.encoded = enc, row.item
	}
	row.known = true
	g.touched[row.caseID] = true
	return row, nil
}

// link writes l, creating a placeholder row (a snapshot holding only the
// Ref) for an end not known yet, in the case of the other end, and joins
// the two ends' cases when they differ. source is the record whose event
// stated the link.
func (g *graph) link(ctx context.Context, l core.Link, source string) error {
	from, to := l.From.String(), l.To.String()
	if l.From == l.To || l.From.IsZero() || l.To.IsZero() {
		return nil
	}
	a, err := g.item(ctx, from)
	if err != nil {
		return err
	}
	b, err := g.item(ctx, to)
	if err != nil {
		return err
	}
	// A mention joins nothing: a record known only by it gets a case of
	// its own, so that its own events later never land in the mentioner's.
	joins := l.Joins()
	caseOf := func(other *itemRow) int64 {
		if !joins {
			return 0
		}
		return other.caseID
	}
	switch {
	case a == nil && b == nil:
		if a, err = g.create(ctx, l.From, 0, core.Item{}); err != nil {
			return err
		}
		if b, err = g.create(ctx, l.To, caseOf(a), core.Item{}); err != nil {
			return err
		}
	case a == nil:
		if a, err = g.create(ctx, l.From, caseOf(b), core.Item{}); err != nil {
			return err
		}
	case b == nil:
		if b, err = g.create(ctx, l.To, caseOf(a), core.Item{}); err != nil {
			return err
		}
	}
	role := l.Role
	if role == "" {
		role = core.Mentions
	}
	// A link the source states or we made outranks one a pattern found:
	// a discovered link never overwrites it, so removing the key from a
	// title does not remove a link someone stated.
	// The update is skipped when it would change nothing, so that a link
	// stated again (every event of a record repeats its explicit links)
	// does not mark the case dirty.
	n, err := g.q.exec(ctx, `INSERT INTO links (from_ref, to_ref, role, origin, source_ref, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (from_ref, to_ref) DO UPDATE SET role = excluded.role, origin = excluded.origin, source_ref = excluded.source_ref
WHERE (links.origin = 'discovered' OR excluded.origin <> 'discovered')
AND (links.role <> excluded.role OR links.origin <> excluded.origin OR links.source_ref <> excluded.source_ref)`,
		from, to, string(role), string(l.Origin), source, g.now)
	if err != nil {
		return fmt.Errorf("store: link %q → %q: %w", from, to, err)
	}
	if n > 0 {
		g.touched[a.caseID] = true
		g.touched[b.caseID] = true // a mentioned record's case hears of it too
		g.reshaped[a.caseID] = true
		g.reshaped[b.caseID] = true
	}
	if joins && a.caseID != b.caseID {
		return g.join(ctx, a.caseID, b.caseID)
	}
	return nil
}

// unlink removes a discovered link that source's text no longer holds,
// and splits the case if that disconnected it.
func (g *graph) unlink(ctx context.Context, l core.Link, source string) error {
	from, to := l.From.String(), l.To.String()
	n, err := g.q.exec(ctx, `DELETE FROM links WHERE from_ref = $1 AND to_ref = $2 AND origin = 'discovered' AND source_ref = $3`,
		from, to, source)
	if err != nil {
		return fmt.Errorf("store: unlink %q → %q: %w", from, to, err)
	}
	if n == 0 {
		return nil // stated explicitly by now, or never written
	}
	row, err := g.item(ctx, from)
	if err != nil {
		return err
	}
	if row != nil {
		g.reshaped[row.caseID] = true
	}
	return g.split(ctx, from, to)
}

// flush writes the changed item rows.
func (g *graph) flush(ctx context.Context) error {
	var out []*itemRow
	for _, row := range g.items {
		if row == nil || !row.changed {
			continue
		}
		if row.item != nil && row.item != row.encoded {
			b, err := json.Marshal(row.item)
			if err != nil {
				return fmt.Errorf("store: encode snapshot of %q: %w", row.ref, err)
			}
			row.snapshot = b
		}
		out = append(out, row)
	}
	if len(out) == 0 {
		return nil
	}
	// A fixed order keeps PostgreSQL's row locks in one order.
	slices.SortFunc(out, func(a, b *itemRow) int { return strings.Compare(a.ref, b.ref) })
	if err := g.s.bulk.saveItems(ctx, g.q, out); err != nil {
		return err
	}
	for _, row := range out {
		row.changed = false
	}
	return nil
}

// finish writes what is pending and marks every touched case dirty.
func (g *graph) finish(ctx context.Context) error {
	if err := g.flush(ctx); err != nil {
		return err
	}
	if len(g.touched) == 0 {
		return nil
	}
	cases := make([]int64, 0, len(g.touched))
	for c := range g.touched {
		cases = append(cases, c)
	}
	slices.Sort(cases)
	return g.s.bulk.markDirty(ctx, g.q, cases, g.now)
}

// workRow is a case's row in the work queue.
type workRow struct {
	caseID, due, gen    int64
	claimedBy           string
	claimedUntil, clGen int64
	heldUntil           int64 // another owner's lease, from a join (see join)
	exists              bool
}

func (w workRow) claimed(now int64) bool { return w.exists && w.claimedUntil > now }

func (g *graph) work(ctx context.Context, c int64) (workRow, error) {
	w := workRow{caseID: c}
	err := g.q.queryRow(ctx, `SELECT due_at, dirty_gen, claimed_by, claimed_until, claimed_gen, held_until FROM work WHERE case_id = $1`+g.s.be.forUpdate(), c).
		Scan(&w.due, &w.gen, &w.claimedBy, &w.claimedUntil, &w.clGen, &w.heldUntil)
	if isNoRows(err) {
		return w, nil
	}
	if err != nil {
		return w, fmt.Errorf("store: work row of case %d: %w", c, err)
	}
	w.exists = true
	return w, nil
}

func (g *graph) putWork(ctx context.Context, w workRow) error {
	_, err := g.q.exec(ctx, `INSERT INTO work (case_id, due_at, dirty_gen, claimed_by, claimed_until, claimed_gen, held_until) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (case_id) DO UPDATE SET due_at = excluded.due_at, dirty_gen = excluded.dirty_gen,
claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until, claimed_gen = excluded.claimed_gen, held_until = excluded.held_until`,
		w.caseID, w.due, w.gen, w.claimedBy, w.claimedUntil, w.clGen, w.heldUntil)
	if err != nil {
		return fmt.Errorf("store: write work row of case %d: %w", w.caseID, err)
	}
	return nil
}

// join merges cases x and y: the members of the smaller move to the
// larger (fewer rows to rewrite), with their outbox rows and queue entry.
// The old id is remembered in case_merges, so a worker still holding it
// can release it.
//
// A join must not let two workers act on the same records at once. So if
// either half is claimed, the joined case stays claimed: by that owner when
// one half was (its release then hands the case out again, as it is
// dirty), or by no one until the later lease runs out when both were, by
// different owners.
func (g *graph) join(ctx context.Context, x, y int64) error {
	g.reshaped[x], g.reshaped[y] = true, true
	if err := g.flush(ctx); err != nil {
		return err
	}
	var nx, ny int64
	if err := g.q.queryRow(ctx, `SELECT COUNT(*) FROM items WHERE case_id = $1`, x).Scan(&nx); err != nil {
		return fmt.Errorf("store: count case %d: %w", x, err)
	}
	if err := g.q.queryRow(ctx, `SELECT COUNT(*) FROM items WHERE case_id = $1`, y).Scan(&ny); err != nil {
		return fmt.Errorf("store: count case %d: %w", y, err)
	}
	keep, gone := x, y
	if ny > nx || (ny == nx && y < x) {
		keep, gone = y, x
	}
	for _, stmt := range []string{
		`UPDATE items SET case_id = $1 WHERE case_id = $2`,
		`UPDATE outbox SET case_id = $1 WHERE case_id = $2`,
		`UPDATE case_merges SET new_id = $1 WHERE new_id = $2`,
	} {
		if _, err := g.q.exec(ctx, stmt, keep, gone); err != nil {
			return fmt.Errorf("store: join case %d into %d: %w", gone, keep, err)
		}
	}
	if _, err := g.q.exec(ctx, `INSERT INTO case_merges (old_id, new_id) VALUES ($1, $2)
ON CONFLICT (old_id) DO UPDATE SET new_id = excluded.new_id`, gone, keep); err != nil {
		return fmt.Errorf("store: join case %d into %d: %w", gone, keep, err)
	}

	// Lock both queue rows in id order (PostgreSQL), then merge them.
	lo, hi := min(keep, gone), max(keep, gone)
	wl, err := g.work(ctx, lo)
	if err != nil {
		return err
	}
	wh, err := g.work(ctx, hi)
	if err != nil {
		return err
	}
	wk, wg := wl, wh
	if keep == hi {
		wk, wg = wh, wl
	}
	if wk.exists || wg.exists {
		m := workRow{caseID: keep, due: g.now, gen: max(wk.gen, wg.gen)}
		for _, w := range []workRow{wk, wg} {
			if w.exists {
				m.due = min(m.due, w.due)
			}
		}
		switch ck, cg := wk.claimed(g.now), wg.claimed(g.now); {
		case ck && cg && wk.claimedBy != wg.claimedBy:
			// Two owners, each of whom may be acting on the records it
			// loaded: the one whose lease ends later keeps the claim, and
			// the other's lease is held beside it. The keeper's release
			// then leaves the case to no one until the held lease is over
			// too, not until the keeper's own would have been (after a
			// crash, the earlier lease is often a dead worker's).
			later, earlier := wk, wg
			if wg.claimedUntil > wk.claimedUntil {
				later, earlier = wg, wk
			}
			m.claimedBy, m.claimedUntil, m.clGen = later.claimedBy, later.claimedUntil, later.clGen
			m.heldUntil = max(earlier.claimedUntil, wk.heldUntil, wg.heldUntil)
		case ck && cg:
			m.claimedBy, m.claimedUntil, m.clGen = wk.claimedBy, max(wk.claimedUntil, wg.claimedUntil), min(wk.clGen, wg.clGen)
			m.heldUntil = max(wk.heldUntil, wg.heldUntil)
		case ck:
			m.claimedBy, m.claimedUntil, m.clGen, m.heldUntil = wk.claimedBy, wk.claimedUntil, wk.clGen, wk.heldUntil
		case cg:
			m.claimedBy, m.claimedUntil, m.clGen, m.heldUntil = wg.claimedBy, wg.claimedUntil, wg.clGen, wg.heldUntil
		}
		// clGen <= gen here, and finish marks keep dirty again, so a
		// kept claim's release finds the case dirty and requeues it.
		if err := g.putWork(ctx, m); err != nil {
			return err
		}
		if wg.exists {
			if _, err := g.q.exec(ctx, `DELETE FROM work WHERE case_id = $1`, gone); err != nil {
				return fmt.Errorf("store: join case %d into %d: %w", gone, keep, err)
			}
		}
	}

	for _, row := range g.items {
		if row != nil && row.caseID == gone {
			row.caseID = keep
		}
	}
	delete(g.touched, gone)
	g.touched[keep] = true
	return nil
}

// split is called after the link between a and b was removed. If they are
// no longer connected, the smaller of their two components gets a new case
// id. Both parts are marked dirty; if the case was claimed, the split-off
// part stays claimed by no one until that lease runs out, so that no second
// worker acts on records the first one loaded.
func (g *graph) split(ctx context.Context, a, b string) error {
	ra, err := g.item(ctx, a)
	if err != nil {
		return err
	}
	rb, err := g.item(ctx, b)
	if err != nil {
		return err
	}
	if ra == nil || rb == nil || ra.caseID != rb.caseID {
		return nil
	}
	if err := g.flush(ctx); err != nil {
		return err
	}
	c := ra.caseID
	g.reshaped[c] = true
	adj := map[string][]string{}
	err = all(g.q.query(ctx, `SELECT l.from_ref, l.to_ref FROM links l JOIN items i ON i.ref = l.from_ref WHERE i.case_id = $1`+joiningLinks, c)).each(func(rs rows) error {
		var f, t string
		if err := rs.Scan(&f, &t); err != nil {
			return err
		}
		adj[f] = append(adj[f], t)
		adj[t] = append(adj[t], f)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: links of case %d: %w", c, err)
	}
	compA := reach(adj, a)
	if compA[b] {
		return nil
	}
	compB := reach(adj, b)
	move := compB
	if len(compA) < len(compB) {
		move = compA
	}
	n, err := g.newCase(ctx)
	if err != nil {
		return err
	}
	refs := make([]string, 0, len(move))
	for r := range move {
		refs = append(refs, r)
	}
	slices.Sort(refs)
	for _, r := range refs {
		if _, err := g.q.exec(ctx, `UPDATE items SET case_id = $1 WHERE ref = $2`, n, r); err != nil {
			return fmt.Errorf("store: split %q off case %d: %w", r, c, err)
		}
		if _, err := g.q.exec(ctx, `UPDATE outbox SET case_id = $1 WHERE case_id = $2 AND subject_ref = $3`, n, c, r); err != nil {
			return fmt.Errorf("store: split %q off case %d: %w", r, c, err)
		}
		if row := g.items[r]; row != nil {
			row.caseID = n
		}
	}
	w, err := g.work(ctx, c)
	if err != nil {
		return err
	}
	if w.claimed(g.now) {
		if err := g.putWork(ctx, workRow{caseID: n, due: g.now, claimedUntil: w.claimedUntil}); err != nil {
			return err
		}
	}
	g.touched[c] = true
	g.touched[n] = true
	return nil
}

// mentionLink selects, of links l, the mentions, which make no case
// (core.Link.Joins); joiningLinks restricts a query to the others.
const (
	mentionLink  = `l.origin = 'discovered' AND l.role = 'mentions'`
	joiningLinks = ` AND NOT (` + mentionLink + `)`
)

// reach returns the refs connected to start.
func reach(adj map[string][]string, start string) map[string]bool {
	seen := map[string]bool{start: true}
	queue := []string{start}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		for _, o := range adj[r] {
			if !seen[o] {
				seen[o] = true
				queue = append(queue, o)
			}
		}
	}
	return seen
}

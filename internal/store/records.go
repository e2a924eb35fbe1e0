package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// CaseOf returns the case record r is in, or core.ErrNotFound.
func (s *Store) CaseOf(ctx context.Context, r core.Ref) (core.CaseID, error) {
	var c int64
	err := s.be.reader().queryRow(ctx, `SELECT case_id FROM items WHERE ref = $1`, r.String()).Scan(&c)
	if isNoRows(err) {
		return 0, notFound("store: case of", r)
	}
	if err != nil {
		return 0, fmt.Errorf("store: case of %q: %w", r.String(), err)
	}
	return core.CaseID(c), nil
}

// Item returns record r's snapshot, or core.ErrNotFound.
func (s *Store) Item(ctx context.Context, r core.Ref) (*core.Item, error) {
	var b []byte
	err := s.be.reader().queryRow(ctx, `SELECT snapshot FROM items WHERE ref = $1`, r.String()).Scan(&b)
	if isNoRows(err) {
		return nil, notFound("store: item", r)
	}
	if err != nil {
		return nil, fmt.Errorf("store: item %q: %w", r.String(), err)
	}
	return decodeItem(r.String(), b)
}

// Records returns records whose snapshot was seen (not placeholders) that
// sel selects, updated (by their source) at or after since, newest first,
// at most n (all when n <= 0). A record carrying the gateway's marker that
// is linked to nothing is left out: every record the gateway made and
// recorded is linked to the record it was made for, so such a one is an
// orphan of a create whose outcome was lost, not a problem of its own.
func (s *Store) Records(ctx context.Context, sel core.Selector, since time.Time, n int) ([]core.Item, error) {
	q := `SELECT ref, snapshot, EXISTS (SELECT 1 FROM links WHERE from_ref = items.ref OR to_ref = items.ref)
FROM items WHERE known = 1 AND updated_at >= $1`
	args := []any{unixNano(since)}
	if sel.System != "" {
		args = append(args, sel.System)
		q += fmt.Sprintf(` AND system = $%d`, len(args))
	}
	if sel.Kind != "" {
		args = append(args, string(sel.Kind))
		q += fmt.Sprintf(` AND kind = $%d`, len(args))
	}
	args = append(args, limit(n))
	q += fmt.Sprintf(` ORDER BY updated_at DESC, ref LIMIT $%d`, len(args))
	var out []core.Item
	err := all(s.be.reader().query(ctx, q, args...)).each(func(rs rows) error {
		var (
			ref    string
			b      []byte
			linked bool
		)
		if err := rs.Scan(&ref, &b, &linked); err != nil {
			return err
		}
		it, err := decodeItem(ref, b)
		if err != nil || (it.Marker != "" && !linked) {
			return err
		}
		out = append(out, *it)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: records of %s: %w", sel, err)
	}
	return out, nil
}

// RefsWithID returns the records (placeholders too) whose id is id,
// whatever their system and kind, for the CLI's short forms (KBOT-1, 4521).
func (s *Store) RefsWithID(ctx context.Context, id string) ([]core.Ref, error) {
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(id)
	var out []core.Ref
	err := all(s.be.reader().query(ctx, `SELECT ref FROM items WHERE ref LIKE $1 ESCAPE '\' ORDER BY ref LIMIT 20`, "%/"+esc)).each(func(rs rows) error {
		var ref string
		if err := rs.Scan(&ref); err != nil {
			return err
		}
		r, err := parseRef(ref)
		if err == nil && r.ID == id {
			out = append(out, r)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: records with id %q: %w", id, err)
	}
	return out, nil
}

// LoadCase reads a case whole from one consistent snapshot: its records
// sorted by ref, the links among them, the outbox state of every action
// planned for it, and the mirrors and synced values whose source (or first)
// record is in it. A case that was joined into another loads empty.
func (s *Store) LoadCase(ctx context.Context, id core.CaseID) (*core.Case, error) {
	cs, err := s.LoadCases(ctx, []core.CaseID{id})
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}

// LoadCases loads several cases from one read transaction: a batch of
// reconciles shares its snapshot and the pages it reads.
func (s *Store) LoadCases(ctx context.Context, ids []core.CaseID) ([]*core.Case, error) {
	out := make([]*core.Case, len(ids))
	err := s.be.read(ctx, func(q querier) error {
		for i, id := range ids {
			c, err := s.loadCase(ctx, q, id)
			if err != nil {
				return err
			}
			out[i] = c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) loadCase(ctx context.Context, q querier, id core.CaseID) (*core.Case, error) {
	c := &core.Case{ID: id, Items: []core.Item{}, Keys: map[string]core.ActionState{},
		Mirrors: map[string]string{}, Synced: map[string]string{}}
	if err := s.fillCase(ctx, q, c); err != nil {
		return nil, fmt.Errorf("store: load case %d: %w", id, err)
	}
	c.Sort()
	return c, nil
}

// fillCase reads case c's records, links, outbox states, mirrors, synced
// values and marks.
func (s *Store) fillCase(ctx context.Context, q querier, c *core.Case) error {
	cid := int64(c.ID)
	err := all(q.query(ctx, `SELECT ref, snapshot FROM items WHERE case_id = $1`, cid)).each(appendItem(&c.Items))
	if err != nil {
		return fmt.Errorf("items: %w", err)
	}
	// The case's links, and the mentions of its records by records of
	// other cases (a mention joins nothing, so its far end may be outside)
	// with the mentioning record's snapshot: the two halves are disjoint
	// (a link's from end is in the case or it is not).
	seen := map[string]bool{}
	err = all(q.query(ctx, `SELECT l.from_ref, l.to_ref, l.role, l.origin, CAST(NULL AS TEXT) FROM links l
JOIN items i ON i.ref = l.from_ref WHERE i.case_id = $1
UNION ALL SELECT l.from_ref, l.to_ref, l.role, l.origin, m.snapshot FROM links l
JOIN items i ON i.ref = l.to_ref JOIN items m ON m.ref = l.from_ref
WHERE i.case_id = $1 AND m.case_id <> $1 AND `+mentionLink, cid)).each(func(rs rows) error {
		var (
			from, to, role, origin string
			snapshot               []byte
		)
		if err := rs.Scan(&from, &to, &role, &origin, &snapshot); err != nil {
			return err
		}
		l := core.Link{Role: core.Role(role), Origin: core.Origin(origin)}
		var err error
		if l.From, err = parseRef(from); err != nil {
			return err
		}
		if l.To, err = parseRef(to); err != nil {
			return err
		}
		c.Links = append(c.Links, l)
		if snapshot == nil || seen[from] {
			return nil
		}
		seen[from] = true
		it, err := decodeItem(from, snapshot)
		if err != nil {
			return err
		}
		c.MentionedBy = append(c.MentionedBy, *it)
		return nil
	})
	if err != nil {
		return fmt.Errorf("links: %w", err)
	}
	// The outbox states, mirrors, synced values and the case's marks in
	// one statement: LoadCase runs for every reconcile pass.
	err = all(q.query(ctx, `SELECT 'o', key, state FROM outbox WHERE case_id = $1
UNION ALL SELECT 'm', m.key, m.mirror_id FROM mirrors m JOIN items i ON i.ref = m.src_ref WHERE i.case_id = $1
UNION ALL SELECT 's', y.key, y.value FROM synced y JOIN items i ON i.ref = y.a_ref WHERE i.case_id = $1
UNION ALL SELECT 'g', '', CAST(dirty_gen AS TEXT) FROM work WHERE case_id = $1`, cid)).each(func(rs rows) error {
		var t, k, v string
		if err := rs.Scan(&t, &k, &v); err != nil {
			return err
		}
		switch t {
		case "o":
			c.Keys[k] = core.ActionState(v)
		case "m":
			c.Mirrors[k] = v
		case "s":
			c.Synced[k] = v
		case "g":
			var err error
			if c.Marks, err = strconv.ParseInt(v, 10, 64); err != nil {
				return fmt.Errorf("dirty generation %q: %w", v, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox keys, mirrors and synced values: %w", err)
	}
	return nil
}

// appendItem scans (ref, snapshot) rows into *out.
func appendItem(out *[]core.Item) func(rows) error {
	return func(rs rows) error {
		var (
			ref string
			b   []byte
		)
		if err := rs.Scan(&ref, &b); err != nil {
			return err
		}
		it, err := decodeItem(ref, b)
		if err != nil {
			return err
		}
		*out = append(*out, *it)
		return nil
	}
}

// Events returns the inbox entries about record r, newest first, at most n
// (all when n <= 0), without raw bodies.
func (s *Store) Events(ctx context.Context, r core.Ref, n int) ([]core.Event, error) {
	var out []core.Event
	err := all(s.be.reader().query(ctx, `SELECT event FROM inbox WHERE ref = $1 ORDER BY id DESC LIMIT $2`, r.String(), limit(n))).each(func(rs rows) error {
		var b []byte
		if err := rs.Scan(&b); err != nil {
			return err
		}
		var ev core.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: events of %q: %w", r.String(), err)
	}
	return out, nil
}

// Cursor returns a poll source's stored cursor, "" when none.
func (s *Store) Cursor(ctx context.Context, source string) (string, error) {
	var v string
	err := s.be.reader().queryRow(ctx, `SELECT value FROM cursors WHERE source = $1`, source).Scan(&v)
	if isNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: cursor of %q: %w", source, err)
	}
	return v, nil
}

// SetCursor stores a poll source's cursor.
func (s *Store) SetCursor(ctx context.Context, source, cursor string) error {
	_, err := s.be.writeOne(ctx, false, `INSERT INTO cursors (source, value, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (source) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, source, cursor, s.now())
	if err != nil {
		return fmt.Errorf("store: set cursor of %q: %w", source, err)
	}
	return nil
}

// Lease takes the named lease for owner until now+ttl if it is free,
// expired or already owner's, and reports whether owner holds it. One
// statement decides, so two replicas asking at once cannot both win.
func (s *Store) Lease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	at := unixNano(now)
	n, err := s.be.writeOne(ctx, false, `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE leases.owner = excluded.owner OR leases.expires_at <= $4`, name, owner, at+int64(ttl), at)
	if err != nil {
		return false, fmt.Errorf("store: lease %q for %q: %w", name, owner, err)
	}
	return n == 1, nil
}

// pruneChunk bounds one pruning transaction, so that a large backlog is
// pruned in steps between which ingest carries on.
const pruneChunk = 500

// Prune drops raw bodies of events received before rawBefore (an event is
// processed once its ingest committed: its snapshot, links and dirty mark
// are written in the same transaction) and audit entries before
// auditBefore, and returns how many rows changed. A zero time skips that
// part. Inbox rows themselves stay: they de-duplicate redeliveries and
// answer Events.
func (s *Store) Prune(ctx context.Context, rawBefore, auditBefore time.Time) (int64, error) {
	var total int64
	steps := []struct {
		what, sql string
		before    time.Time
	}{
		{"raw bodies", `UPDATE inbox SET raw = NULL WHERE id IN
(SELECT id FROM inbox WHERE raw IS NOT NULL AND processed_at > 0 AND received_at < $1 LIMIT $2)`, rawBefore},
		{"audit", `DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 LIMIT $2)`, auditBefore},
		// Old inbox rows go with the audit: a delivery that old is not
		// re-sent, and a re-read one only merges an older snapshot.
		{"inbox", `DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE received_at < $1 LIMIT $2)`, auditBefore},
		// Attachments go with the raw bodies they came in, unless an
		// action still to be applied names them; the snapshots then name
		// a file that is no longer there, which an upload reports.
		{"attachment pieces", `DELETE FROM blob_chunks WHERE hash IN (SELECT hash FROM blobs b WHERE seen_at < $1
AND EXISTS (SELECT 1 FROM blob_chunks c WHERE c.hash = b.hash)
AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.state = 'pending' AND o.action LIKE '%' || b.hash || '%') LIMIT $2)`, rawBefore},
		{"attachments", `DELETE FROM blobs WHERE hash IN (SELECT hash FROM blobs b WHERE seen_at < $1
AND NOT EXISTS (SELECT 1 FROM blob_chunks c WHERE c.hash = b.hash) LIMIT $2)`, rawBefore},
	}
	for _, st := range steps {
		if st.before.IsZero() {
			continue
		}
		for {
			n, err := s.be.writeOne(ctx, false, st.sql, unixNano(st.before), pruneChunk)
			if err != nil {
				return total, fmt.Errorf("store: prune %s: %w", st.what, err)
			}
			total += n
			if n < pruneChunk {
				break
			}
		}
	}
	if total > 0 {
		if err := s.be.reclaim(ctx); err != nil {
			return total, fmt.Errorf("store: reclaim space: %w", err)
		}
	}
	return total, nil
}

package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/liaisonhq/liaison/core"
)

// The bulk statements of Ingest write many rows per statement, which
// saves a round trip per row on PostgreSQL and the per-statement overhead
// of database/sql and the driver on SQLite. Rows go in chunks whose sizes
// are powers of two up to maxChunk, so each statement shape is built and
// prepared once and a handful of shapes cover every batch size.
const maxChunk = 64

// chunks splits n rows into power-of-two runs, largest first.
func chunks(n int) []int {
	var out []int
	for size := maxChunk; n > 0; size /= 2 {
		for n >= size {
			out = append(out, size)
			n -= size
		}
	}
	return out
}

// shape is a multi-row statement: head, then rows copies of a
// parenthesised tuple of width placeholders, then tail.
type shape struct {
	head  string
	width int
	tail  string
	// params is how many placeholders head holds ($1..$params on
	// PostgreSQL); the rows' are numbered after them.
	params int
	// anon writes anonymous "?" placeholders instead of "$N": SQLite
	// looks a numbered parameter's name up by a linear scan, which made
	// binding a 64-row statement quadratic.
	anon bool
	// built caches the text per row count.
	mu    sync.Mutex
	built map[int]string
}

func (s *shape) text(rows int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.built[rows]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString(s.head)
	n := s.params + 1
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		if s.width > 1 {
			b.WriteByte('(')
		}
		for c := range s.width {
			if c > 0 {
				b.WriteByte(',')
			}
			if s.anon {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			}
			n++
		}
		if s.width > 1 {
			b.WriteByte(')')
		}
	}
	b.WriteString(s.tail)
	if s.built == nil {
		s.built = map[int]string{}
	}
	q := b.String()
	s.built[rows] = q
	return q
}

// bulkSQL holds a store's multi-row statements, in its backend's dialect.
type bulkSQL struct {
	inbox, load, save, dirty, audit, claims *shape
}

func newBulkSQL(be backend) *bulkSQL {
	anon := be.name() == "sqlite"
	return &bulkSQL{
		inbox: &shape{anon: anon, width: 10,
			head: `INSERT INTO inbox (source, delivery_id, ref, type, via, event, raw, raw_encoding, received_at, processed_at) VALUES `,
			tail: ` ON CONFLICT (source, delivery_id) DO NOTHING RETURNING source, delivery_id`},
		load: &shape{anon: anon, width: 1,
			head: `SELECT ref, case_id, snapshot, discovered, updated_at, version, known FROM items WHERE ref IN (`,
			tail: `)`},
		save: &shape{anon: anon, width: 9,
			head: `INSERT INTO items (ref, system, kind, case_id, snapshot, discovered, updated_at, version, known) VALUES `,
			tail: ` ON CONFLICT (ref) DO UPDATE SET case_id = excluded.case_id, snapshot = excluded.snapshot,
discovered = excluded.discovered, updated_at = excluded.updated_at, version = excluded.version, known = excluded.known`},
		claims: &shape{anon: anon, width: 1, params: 4, head: claimHead(anon),
			tail: `) RETURNING case_id`},
		audit: &shape{anon: anon, width: 8,
			head: `INSERT INTO audit (at, case_id, target_ref, rule, kind, key, detail, reason) VALUES `},
		dirty: &shape{anon: anon, width: 3,
			head: `INSERT INTO work (case_id, due_at, dirty_gen) VALUES `,
			tail: ` ON CONFLICT (case_id) DO UPDATE SET dirty_gen = work.dirty_gen + 1, due_at = ` + be.least() + `(work.due_at, excluded.due_at)`},
	}
}

// insertInbox inserts the rows unless their (source, delivery id) is
// there, and reports per row whether it was new. A pair repeated within
// rows is new at its first occurrence only.
func (b *bulkSQL) insertInbox(ctx context.Context, q querier, rs []inboxRow) ([]bool, error) {
	type pair struct{ source, delivery string }
	fresh := make([]bool, len(rs))
	at := 0
	for _, n := range chunks(len(rs)) {
		part := rs[at : at+n]
		args := make([]any, 0, 10*n)
		for _, r := range part {
			args = append(args, r.source, r.deliveryID, r.ref, r.typ, r.via, string(r.event), r.raw, r.rawEncoding, r.receivedAt, r.receivedAt)
		}
		inserted := map[pair]bool{}
		err := all(q.query(ctx, b.inbox.text(n), args...)).each(func(rs rows) error {
			var p pair
			err := rs.Scan(&p.source, &p.delivery)
			inserted[p] = true
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("store: inbox insert: %w", err)
		}
		for i, r := range part {
			p := pair{r.source, r.deliveryID}
			if inserted[p] {
				fresh[at+i] = true
				delete(inserted, p)
			}
		}
		at += n
	}
	return fresh, nil
}

// loadItems adds the stored rows of refs to into (refs not stored are left
// out).
func (b *bulkSQL) loadItems(ctx context.Context, q querier, refs []string, into map[string]*itemRow) error {
	var want []any
	for _, r := range refs {
		if _, ok := into[r]; !ok {
			want = append(want, r)
		}
	}
	at := 0
	for _, n := range chunks(len(want)) {
		err := all(q.query(ctx, b.load.text(n), want[at:at+n]...)).each(func(rs rows) error {
			it := &itemRow{}
			var known int64
			if err := rs.Scan(&it.ref, &it.caseID, &it.snapshot, &it.discovered, &it.updatedAt, &it.version, &known); err != nil {
				return err
			}
			it.known = known != 0
			into[it.ref] = it
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: load items: %w", err)
		}
		at += n
	}
	return nil
}

// saveItems upserts the rows (each ref at most once). A row's system and
// kind are written when it is inserted and never change.
func (b *bulkSQL) saveItems(ctx context.Context, q querier, rs []*itemRow) error {
	at := 0
	for _, n := range chunks(len(rs)) {
		args := make([]any, 0, 9*n)
		for _, r := range rs[at : at+n] {
			known := 0
			if r.known {
				known = 1
			}
			args = append(args, r.ref, r.system, r.kind, r.caseID, string(r.snapshot), string(r.discovered), r.updatedAt, r.version, known)
		}
		if _, err := q.exec(ctx, b.save.text(n), args...); err != nil {
			return fmt.Errorf("store: save items: %w", err)
		}
		at += n
	}
	return nil
}

// markDirty makes the cases (each at most once) due at at, or earlier if
// they already were, and bumps their dirty generation.
func (b *bulkSQL) markDirty(ctx context.Context, q querier, cases []int64, at int64) error {
	i := 0
	for _, n := range chunks(len(cases)) {
		args := make([]any, 0, 3*n)
		for _, c := range cases[i : i+n] {
			args = append(args, c, at, 1)
		}
		if _, err := q.exec(ctx, b.dirty.text(n), args...); err != nil {
			return fmt.Errorf("store: mark cases dirty: %w", err)
		}
		i += n
	}
	return nil
}

// insertAudit appends audit entries; an entry without a time gets now.
func (b *bulkSQL) insertAudit(ctx context.Context, q querier, es []core.AuditEntry, now int64) error {
	i := 0
	for _, n := range chunks(len(es)) {
		args := make([]any, 0, 8*n)
		for _, e := range es[i : i+n] {
			at := unixNano(e.At)
			if at == 0 {
				at = now
			}
			args = append(args, at, int64(e.Case), e.Target.String(), e.Rule, string(e.Kind), e.Key, e.Detail, e.Reason)
		}
		if _, err := q.exec(ctx, b.audit.text(n), args...); err != nil {
			return fmt.Errorf("store: append audit: %w", err)
		}
		i += n
	}
	return nil
}

func claimHead(anon bool) string {
	h := `UPDATE work SET claimed_by = $1, claimed_until = $2, claimed_gen = dirty_gen
WHERE due_at <= $3 AND claimed_until <= $4 AND case_id IN (`
	if anon {
		for i := 1; i <= 4; i++ {
			h = strings.Replace(h, "$"+strconv.Itoa(i), "?", 1)
		}
	}
	return h
}

// claim claims those of cases that are due at now and not claimed, for
// owner until until, and calls got with each.
func (b *bulkSQL) claim(ctx context.Context, q querier, cases []int64, owner string, now, until int64, got func(int64)) error {
	i := 0
	for _, n := range chunks(len(cases)) {
		args := make([]any, 0, 4+n)
		args = append(args, owner, until, now, now)
		for _, c := range cases[i : i+n] {
			args = append(args, c)
		}
		err := all(q.query(ctx, b.claims.text(n), args...)).each(func(rs rows) error {
			var c int64
			if err := rs.Scan(&c); err != nil {
				return err
			}
			got(c)
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: claim marked cases: %w", err)
		}
		i += n
	}
	return nil
}

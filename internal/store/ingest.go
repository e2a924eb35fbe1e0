package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Ingest records a batch of events in one transaction (see core.Store).
// Per new event: the inbox row, the merged snapshot (core.Merge, so a late
// older snapshot changes nothing but the comment and Seen unions), the
// explicit links (never removed by Ingest), and the record's discovered
// links, which replace the ones its previous event produced — a removal
// can split the case. A nil Discovered leaves them as they are (the event
// had no text to search); an empty one removes them. A link to an unknown record creates a placeholder row
// for it in the same case; a link across two cases joins them. Every case
// touched is marked dirty, due now.
//
// An event without Source, DeliveryID or a complete Item.Ref is refused
// with an error before anything is written: it could never be
// de-duplicated or found again.
func (s *Store) Ingest(ctx context.Context, batch []core.Ingest) ([]bool, error) {
	fresh, _, err := s.IngestClaim(ctx, batch, "", 0)
	return fresh, err
}

// EnqueueOnRead stores records read back from their trackers and
// enqueues the actions planned on them, in one transaction: the engine
// plans a case with a fetched record in place of its placeholder rather
// than store the record, load the case again and plan (a commit and a
// load less per webhook that names a record the gateway has not seen).
//
// A plan stands when the case is what it was planned on: not marked since
// it was loaded (Seen), not joined into another, and the reads changed no
// link and added no record to it. Only a plan that stands is enqueued;
// the case of one that does not is planned again from what is stored.
// The transaction is durable when it enqueues anything. Otherwise its
// commit does not wait for the disk: a read record can be read again, and
// the database's log reaches the disk in order, so the next durable write
// makes it durable too; a crash before that loses only the copy, and the
// case, queued since its event, is reconciled and the record read again.
func (s *Store) EnqueueOnRead(ctx context.Context, reads []core.Ingest, plans []core.PlannedCase) ([]bool, []core.PlanOutcome, error) {
	rows, err := encodeBatch(reads)
	if err != nil {
		return nil, nil, err
	}
	encs := make([]*enqueue, len(plans))
	durable := false
	for i, p := range plans {
		if len(p.Actions) == 0 {
			continue
		}
		if encs[i], err = newEnqueue(p.Actions); err != nil {
			return nil, nil, err
		}
		durable = true
	}
	var fresh []bool
	out := make([]core.PlanOutcome, len(plans))
	err = s.be.serial(ctx, durable, func(q querier) error {
		clear(out)
		var g *graph
		if len(reads) > 0 {
			var err error
			if fresh, g, err = s.ingestIn(ctx, q, reads, rows, s.now()); err != nil {
				return err
			}
		}
		for i, p := range plans {
			if !p.OnRead {
				out[i] = core.PlanOutcome{Stood: true, Seen: p.Seen}
				if encs[i] != nil {
					if err := s.enqueueIn(ctx, q, encs[i]); err != nil {
						return err
					}
					out[i].Added = slices.Clone(encs[i].added)
				}
				continue
			}
			gen, ok, err := s.unchangedBut(ctx, q, g, p.Case, p.Seen)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if encs[i] != nil {
				if err := s.enqueueIn(ctx, q, encs[i]); err != nil {
					return err
				}
				out[i].Added = slices.Clone(encs[i].added)
			}
			out[i].Stood, out[i].Seen = true, gen
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return fresh, out, nil
}

// unchangedBut reports whether case c, loaded with seen marks, changed
// since only by what the graph g of this transaction wrote: its records
// and links are the same (no record added, no link written or removed,
// no join or split), it was not joined into another case, and nothing
// else marked it. It returns the case's marks, g's own mark included.
// A case joined into another has no queue row left (join deletes it),
// and one that took another in was marked by the join.
func (s *Store) unchangedBut(ctx context.Context, q querier, g *graph, c core.CaseID, seen int64) (int64, bool, error) {
	id, want := int64(c), seen
	if g != nil {
		if g.reshaped[id] {
			return 0, false, nil
		}
		if g.touched[id] {
			want++
		}
	}
	var gen int64
	err := q.queryRow(ctx, `SELECT dirty_gen FROM work WHERE case_id = $1`+s.be.forUpdate(), id).Scan(&gen)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: marks of case %d: %w", id, err)
	}
	return gen, gen == want, nil
}

// IngestClaim is Ingest that also claims, for owner until now+lease, the
// cases it marked dirty that are free, in the same transaction: the replica
// that received the events hands them to its workers without another
// write. With owner "" it claims nothing.
func (s *Store) IngestClaim(ctx context.Context, batch []core.Ingest, owner string, lease time.Duration) ([]bool, []core.CaseID, error) {
	if len(batch) == 0 {
		return nil, nil, nil
	}
	rows, err := encodeBatch(batch)
	if err != nil {
		return nil, nil, err
	}
	var out []bool
	var claimed []core.CaseID
	err = s.be.serial(ctx, true, func(q querier) error {
		claimed = claimed[:0]
		now := s.now()
		fresh, g, err := s.ingestIn(ctx, q, batch, rows, now)
		if err != nil {
			return err
		}
		out = fresh
		if owner == "" || g == nil || len(g.touched) == 0 {
			return nil
		}
		cases := make([]int64, 0, len(g.touched))
		for c := range g.touched {
			cases = append(cases, c)
		}
		slices.Sort(cases)
		return s.bulk.claim(ctx, q, cases, owner, now, now+int64(lease), func(c int64) {
			claimed = append(claimed, core.CaseID(c))
		})
	})
	if err != nil {
		return nil, nil, err
	}
	return out, claimed, nil
}

// ingestIn stores an encoded batch in the transaction of q: the inbox
// rows, their files, and the records and links of the fresh events. It
// returns which events were fresh and the graph that took them in (nil
// when none touched a record).
func (s *Store) ingestIn(ctx context.Context, q querier, batch []core.Ingest, rows []inboxRow, now int64) ([]bool, *graph, error) {
	for i := range rows {
		rows[i].receivedAt = now
	}
	fresh, err := s.bulk.insertInbox(ctx, q, rows)
	if err != nil {
		return nil, nil, err
	}
	if err := putBlobs(ctx, q, batch, fresh, now); err != nil {
		return nil, nil, err
	}
	var refs []string
	for i, in := range batch {
		if !fresh[i] {
			continue
		}
		refs = append(refs, rows[i].ref)
		for _, l := range in.Event.Links {
			refs = append(refs, l.From.String(), l.To.String())
		}
		for _, l := range in.Discovered {
			refs = append(refs, l.From.String(), l.To.String())
		}
	}
	if len(refs) == 0 {
		return fresh, nil, nil
	}
	g := newGraph(s, q, now)
	if err := g.preload(ctx, dedup(refs)); err != nil {
		return nil, nil, err
	}
	for i := range batch {
		if fresh[i] {
			if err := g.ingest(ctx, &batch[i]); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := g.finish(ctx); err != nil {
		return nil, nil, err
	}
	return fresh, g, nil
}

// encodeBatch validates the events and encodes their inbox rows (event
// JSON, compressed raw body). It runs before the transaction — it is the
// CPU-heavy part of ingest, and the writer should not wait for it — and a
// large batch is encoded on every core: the engine's group committer hands
// the whole batch over from one goroutine.
func encodeBatch(batch []core.Ingest) ([]inboxRow, error) {
	rows := make([]inboxRow, len(batch))
	errs := make([]error, len(batch))
	// Events of one delivery share its body (a push touching several pull
	// requests): it is compressed once, for the first of them.
	shared := make([]int, len(batch))
	first := map[*byte]int{}
	for i := range batch {
		shared[i] = -1
		if r := batch[i].Event.Raw; len(r) >= minRawCompress {
			if j, ok := first[&r[0]]; ok && len(batch[j].Event.Raw) == len(r) {
				shared[i] = j
			} else {
				first[&r[0]] = i
			}
		}
	}

	encode := func(from, to int) {
		for i := from; i < to; i++ {
			ev := &batch[i].Event
			if err := checkEvent(ev); err != nil {
				errs[i] = fmt.Errorf("store: ingest event %d of %d: %w", i+1, len(batch), err)
				continue
			}
			if err := hashFiles(ev); err != nil {
				errs[i] = fmt.Errorf("store: ingest event %d of %d: %w", i+1, len(batch), err)
				continue
			}
			b := batch[i].Encoded
			if b == nil {
				var err error
				if b, err = json.Marshal(ev); err != nil {
					errs[i] = fmt.Errorf("store: encode event %q from %q: %w", ev.DeliveryID, ev.Source, err)
					continue
				}
			}
			raw, enc := ev.Raw, rawPlain
			if shared[i] < 0 {
				raw, enc = encodeRaw(ev.Raw)
			}
			rows[i] = inboxRow{
				source: ev.Source, deliveryID: ev.DeliveryID, ref: ev.Item.Ref.String(),
				typ: string(ev.Type), via: string(ev.Via), event: b, raw: raw, rawEncoding: enc,
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(batch)/16)
	if workers <= 1 {
		encode(0, len(batch))
	} else {
		var wg sync.WaitGroup
		per := (len(batch) + workers - 1) / workers
		for from := 0; from < len(batch); from += per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				encode(from, min(from+per, len(batch)))
			}()
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for i, j := range shared {
		if j >= 0 {
			rows[i].raw, rows[i].rawEncoding = rows[j].raw, rows[j].rawEncoding
		}
	}
	return rows, nil
}

func checkEvent(ev *core.Event) error {
	switch r := ev.Item.Ref; {
	case ev.Source == "":
		return fmt.Errorf("no source")
	case ev.DeliveryID == "":
		return fmt.Errorf("from %q: no delivery id", ev.Source)
	case r.System == "" || r.Kind == "" || r.ID == "":
		return fmt.Errorf("delivery %q from %q: incomplete item ref %q", ev.DeliveryID, ev.Source, r.String())
	}
	return nil
}

// ingest applies one new event to the graph.
func (g *graph) ingest(ctx context.Context, in *core.Ingest) error {
	ev := &in.Event
	had, err := g.had(ctx, &ev.Item)
	if err != nil {
		return err
	}
	in.Had = had
	row, err := g.merge(ctx, ev.Item)
	if err != nil {
		return err
	}
	for _, l := range ev.Links {
		if l.Origin == "" {
			l.Origin = core.Explicit
		}
		if err := g.link(ctx, l, row.ref); err != nil {
			return err
		}
	}
	if in.Discovered == nil {
		// Nothing was looked for (a comment-only event has no text to
		// search): the record's discovered links stay as they are. An
		// empty, non-nil list means "searched, found none".
		return nil
	}
	return g.rediscover(ctx, row, in.Discovered)
}

// had reports whether the stored snapshot of it's record is as new as it
// or newer (core.Newer). The row and its decoded snapshot stay in the
// graph for merge.
func (g *graph) had(ctx context.Context, it *core.Item) (bool, error) {
	row, err := g.item(ctx, it.Ref.String())
	if err != nil || row == nil {
		return false, err
	}
	prev, err := g.snapshot(row)
	if err != nil {
		return false, err
	}
	if !prev.Known() || it.UpdatedAt.IsZero() {
		return false, nil
	}
	return core.Newer(prev, it), nil
}

// rediscover replaces the record's discovered links with found. Links are
// compared by their ends; a changed role is an update, not a removal.
// Additions go first, so that a link that moves from one record to another
// never splits a case only to join it again.
func (g *graph) rediscover(ctx context.Context, row *itemRow, found []core.Link) error {
	found = normalizeDiscovered(found)
	var old []core.Link
	if len(row.discovered) > 0 {
		if err := json.Unmarshal(row.discovered, &old); err != nil {
			return fmt.Errorf("store: discovered links of %q: %w", row.ref, err)
		}
	}
	enc := []byte{}
	if len(found) > 0 {
		var err error
		if enc, err = json.Marshal(found); err != nil {
			return fmt.Errorf("store: encode discovered links of %q: %w", row.ref, err)
		}
	}
	if bytes.Equal(enc, row.discovered) {
		return nil
	}
	type ends struct{ from, to core.Ref }
	had := map[ends]core.Link{}
	for _, l := range old {
		had[ends{l.From, l.To}] = l
	}
	keep := map[ends]bool{}
	for _, l := range found {
		keep[ends{l.From, l.To}] = true
		prev, ok := had[ends{l.From, l.To}]
		if ok && prev.Role == l.Role {
			continue
		}
		if err := g.link(ctx, l, row.ref); err != nil {
			return err
		}
		if ok && prev.Joins() && !l.Joins() {
			// Now only a mention: the records stay together only if
			// something else still links them.
			if err := g.split(ctx, l.From.String(), l.To.String()); err != nil {
				return err
			}
		}
	}
	for _, l := range old {
		if !keep[ends{l.From, l.To}] {
			if err := g.unlink(ctx, l, row.ref); err != nil {
				return err
			}
		}
	}
	row.discovered = enc
	row.changed = true
	return nil
}

// normalizeDiscovered marks links as discovered and drops repeats and
// self-links, keeping the resolver's order.
func normalizeDiscovered(ls []core.Link) []core.Link {
	var out []core.Link
	seen := map[[2]core.Ref]bool{}
	for _, l := range ls {
		k := [2]core.Ref{l.From, l.To}
		if l.From == l.To || l.From.IsZero() || l.To.IsZero() || seen[k] {
			continue
		}
		seen[k] = true
		if l.Role == "" {
			l.Role = core.Mentions
		}
		l.Origin = core.Discovered
		out = append(out, l)
	}
	return out
}

func dedup(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

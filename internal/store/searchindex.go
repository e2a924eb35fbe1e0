package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// On SQLite the console's search index (item_search, and the titles'
// trigram index item_words) is kept behind the writes: a write notes the
// records it changed in search_pending (by trigger), and the store
// indexes them here, in batches, every searchEvery and before a search.
// FTS5 writes a segment of its own for every transaction that touches
// it, so indexing in the webhook's own transactions cost it several; a
// batch costs one. PostgreSQL indexes in its triggers.

// searchBatch is how many noted records one transaction indexes: a batch
// holds the writer a few milliseconds, so the writes queued behind it
// wait no longer than that.
const searchBatch = 256

// searchEvery is how often noted records are indexed in the background.
const searchEvery = 250 * time.Millisecond

// searchIndexed is one noted record as the index should have it.
type searchIndexed struct {
	ref, rid, reporter, assignee, title string
	id                                  int64   // item_search row, 0 when new
	words                               *string // its title as indexed, nil if none
}

// indexSearchLoop indexes noted records until stop is closed.
func (s *Store) indexSearchLoop(stop <-chan struct{}, done chan<- struct{}, log *slog.Logger) {
	defer close(done)
	t := time.NewTicker(searchEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := s.indexSearch(context.Background()); err != nil {
				log.Warn("store: indexing records for the console's search failed; tried again shortly", "err", err)
			}
		}
	}
}

// searchable brings the search index up to date for a search. One that
// cannot be (the writer is failing) is searched as it stands: a stale
// answer serves a person better than none.
func (s *Store) searchable(ctx context.Context) {
	if err := s.indexSearch(ctx); err != nil {
		s.opts.Logger.Warn("store: the console's search may miss the latest changes", "err", err)
	}
}

// indexSearch indexes every noted record, a batch a transaction.
func (s *Store) indexSearch(ctx context.Context) error {
	if s.be.name() != "sqlite" {
		return nil
	}
	for {
		var pending bool
		if err := s.be.reader().queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM search_pending)`).Scan(&pending); err != nil || !pending {
			return err
		}
		n := 0
		err := s.be.write(ctx, false, func(q querier) (err error) {
			n, err = indexSearchBatch(ctx, q)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: index records for search: %w", err)
		}
		if n < searchBatch {
			return nil
		}
	}
}

// indexSearchBatch indexes up to searchBatch noted records and forgets
// them, returning how many it took. A record's title is indexed again
// only when it changed.
func indexSearchBatch(ctx context.Context, q querier) (int, error) {
	rows, err := q.query(ctx, `SELECT p.ref, lower(substr(p.ref, length(i.system) + length(i.kind) + 3)),
    lower(coalesce(json_extract(i.snapshot, '$.reporter'), '')), lower(coalesce(json_extract(i.snapshot, '$.assignee'), '')),
    lower(coalesce(json_extract(i.snapshot, '$.title'), '')), coalesce(s.id, 0), w.words, i.ref IS NOT NULL
FROM (SELECT ref FROM search_pending LIMIT $1) p
LEFT JOIN items i ON i.ref = p.ref
LEFT JOIN item_search s ON s.ref = p.ref
LEFT JOIN item_words w ON w.rowid = s.id`, searchBatch)
	if err != nil {
		return 0, err
	}
	var batch []searchIndexed
	taken := 0
	for rows.Next() {
		var (
			r      searchIndexed
			rid    *string
			exists bool
		)
		if err := rows.Scan(&r.ref, &rid, &r.reporter, &r.assignee, &r.title, &r.id, &r.words, &exists); err != nil {
			rows.Close()
			return 0, err
		}
		taken++
		if exists { // else the record was deleted since it was noted
			r.rid = *rid
			batch = append(batch, r)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, err
	}
	rows.Close()
	for _, r := range batch {
		id := r.id
		if id == 0 {
			if err := q.queryRow(ctx, `INSERT INTO item_search (ref, rid, reporter, assignee) VALUES ($1, $2, $3, $4) RETURNING id`,
				r.ref, r.rid, r.reporter, r.assignee).Scan(&id); err != nil {
				return 0, err
			}
		} else if _, err := q.exec(ctx, `UPDATE item_search SET reporter = $2, assignee = $3 WHERE id = $1 AND (reporter <> $2 OR assignee <> $3)`,
			id, r.reporter, r.assignee); err != nil {
			return 0, err
		}
		if r.words != nil && *r.words == r.title {
			continue
		}
		if r.words != nil {
			if _, err := q.exec(ctx, `DELETE FROM item_words WHERE rowid = $1`, id); err != nil {
				return 0, err
			}
		}
		if _, err := q.exec(ctx, `INSERT INTO item_words (rowid, words) VALUES ($1, $2)`, id, r.title); err != nil {
			return 0, err
		}
	}
	// The same records as the query's: nothing else wrote meanwhile.
	if _, err := q.exec(ctx, `DELETE FROM search_pending WHERE ref IN (SELECT ref FROM search_pending LIMIT $1)`, searchBatch); err != nil {
		return 0, err
	}
	return taken, nil
}

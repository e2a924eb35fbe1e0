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

// The titles' index is written with multi-row statements (see bulkSQL).
var (
	unindexTitles = &shape{anon: true, width: 1, head: `DELETE FROM item_words WHERE rowid IN (`, tail: `)`}
	indexTitles   = &shape{anon: true, width: 2, head: `INSERT INTO item_words (rowid, words) VALUES `}
)

// indexSearchLoop indexes noted records until stop is closed. After a
// failure it waits longer each time, up to a minute, so that a failing
// store logs a line a minute, not four a second.
func (s *Store) indexSearchLoop(stop <-chan struct{}, done chan<- struct{}, log *slog.Logger) {
	defer close(done)
	wait := searchEvery
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := s.indexSearch(context.Background()); err != nil {
				wait = min(2*wait, time.Minute)
				log.Warn("store: indexing records for the console's search failed; tried again later", "in", wait, "err", err)
			} else {
				wait = searchEvery
			}
			t.Reset(wait)
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
// only when it changed. Every statement reads the same first records of
// search_pending: nothing else writes it within the transaction.
func indexSearchBatch(ctx context.Context, q querier) (int, error) {
	const batch = `(SELECT ref FROM search_pending LIMIT $1) p JOIN items i ON i.ref = p.ref`
	var taken int
	if err := q.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM search_pending LIMIT $1)`, searchBatch).Scan(&taken); err != nil || taken == 0 {
		return 0, err
	}
	// Its id and people, for a record new to the index. A record's people
	// are those it was first seen with, as on PostgreSQL: a placeholder
	// has none, and gets them when it is seen.
	if _, err := q.exec(ctx, `INSERT INTO item_search (ref, rid, reporter, assignee)
SELECT i.ref, lower(substr(i.ref, length(i.system) + length(i.kind) + 3)),
       lower(coalesce(json_extract(i.snapshot, '$.reporter'), '')), lower(coalesce(json_extract(i.snapshot, '$.assignee'), ''))
FROM `+batch+` WHERE true
ON CONFLICT (ref) DO UPDATE SET reporter = excluded.reporter, assignee = excluded.assignee
WHERE item_search.reporter = '' AND item_search.assignee = ''`, searchBatch); err != nil {
		return 0, err
	}
	// Its title, where that is new or changed.
	rows, err := q.query(ctx, `SELECT s.id, t.title, w.rowid IS NOT NULL FROM (
    SELECT p.ref, lower(coalesce(json_extract(i.snapshot, '$.title'), '')) AS title FROM `+batch+`) t
JOIN item_search s ON s.ref = t.ref
LEFT JOIN item_words w ON w.rowid = s.id
WHERE w.words IS NOT t.title`, searchBatch)
	if err != nil {
		return 0, err
	}
	var (
		stale  []any // ids whose old title leaves the index
		titles []any // id, title pairs to index
	)
	for rows.Next() {
		var (
			id    int64
			title string
			had   bool
		)
		if err := rows.Scan(&id, &title, &had); err != nil {
			rows.Close()
			return 0, err
		}
		if had {
			stale = append(stale, id)
		}
		titles = append(titles, id, title)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, err
	}
	if err := inChunks(ctx, q, unindexTitles, stale); err != nil {
		return 0, err
	}
	if err := inChunks(ctx, q, indexTitles, titles); err != nil {
		return 0, err
	}
	if _, err := q.exec(ctx, `DELETE FROM search_pending WHERE ref IN (SELECT ref FROM search_pending LIMIT $1)`, searchBatch); err != nil {
		return 0, err
	}
	return taken, nil
}

// inChunks runs st over args, st.width of them a row, in chunks.
func inChunks(ctx context.Context, q querier, st *shape, args []any) error {
	at := 0
	for _, n := range chunks(len(args) / st.width) {
		if _, err := q.exec(ctx, st.text(n), args[at:at+n*st.width]...); err != nil {
			return err
		}
		at += n * st.width
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/liaisonhq/liaison/core"
)

// backend is what differs between SQLite and PostgreSQL. Everything else —
// the ingest algorithm, case joins and splits, the queue and the outbox —
// is written once against querier, in SQL both databases accept: $N
// placeholders (modernc.org/sqlite binds $N by position), ON CONFLICT
// upserts, RETURNING, and BIGINT unix-nanosecond times.
type backend interface {
	name() string

	// serial runs fn in a transaction serialised with every other serial
	// transaction of the store, on every replica: the writes that can join
	// or split cases. With durable it is on disk when it returns nil;
	// without, as write's. fn may run more than once when the database
	// asks for a retry, so it must keep no state across runs.
	serial(ctx context.Context, durable bool, fn func(q querier) error) error
	// write runs fn in a transaction that only needs row locks. With
	// durable false the commit need not reach the disk before write
	// returns (a power failure may lose it, never half of it): for the
	// bookkeeping whose loss only repeats work — claims, releases, failed
	// attempts, leases, cursors.
	write(ctx context.Context, durable bool, fn func(q querier) error) error
	// writeOne runs one statement as a write of its own.
	writeOne(ctx context.Context, durable bool, query string, args ...any) (int64, error)
	// read runs fn against one consistent snapshot.
	read(ctx context.Context, fn func(q querier) error) error
	// reader answers single-statement reads.
	reader() querier

	// forUpdate is appended to a SELECT that must lock the rows it reads
	// (" FOR UPDATE" on PostgreSQL; SQLite has one writer and needs none).
	forUpdate() string
	// forShare locks the rows read against change but not against other
	// readers (" FOR SHARE" on PostgreSQL).
	forShare() string
	// skipLocked is appended to the claim's inner SELECT, so replicas
	// claiming at once pass over each other's rows instead of waiting.
	skipLocked() string
	// least is the two-argument minimum function (min or LEAST).
	least() string

	// newCaseIDs reserves n fresh case ids.
	newCaseIDs(ctx context.Context, q querier, n int) ([]int64, error)

	// checkpoint brings the database file up to date with its write-ahead
	// log (SQLite; PostgreSQL needs nothing).
	checkpoint(ctx context.Context) error

	// reclaim gives space freed by Prune back (SQLite's incremental
	// vacuum; PostgreSQL's autovacuum needs no help).
	reclaim(ctx context.Context) error

	close() error
}

// lingerer is a backend whose writes can wait a moment for company
// (SQLite's group commit): see Options.CompletionLinger. It has one
// writer, so a lingering write is serial as well.
type lingerer interface {
	lingerWrite(ctx context.Context, linger time.Duration, durable bool, fn func(q querier) error) error
}

// querier runs statements on a transaction, a connection or a pool.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

// rows is the part of *sql.Rows and pgx.Rows the store uses.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface{ Scan(dest ...any) error }

// isNoRows reports whether a row's Scan found none, on either driver.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// inboxRow is one event as the inbox stores it.
type inboxRow struct {
	source, deliveryID, ref, typ, via string
	event                             []byte
	raw                               []byte // stored form (see encodeRaw)
	rawEncoding                       string
	receivedAt                        int64
}

// itemRow is a record's stored row, as Ingest and Complete work on it.
type itemRow struct {
	ref        string
	system     string
	kind       string
	caseID     int64
	snapshot   []byte     // stored JSON; rewritten from item before saving
	item       *core.Item // decoded on first use
	encoded    *core.Item // the item snapshot holds the encoding of, when merge encoded it
	discovered []byte     // stored JSON of the resolver's last links from this record
	updatedAt  int64
	version    int64
	known      bool // a snapshot was seen (not only the Ref of a link's end)
	changed    bool // the row must be written
}

// all wraps a query's result for each: all(q.query(...)).each(fn).
func all(rs rows, err error) queryResult { return queryResult{rs, err} }

type queryResult struct {
	rs  rows
	err error
}

// each calls fn for every row, stopping at the first error, and closes
// the rows.
func (r queryResult) each(fn func(rows) error) error {
	if r.err != nil {
		return r.err
	}
	defer r.rs.Close()
	for r.rs.Next() {
		if err := fn(r.rs); err != nil {
			return err
		}
	}
	return r.rs.Err()
}

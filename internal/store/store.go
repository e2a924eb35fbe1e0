// Package store keeps Liaison's state durably: the inbox of received
// events, the newest snapshot of every record, the links that group records
// into cases, the work queue of dirty cases, the outbox of planned actions,
// and the cursors, mirrors, sync values, audit log, conflicts and leases
// around them. It implements core.Store on SQLite (modernc.org/sqlite, pure
// Go, the embedded default) and on PostgreSQL (pgx, for several replicas),
// with one implementation of the behaviour over two SQL backends; both pass
// the contract suite in storetest.
//
// Open picks the backend from the DSN:
//
//	sqlite://data/liaison.db       a file, relative to the working directory
//	sqlite:///var/lib/liaison.db   an absolute path
//	sqlite::memory:                a private in-memory database (tests, simulate)
//	data/liaison.db                a bare path is a SQLite file too
//	postgres://user@host/db?...    PostgreSQL (also postgresql://)
//
// Durability: when Ingest, Enqueue, Complete, Replay, MarkDirty or
// RecordConflict return nil, their effect survives a crash of the process
// or the machine. SQLite runs in WAL mode and fsyncs the log before those
// calls return. The store syncs it after the writer's turn, so the next
// commit need not wait for this one's fsync, and runs up to four syncs at
// once, so a commit waits for its own sync and not also for the one
// before it; concurrent writes share one commit (group commit), and a
// commit that a running sync already covers waits for that one. A failed
// fsync fails every later write. The bookkeeping whose loss in a power
// failure only repeats work — ClaimCases, ReleaseCase, Fail, Lease,
// SetCursor, Prune — commits without waiting for the disk (on SQLite, not
// synced; PostgreSQL's synchronous_commit=off): a crash may lose such a
// commit whole, never part of it, and a process kill loses nothing.
//
// Consistency of cases: a case is a connected component of the link graph.
// The writes that can join or split cases (Ingest, and Complete when it
// links a created record or keeps a returned snapshot) are serialised — on
// SQLite by the single writer connection, on PostgreSQL by a
// transaction-scoped advisory lock — so that joins and splits never
// interleave. Enqueue and Complete lock their subject's row (FOR SHARE) to
// file actions under the case it is in; claims, releases and the other
// bookkeeping run concurrently under row locks, claims skipping rows
// another replica holds.
package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Options tune a store. Zero values pick the defaults.
type Options struct {
	// RawRetention is how long raw bodies of processed events are kept
	// (default 7 days); AuditRetention is how long audit entries are kept
	// (default 90 days). PruneExpired applies them.
	RawRetention   time.Duration
	AuditRetention time.Duration
	// Clock stamps received events, dirty marks and outbox rows
	// (default the wall clock). Methods that take a now use theirs.
	Clock core.Clock
	// Logger receives migrations and other rare events (default discards).
	Logger *slog.Logger
	// MaxConns bounds the connections: SQLite's readers (default 4; the
	// writer is one more) or the PostgreSQL pool (default 10).
	MaxConns int
	// CompletionLinger is how long the record of completed writes may
	// wait, when nothing else is being written, for another write to
	// share its commit (SQLite only; default none). Under light load
	// every webhook would otherwise cost a commit of its own for its
	// completions; under heavy load commits are shared without waiting.
	// The caller of Complete waits that much longer, with the case still
	// claimed.
	CompletionLinger time.Duration
}

func (o *Options) defaults() {
	if o.RawRetention <= 0 {
		o.RawRetention = 7 * 24 * time.Hour
	}
	if o.AuditRetention <= 0 {
		o.AuditRetention = 90 * 24 * time.Hour
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is a durable core.Store on SQLite or PostgreSQL. It is safe for
// concurrent use; Close it when done.
type Store struct {
	be    backend
	bulk  *bulkSQL
	opts  Options
	clock core.Clock
	// stopIndex ends indexSearchLoop (SQLite), which then closes
	// indexDone; both nil without one.
	stopIndex chan struct{}
	indexDone chan struct{}
}

var _ core.Store = (*Store)(nil)

// Open connects to the database named by dsn, applies the embedded schema
// migrations it lacks, and returns the store. See the package doc for the
// DSN forms. A database whose schema is newer than this binary knows is
// refused.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	return open(ctx, dsn, opts, nil)
}

// open is Open with the migrations to apply (nil: all of the backend's).
func open(ctx context.Context, dsn string, opts Options, schema fs.FS) (*Store, error) {
	opts.defaults()
	var (
		be  backend
		err error
	)
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		if schema == nil {
			schema = sqliteMigrations
		}
		be, err = openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), opts, schema)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if schema == nil {
			schema = postgresMigrations
		}
		be, err = openPostgres(ctx, dsn, opts, schema)
	case dsn != "" && !strings.Contains(dsn, "://"):
		// A bare path, as people type it: liaison.db, /var/lib/liaison.db.
		if schema == nil {
			schema = sqliteMigrations
		}
		be, err = openSQLite(ctx, dsn, opts, schema)
	default:
		// The DSN may hold a password: name only its scheme.
		scheme, _, _ := strings.Cut(dsn, ":")
		return nil, fmt.Errorf("store: unknown dsn scheme %q (want a SQLite file path, sqlite://path or postgres://…)", scheme)
	}
	if err != nil {
		return nil, err
	}
	s := &Store{be: be, bulk: newBulkSQL(be), opts: opts, clock: opts.Clock}
	if be.name() == "sqlite" {
		s.stopIndex, s.indexDone = make(chan struct{}), make(chan struct{})
		go s.indexSearchLoop(s.stopIndex, s.indexDone, opts.Logger)
	}
	return s, nil
}

// Backend names the database in use: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.be.name() }

// JournalDir is where an intake journal may live beside this store, or ""
// where none should: it must be on the store's own disk, so that a journal
// survives what the store survives. A SQLite file has its folder; replicas
// sharing PostgreSQL have none (a replica's disk may go with it), and an
// in-memory store is gone with the process anyway.
func (s *Store) JournalDir() string {
	if b, ok := s.be.(*sqliteBackend); ok && b.tempDir == "" {
		return b.path + ".intake"
	}
	return ""
}

// Close releases the database connections.
func (s *Store) Close() error {
	if s.stopIndex != nil {
		close(s.stopIndex)
		<-s.indexDone
		s.stopIndex = nil
	}
	return s.be.close()
}

// Checkpoint brings the database file up to date with its write-ahead log
// now (SQLite; nothing on PostgreSQL), for tools that want a quiet store,
// such as a benchmark between its phases.
func (s *Store) Checkpoint(ctx context.Context) error { return s.be.checkpoint(ctx) }

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int64
	if err := s.be.reader().queryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.be.name(), err)
	}
	return nil
}

// SchemaVersion returns the version of the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int64
	err := s.be.reader().queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return int(v), nil
}

// PruneExpired prunes by the configured retention periods, as of the
// store's clock (see Prune).
func (s *Store) PruneExpired(ctx context.Context) (int64, error) {
	now := s.clock.Now()
	return s.Prune(ctx, now.Add(-s.opts.RawRetention), now.Add(-s.opts.AuditRetention))
}

// now is the store's clock in the stored form.
func (s *Store) now() int64 { return unixNano(s.clock.Now()) }

// unixNano is the stored form of a time: unix nanoseconds, 0 for the zero
// time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano reverses unixNano; times come back in UTC.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// parseRef reads a stored ref. Unlike core.ParseRef it accepts any kind:
// the store gives back what it was given.
func parseRef(s string) (core.Ref, error) {
	sys, rest, ok1 := strings.Cut(s, "/")
	kind, id, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 {
		return core.Ref{}, fmt.Errorf("stored ref %q: want system/kind/id", s)
	}
	return core.Ref{System: sys, Kind: core.Kind(kind), ID: id}, nil
}

func notFound(what string, r core.Ref) error {
	return fmt.Errorf("%s %q: %w", what, r.String(), core.ErrNotFound)
}

// decodeItem reads a stored snapshot.
func decodeItem(ref string, b []byte) (*core.Item, error) {
	it := new(core.Item)
	if err := json.Unmarshal(b, it); err != nil {
		return nil, fmt.Errorf("store: snapshot of %q: %w", ref, err)
	}
	return it, nil
}

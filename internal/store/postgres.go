package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgBackend runs the store on PostgreSQL, shared by any number of replicas.
//
// Serial transactions — those that can join or split cases — take a
// transaction-scoped advisory lock first, so that they run one at a time
// across all replicas, as they do on SQLite's single writer: the
// bookkeeping of a join (count both cases, move the smaller, merge their
// queue rows) reads what it then rewrites, and two joins interleaving under
// READ COMMITTED could strand records in a retired case. The lock is
// per schema, so stores in different schemas of one database do not wait
// for each other. Everything else (claims, releases, outbox failures,
// leases, cursors) runs concurrently under row locks; claims skip rows
// another replica has locked.
type pgBackend struct {
	pool       *pgxpool.Pool
	serialKey  int64 // pg_advisory_xact_lock key of serial transactions
	migrateKey int64 // … and of migrations
}

// pgRetries bounds the retries of a transaction PostgreSQL aborted to
// break a deadlock or a serialisation conflict.
const pgRetries = 5

// pgCommitTimeout bounds a commit, which is not cancelled with the
// caller's context (see commit).
const pgCommitTimeout = 30 * time.Second

func openPostgres(ctx context.Context, dsn string, opts Options, schema fs.FS) (backend, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password; the DSN itself is not repeated.
		return nil, fmt.Errorf("store: postgres dsn: %w", err)
	}
	cfg.MaxConns = 10
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	// The schema names the advisory locks, so that stores in different
	// schemas of one database do not wait for each other.
	var current *string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&current); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	if current == nil {
		pool.Close()
		return nil, errors.New("store: postgres: the search_path names no schema that exists")
	}
	be := &pgBackend{pool: pool, serialKey: lockKey(*current, "serial"), migrateKey: lockKey(*current, "migrate")}
	if err := migrate(ctx, be, schema, opts); err != nil {
		pool.Close()
		return nil, err
	}
	return be, nil
}

// lockKey derives an advisory lock key from the schema and a purpose.
func lockKey(schema, purpose string) int64 {
	h := fnv.New64a()
	h.Write([]byte("liaison/" + schema + "/" + purpose))
	return int64(h.Sum64())
}

func (b *pgBackend) name() string       { return "postgres" }
func (b *pgBackend) forUpdate() string  { return " FOR UPDATE" }
func (b *pgBackend) forShare() string   { return " FOR SHARE" }
func (b *pgBackend) skipLocked() string { return " FOR UPDATE SKIP LOCKED" }
func (b *pgBackend) least() string      { return "LEAST" }
func (b *pgBackend) reader() querier    { return pgQuerier{b.pool} }
func (b *pgBackend) close() error       { b.pool.Close(); return nil }

// checkpoint: PostgreSQL checkpoints by itself.
func (b *pgBackend) checkpoint(context.Context) error { return nil }

// reclaim: PostgreSQL's autovacuum reuses the space Prune frees.
func (b *pgBackend) reclaim(context.Context) error { return nil }

func (b *pgBackend) writeOne(ctx context.Context, durable bool, query string, args ...any) (int64, error) {
	if durable {
		tag, err := b.pool.Exec(ctx, query, args...)
		return tag.RowsAffected(), err
	}
	var n int64
	err := b.write(ctx, false, func(q querier) error {
		var err error
		n, err = q.exec(ctx, query, args...)
		return err
	})
	return n, err
}

func (b *pgBackend) serial(ctx context.Context, durable bool, fn func(querier) error) error {
	return b.tx(ctx, pgx.TxOptions{}, b.serialKey, durable, fn)
}

func (b *pgBackend) write(ctx context.Context, durable bool, fn func(querier) error) error {
	return b.tx(ctx, pgx.TxOptions{}, 0, durable, fn)
}

func (b *pgBackend) read(ctx context.Context, fn func(querier) error) error {
	return b.tx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, 0, true, fn)
}

func (b *pgBackend) lockMigrations(ctx context.Context, q querier) error {
	// Replicas starting together: the first migrates, the others wait
	// here and then find nothing left to do.
	_, err := q.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, b.migrateKey)
	return err
}

func (b *pgBackend) script(ctx context.Context, q querier, script string) error {
	// Exec without arguments uses the simple protocol, which runs a
	// script of several statements.
	_, err := q.(pgQuerier).q.Exec(ctx, script)
	return err
}

func (b *pgBackend) newCaseIDs(ctx context.Context, q querier, n int) ([]int64, error) {
	ids := make([]int64, 0, n)
	err := all(q.query(ctx, `SELECT nextval('case_ids') FROM generate_series(1, $1)`, n)).each(func(rs rows) error {
		var id int64
		err := rs.Scan(&id)
		ids = append(ids, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: new case ids: %w", err)
	}
	return ids, nil
}

// tx runs fn in a transaction, under the advisory lock key when it is not
// zero, and runs it again when PostgreSQL aborted it to resolve a deadlock
// or a serialisation failure.
func (b *pgBackend) tx(ctx context.Context, o pgx.TxOptions, key int64, durable bool, fn func(querier) error) error {
	for attempt := 1; ; attempt++ {
		err := b.tryTx(ctx, o, key, durable, fn)
		var pe *pgconn.PgError
		if attempt < pgRetries && errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") {
			continue
		}
		return err
	}
}

func (b *pgBackend) tryTx(ctx context.Context, o pgx.TxOptions, key int64, durable bool, fn func(querier) error) error {
	tx, err := b.pool.BeginTx(ctx, o)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	q := pgQuerier{tx}
	if !durable && o.AccessMode != pgx.ReadOnly {
		// The commit returns without waiting for the WAL flush: a crash
		// may lose it (whole), never corrupt anything.
		if _, err := q.exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return fmt.Errorf("store: asynchronous commit: %w", err)
		}
	}
	if key != 0 {
		if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
			return fmt.Errorf("store: serialise: %w", err)
		}
	}
	if err := fn(q); err != nil {
		return err
	}
	// Once fn succeeded the commit is not cancelled with ctx (pgx would
	// close the connection mid-commit and leave the outcome unknown);
	// it has a bound of its own.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgCommitTimeout)
	defer cancel()
	if err := tx.Commit(cctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// pgQuerier runs statements on a pool or a transaction. pgx prepares and
// caches each statement text per connection.
type pgQuerier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (p pgQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (p pgQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return p.q.Query(ctx, query, args...)
}

func (p pgQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return p.q.QueryRow(ctx, query, args...)
}

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteBackend keeps one writer connection and a pool of readers on the
// same file. SQLite admits one writer at a time anyway; holding a single
// connection for it, behind a mutex, makes write transactions wait their
// turn in Go instead of spinning on SQLITE_BUSY, lets the hot statements
// stay prepared on that connection, and lets readers run beside it (WAL).
type sqliteBackend struct {
	path    string
	tempDir string // removed at close (sqlite::memory:)

	mu    sync.Mutex // held for a whole write transaction
	wdb   *sql.DB
	wc    *sql.Conn            // the writer connection; nil after a failure, reopened on use
	stmts map[string]*sql.Stmt // prepared on wc

	r     *sql.DB
	rstmt *stmtCache
}

// sqliteWriterParams: every commit is fsynced (synchronous=FULL in WAL mode
// syncs the WAL on commit, so a transaction that returned is on disk);
// auto_vacuum=INCREMENTAL (effective on a new file) lets Prune give space
// back.
var sqliteWriterParams = url.Values{
	"_busy_timeout": {"10000"},
	"_auto_vacuum":  {"INCREMENTAL"},
	"_journal_mode": {"WAL"},
	"_synchronous":  {"FULL"},
	"_foreign_keys": {"1"},
	"_pragma":       {"cache_size(-16000)"}, // 16 MB page cache
}

var sqliteReaderParams = url.Values{
	"_busy_timeout": {"10000"},
	"_query_only":   {"1"},
	"_foreign_keys": {"1"},
	"_pragma":       {"cache_size(-16000)"},
}

// openSQLite opens path ("//relative", "///absolute" or ":memory:").
// ":memory:" is a file in a new temporary directory that Close removes,
// without fsync: the same code path as a real file (readers beside the
// writer), nothing left behind.
func openSQLite(ctx context.Context, path string, opts Options) (backend, error) {
	path = strings.TrimPrefix(path, "//")
	if path == "" {
		return nil, errors.New("store: sqlite dsn names no file (want sqlite://path/to/file.db)")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: sqlite path %q: no query parameters allowed", path)
	}
	wp := maps.Clone(sqliteWriterParams)
	be := &sqliteBackend{path: path}
	if path == ":memory:" {
		dir, err := os.MkdirTemp("", "liaison-store-")
		if err != nil {
			return nil, fmt.Errorf("store: sqlite in memory: %w", err)
		}
		be.tempDir, be.path = dir, filepath.Join(dir, "liaison.db")
		wp["_synchronous"] = []string{"OFF"}
	}
	var err error
	if be.wdb, err = sql.Open("sqlite", be.path+"?"+wp.Encode()); err != nil {
		be.close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	be.wdb.SetMaxOpenConns(1)
	if err := be.connect(ctx); err != nil {
		be.close()
		return nil, err
	}
	if err := migrate(ctx, be, sqliteMigrations, opts); err != nil {
		be.close()
		return nil, err
	}
	// Readers open after the writer has put the file in WAL mode.
	if be.r, err = sql.Open("sqlite", be.path+"?"+sqliteReaderParams.Encode()); err != nil {
		be.close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	n := opts.ReadConns
	if n <= 0 {
		n = 4
	}
	be.r.SetMaxOpenConns(n)
	be.r.SetMaxIdleConns(n)
	be.rstmt = newStmtCache(be.r)
	return be, nil
}

// connect takes the writer connection from its pool of one.
func (b *sqliteBackend) connect(ctx context.Context) error {
	c, err := b.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: open sqlite %q: %w", b.path, err)
	}
	b.wc, b.stmts = c, map[string]*sql.Stmt{}
	return nil
}

// dropConn forgets a writer connection that failed, so that the next
// write opens a fresh one rather than reuse one in an unknown state.
func (b *sqliteBackend) dropConn(err error) {
	if b.wc != nil && (errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn)) {
		for _, st := range b.stmts {
			st.Close()
		}
		b.wc.Close()
		b.wc, b.stmts = nil, nil
	}
}

func (b *sqliteBackend) name() string       { return "sqlite" }
func (b *sqliteBackend) forUpdate() string  { return "" }
func (b *sqliteBackend) skipLocked() string { return "" }
func (b *sqliteBackend) least() string      { return "min" }
func (b *sqliteBackend) reader() querier    { return dbQuerier{b.r, b.rstmt} }

func (b *sqliteBackend) lockMigrations(context.Context, querier) error { return nil }

func (b *sqliteBackend) script(ctx context.Context, _ querier, script string) error {
	// Not prepared: a script is several statements.
	_, err := b.wc.ExecContext(ctx, script)
	return err
}

func (b *sqliteBackend) reclaim(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wc == nil {
		if err := b.connect(ctx); err != nil {
			return err
		}
	}
	_, err := b.wc.ExecContext(ctx, `PRAGMA incremental_vacuum`)
	b.dropConn(err)
	return err
}

func (b *sqliteBackend) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	if b.rstmt != nil {
		b.rstmt.close()
	}
	if b.r != nil {
		errs = append(errs, b.r.Close())
	}
	if b.wc != nil {
		for _, st := range b.stmts {
			st.Close()
		}
		errs = append(errs, b.wc.Close())
		b.wc = nil
	}
	if b.wdb != nil {
		errs = append(errs, b.wdb.Close())
	}
	if b.tempDir != "" {
		errs = append(errs, os.RemoveAll(b.tempDir))
	}
	return errors.Join(errs...)
}

// serial and write are the same on SQLite: the single writer connection
// already serialises every write transaction.
func (b *sqliteBackend) serial(ctx context.Context, fn func(querier) error) error {
	return b.write(ctx, fn)
}

// write runs fn in BEGIN IMMEDIATE … COMMIT on the writer connection.
// IMMEDIATE takes SQLite's write lock up front, so a transaction never
// fails half-way for want of it (another process, such as `liaison
// migrate`, may hold the file). Once fn succeeded the commit is not
// cancelled with ctx: the caller learns either that it is durable or that
// it failed, never "maybe".
func (b *sqliteBackend) write(ctx context.Context, fn func(querier) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wc == nil {
		if err := b.connect(ctx); err != nil {
			return err
		}
	}
	if _, err := b.wc.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		b.dropConn(err)
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(writerQuerier{b}); err != nil {
		b.rollback()
		return err
	}
	if _, err := b.wc.ExecContext(context.WithoutCancel(ctx), `COMMIT`); err != nil {
		b.rollback()
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func (b *sqliteBackend) rollback() {
	// SQLite may have rolled back already (an interrupt, a full disk);
	// "no transaction is active" is then expected and harmless.
	if _, err := b.wc.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		b.dropConn(err)
	}
}

// writeOne runs one statement as its own transaction.
func (b *sqliteBackend) writeOne(ctx context.Context, query string, args ...any) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wc == nil {
		if err := b.connect(ctx); err != nil {
			return 0, err
		}
	}
	n, err := writerQuerier{b}.exec(ctx, query, args...)
	b.dropConn(err)
	return n, err
}

func (b *sqliteBackend) read(ctx context.Context, fn func(querier) error) error {
	tx, err := b.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(readTxQuerier{tx})
}

func (b *sqliteBackend) insertInbox(ctx context.Context, q querier, rs []inboxRow) ([]bool, error) {
	out := make([]bool, len(rs))
	for i, r := range rs {
		n, err := q.exec(ctx, sqlInsertInbox, r.source, r.deliveryID, r.ref, r.typ, r.via, string(r.event), r.raw, r.receivedAt)
		if err != nil {
			return nil, fmt.Errorf("store: inbox insert: %w", err)
		}
		out[i] = n == 1
	}
	return out, nil
}

func (b *sqliteBackend) loadItems(ctx context.Context, q querier, refs []string, into map[string]*itemRow) error {
	for _, ref := range refs {
		if _, ok := into[ref]; ok {
			continue
		}
		it := &itemRow{ref: ref, inDB: true}
		err := q.queryRow(ctx, sqlLoadItem, ref).Scan(&it.caseID, &it.snapshot, &it.discovered, &it.updatedAt, &it.version)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: load item %q: %w", ref, err)
		}
		into[ref] = it
	}
	return nil
}

func (b *sqliteBackend) saveItems(ctx context.Context, q querier, rs []*itemRow) error {
	for _, r := range rs {
		if _, err := q.exec(ctx, sqlSaveItem, r.ref, r.caseID, string(r.snapshot), string(r.discovered), r.updatedAt, r.version); err != nil {
			return fmt.Errorf("store: save item %q: %w", r.ref, err)
		}
	}
	return nil
}

func (b *sqliteBackend) markDirty(ctx context.Context, q querier, cases []int64, at int64) error {
	for _, c := range cases {
		if _, err := q.exec(ctx, sqliteMarkDirty, c, at); err != nil {
			return fmt.Errorf("store: mark case %d dirty: %w", c, err)
		}
	}
	return nil
}

func (b *sqliteBackend) newCaseIDs(ctx context.Context, q querier, n int) ([]int64, error) {
	var last int64
	if err := q.queryRow(ctx, `UPDATE sequences SET value = value + $1 WHERE name = 'case' RETURNING value`, n).Scan(&last); err != nil {
		return nil, fmt.Errorf("store: new case ids: %w", err)
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = last - int64(n-1-i)
	}
	return ids, nil
}

const sqliteMarkDirty = `INSERT INTO work (case_id, due_at, dirty_gen) VALUES ($1, $2, 1)
ON CONFLICT (case_id) DO UPDATE SET dirty_gen = work.dirty_gen + 1, due_at = min(work.due_at, excluded.due_at)`

// Statements shared by both backends' per-row paths.
const (
	sqlInsertInbox = `INSERT INTO inbox (source, delivery_id, ref, type, via, event, raw, received_at, processed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (source, delivery_id) DO NOTHING`
	sqlLoadItem = `SELECT case_id, snapshot, discovered, updated_at, version FROM items WHERE ref = $1`
	sqlSaveItem = `INSERT INTO items (ref, case_id, snapshot, discovered, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (ref) DO UPDATE SET case_id = excluded.case_id, snapshot = excluded.snapshot,
discovered = excluded.discovered, updated_at = excluded.updated_at, version = excluded.version`
)

// stmtCache keeps one prepared statement per query text on a *sql.DB
// (database/sql re-prepares it on each connection as needed), so the hot
// statements of Ingest are parsed once, not per row.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// dbQuerier runs single statements outside a transaction.
type dbQuerier struct {
	db    *sql.DB
	cache *stmtCache
}

func (d dbQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	st, err := d.cache.get(ctx, q)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (d dbQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	st, err := d.cache.get(ctx, q)
	if err != nil {
		return nil, err
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func (d dbQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	st, err := d.cache.get(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// writerQuerier runs statements on the writer connection, prepared once
// each. Callers hold b.mu.
type writerQuerier struct{ b *sqliteBackend }

func (w writerQuerier) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := w.b.stmts[q]; ok {
		return st, nil
	}
	st, err := w.b.wc.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	w.b.stmts[q] = st
	return st, nil
}

func (w writerQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	st, err := w.stmt(ctx, q)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (w writerQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	st, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func (w writerQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	st, err := w.stmt(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// readTxQuerier runs statements in a read transaction. They are not taken
// from the pool's statement cache: preparing there needs a second pooled
// connection, and with every connection in a read transaction that would
// wait forever.
type readTxQuerier struct{ tx *sql.Tx }

func (t readTxQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t readTxQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	rs, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func (t readTxQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	return t.tx.QueryRowContext(ctx, q, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

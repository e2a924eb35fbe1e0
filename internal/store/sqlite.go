package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/liaisonhq/liaison/internal/clock"
)

// sqliteBackend keeps one writer connection and a pool of readers on the
// same file. SQLite admits one writer at a time anyway; holding a single
// connection for it, behind a mutex, makes write transactions wait their
// turn in Go instead of spinning on SQLITE_BUSY, lets the hot statements
// stay prepared on that connection, and lets readers run beside it (WAL).
type sqliteBackend struct {
	path    string
	tempDir string // removed at close (sqlite::memory:)

	// turn is the writer's token, held for a whole write transaction: a
	// channel rather than a mutex, so that a caller whose context ends
	// stops waiting.
	turn chan struct{}
	// queue holds the writes waiting for the group commit; leading says a
	// caller is committing groups (see write).
	qmu     sync.Mutex
	queue   []*writeReq
	leading bool

	wdb    *sql.DB
	wc     *sql.Conn            // the writer connection; nil after a failure, reopened on use
	stmts  map[string]*sql.Stmt // prepared on wc
	closed bool
	// log syncs the write-ahead log for durable groups, after the writer's
	// turn (see write); nil in memory, where nothing is synced.
	log *logSyncer

	r     *sql.DB
	rstmt *stmtCache
	// rtx holds the connections of read transactions; each is pinned in
	// rconns with its own prepared statements (nil: not opened yet, or
	// dropped after a failure), so a read transaction neither re-prepares
	// its SQL nor needs a second connection to prepare it.
	rtx    *sql.DB
	rconns chan *readConn

	ckpt     *sql.DB       // the background checkpointer's connection
	stopCkpt chan struct{} // closed by close
	ckptDone chan struct{} // closed when the checkpointer returned
}

// checkpointEvery is how often the background checkpointer copies the WAL
// into the database file.
const checkpointEvery = 500 * time.Millisecond

// sqliteWriterParams: the writer commits with synchronous=NORMAL, which in
// WAL mode writes the log without syncing it (it still syncs around
// checkpoints and when the log restarts); a durable write is synced by
// the store itself, once the writer's turn is over (see write).
// auto_vacuum=INCREMENTAL (effective on a new file) lets Prune give space
// back.
var sqliteWriterParams = url.Values{
	"_busy_timeout": {"10000"},
	"_auto_vacuum":  {"INCREMENTAL"},
	"_journal_mode": {"WAL"},
	"_synchronous":  {"NORMAL"},
	"_foreign_keys": {"1"},
	// An 8 MB page cache: it holds the pages the writer's inserts and
	// updates keep coming back to (the upper levels of each index, the
	// newest leaves); the operating system's file cache keeps the rest
	// close. A cache fills to its size whether or not its pages are used
	// again, and 16 MB was no faster in the store's benchmarks nor in
	// bench --real, where it cost 10–15 MiB of peak RSS.
	// Checkpoints run in the background (see checkpoints); the writer
	// only checkpoints itself, stalling commits, if the WAL passes 80 MB. journal_size_limit trims the WAL file
	// back once it restarts. temp_store=MEMORY keeps the savepoint
	// journals of a group commit (the original of every page a write
	// changes, for its rollback alone) in memory: in a temporary file they
	// cost a write system call per page, and an open and close per group.
	"_pragma": {"cache_size(-8000)", "wal_autocheckpoint(20000)", "journal_size_limit(67108864)", "temp_store(MEMORY)"},
}

// sqliteReaderParams: a reader's page cache is 2 MB. Up to twice MaxConns
// readers are open (plain reads and read transactions), and every commit
// of the writer empties their caches anyway (SQLite drops a connection's
// cache when the database changed since its last read): a large one
// would mostly hold pages it must read again, and each fills to its size
// in the process's memory. The operating system's file cache keeps the
// pages they read again close.
var sqliteReaderParams = url.Values{
	"_busy_timeout": {"10000"},
	"_query_only":   {"1"},
	"_foreign_keys": {"1"},
	"_pragma":       {"cache_size(-2000)"},
}

// openSQLite opens path ("//relative", "///absolute" or ":memory:").
// ":memory:" is a file in a new temporary directory that Close removes,
// without fsync: the same code path as a real file (readers beside the
// writer), nothing left behind.
func openSQLite(ctx context.Context, path string, opts Options, schema fs.FS) (backend, error) {
	path = strings.TrimPrefix(path, "//")
	if path == "" {
		return nil, errors.New("store: sqlite dsn names no file (want sqlite://path/to/file.db)")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: sqlite path %q: no query parameters allowed", path)
	}
	wp := maps.Clone(sqliteWriterParams)
	be := &sqliteBackend{path: path, turn: make(chan struct{}, 1), log: &logSyncer{}}
	if path == ":memory:" {
		dir, err := os.MkdirTemp("", "liaison-store-")
		if err != nil {
			return nil, fmt.Errorf("store: sqlite in memory: %w", err)
		}
		be.tempDir, be.path = dir, filepath.Join(dir, "liaison.db")
		wp["_synchronous"] = []string{"OFF"}
		be.log = nil
	}
	// SQLite would create the file 0644 and gives its WAL and shared
	// memory files the file's mode: created here first, all three are
	// readable by the daemon's user alone, as the customer mail and
	// attachments they hold should be (the intake journal is, too). An
	// existing file keeps the mode it has.
	if f, err := os.OpenFile(be.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		be.close()
		return nil, fmt.Errorf("store: create sqlite %q: %w", path, err)
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
	if err := migrate(ctx, be, schema, opts); err != nil {
		be.close()
		return nil, err
	}
	// Readers open after the writer has put the file in WAL mode.
	if be.r, err = sql.Open("sqlite", be.path+"?"+sqliteReaderParams.Encode()); err != nil {
		be.close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	n := opts.MaxConns
	if n <= 0 {
		n = 4
	}
	be.r.SetMaxOpenConns(n)
	be.r.SetMaxIdleConns(n)
	be.rstmt = newStmtCache(be.r)
	if be.rtx, err = sql.Open("sqlite", be.path+"?"+sqliteReaderParams.Encode()); err != nil {
		be.close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	be.rtx.SetMaxOpenConns(n)
	be.rtx.SetMaxIdleConns(n)
	be.rconns = make(chan *readConn, n)
	for range n {
		be.rconns <- nil
	}
	if be.ckpt, err = sql.Open("sqlite", be.path+"?_busy_timeout=10000"); err != nil {
		be.close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	be.ckpt.SetMaxOpenConns(1)
	be.stopCkpt, be.ckptDone = make(chan struct{}), make(chan struct{})
	go be.checkpoints(opts.Logger)
	return be, nil
}

// checkpoints copies committed WAL frames into the database file from its
// own connection, so that commits never wait for it: a PASSIVE checkpoint
// neither blocks the writer nor readers, and once it has caught up the
// next write transaction restarts the WAL from its beginning.
func (b *sqliteBackend) checkpoints(log *slog.Logger) {
	defer close(b.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stopCkpt:
			return
		case <-t.C:
			if _, err := b.ckpt.Exec(`PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
				log.Warn("store: sqlite checkpoint failed", "err", err)
			}
		}
	}
}

// checkpoint runs passive checkpoints until every frame of the log is in
// the database file: they do not block the writer, so a busy writer can
// keep it from finishing until ctx ends.
func (b *sqliteBackend) checkpoint(ctx context.Context) error {
	for {
		var busy, frames, done int
		if err := b.ckpt.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
			return fmt.Errorf("store: sqlite checkpoint: %w", err)
		}
		if done >= frames {
			return nil
		}
		if !clock.Sleep(ctx, 10*time.Millisecond) {
			return fmt.Errorf("store: sqlite checkpoint: %d of %d frames: %w", done, frames, ctx.Err())
		}
	}
}

// take waits for the writer's turn (or ctx) and makes sure the writer
// connection is open; give ends the turn.
func (b *sqliteBackend) take(ctx context.Context) error {
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("store: wait for the writer: %w", ctx.Err())
	}
	if b.closed {
		b.give()
		return errors.New("store: closed")
	}
	if b.wc == nil {
		if err := b.connect(ctx); err != nil {
			b.give()
			return err
		}
	}
	return nil
}

func (b *sqliteBackend) give() { <-b.turn }

// connect takes the writer connection from its pool of one.
func (b *sqliteBackend) connect(ctx context.Context) error {
	c, err := b.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: open sqlite %q: %w", b.path, err)
	}
	b.wc, b.stmts = c, map[string]*sql.Stmt{}
	if b.log == nil {
		return nil // synchronous=OFF: nothing to sync
	}
	// The log file exists once the connection has read the database in
	// WAL mode. It is opened again with every writer connection: SQLite
	// deletes it when its last connection closes, and the writer's is
	// the one that stays open.
	if _, err := c.ExecContext(ctx, `SELECT count(*) FROM sqlite_schema`); err != nil {
		b.dropConn(driver.ErrBadConn)
		return fmt.Errorf("store: open sqlite %q: %w", b.path, err)
	}
	if err := b.log.open(b.path + "-wal"); err != nil {
		b.dropConn(driver.ErrBadConn)
		return err
	}
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

// writer is the querier of the writer connection; callers hold its turn.
func (b *sqliteBackend) writer() connQuerier { return connQuerier{b.wc, b.stmts} }

func (b *sqliteBackend) name() string       { return "sqlite" }
func (b *sqliteBackend) forUpdate() string  { return "" }
func (b *sqliteBackend) forShare() string   { return "" }
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
	if err := b.take(ctx); err != nil {
		return err
	}
	defer b.give()
	_, err := b.wc.ExecContext(ctx, `PRAGMA incremental_vacuum`)
	b.dropConn(err)
	return err
}

func (b *sqliteBackend) close() error {
	// Wait for the write in flight, if any; later ones find the
	// connection gone.
	b.turn <- struct{}{}
	defer b.give()
	var errs []error
	if b.stopCkpt != nil {
		close(b.stopCkpt)
		<-b.ckptDone
		errs = append(errs, b.ckpt.Close())
		b.stopCkpt = nil
	}
	if b.rstmt != nil {
		b.rstmt.close()
	}
	if b.rconns != nil {
		// Waits for the read transactions in flight; later ones find rtx
		// closed.
		for range cap(b.rconns) {
			if rc := <-b.rconns; rc != nil {
				rc.close()
			}
		}
		for range cap(b.rconns) {
			b.rconns <- nil
		}
	}
	if b.rtx != nil {
		errs = append(errs, b.rtx.Close())
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
	if b.log != nil {
		errs = append(errs, b.log.close())
	}
	if b.tempDir != "" {
		errs = append(errs, os.RemoveAll(b.tempDir))
	}
	b.closed = true
	return errors.Join(errs...)
}

// serial and write are the same on SQLite: the single writer connection
// already serialises every write transaction.
func (b *sqliteBackend) serial(ctx context.Context, durable bool, fn func(querier) error) error {
	return b.write(ctx, durable, fn)
}

// writeReq is one write waiting for the group commit.
type writeReq struct {
	ctx     context.Context
	durable bool
	fn      func(querier) error
	err     error
	done    chan struct{}
}

// write runs fn in a transaction on the writer connection and returns once
// it is durable (or failed).
//
// Writes that arrive while another commits are committed together (group
// commit): the first caller to find no commit in progress becomes the
// leader and runs every queued write, each in a savepoint of one BEGIN
// IMMEDIATE … COMMIT, so that one fsync covers them all while a write that
// fails rolls back alone. With several workers completing actions at once
// this, not the disk's fsync rate, is what bounds their throughput.
//
// The commit itself does not wait for the disk (synchronous=NORMAL). A
// group with a durable write in it is synced after the writer's turn is
// over: the leader hands the turn to the writes queued meanwhile, then
// syncs the log (several groups' syncs may run at once, see logSyncer),
// and only then answers its group. The next group's
// statements so run during this group's fsync instead of after it, which
// halves the writer's time per webhook; what a write returns is still on
// disk. A group of bookkeeping only is not synced: it reaches the disk
// with the next durable group or checkpoint, and a power failure before
// that loses it whole, never half of it.
//
// A write whose context ended before its turn is not run. Once it runs,
// its statements are not cancelled with its context: on SQLite an
// interrupted statement rolls back the whole transaction, which would fail
// the writes sharing it. Nor is the commit: the caller learns that its
// write is durable or that it failed, never "maybe".
func (b *sqliteBackend) write(ctx context.Context, durable bool, fn func(querier) error) error {
	return b.lingerWrite(ctx, 0, durable, fn)
}

// lingerWrite is write for a write that need not commit at once: when
// nothing else is being written, it waits up to linger for another write
// to share its commit, and commits alone only then. A commit costs the
// same few pages whether it carries one write or several; under load the
// groups form without waiting.
func (b *sqliteBackend) lingerWrite(ctx context.Context, linger time.Duration, durable bool, fn func(querier) error) error {
	req := &writeReq{ctx: ctx, durable: durable, fn: fn, done: make(chan struct{})}
	b.qmu.Lock()
	b.queue = append(b.queue, req)
	lead := !b.leading
	if lead && linger > 0 && len(b.queue) == 1 {
		// The next write to come leads the group, this one in it.
		b.qmu.Unlock()
		t := time.NewTimer(linger)
		select {
		case <-req.done:
			t.Stop()
			return req.err
		case <-t.C:
		}
		b.qmu.Lock()
		lead = !b.leading && slices.Contains(b.queue, req)
	}
	if lead {
		b.leading = true
	}
	b.qmu.Unlock()
	if lead {
		b.lead()
	}
	<-req.done
	return req.err
}

// lead commits queued writes in groups until the queue is empty, or until
// a group must be synced: then another goroutine leads the writes queued
// meanwhile, while this one syncs.
func (b *sqliteBackend) lead() {
	for {
		b.qmu.Lock()
		group := b.queue
		b.queue = nil
		if len(group) == 0 {
			b.leading = false
		}
		b.qmu.Unlock()
		if len(group) == 0 {
			return
		}
		seq, mustSync := b.commit(group)
		if !mustSync {
			answer(group, nil)
			continue
		}
		b.qmu.Lock()
		if len(b.queue) > 0 {
			go b.lead()
		} else {
			b.leading = false
		}
		b.qmu.Unlock()
		answer(group, b.log.sync(seq))
		return
	}
}

// answer ends a group's writes, failing those that succeeded with err.
func answer(group []*writeReq, err error) {
	for _, r := range group {
		if r.err == nil {
			r.err = err
		}
		close(r.done)
	}
}

// commit runs a group of writes in one transaction and sets each one's
// outcome. It reports whether the group committed a durable write that
// must now be synced, and the commit's number for logSyncer.sync.
func (b *sqliteBackend) commit(group []*writeReq) (seq uint64, mustSync bool) {
	fail := func(err error) {
		for _, r := range group {
			if r.err == nil {
				r.err = err
			}
		}
	}
	if err := b.take(context.Background()); err != nil {
		fail(err)
		return 0, false
	}
	defer b.give()
	if b.log != nil {
		// A failed sync leaves nothing written since then provably on
		// disk: refuse to build on it.
		if err := b.log.failed(); err != nil {
			fail(err)
			return 0, false
		}
	}
	ctx := context.Background()
	// BEGIN and COMMIT are prepared once like every other statement on the
	// writer: they run for every group.
	if _, err := b.writer().exec(ctx, `BEGIN IMMEDIATE`); err != nil {
		b.dropConn(err)
		fail(fmt.Errorf("store: begin: %w", err))
		return 0, false
	}
	q := b.writer()
	// A write alone in its group needs no savepoint: rolling the
	// transaction back undoes it as well. Most groups are one write when
	// load is light, and a savepoint costs two statements and a copy of
	// every page the write changes.
	alone := len(group) == 1
	ran, durable := 0, false
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("store: wait for the writer: %w", err)
			continue
		}
		if alone {
			if r.err = runWrite(r.fn, q); r.err != nil {
				b.rollback()
				return 0, false
			}
			durable, ran = r.durable, 1
			break
		}
		if _, err := q.exec(ctx, `SAVEPOINT write`); err != nil {
			b.rollback()
			fail(fmt.Errorf("store: savepoint: %w", err))
			return 0, false
		}
		if err := runWrite(r.fn, q); err != nil {
			r.err = err
			if _, rerr := q.exec(ctx, `ROLLBACK TO write`); rerr != nil {
				// SQLite rolled the whole transaction back (a full
				// disk, an I/O error): the group's earlier writes are
				// gone too.
				b.rollback()
				fail(fmt.Errorf("store: write rolled back with another that failed: %w", err))
				return 0, false
			}
		} else {
			durable = durable || r.durable
		}
		if _, err := q.exec(ctx, `RELEASE write`); err != nil {
			b.rollback()
			fail(fmt.Errorf("store: release savepoint: %w", err))
			return 0, false
		}
		ran++
	}
	if ran == 0 {
		b.rollback()
		return 0, false
	}
	if _, err := q.exec(ctx, `COMMIT`); err != nil {
		b.rollback()
		fail(fmt.Errorf("store: commit: %w", err))
		return 0, false
	}
	if b.log == nil {
		return 0, false
	}
	return b.log.committed(), durable
}

// runWrite runs one write of a group, turning a panic into its error: the
// writes sharing the transaction must still get their answer, and the
// next group its leader.
func runWrite(fn func(querier) error, q querier) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return fn(q)
}

func (b *sqliteBackend) rollback() {
	// SQLite may have rolled back already (an interrupt, a full disk);
	// "no transaction is active" is then expected and harmless.
	if _, err := b.wc.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		b.dropConn(err)
	}
}

// writeOne runs one statement as a write of its own (group-committed).
func (b *sqliteBackend) writeOne(ctx context.Context, durable bool, query string, args ...any) (int64, error) {
	var n int64
	err := b.write(ctx, durable, func(q querier) error {
		var err error
		n, err = q.exec(ctx, query, args...)
		return err
	})
	return n, err
}

func (b *sqliteBackend) read(ctx context.Context, fn func(querier) error) error {
	var rc *readConn
	select {
	case rc = <-b.rconns:
	case <-ctx.Done():
		return fmt.Errorf("store: wait for a reader: %w", ctx.Err())
	}
	defer func() { b.rconns <- rc }()
	if rc == nil {
		c, err := b.rtx.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: begin read: %w", err)
		}
		rc = &readConn{c: c, stmts: map[string]*sql.Stmt{}}
	}
	q := connQuerier{rc.c, rc.stmts}
	if _, err := q.exec(ctx, `BEGIN`); err != nil {
		rc.close()
		rc = nil
		return fmt.Errorf("store: begin read: %w", err)
	}
	err := fn(q)
	// Not cancelled with ctx: a connection left inside a transaction
	// would pin an old snapshot of the WAL.
	if _, rerr := q.exec(context.Background(), `ROLLBACK`); rerr != nil {
		rc.close()
		rc = nil
	}
	return err
}

// readConn is a reader connection pinned for read transactions, with the
// statements prepared on it.
type readConn struct {
	c     *sql.Conn
	stmts map[string]*sql.Stmt
}

func (rc *readConn) close() {
	for _, st := range rc.stmts {
		st.Close()
	}
	rc.c.Close()
}

// connQuerier runs statements on one pinned connection (the writer, or
// a reader), each prepared once and kept in stmts. Callers hold the
// connection.
type connQuerier struct {
	c     *sql.Conn
	stmts map[string]*sql.Stmt
}

func (r connQuerier) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := r.stmts[q]; ok {
		return st, nil
	}
	st, err := r.c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	r.stmts[q] = st
	return st, nil
}

func (r connQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	st, err := r.stmt(ctx, q)
	return execStmt(ctx, st, err, args)
}

func (r connQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	st, err := r.stmt(ctx, q)
	return queryStmt(ctx, st, err, args)
}

func (r connQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	st, err := r.stmt(ctx, q)
	return queryRowStmt(ctx, st, err, args)
}

// execStmt, queryStmt and queryRowStmt run a prepared statement (or
// return err, from preparing it) with stmtContext.
func execStmt(ctx context.Context, st *sql.Stmt, err error, args []any) (int64, error) {
	if ctx, err = stmtContext(ctx, err); err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func queryStmt(ctx context.Context, st *sql.Stmt, err error, args []any) (rows, error) {
	if ctx, err = stmtContext(ctx, err); err != nil {
		return nil, err
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func queryRowStmt(ctx context.Context, st *sql.Stmt, err error, args []any) row {
	if ctx, err = stmtContext(ctx, err); err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// stmtContext is the context a statement runs with: one that cannot end.
// A statement whose caller's context has already ended is not started
// (err). The driver watches a context that can end from a goroutine of
// its own, one per statement — a goroutine started and stopped for every
// statement a webhook costs — and interrupting a statement on the writer
// would roll back the transaction of the whole group, not only the
// caller's write (see write).
func stmtContext(ctx context.Context, err error) (context.Context, error) {
	if err == nil {
		err = ctx.Err()
	}
	return context.WithoutCancel(ctx), err
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
	return execStmt(ctx, st, err, args)
}

func (d dbQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	st, err := d.cache.get(ctx, q)
	return queryStmt(ctx, st, err, args)
}

func (d dbQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	st, err := d.cache.get(ctx, q)
	return queryRowStmt(ctx, st, err, args)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store/storetest"
)

// openSQLiteTest opens a store on a new file in t's temporary directory.
func openSQLiteTest(t testing.TB, clock core.Clock) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "liaison.db"), Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A new database, its WAL and its shared-memory file are readable by the
// daemon's user alone: they hold customer mail and attachments.
func TestSQLite_NewDatabaseFilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "liaison.db")
	s, err := Open(context.Background(), "sqlite://"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetCursor(context.Background(), "zendesk", "42"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(f), perm)
		}
	}
}

func TestSQLite_Contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock core.Clock) core.Store { return openSQLiteTest(t, clock) })
}

func TestSQLiteMemory_Contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock core.Clock) core.Store {
		s, err := Open(context.Background(), "sqlite::memory:", Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestSQLite_GroupCommitRollsBackAFailingWriteAlone: concurrent writes
// share transactions; one that fails or panics takes only its own changes
// with it, and each caller gets its own outcome.
func TestSQLite_GroupCommitRollsBackAFailingWriteAlone(t *testing.T) {
	s := openSQLiteTest(t, core.SystemClock{})
	ctx := context.Background()
	const writers = 40
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.be.write(ctx, i%2 == 0, func(q querier) error {
				if _, err := q.exec(ctx, `INSERT INTO cursors (source, value, updated_at) VALUES ($1, 'x', 0)`, fmt.Sprint("w", i)); err != nil {
					return err
				}
				switch i % 5 {
				case 1:
					return errors.New("refused")
				case 2:
					panic("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i := range writers {
		c, err := s.Cursor(ctx, fmt.Sprint("w", i))
		if err != nil {
			t.Fatal(err)
		}
		failed := i%5 == 1 || i%5 == 2
		switch {
		case failed && errs[i] == nil:
			t.Errorf("write %d should have failed", i)
		case failed && c != "":
			t.Errorf("write %d failed but its change was committed", i)
		case !failed && errs[i] != nil:
			t.Errorf("write %d: %v", i, errs[i])
		case !failed && c != "x":
			t.Errorf("write %d succeeded but its change is missing", i)
		}
	}
	// The store still works after a panic in a write.
	if err := s.SetCursor(ctx, "after", "y"); err != nil {
		t.Fatal(err)
	}
}

// TestSQLite_AWriteAloneThatFailsLeavesNothing: a write alone in its
// group runs without a savepoint; failing or panicking, it must still
// leave nothing behind, and the writer must go on.
func TestSQLite_AWriteAloneThatFailsLeavesNothing(t *testing.T) {
	s := openSQLiteTest(t, core.SystemClock{})
	ctx := context.Background()
	for _, tc := range []struct {
		key  string
		fail func() error
	}{
		{"refused", func() error { return errors.New("refused") }},
		{"panicked", func() error { panic("boom") }},
	} {
		err := s.be.write(ctx, true, func(q querier) error {
			if err := setCursorWrite(tc.key)(q); err != nil {
				return err
			}
			return tc.fail()
		})
		if err == nil {
			t.Errorf("%s: the write succeeded", tc.key)
		}
		if c, err := s.Cursor(ctx, tc.key); err != nil || c != "" {
			t.Errorf("%s: cursor %q, %v; want nothing written", tc.key, c, err)
		}
	}
	if err := s.SetCursor(ctx, "after", "y"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Cursor(ctx, "after"); c != "y" {
		t.Fatalf("the write after the failures: cursor %q", c)
	}
}

// TestSQLite_ALingeringWriteSharesTheNextCommit: a write that may linger
// (Options.CompletionLinger) is committed with the next write to come,
// in one transaction, and each keeps its outcome.
func TestSQLite_ALingeringWriteSharesTheNextCommit(t *testing.T) {
	s := openSQLiteTest(t, core.SystemClock{})
	be := s.be.(*sqliteBackend)
	ctx := context.Background()
	before := be.log.commits.Load()
	lingerThenWrite(t, be,
		func() error { return be.lingerWrite(ctx, time.Hour, true, setCursorWrite("lingered")) },
		func() error { return be.write(ctx, false, setCursorWrite("next")) })
	if n := be.log.commits.Load() - before; n != 1 {
		t.Errorf("%d commits for the two writes, want 1", n)
	}
	for _, key := range []string{"lingered", "next"} {
		if c, _ := s.Cursor(ctx, key); c != "x" {
			t.Errorf("cursor %s = %q, want x", key, c)
		}
	}
	// Alone, it commits once its linger is over.
	if err := be.lingerWrite(ctx, time.Millisecond, true, setCursorWrite("alone")); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Cursor(ctx, "alone"); c != "x" {
		t.Errorf("cursor alone = %q, want x", c)
	}
}

// TestSQLite_CompletionsLingerForTheNextWrite: with CompletionLinger, a
// completion waits for the next write instead of committing alone.
func TestSQLite_CompletionsLingerForTheNextWrite(t *testing.T) {
	s, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "liaison.db"), Options{CompletionLinger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	storetest.Story(t, s, workloadEpoch)
	issue := storetest.StoryIssue
	c, _ := s.CaseOf(ctx, issue)
	a := core.Action{Key: "linger", Case: c, Rule: "qa-comment", Kind: core.AddComment, Target: issue, Subject: issue, Body: "b"}
	if _, err := s.Enqueue(ctx, []core.Action{a}); err != nil {
		t.Fatal(err)
	}
	lingerThenWrite(t, s.be.(*sqliteBackend),
		func() error {
			return s.Complete(ctx, a, core.Result{CommentID: "c1"}, core.AuditEntry{Detail: "comment c1"})
		},
		func() error { return s.SetCursor(ctx, "next", "y") })
	done, err := s.Actions(ctx, c, core.Done)
	if err != nil || len(done) != 1 || done[0].Key != "linger" {
		t.Fatalf("done actions = %+v, %v", done, err)
	}
}

// lingerThenWrite starts a write that should linger, checks that it waits
// alone in the queue, then makes the next write and checks that the
// lingering one is committed with it.
func lingerThenWrite(t *testing.T, be *sqliteBackend, lingering, next func() error) {
	t.Helper()
	lingered := make(chan error, 1)
	go func() { lingered <- lingering() }()
	waitFor(t, "the lingering write to queue", func() bool {
		be.qmu.Lock()
		defer be.qmu.Unlock()
		return len(be.queue) == 1
	})
	select {
	case err := <-lingered:
		t.Fatalf("the lingering write committed alone at once (%v)", err)
	default:
	}
	if err := next(); err != nil {
		t.Fatal(err)
	}
	answeredWithin(t, lingered, "the lingering write was not committed with the next one")
}

// answeredWithin fails t with the write's error, or with late if it has
// not answered within 10 s.
func answeredWithin(t *testing.T, answer <-chan error, late string) {
	t.Helper()
	select {
	case err := <-answer:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(late)
	}
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestSQLite_AWriteWhoseContextEndedIsNotRun(t *testing.T) {
	s := openSQLiteTest(t, core.SystemClock{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.be.write(ctx, true, func(q querier) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("write with a cancelled context: ran %v, %v", ran, err)
	}
}

// setCursorWrite is a write that sets cursor key (bypassing the store's
// own choice of durability).
func setCursorWrite(key string) func(querier) error {
	return func(q querier) error {
		_, err := q.exec(context.Background(), `INSERT INTO cursors (source, value, updated_at) VALUES ($1, 'x', 0)`, key)
		return err
	}
}

// TestSQLite_DurableWriteReturnsAfterItsLogSync: a durable write answers
// only once the log is synced, and the writer is free while it syncs;
// bookkeeping is never synced.
func TestSQLite_DurableWriteReturnsAfterItsLogSync(t *testing.T) {
	s := openSQLiteTest(t, core.SystemClock{})
	ctx := context.Background()
	be := s.be.(*sqliteBackend)
	var syncs atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	releaseSync := sync.OnceFunc(func() { close(release) })
	defer releaseSync() // a failing test must not leave the sync, and Close, waiting
	be.log.mu.Lock()
	be.log.syncFile = func(f *os.File) error {
		syncs.Add(1)
		entered <- struct{}{}
		<-release
		return f.Sync()
	}
	be.log.mu.Unlock()

	if err := be.write(ctx, false, setCursorWrite("bookkeeping")); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 0 {
		t.Fatalf("a bookkeeping write synced the log %d times", n)
	}
	// The durable write waits behind another, so that it is not the
	// goroutine that commits and syncs its group.
	started, hold, first := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		first <- be.write(ctx, false, func(q querier) error {
			close(started)
			<-hold
			return setCursorWrite("first")(q)
		})
	}()
	<-started
	done := make(chan error, 1)
	go func() { done <- be.write(ctx, true, setCursorWrite("durable")) }()
	for queued := 0; queued == 0; runtime.Gosched() {
		be.qmu.Lock()
		queued = len(be.queue)
		be.qmu.Unlock()
	}
	close(hold)
	<-entered
	// Give a write that answered early the time to say so.
	select {
	case err := <-done:
		t.Fatalf("the durable write returned (%v) before its log sync ended", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := be.write(ctx, false, setCursorWrite("during the sync")); err != nil {
		t.Fatalf("a write while another's log syncs: %v", err)
	}
	releaseSync()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"bookkeeping", "first", "durable", "during the sync"} {
		if v, err := s.Cursor(ctx, k); err != nil || v != "x" {
			t.Errorf("cursor %q = %q, %v; want x", k, v, err)
		}
	}
	if n := syncs.Load(); n != 1 {
		t.Errorf("log synced %d times, want 1", n)
	}
}

// TestSQLite_FailedLogSyncFailsEveryLaterWrite: after a failed fsync the
// kernel may call lost pages clean, so nothing committed since can be
// called durable: the write fails, and so does every write after it.
func TestSQLite_FailedLogSyncFailsEveryLaterWrite(t *testing.T) {
	s := openSQLiteTest(t, core.SystemClock{})
	ctx := context.Background()
	be := s.be.(*sqliteBackend)
	be.log.mu.Lock()
	be.log.syncFile = func(*os.File) error { return syscall.EIO }
	be.log.mu.Unlock()

	err := be.write(ctx, true, setCursorWrite("durable"))
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "write-ahead log") {
		t.Fatalf("durable write with a failing log sync: %v; want the sync's error", err)
	}
	ran := false
	err = be.write(ctx, false, func(q querier) error { ran = true; return nil })
	if !errors.Is(err, syscall.EIO) || ran {
		t.Fatalf("write after a failed sync: ran %v, %v; want refused with the sync's error", ran, err)
	}
	if _, err := s.Ingest(ctx, []core.Ingest{{Event: core.Event{Source: "zendesk", DeliveryID: "d1",
		Item: core.Item{Ref: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "1"}}}}}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("ingest after a failed sync: %v; want refused", err)
	}
}

// TestSQLite_ADurableWriteDoesNotWaitForAnEarlierSync: a group committed
// while another group's fsync runs is synced by an fsync of its own, which
// can end first; its write then returns without waiting for the earlier
// one. A write the running sync already covers waits for that sync.
func TestSQLite_ADurableWriteDoesNotWaitForAnEarlierSync(t *testing.T) {
	s := openSQLiteTest(t, core.SystemClock{})
	ctx := context.Background()
	be := s.be.(*sqliteBackend)
	var calls atomic.Int32
	entered, release := make(chan struct{}, 1), make(chan struct{})
	releaseSync := sync.OnceFunc(func() { close(release) })
	defer releaseSync()
	be.log.mu.Lock()
	be.log.syncFile = func(f *os.File) error {
		if calls.Add(1) == 1 { // the first sync hangs on the disk
			entered <- struct{}{}
			<-release
		}
		return f.Sync()
	}
	be.log.mu.Unlock()

	first := make(chan error, 1)
	go func() { first <- be.write(ctx, true, setCursorWrite("first")) }()
	<-entered
	second := make(chan error, 1)
	go func() { second <- be.write(ctx, true, setCursorWrite("second")) }()
	answeredWithin(t, second, "a durable write waited for the sync of a group committed before it")
	select {
	case err := <-first:
		t.Fatalf("the first write returned (%v) before its sync ended", err)
	default:
	}
	releaseSync()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("log synced %d times, want 2", n)
	}
	for _, k := range []string{"first", "second"} {
		if v, err := s.Cursor(ctx, k); err != nil || v != "x" {
			t.Errorf("cursor %q = %q, %v; want x", k, v, err)
		}
	}
}

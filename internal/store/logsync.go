package store

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// logSyncers is how many fsyncs of the log may run at once. A group that
// commits while another's fsync runs starts its own rather than waiting
// for that one to end and then for one more: its wait is one fsync, not up
// to two. (The disk here takes concurrent fsyncs nearly as fast as one.)
const logSyncers = 4

// logSyncer makes SQLite's write-ahead log durable for the groups the
// writer committed without waiting for the disk (see sqliteBackend.write).
//
// An fsync covers every commit whose frames were written before it
// started, so a group whose commit such a sync already covers, finished or
// still running, waits for that one instead of starting another.
//
// Each sync runs on a file descriptor of its own. Linux reports a failed
// writeback once per open file: two fsyncs racing on one descriptor could
// let the second call pages clean that the first was told were lost. And a
// failure is final: nothing committed since can be called durable, so
// every later write fails, until the daemon is restarted (SQLite then
// recovers the log as the disk has it).
type logSyncer struct {
	commits atomic.Uint64         // commits counted by the writer, in its turn
	failure atomic.Pointer[error] // the failed sync's error

	mu      sync.Mutex // guards the fields below
	files   []*os.File // one per sync that may run; nil once closed
	free    chan *os.File
	synced  uint64     // commits known to be on disk
	running []*logSync // syncs under way
	// syncFile is (*os.File).Sync; tests replace it.
	syncFile func(*os.File) error
}

// logSync is one fsync under way: it covers the commits up to upto.
type logSync struct {
	upto uint64
	err  error
	done chan struct{}
}

// open (re)opens the log file that later syncs flush.
func (l *logSyncer) open(path string) error {
	files := make([]*os.File, 0, logSyncers)
	for range logSyncers {
		f, err := os.Open(path)
		if err != nil {
			closeAll(files)
			return fmt.Errorf("store: open the sqlite write-ahead log: %w", err)
		}
		files = append(files, f)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Syncs under way keep the descriptors they took; the old ones are
	// closed as they come back (see sync).
	closeAll(l.files)
	l.files, l.free = files, make(chan *os.File, logSyncers)
	for _, f := range files {
		l.free <- f
	}
	return nil
}

func closeAll(files []*os.File) error {
	var errs []error
	for _, f := range files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

func (l *logSyncer) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := closeAll(l.files)
	l.files, l.free = nil, nil
	return err
}

// committed counts a commit whose frames are written to the log and
// returns its number. The writer calls it in its turn, after COMMIT.
func (l *logSyncer) committed() uint64 { return l.commits.Add(1) }

// failed returns the error of a failed sync, if there was one.
func (l *logSyncer) failed() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// sync returns once commit seq is on disk.
func (l *logSyncer) sync(seq uint64) error {
	l.mu.Lock()
	if err := l.failed(); err != nil {
		l.mu.Unlock()
		return err
	}
	if l.synced >= seq {
		l.mu.Unlock()
		return nil // a sync that started after the commit covered it
	}
	for _, s := range l.running {
		if s.upto >= seq {
			l.mu.Unlock()
			<-s.done
			return s.err
		}
	}
	if l.free == nil {
		l.mu.Unlock()
		return errors.New("store: closed")
	}
	s := &logSync{upto: l.commits.Load(), done: make(chan struct{})}
	l.running = append(l.running, s)
	free, syncFile := l.free, l.syncFile
	l.mu.Unlock()
	if syncFile == nil {
		syncFile = (*os.File).Sync
	}

	f := <-free
	err := syncFile(f)
	free <- f

	l.mu.Lock()
	l.running = slices.DeleteFunc(l.running, func(r *logSync) bool { return r == s })
	if err != nil {
		err = fmt.Errorf("store: sync the sqlite write-ahead log (no write can be made durable from now on; restart once the disk is healthy): %w", err)
		l.failure.CompareAndSwap(nil, &err)
		err = l.failed()
	} else if l.failed() != nil {
		// Another sync failed while this one ran: what this one covers
		// may be among the lost pages.
		err = l.failed()
	} else {
		l.synced = max(l.synced, s.upto)
	}
	s.err = err
	l.mu.Unlock()
	close(s.done)
	return err
}

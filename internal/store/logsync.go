package store

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// logSyncer makes SQLite's write-ahead log durable for the groups the
// writer committed without waiting for the disk (see sqliteBackend.write).
//
// One fsync covers every commit made before it started, so the groups
// that commit while another's fsync runs share the next one. Syncs run one
// at a time: after a failed fsync Linux may report the lost pages clean
// to the next one, so only a sync that starts after the last one ended
// can vouch for what it covers. And a failure is final: nothing committed
// since can be called durable, so every later write fails, until the
// daemon is restarted (SQLite then recovers the log as the disk has it).
type logSyncer struct {
	commits atomic.Uint64         // commits counted by the writer, in its turn
	failure atomic.Pointer[error] // the failed sync's error

	mu     sync.Mutex // held for a sync, and to change f
	f      *os.File
	synced uint64 // commits known to be on disk
	// syncFile is (*os.File).Sync; tests make it fail.
	syncFile func(*os.File) error
}

// open (re)opens the log file that later syncs flush.
func (l *logSyncer) open(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: open the sqlite write-ahead log: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
	}
	l.f = f
	return nil
}

func (l *logSyncer) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
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
	defer l.mu.Unlock()
	if err := l.failed(); err != nil {
		return err
	}
	if l.synced >= seq {
		return nil // a sync that started after the commit covered it
	}
	if l.f == nil {
		return errors.New("store: closed")
	}
	upto := l.commits.Load()
	syncFile := l.syncFile
	if syncFile == nil {
		syncFile = (*os.File).Sync
	}
	if err := syncFile(l.f); err != nil {
		err = fmt.Errorf("store: sync the sqlite write-ahead log (no write can be made durable from now on; restart once the disk is healthy): %w", err)
		l.failure.Store(&err)
		return err
	}
	l.synced = upto
	return nil
}

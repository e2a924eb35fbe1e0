package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

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

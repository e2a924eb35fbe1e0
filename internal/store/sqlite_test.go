package store

import (
	"context"
	"path/filepath"
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

package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store/storetest"
)

// postgresDSN is the test server: LIAISON_TEST_POSTGRES, or the local
// server CI provides.
func postgresDSN() string {
	if dsn := os.Getenv("LIAISON_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// testSchema creates a schema of its own for one test and returns a DSN
// whose search_path points at it; the schema is dropped when t ends, so
// parallel runs never see each other's tables. Without a reachable server
// the test is skipped, saying why — except under CI=true, where nothing
// may skip.
func testSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dsn := postgresDSN()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable at LIAISON_TEST_POSTGRES (or the default 127.0.0.1:5432/test) and CI=true: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (set LIAISON_TEST_POSTGRES to run these tests): %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "liaison_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("LIAISON_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openPostgresTest opens a store in a fresh schema.
func openPostgresTest(t testing.TB, clock core.Clock) *Store {
	t.Helper()
	s, err := Open(context.Background(), testSchema(t), Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres_Contract(t *testing.T) {
	// One schema for the whole suite, emptied before each behaviour:
	// creating and migrating a schema per behaviour costs more than the
	// behaviours themselves.
	dsn := testSchema(t)
	storetest.Run(t, func(t *testing.T, clock core.Clock) core.Store {
		s, err := Open(context.Background(), dsn, Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		// DELETE, not TRUNCATE: on tables this small it is much faster,
		// as it creates no new files to sync.
		err = s.be.write(context.Background(), func(q querier) error {
			for _, table := range []string{"items", "links", "inbox", "work", "case_merges", "outbox", "cursors",
				"mirrors", "synced", "audit", "conflicts", "leases"} {
				if _, err := q.exec(context.Background(), "DELETE FROM "+table); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

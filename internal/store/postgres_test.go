package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
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
		err = s.be.write(context.Background(), true, func(q querier) error {
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

func TestPostgres_ReplicasStartingTogetherMigrateOnce(t *testing.T) {
	dsn := testSchema(t)
	const replicas = 4
	errs := make(chan error, replicas)
	stores := make(chan *Store, replicas)
	for range replicas {
		go func() {
			s, err := Open(context.Background(), dsn, Options{})
			errs <- err
			stores <- s
		}()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Fatalf("replica start: %v", err)
		}
		s := <-stores
		defer s.Close()
	}
	s, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var applied int64
	if err := s.be.reader().queryRow(context.Background(), `SELECT COUNT(*) FROM schema_version`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	all, _ := migrations(postgresMigrations)
	if applied != int64(len(all)) {
		t.Fatalf("schema_version holds %d rows, want each of the %d migrations once", applied, len(all))
	}
}

// TestPostgres_ReplicasShareTheQueueSafely runs two stores on one schema,
// as two replicas: both ingest linked events (joins and splits) and both
// claim and release cases at once. No case may be held by two claimers at
// a time, no event may be lost, and the cases must come out connected.
func TestPostgres_ReplicasShareTheQueueSafely(t *testing.T) {
	dsn := testSchema(t)
	ctx := context.Background()
	var replicas [2]*Store
	for i := range replicas {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		replicas[i] = s
	}
	pool := make([]core.Ref, 16)
	for i := range pool {
		pool[i] = core.Ref{System: "jira", Kind: core.DevTicket, ID: fmt.Sprintf("R-%d", i)}
	}
	const ingesters, batches, per = 2, 10, 10
	var (
		mu        sync.Mutex
		held      = map[core.CaseID]string{}
		problems  []string
		ingesting sync.WaitGroup
		claiming  sync.WaitGroup
		stop      = make(chan struct{})
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for ri, s := range replicas {
		for w := range ingesters {
			ingesting.Add(1)
			go func() {
				defer ingesting.Done()
				for b := range batches {
					batch := make([]core.Ingest, per)
					for i := range batch {
						n := ri*10000 + w*1000 + b*100 + i
						r := pool[n%len(pool)]
						in := core.Ingest{Event: core.Event{Source: "jira", DeliveryID: fmt.Sprint("d", n), Via: core.ViaWebhook, Type: core.Updated,
							Item: core.Item{Ref: r, Title: "t", UpdatedAt: time.Unix(int64(n), 0)}}}
						if n%3 != 0 {
							in.Discovered = []core.Link{{From: r, To: pool[(n*7+ri)%len(pool)], Role: core.Fixes}}
						}
						batch[i] = in
					}
					if _, err := s.Ingest(ctx, batch); err != nil {
						fail("ingest: %v", err)
						return
					}
				}
			}()
		}
		for c := range 2 {
			claiming.Add(1)
			go func() {
				defer claiming.Done()
				owner := fmt.Sprintf("replica%d-worker%d", ri, c)
				for {
					select {
					case <-stop:
						return
					default:
					}
					ids, err := s.ClaimCases(ctx, owner, time.Now(), 2, time.Minute)
					if err != nil {
						fail("claim: %v", err)
						return
					}
					mu.Lock()
					for _, id := range ids {
						if other, ok := held[id]; ok {
							problems = append(problems, fmt.Sprintf("case %d held by %s and %s", id, other, owner))
						}
						held[id] = owner
					}
					mu.Unlock()
					for _, id := range ids {
						if _, err := s.LoadCase(ctx, id); err != nil {
							fail("load: %v", err)
						}
						// Let go before releasing: once the release commits
						// another claimer may take the case at once.
						mu.Lock()
						delete(held, id)
						mu.Unlock()
						if err := s.ReleaseCase(ctx, id, owner, time.Time{}); err != nil {
							fail("release: %v", err)
						}
					}
				}
			}()
		}
	}
	ingesting.Wait()
	close(stop)
	claiming.Wait()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	events := 0
	for _, r := range pool {
		evs, err := replicas[0].Events(ctx, r, 0)
		if err != nil {
			t.Fatal(err)
		}
		events += len(evs)
	}
	if want := len(replicas) * ingesters * batches * per; events != want {
		t.Fatalf("stored %d events, want %d", events, want)
	}
	storetest.CheckCases(t, replicas[1], pool...)
}

// TestPostgres_TitleIndexKeepsNoPendingList: GIN's pending list is read by
// every search, so the title index must take each title into its trees
// at once (migration 0009), or searches slow down as titles arrive.
func TestPostgres_TitleIndexKeepsNoPendingList(t *testing.T) {
	s := openPostgresTest(t, core.SystemClock{})
	var (
		exists bool
		opts   []string
	)
	err := s.be.reader().queryRow(context.Background(),
		`SELECT to_regclass('item_search_words') IS NOT NULL, coalesce((SELECT reloptions FROM pg_class WHERE oid = to_regclass('item_search_words')), '{}')`).
		Scan(&exists, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if !exists {
		t.Skip("pg_trgm is not installed on this server: titles have no index")
	}
	if !slices.Contains(opts, "fastupdate=off") {
		t.Fatalf("item_search_words options = %v, want fastupdate=off", opts)
	}
}

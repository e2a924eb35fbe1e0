package store

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store/storetest"
)

// pendingSearch counts the records noted and not yet indexed.
func pendingSearch(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.be.reader().queryRow(context.Background(), `SELECT count(*) FROM search_pending`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Records a write changed are indexed behind it, in the background,
// without a search asking for them; more than a batch of them too.
func TestSearchIndex_ChangedRecordsAreIndexedInTheBackground(t *testing.T) {
	s := openSQLiteTest(t, core.SystemClock{})
	ctx := context.Background()
	var batch []core.Ingest
	for i := range searchBatch + 40 {
		it := core.Item{Ref: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: fmt.Sprint(7000 + i)}, Title: fmt.Sprintf("Printer %d on fire", i)}
		batch = append(batch, core.Ingest{Event: core.Event{Source: "zendesk", DeliveryID: fmt.Sprint("d", i), Via: core.ViaPoll, Type: core.Created, Item: it}})
	}
	if _, err := s.Ingest(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n := pendingSearch(t, s); n != len(batch) {
		t.Fatalf("%d records noted for the index, want %d", n, len(batch))
	}
	for end := time.Now().Add(10 * time.Second); pendingSearch(t, s) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d records still not indexed", pendingSearch(t, s))
		}
	}
	var indexed int
	if err := s.be.reader().queryRow(ctx, `SELECT count(*) FROM item_words WHERE words LIKE '%on fire%'`).Scan(&indexed); err != nil {
		t.Fatal(err)
	}
	if indexed != len(batch) {
		t.Errorf("%d titles in the index, want %d", indexed, len(batch))
	}
}

// A database indexed by version 9's triggers keeps its index through the
// upgrade, and follows changes made after it.
func TestSearchIndex_AnUpgradedDatabaseKeepsItsIndex(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "v9.db")
	v9 := fstest.MapFS{}
	names, err := fs.Glob(sqliteMigrations, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name < "0010" {
			b, err := fs.ReadFile(sqliteMigrations, name)
			if err != nil {
				t.Fatal(err)
			}
			v9[name] = &fstest.MapFile{Data: b}
		}
	}
	old, err := open(ctx, dsn, Options{}, v9)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Story(t, old, workloadEpoch)
	old.Close()

	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if refs, err := s.FindByText(ctx, "pdf is empty", 10); err != nil || len(refs) != 1 || refs[0] != storetest.Stray {
		t.Fatalf("after the upgrade, FindByText = %v, %v; want %s", refs, err, storetest.Stray)
	}
	it := core.Item{Ref: storetest.Stray, Title: "Exported invoices are blank", Reporter: "Ana@Example.com", UpdatedAt: workloadEpoch.Add(time.Minute)}
	if _, err := s.Ingest(ctx, []core.Ingest{{Event: core.Event{Source: "zendesk", DeliveryID: "after", Via: core.ViaPoll, Type: core.Updated, Item: it}}}); err != nil {
		t.Fatal(err)
	}
	if refs, _ := s.FindByText(ctx, "pdf is empty", 10); len(refs) != 0 {
		t.Errorf("the old title still matches: %v", refs)
	}
	if refs, _ := s.FindByText(ctx, "invoices", 10); len(refs) != 1 || refs[0] != storetest.Stray {
		t.Errorf("the new title does not match: %v", refs)
	}
	// It was first seen without people: it takes those it gets.
	if refs, _ := s.FindByPerson(ctx, "ana@example.com", 10); len(refs) != 1 || refs[0] != storetest.Stray {
		t.Errorf("the reporter of a record first seen without one does not match: %v", refs)
	}
}

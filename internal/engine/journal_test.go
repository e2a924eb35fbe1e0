package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/journal"
	"github.com/liaisonhq/liaison/internal/store"
)

// ingestCounter counts the store's ingest transactions, and fails the
// first failures of them as a store whose disk is briefly full would.
type ingestCounter struct {
	*store.Store
	calls    atomic.Int64
	failures atomic.Int64
}

var errDiskFull = errors.New("database or disk is full")

func (s *ingestCounter) fail() error {
	if s.failures.Add(-1) >= 0 {
		return errDiskFull
	}
	return nil
}

func (s *ingestCounter) Ingest(ctx context.Context, batch []core.Ingest) ([]bool, error) {
	s.calls.Add(1)
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Ingest(ctx, batch)
}

func (s *ingestCounter) IngestClaim(ctx context.Context, batch []core.Ingest, owner string, lease time.Duration) ([]bool, []core.CaseID, error) {
	s.calls.Add(1)
	if err := s.fail(); err != nil {
		return nil, nil, err
	}
	return s.Store.IngestClaim(ctx, batch, owner, lease)
}

// journaling starts an engine with an intake journal in dir on the world's
// store, and returns it with a function that stops it.
func (w *world) journaling(t *testing.T, dir string, st core.Store) (*Engine, func()) {
	t.Helper()
	eng := w.newEngine(t, Options{Store: st, Journal: dir, Metrics: NewMetrics(prometheus.NewRegistry(), w.st)})
	return eng, run(t, eng)
}

func closedTicket(w *world, i int) core.Event {
	ref := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: fmt.Sprint(8000 + i)}
	return core.Event{Source: "zendesk", Via: core.ViaWebhook, Type: core.Created, DeliveryID: fmt.Sprint("journal-", i),
		Item: core.Item{Ref: ref, Title: "Thanks, all good", Native: "closed", UpdatedAt: w.clock.Now()}, At: w.clock.Now(),
		Raw: fmt.Appendf(nil, `{"ticket":%d}`, 8000+i)}
}

// waitIntake waits until the store has taken in every acknowledged event.
func waitIntake(t *testing.T, eng *Engine) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for eng.IntakeBacklog() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged events still not in the store", eng.IntakeBacklog())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.journal"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// wantTakenInAndStopped waits until the store has evs, stops the engine,
// and checks that the stop left no journal segment: everything in it was
// in the store.
func wantTakenInAndStopped(t *testing.T, eng *Engine, stop func(), st *store.Store, dir string, evs []core.Event) {
	t.Helper()
	waitIntake(t, eng)
	wantEvents(t, st, evs)
	stop()
	if left := segments(t, dir); len(left) != 0 {
		t.Errorf("journal segments left after a clean stop with everything in the store: %q", left)
	}
}

func wantEvents(t *testing.T, st *store.Store, evs []core.Event) {
	t.Helper()
	for _, ev := range evs {
		got, err := st.Events(context.Background(), ev.Item.Ref, 10)
		if err != nil || len(got) != 1 {
			t.Errorf("events about %s: %d (%v), want 1", ev.Item.Ref, len(got), err)
		}
	}
}

// Acknowledged events reach the store, and the journal is empty once they
// have.
func TestAccept_JournaledEventsReachTheStore(t *testing.T) {
	w := newWorld(t, defaults(t))
	dir := filepath.Join(t.TempDir(), "intake")
	st := &ingestCounter{Store: w.st}
	eng, stop := w.journaling(t, dir, st)
	var evs []core.Event
	for i := range 20 {
		ev := closedTicket(w, i)
		evs = append(evs, ev)
		if err := eng.Accept(context.Background(), []core.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	wantTakenInAndStopped(t, eng, stop, w.st, dir, evs)
}

// Journaled events that come within IntakeLinger of each other while a
// commit is under way go to the store in one commit; with none under way
// the first goes at once, alone.
func TestGather_EventsComingWithinTheLingerShareACommit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		committing bool
		want       []uint64
	}{
		{"a commit under way", true, []uint64{1, 2, 3, 4, 5}},
		{"none under way", false, []uint64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, defaults(t))
			eng := w.newEngine(t, Options{IntakeLinger: 300 * time.Millisecond})
			if tc.committing {
				eng.commits.Store(1)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { eng.gatherLoop(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			for i := range 5 {
				eng.journalCh <- &ingestReq{batch: []core.Ingest{{Event: closedTicket(w, i)}}, seqs: []uint64{uint64(i + 1)}}
				time.Sleep(5 * time.Millisecond)
			}
			g := <-eng.ingestCh
			if len(g.batch) != len(tc.want) || !reflect.DeepEqual(g.seqs, tc.want) || len(g.parts) != len(tc.want) {
				t.Fatalf("gathered %d events, records %v, %d parts; want records %v", len(g.batch), g.seqs, len(g.parts), tc.want)
			}
			// Split again (a failed commit is retried record by record),
			// each is what was handed in.
			for i, p := range g.split() {
				if len(p.batch) != 1 || p.batch[0].Event.DeliveryID != fmt.Sprint("journal-", i) || p.seqs[0] != uint64(i+1) {
					t.Errorf("part %d: %d events, %v", i, len(p.batch), p.seqs)
				}
			}
		})
	}
}

// A commit that ends stops the gathering: the requests gathered during it
// go to the next commit at once, not after the rest of IntakeLinger.
func TestGather_ACommitEndingHandsOverWhatGathered(t *testing.T) {
	w := newWorld(t, defaults(t))
	eng := w.newEngine(t, Options{IntakeLinger: 10 * time.Second})
	eng.commits.Store(1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.gatherLoop(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 3 {
		eng.journalCh <- &ingestReq{batch: []core.Ingest{{Event: closedTicket(w, i)}}, seqs: []uint64{uint64(i + 1)}}
	}
	time.Sleep(20 * time.Millisecond)
	eng.commits.Store(0)
	eng.committed <- struct{}{}
	select {
	case g := <-eng.ingestCh:
		if !reflect.DeepEqual(g.seqs, []uint64{1, 2, 3}) {
			t.Fatalf("handed records %v, want [1 2 3]", g.seqs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the gathering went on after the commit ended (IntakeLinger 10s)")
	}
}

// What an earlier process acknowledged and never took in (it was killed
// between the two) is taken in by the next run; what it had taken in
// already is recognised as a re-delivery.
func TestRun_TakesInWhatAnEarlierRunAcknowledged(t *testing.T) {
	w := newWorld(t, defaults(t))
	dir := filepath.Join(t.TempDir(), "intake")
	evs := []core.Event{closedTicket(w, 1), closedTicket(w, 2), closedTicket(w, 3)}
	w.submit(t, evs[0]) // taken in before the kill
	j, _, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]core.Event{evs[:1], evs[1:]} {
		rec, _, err := encodeRecord(batch)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := j.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	j.Close() // as a kill leaves it: appended, never applied

	eng, stop := w.journaling(t, dir, w.st)
	wantTakenInAndStopped(t, eng, stop, w.st, dir, evs)
}

// A store that refuses writes for a while loses nothing acknowledged: the
// events are taken in once it recovers.
func TestAccept_AStoreThatFailsIsTriedAgain(t *testing.T) {
	w := newWorld(t, defaults(t))
	dir := filepath.Join(t.TempDir(), "intake")
	st := &ingestCounter{Store: w.st}
	st.failures.Store(2)
	eng, _ := w.journaling(t, dir, st)
	ev := closedTicket(w, 1)
	if err := eng.Accept(context.Background(), []core.Event{ev}); err != nil {
		t.Fatalf("accept while the store fails: %v; the journal should take it", err)
	}
	if n := testutil.ToFloat64(eng.m.IntakeBacklog); n != 1 {
		t.Errorf("intake backlog %v while the store fails, want 1", n)
	}
	waitIntake(t, eng)
	if n := testutil.ToFloat64(eng.m.IntakeBacklog); n != 0 {
		t.Errorf("intake backlog %v once the store has it, want 0", n)
	}
	wantEvents(t, w.st, []core.Event{ev})
	if n := st.calls.Load(); n < 3 {
		t.Errorf("%d store commits; want the two failures and a success", n)
	}
}

// Without the journal (PostgreSQL, or a second replica on one SQLite
// file), Accept answers once the store has the events.
func TestAccept_WithoutAJournalTheStoreHasThemOnReturn(t *testing.T) {
	w := newWorld(t, defaults(t))
	dir := filepath.Join(t.TempDir(), "intake")
	first, _ := w.journaling(t, dir, w.st)
	second, _ := w.journaling(t, dir, w.st) // the folder's lock is the first's
	if second.journal.Load() != nil || first.journal.Load() == nil {
		t.Fatal("two engines hold one journal")
	}
	ev := closedTicket(w, 1)
	if err := second.Accept(context.Background(), []core.Event{ev}); err != nil {
		t.Fatal(err)
	}
	wantEvents(t, w.st, []core.Event{ev})
}

func TestRecord_RoundTrip(t *testing.T) {
	w := newWorld(t, defaults(t))
	evs := []core.Event{closedTicket(w, 1), closedTicket(w, 2)}
	evs[1].Raw = nil
	evs[1].Links = []core.Link{{From: evs[1].Item.Ref, To: core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-1"}, Role: core.EscalatedTo}}
	rec, encoded, err := encodeRecord(evs)
	if err != nil {
		t.Fatal(err)
	}
	got, decoded, err := decodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, evs) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, evs)
	}
	// The JSON handed to the store is the event's own, both ways.
	for i, ev := range evs {
		want, _ := json.Marshal(&ev)
		if !bytes.Equal(encoded[i], want) || !bytes.Equal(decoded[i], want) {
			t.Errorf("event %d: encoded %s, decoded %s, want %s", i, encoded[i], decoded[i], want)
		}
	}
	if _, _, err := decodeRecord(rec[:len(rec)-1]); err == nil {
		t.Error("a record cut short decoded")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	ev := core.Event{Source: "zendesk", DeliveryID: "d", Item: core.Item{Ref: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "1"}}, Raw: []byte("{}")}
	rec, _, err := encodeRecord([]core.Event{ev})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add([]byte{0x80})
	f.Add(bytes.Repeat([]byte{0xff}, 12))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, _, err := encodeRecord(evs)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		if _, _, err := decodeRecord(again); err != nil {
			t.Fatalf("a record encoded from a decoded one does not decode: %v", err)
		}
	})
}

// TestRun_OnSQLiteTakesUpWhatADeadProcessHadClaimed: a process killed
// while it reconciled leaves its cases claimed. On SQLite the journal's
// lock proves the new process is the only one, so it takes them up at
// once rather than after the dead one's lease (which this test's clock,
// never moving, would never end).
func TestRun_OnSQLiteTakesUpWhatADeadProcessHadClaimed(t *testing.T) {
	w := newWorld(t, defaults(t))
	w.submit(t, mails(t, w, 1)...)
	w.clock.Add(time.Second)
	ctx := context.Background()
	if ids, err := w.st.ClaimCases(ctx, "killed-replica", w.clock.Now(), 10, 30*time.Second); err != nil || len(ids) != 1 {
		t.Fatalf("claimed %v (err %v), want the mail's case", ids, err)
	}
	if ok, err := w.st.Lease(ctx, "poll:retired-source", "killed-replica", w.clock.Now(), 30*time.Second); err != nil || !ok {
		t.Fatalf("lease: %v, %v", ok, err)
	}
	_, stop := w.journaling(t, filepath.Join(t.TempDir(), "intake"), w.st)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for len(w.sys["zendesk"].Records(core.CustomerTicket)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the case the dead process had claimed was not taken up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ok, err := w.st.Lease(ctx, "poll:retired-source", "new-replica", w.clock.Now(), 30*time.Second); err != nil || !ok {
		t.Fatalf("the dead process's poll lease still held (%v, %v)", ok, err)
	}
}

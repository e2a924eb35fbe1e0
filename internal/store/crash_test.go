package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// The crash test runs the store in a child process (this test binary,
// re-executed into TestCrashChild) in which two goroutines ingest batches
// in a loop, so that their writes share group commits, and report each
// batch on stdout once Ingest returned nil. The parent kills
// it with SIGKILL mid-stream, reopens the file and checks that every
// reported batch is there whole, that the batch in flight is there whole
// or not at all, and that SQLite finds the file intact.
const (
	crashDBEnv     = "LIAISON_STORE_CRASH_DB"
	crashRoundEnv  = "LIAISON_STORE_CRASH_ROUND"
	crashBatchSize = 20
	crashAcks      = 25 // batches acknowledged by each ingester before the kill
	crashIngesters = 2
)

func TestCrash_AcknowledgedIngestsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	w := loadWorkload(t, 50)
	for round := range 3 {
		acked := runCrashChild(t, path, round)
		s, err := Open(context.Background(), "sqlite://"+path, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		checkIntegrity(t, s)
		for g, batches := range acked {
			last := -1
			if len(batches) > 0 {
				last = batches[len(batches)-1]
			}
			for b := 0; b <= last+1; b++ {
				present := presentEvents(t, s, w, round, g, b)
				switch {
				case b <= last && present != crashBatchSize:
					t.Errorf("round %d: ingester %d's acknowledged batch %d has %d of %d events", round, g, b, present, crashBatchSize)
				case b == last+1 && present != 0 && present != crashBatchSize:
					t.Errorf("round %d: ingester %d's batch %d in flight at the kill is half there: %d of %d events", round, g, b, present, crashBatchSize)
				}
			}
			if present := presentEvents(t, s, w, round, g, last+2); present != 0 {
				t.Errorf("round %d: ingester %d's batch %d, never started, has %d events", round, g, last+2, present)
			}
			checkCases(t, s, w, round, g, last)
		}
		s.Close()
	}
}

// runCrashChild starts the child, kills it once each ingester had
// crashAcks batches acknowledged, and returns, per ingester, every batch
// it acknowledged.
func runCrashChild(t *testing.T, path string, round int) [crashIngesters][]int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDBEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked [crashIngesters][]int
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		var g, b int
		if _, err := fmt.Sscanf(sc.Text(), "acked %d %d", &g, &b); err != nil || g < 0 || g >= crashIngesters {
			continue
		}
		acked[g] = append(acked[g], b)
		if len(acked[0]) >= crashAcks && len(acked[1]) >= crashAcks && !killed {
			// SIGKILL: no deferred function, no Close, no flush runs.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before the kill: %v\n%s", err, stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v", err)
	}
	for g := range acked {
		for i, b := range acked[g] {
			if b != i {
				t.Fatalf("ingester %d acknowledged batches %v out of order", g, acked[g])
			}
		}
	}
	return acked
}

// TestCrashChild is the child process of the crash test; it does nothing
// in a normal run.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("helper process of TestCrash_AcknowledgedIngestsSurviveSIGKILL")
	}
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	s, err := Open(context.Background(), "sqlite://"+path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := loadWorkload(t, 50)
	for g := range crashIngesters {
		go func() {
			for b := 0; ; b++ {
				if _, err := s.Ingest(context.Background(), crashBatch(w, round, g, b)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				// One write to the pipe, unbuffered: the parent knows of
				// the batch only once Ingest has returned nil.
				fmt.Printf("acked %d %d\n", g, b)
			}
		}()
	}
	select {} // until killed
}

// crashBatch is ingester g's batch b; the ingesters' records overlap.
func crashBatch(w *workload, round, g, b int) []core.Ingest {
	return w.batch(fmt.Sprintf("r%d-g%d", round, g), b*crashBatchSize, crashBatchSize)
}

// presentEvents counts the events of batch b that the store holds, and
// checks their raw bodies came back byte for byte.
func presentEvents(t *testing.T, s *Store, w *workload, round, g, b int) int {
	t.Helper()
	n := 0
	for _, in := range crashBatch(w, round, g, b) {
		raw, err := s.Raw(context.Background(), in.Event.Source, in.Event.DeliveryID)
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, in.Event.Raw) {
			t.Errorf("delivery %q: raw body differs after the crash (%d bytes, want %d)", in.Event.DeliveryID, len(raw), len(in.Event.Raw))
		}
		n++
	}
	return n
}

// checkCases checks that every record of the acknowledged batches has its
// snapshot and sits in a case that holds it.
func checkCases(t *testing.T, s *Store, w *workload, round, g, last int) {
	t.Helper()
	ctx := context.Background()
	seen := map[core.Ref]bool{}
	for b := 0; b <= last; b++ {
		for _, in := range crashBatch(w, round, g, b) {
			r := in.Event.Item.Ref
			if seen[r] {
				continue
			}
			seen[r] = true
			c, err := s.CaseOf(ctx, r)
			if err != nil {
				t.Fatalf("record %s of an acknowledged batch: %v", r, err)
			}
			cs, err := s.LoadCase(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if cs.Item(r) == nil {
				t.Errorf("case %d of %s does not hold it", c, r)
			}
		}
	}
}

func checkIntegrity(t *testing.T, s *Store) {
	t.Helper()
	db := s.be.(*sqliteBackend).r
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check after SIGKILL: %s", res)
	}
}

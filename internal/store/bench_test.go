package store

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// benchBackends opens a fresh store per benchmark on each backend that is
// available.
func benchBackends(b *testing.B, run func(b *testing.B, s *Store)) {
	b.Run("sqlite", func(b *testing.B) { run(b, openSQLiteTest(b, core.SystemClock{})) })
	b.Run("postgres", func(b *testing.B) { run(b, openPostgresTest(b, core.SystemClock{})) })
}

// BenchmarkIngest measures durable ingest (every batch committed with
// fsync) of the production-shaped workload, reporting events/s.
func BenchmarkIngest(b *testing.B) {
	benchIngest(b, loadWorkload(b, 5000), []int{1, 100, 500})
}

// BenchmarkIngestNoBodies is BenchmarkIngest without raw bodies: the cost
// of the snapshots, links and queue alone.
func BenchmarkIngestNoBodies(b *testing.B) {
	w := loadWorkload(b, 5000)
	w.noRaw = true
	benchIngest(b, w, []int{100, 500})
}

func benchIngest(b *testing.B, w *workload, sizes []int) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			benchBackends(b, func(b *testing.B, s *Store) {
				ctx := context.Background()
				// Warm up: every record known, so the run measures updates
				// as well as the first sightings.
				for n := 0; n < 3*w.records; n += 500 {
					if _, err := s.Ingest(ctx, w.batch("warm", n, 500)); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				start, cpu := time.Now(), cpuTime()
				events := 0
				for i := 0; events < b.N; i++ {
					if _, err := s.Ingest(ctx, w.batch("run", events, size)); err != nil {
						b.Fatal(err)
					}
					events += size
				}
				b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(events), "cpu-µs/event")
			})
		})
	}
}

// BenchmarkIngestConcurrent is BenchmarkIngest with four callers at once,
// as webhook handlers and pollers call it: one caller's encoding overlaps
// another's commit.
func BenchmarkIngestConcurrent(b *testing.B) {
	w := loadWorkload(b, 5000)
	for _, size := range []int{1, 100, 500} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			benchBackends(b, func(b *testing.B, s *Store) {
				ctx := context.Background()
				for n := 0; n < 3*w.records; n += 500 {
					if _, err := s.Ingest(ctx, w.batch("warm", n, 500)); err != nil {
						b.Fatal(err)
					}
				}
				const callers = 4
				b.ResetTimer()
				start := time.Now()
				var next atomic.Int64
				var wg sync.WaitGroup
				for range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							from := int(next.Add(int64(size))) - size
							if from >= b.N {
								return
							}
							if _, err := s.Ingest(ctx, w.batch("run", from, size)); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				events := int(next.Load())
				if events > b.N {
					events = (b.N + size - 1) / size * size
				}
				b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
			})
		})
	}
}

// BenchmarkClaimLoadComplete measures the workers' round: claim a dirty
// case, load it, enqueue an action, complete it, release it — by one
// worker and by eight at once, as the engine runs them — reporting cases/s.
func BenchmarkClaimLoadComplete(b *testing.B) { benchRounds(b, true) }

// BenchmarkClaimLoadRelease is the round of a reconcile that finds nothing
// to do, the common case: claim, load, release.
func BenchmarkClaimLoadRelease(b *testing.B) { benchRounds(b, false) }

func benchRounds(b *testing.B, act bool) {
	w := loadWorkload(b, 2000)
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			benchBackends(b, func(b *testing.B, s *Store) {
				ctx := context.Background()
				// Enough dirty cases for the whole run, made up front.
				for n := 0; n < b.N+6000; n += 500 {
					if _, err := s.Ingest(ctx, w.batch("run", n, 500)); err != nil {
						b.Fatal(err)
					}
				}
				var done atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for i := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						owner := fmt.Sprint("bench-", i)
						for done.Load() < int64(b.N) {
							ids, err := s.ClaimCases(ctx, owner, time.Now(), 4, time.Minute)
							if err != nil {
								b.Error(err)
								return
							}
							if len(ids) == 0 {
								b.Error("ran out of dirty cases")
								return
							}
							for _, id := range ids {
								if err := workRound(ctx, s, owner, id, int(done.Add(1)), act); err != nil {
									b.Error(err)
									return
								}
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), "cases/s")

			})
		})
	}
}

// workRound is one reconcile of a case as the engine does it, with one
// action planned and applied when act.
func workRound(ctx context.Context, s *Store, owner string, id core.CaseID, n int, act bool) error {
	c, err := s.LoadCase(ctx, id)
	if err != nil {
		return err
	}
	if act && len(c.Items) > 0 {
		subj := c.Items[0].Ref
		a := core.Action{Key: fmt.Sprintf("bench|%d|%d", id, n), Case: id, Rule: "bench", Kind: core.AddComment,
			Target: subj, Subject: subj, Body: "mirrored", SourceComment: fmt.Sprint(n)}
		if _, err := s.Enqueue(ctx, []core.Action{a}); err != nil {
			return err
		}
		if err := s.Complete(ctx, a, core.Result{CommentID: "c"}, core.AuditEntry{Detail: "comment c"}); err != nil {
			return err
		}
	}
	return s.ReleaseCase(ctx, id, owner, time.Time{})
}

// cpuTime is the process's CPU time so far (user and system). On a shared
// machine CPU per event says more than events per second, which depends on
// what else runs; it covers this process only (not the PostgreSQL server).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEncodeRaw measures storing a GitHub pull-request delivery's
// body (28 KB of JSON) as the store does, against deflate at BestSpeed,
// which earlier versions used: time, allocations and the stored size.
func BenchmarkEncodeRaw(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "pull_request-opened.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("s2", func(b *testing.B) {
		b.ReportAllocs()
		var stored []byte
		for b.Loop() {
			stored, _ = encodeRaw(raw)
		}
		b.ReportMetric(float64(len(stored)), "stored-bytes")
	})
	b.Run("deflate", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		w, _ := flate.NewWriter(nil, flate.BestSpeed)
		for b.Loop() {
			buf.Reset()
			w.Reset(&buf)
			w.Write(raw)
			w.Close()
		}
		b.ReportMetric(float64(buf.Len()), "stored-bytes")
	})
}

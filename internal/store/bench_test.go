package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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
	w := loadWorkload(b, 5000)
	for _, size := range []int{1, 100, 500} {
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
				start := time.Now()
				events := 0
				for i := 0; events < b.N; i++ {
					if _, err := s.Ingest(ctx, w.batch("run", events, size)); err != nil {
						b.Fatal(err)
					}
					events += size
				}
				b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
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

// BenchmarkClaimLoadComplete measures the worker's round: claim a dirty
// case, load it, enqueue an action, complete it, release, reporting
// cases/s.
func BenchmarkClaimLoadComplete(b *testing.B) {
	w := loadWorkload(b, 2000)
	benchBackends(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		n := 0
		refill := func() {
			if _, err := s.Ingest(ctx, w.batch("run", n, 500)); err != nil {
				b.Fatal(err)
			}
			n += 500
		}
		b.ResetTimer()
		start := time.Now()
		done := 0
		for done < b.N {
			ids, err := s.ClaimCases(ctx, "bench", time.Now(), 50, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if len(ids) == 0 {
				b.StopTimer()
				refill()
				b.StartTimer()
				continue
			}
			for _, id := range ids {
				c, err := s.LoadCase(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				if len(c.Items) == 0 {
					b.Fatalf("case %d loads empty", id)
				}
				subj := c.Items[0].Ref
				a := core.Action{Key: fmt.Sprintf("bench|%d|%d", id, done), Case: id, Rule: "bench", Kind: core.AddComment,
					Target: subj, Subject: subj, Body: "mirrored", SourceComment: fmt.Sprint(done)}
				if _, err := s.Enqueue(ctx, []core.Action{a}); err != nil {
					b.Fatal(err)
				}
				if err := s.Complete(ctx, a, core.Result{CommentID: "c"}, core.AuditEntry{Detail: "comment c"}); err != nil {
					b.Fatal(err)
				}
				if err := s.ReleaseCase(ctx, id, "bench", time.Time{}); err != nil {
					b.Fatal(err)
				}
				done++
			}
		}
		b.ReportMetric(float64(done)/time.Since(start).Seconds(), "cases/s")
	})
}

package loadtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReplicaSetup is one configuration the replicas bench measures: a store
// ("postgres" or "sqlite") and how many replicas share it.
type ReplicaSetup struct {
	Store    string
	Replicas int
}

func (s ReplicaSetup) String() string { return fmt.Sprintf("%d × %s", s.Replicas, s.Store) }

// DefaultReplicaSetups are what `make bench` reports: 1 and 3 replicas on
// PostgreSQL, and 1 on SQLite.
var DefaultReplicaSetups = []ReplicaSetup{{"postgres", 1}, {"postgres", 3}, {"sqlite", 1}}

// ReplicaOptions size a replicas bench.
type ReplicaOptions struct {
	// Dir holds each setup's files (SQLite database, configurations, logs).
	Dir string
	// Postgres is the server the PostgreSQL setups use (a fresh schema
	// each, dropped afterwards); empty or unreachable skips them.
	Postgres string
	// Events is how many bug tickets the throughput phase opens (default
	// 600); Concurrency how many senders open them (default 16).
	Events, Concurrency int
	// Paced is the length of the latency phase (default 5s), at half the
	// throughput the setup reached.
	Paced time.Duration
	// Launch starts `liaison serve --config FILE` (see ClusterOptions).
	Launch func(config string) *exec.Cmd
	Log    *slog.Logger
}

// ReplicaFigures are one setup's measures. An event is a Zendesk webhook
// (a ticket tagged bug, signed, sent by the fake through the balancer);
// its write is the Jira issue the gateway creates for it, observed when
// the Jira fake answers the create.
type ReplicaFigures struct {
	Setup ReplicaSetup
	// Skipped says why the setup did not run ("" when it did).
	Skipped string
	// Rate is events/s from the first webhook sent to the last issue
	// created, senders going as fast as acknowledgements let them.
	Events int
	Rate   float64
	// P50 and P99 are webhook sent → issue created, at PacedRate.
	PacedRate   float64
	PacedEvents int
	P50, P99    time.Duration
	Errors      int
}

func (f ReplicaFigures) String() string {
	if f.Skipped != "" {
		return fmt.Sprintf("%-14s skipped: %s", f.Setup, f.Skipped)
	}
	s := fmt.Sprintf("%-14s %6.0f events/s end to end (%d events)   event → write p50 %-8s p99 %-8s at %.0f events/s",
		f.Setup, f.Rate, f.Events, f.P50.Round(time.Millisecond), f.P99.Round(time.Millisecond), f.PacedRate)
	if f.Errors > 0 {
		s += fmt.Sprintf("   %d errors", f.Errors)
	}
	return s
}

// RunReplicas measures each setup in turn: the replicas run as child
// processes (`liaison serve`), the fakes, the balancer and the load
// generator in this process.
func RunReplicas(ctx context.Context, o ReplicaOptions, setups ...ReplicaSetup) ([]ReplicaFigures, error) {
	if len(setups) == 0 {
		setups = DefaultReplicaSetups
	}
	if o.Events <= 0 {
		o.Events = 600
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Paced <= 0 {
		o.Paced = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return eachSetup(ctx, o.Dir, o.Postgres, setups,
		func(s ReplicaSetup, skipped string) ReplicaFigures { return ReplicaFigures{Setup: s, Skipped: skipped} },
		func(s ReplicaSetup, dir, dsn string, f *ReplicaFigures) error {
			return measureSetup(ctx, o, s, dir, dsn, f)
		})
}

// eachSetup measures each setup in turn, with a folder of its own and the
// DSN of a fresh store: a SQLite file in that folder, or a schema of its
// own on the PostgreSQL server pg, dropped afterwards. figures makes a
// setup's empty figures; a PostgreSQL setup is not measured, skipped
// saying why, when pg is empty or unreachable. It returns the figures of
// the setups done before an error.
func eachSetup[F any](ctx context.Context, base, pg string, setups []ReplicaSetup,
	figures func(s ReplicaSetup, skipped string) F, measure func(s ReplicaSetup, dir, dsn string, f *F) error) ([]F, error) {
	pgErr := "no PostgreSQL server named"
	if pg != "" {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(cctx, pg)
		cancel()
		if err != nil {
			pgErr = "PostgreSQL unreachable: " + err.Error()
		} else {
			conn.Close(ctx)
			pgErr = ""
		}
	}
	var out []F
	for i, s := range setups {
		var dsn string
		var drop func(context.Context) error
		dir := filepath.Join(base, fmt.Sprintf("setup-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return out, err
		}
		switch s.Store {
		case "postgres":
			if pgErr != "" {
				out = append(out, figures(s, pgErr))
				continue
			}
			var err error
			if dsn, drop, err = PostgresSchema(ctx, pg, "liaison_bench"); err != nil {
				return out, err
			}
		case "sqlite":
			dsn = "sqlite://" + filepath.Join(dir, "liaison.db")
		default:
			return out, fmt.Errorf("replicas bench: unknown store %q (want postgres or sqlite)", s.Store)
		}
		f := figures(s, "")
		err := measure(s, dir, dsn, &f)
		if drop != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if derr := drop(dctx); derr != nil && err == nil {
				err = derr
			}
			cancel()
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", s, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// measureSetup runs one setup's two phases.
func measureSetup(ctx context.Context, o ReplicaOptions, s ReplicaSetup, dir, dsn string, f *ReplicaFigures) error {
	cl, err := StartCluster(ctx, ClusterOptions{Dir: dir, Replicas: s.Replicas, Store: dsn, Launch: o.Launch, Log: o.Log,
		PollInterval: time.Minute})
	if err != nil {
		return err
	}
	defer cl.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{} // marker → when the issue was created
	cl.OnJiraCreate(func(labels []string, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range labels {
			if strings.HasPrefix(l, "liaison-") {
				created[l] = at
			}
		}
	})
	var errs atomic.Int64
	// open sends one bug ticket's webhook, retried until acknowledged, and
	// returns the issue marker to wait for with the time it was sent.
	open := func(n int) (string, time.Time, bool) {
		sent := time.Now()
		id, err := cl.Deliver(ctx, func() (int64, error) {
			return cl.Zendesk.CreateTicket(fmt.Sprintf("customer%d@bench.example", n), fmt.Sprintf("Export %d fails", n),
				"The export stops with an error.", []string{"bug"}, nil)
		})
		if err != nil {
			errs.Add(1)
			return "", sent, false
		}
		return EscalationMarker(EscalateRule, id), sent, true
	}
	type event struct {
		marker string
		sent   time.Time
	}
	var (
		evMu   sync.Mutex
		events []event
	)
	record := func(m string, at time.Time) {
		evMu.Lock()
		events = append(events, event{m, at})
		evMu.Unlock()
	}
	// written waits until every event has its issue and returns the time
	// of the last one.
	written := func(evs []event) (time.Time, error) {
		var last time.Time
		err := waitUntil(ctx, 3*time.Minute, func() bool {
			mu.Lock()
			defer mu.Unlock()
			last = time.Time{}
			for _, e := range evs {
				at, ok := created[e.marker]
				if !ok {
					return false
				}
				if at.After(last) {
					last = at
				}
			}
			return true
		})
		return last, err
	}

	// Throughput: senders as fast as acknowledgements let them.
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range o.Concurrency {
		wg.Go(func() {
			for {
				n := int(next.Add(1))
				if n > o.Events {
					return
				}
				if m, at, ok := open(n); ok {
					record(m, at)
				}
			}
		})
	}
	wg.Wait()
	last, err := written(events)
	if err != nil {
		return fmt.Errorf("throughput phase: %d events: %w", len(events), err)
	}
	f.Events = len(events)
	f.Rate = float64(len(events)) / last.Sub(start).Seconds()

	// Latency: open loop at half that rate.
	rate := max(f.Rate/2, 1)
	interval := time.Duration(float64(time.Second) / rate)
	total := int(o.Paced / interval)
	evMu.Lock()
	events = nil
	evMu.Unlock()
	start = time.Now()
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Go(func() {
			if m, at, ok := open(o.Events + 1 + i); ok {
				record(m, at)
			}
		})
	}
	wg.Wait()
	f.PacedRate = float64(total) / time.Since(start).Seconds()
	if _, err := written(events); err != nil {
		return fmt.Errorf("latency phase: %w", err)
	}
	mu.Lock()
	delays := make([]time.Duration, 0, len(events))
	for _, e := range events {
		delays = append(delays, created[e.marker].Sub(e.sent))
	}
	mu.Unlock()
	f.PacedEvents = len(delays)
	f.P50, f.P99 = pct(delays, 50), pct(delays, 99)
	f.Errors = int(errs.Load())
	return nil
}

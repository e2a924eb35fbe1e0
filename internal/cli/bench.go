package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/liaisonhq/liaison/internal/loadtest"
)

func bench(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "bench")
	dir := fs.String("dir", "", "folder for the database (default: a temporary one)")
	paced := fs.Duration("paced", 5*time.Second, "length of each paced phase")
	n := fs.Int("n", 20000, "events in the ingest phase")
	cases := fs.Int("cases", 5000, "cases in the reconcile phase")
	conc := fs.Int("clients", 64, "concurrent webhook senders in the ingest and reconcile phases")
	replicas := fs.Bool("replicas", false, "instead: end-to-end rate and event → write delay of 1 and 3 replicas on PostgreSQL and 1 on SQLite")
	overload := fs.Bool("overload", false, "instead: 1 replica on SQLite and 1 on PostgreSQL driven past capacity; what was acknowledged, refused, applied, lost")
	rate := fs.Int("rate", 1000, "webhooks per second sent by --overload, open loop")
	overFor := fs.Duration("for", 10*time.Second, "how long --overload sends, and --real at each rate")
	real := fs.Bool("real", false, "instead: the real GitHub and Jira connectors over loopback fakes beside a minimal durable relay, open loop at --rates")
	rates := fs.String("rates", "100,500,1000,2000", "webhooks per second of --real, comma-separated")
	realWorkers := fs.Int("real-workers", 0, "with --real: Liaison's workers (default its own)")
	realProfile := fs.String("real-profile", "", "with --real: write a CPU profile of Liaison at each rate into this folder")
	relay := fs.String("relay", "", "run the minimal durable relay of --real with this configuration (the bench starts it)")
	pg := fs.String("postgres", os.Getenv("LIAISON_TEST_POSTGRES"), "PostgreSQL server for --replicas and --overload (default $LIAISON_TEST_POSTGRES or the local one)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "liaison-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if *pg == "" {
		*pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	if *relay != "" {
		return runRelay(ctx, *relay)
	}
	if *real {
		rs, err := parseRates(*rates)
		if err != nil {
			return err
		}
		return benchReal(ctx, e, loadtest.RealOptions{Dir: *dir, Rates: rs, For: *overFor, ProfileDir: *realProfile, Workers: *realWorkers, Repeat: 100})
	}
	if *overload {
		fmt.Fprintf(e.stdout, "liaison bench --overload: `liaison serve` child processes, Zendesk and Jira fakes and open-loop sender (%d webhooks/s for %s, each sent once) in this process, %d CPUs, %s\n",
			*rate, *overFor, runtime.NumCPU(), runtime.Version())
		figs, err := loadtest.RunOverload(ctx, loadtest.OverloadOptions{Dir: *dir, Postgres: *pg, Rate: *rate, For: *overFor},
			loadtest.ReplicaSetup{Store: "sqlite", Replicas: 1}, loadtest.ReplicaSetup{Store: "postgres", Replicas: 1})
		for _, f := range figs {
			fmt.Fprintln(e.stdout, f)
		}
		if err == nil && slices.ContainsFunc(figs, func(f loadtest.OverloadFigures) bool { return f.Lost > 0 || f.Duplicates > 0 }) {
			err = errors.New("acknowledged changes lost or applied twice")
		}
		return err
	}
	if *replicas {
		fmt.Fprintf(e.stdout, "liaison bench --replicas: `liaison serve` child processes behind a round-robin balancer, Zendesk and Jira fakes and load generator in this process, %d CPUs, %s\n",
			runtime.NumCPU(), runtime.Version())
		figs, err := loadtest.RunReplicas(ctx, loadtest.ReplicaOptions{Dir: *dir, Postgres: *pg, Paced: *paced})
		for _, f := range figs {
			fmt.Fprintln(e.stdout, f)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "liaison bench: sandbox daemon on SQLite (every webhook fsynced before its answer), load generator in-process, %d CPUs, GOMAXPROCS %d, %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	r, err := loadtest.Run(ctx, loadtest.Options{Dir: *dir, Paced: *paced, IngestN: *n, ReconcileN: *cases, Concurrency: *conc})
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, r)
	return nil
}

// runRelay serves the relay of --real until the bench stops it.
func runRelay(ctx context.Context, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg loadtest.RelayConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	return loadtest.RunRelay(ctx, cfg)
}

func parseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--rates: %q is not a positive number of webhooks per second", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// benchReal runs the real-connector phase and prints its table: per rate,
// the relay, then Liaison, then Liaison's figures over the relay's.
func benchReal(ctx context.Context, e *env, o loadtest.RealOptions) error {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(e.stdout, "liaison bench --real: `liaison serve` (real GitHub and Jira connectors, SQLite) and a minimal durable relay, each a child process, against loopback GitHub and Jira fakes; open-loop sender in this process; %s per rate; %d CPUs, %s; load average %s\n",
		o.For, runtime.NumCPU(), runtime.Version(), strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	figs, err := loadtest.RunReal(ctx, o)
	fmt.Fprintln(e.stdout, "| rate | side | acked | refused | lost | dup | p50 | p99 | API calls/webhook | calls/repeated webhook | new conns/1000 | CPU/1000 | peak RSS |")
	fmt.Fprintln(e.stdout, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	byRate := map[int]map[string]loadtest.RealFigures{}
	for _, f := range figs {
		if byRate[f.Rate] == nil {
			byRate[f.Rate] = map[string]loadtest.RealFigures{}
		}
		byRate[f.Rate][f.Side] = f
		fmt.Fprintf(e.stdout, "| %d/s | %s | %d | %d | %d | %d | %s | %s | %.2f | %.2f | %.1f | %s | %.0f MiB |\n", f.Rate, f.Side, f.Acknowledged, f.Refused, f.Lost, f.Duplicated,
			ms(f.P50), ms(f.P99), f.CallsPerWebhook(), ratio(float64(f.RepeatCalls), float64(f.Repeated)), f.ConnsPer1000(), f.CPUPer1000().Round(time.Millisecond), float64(f.PeakRSS)/(1<<20))
	}
	fmt.Fprintln(e.stdout)
	for _, f := range figs {
		fmt.Fprintln(e.stdout, f)
	}
	best := map[string]int{}
	for _, f := range figs {
		if f.Lost == 0 && f.Duplicated == 0 && f.Refused == 0 && f.Unanswered == 0 && f.P99 <= 100*time.Millisecond && f.Rate > best[f.Side] {
			best[f.Side] = f.Rate
		}
	}
	fmt.Fprintln(e.stdout)
	for _, r := range slices.Sorted(maps.Keys(byRate)) {
		l, okL := byRate[r]["liaison"]
		y, okR := byRate[r]["relay"]
		if !okL || !okR {
			continue
		}
		fmt.Fprintf(e.stdout, "ratios at %d/s (liaison/relay): p99 %.1f×, CPU per webhook %.1f×, peak RSS %.1f×\n", r,
			ratio(float64(l.P99), float64(y.P99)), ratio(float64(l.CPUPer1000()), float64(y.CPUPer1000())), ratio(float64(l.PeakRSS), float64(y.PeakRSS)))
	}
	fmt.Fprintf(e.stdout, "highest lossless rate with p99 ≤ 100 ms: liaison %d/s, relay %d/s (%.0f%%)\n", best["liaison"], best["relay"], 100*ratio(float64(best["liaison"]), float64(best["relay"])))
	if err == nil && slices.ContainsFunc(figs, func(f loadtest.RealFigures) bool { return f.Lost > 0 || f.Duplicated > 0 }) {
		err = errors.New("acknowledged webhooks lost or applied twice")
	}
	return err
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

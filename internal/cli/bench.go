package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
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
	overFor := fs.Duration("for", 10*time.Second, "how long --overload sends")
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

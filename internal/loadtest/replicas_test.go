package loadtest_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/internal/cli"
	"github.com/liaisonhq/liaison/internal/loadtest"
)

// serveEnv, when set, makes the test binary run `liaison serve --config`
// with its value: the replicas are this binary re-executed.
const serveEnv = "LIAISON_LOADTEST_SERVE"

// argsEnv, when set, makes the test binary run `liaison` with its value's
// arguments (separated by argsSep): the real-connector bench's processes.
const (
	argsEnv = "LIAISON_LOADTEST_ARGS"
	argsSep = "\x1f"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(serveEnv); cfg != "" {
		os.Exit(cli.Main([]string{"serve", "--config", cfg}, os.Stdout, os.Stderr))
	}
	if args := os.Getenv(argsEnv); args != "" {
		os.Exit(cli.Main(strings.Split(args, argsSep), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func launch(config string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), serveEnv+"="+config)
	return cmd
}

func postgresDSN() string {
	if dsn := os.Getenv("LIAISON_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// TestRunReplicas_Small runs the replicas bench at a small size: every
// event gets its write and the figures are filled in. PostgreSQL setups
// are skipped, saying why, when no server answers (under CI=true that
// fails instead).
func TestRunReplicas_Small(t *testing.T) {
	if testing.Short() {
		t.Skip("starts replicas as child processes")
	}
	figs, err := loadtest.RunReplicas(context.Background(), loadtest.ReplicaOptions{Dir: t.TempDir(), Postgres: postgresDSN(),
		Events: 60, Concurrency: 8, Paced: time.Second, Launch: launch},
		loadtest.ReplicaSetup{Store: "sqlite", Replicas: 1}, loadtest.ReplicaSetup{Store: "postgres", Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 2 {
		t.Fatalf("%d setups measured; want 2", len(figs))
	}
	for _, f := range figs {
		t.Log(f)
		if f.Skipped != "" {
			if os.Getenv("CI") == "true" || !strings.Contains(f.Skipped, "PostgreSQL") {
				t.Errorf("%s skipped: %s", f.Setup, f.Skipped)
			}
			continue
		}
		if f.Events != 60 || f.Rate <= 0 || f.PacedEvents == 0 || f.P99 <= 0 || f.P99 < f.P50 || f.Errors != 0 {
			t.Errorf("%s: figures %+v", f.Setup, f)
		}
	}
}

// BenchmarkReplicas reports the end-to-end rate and the event → write
// delay of 1 and 3 replicas on PostgreSQL and of 1 on SQLite (part of
// `make bench`; `liaison bench --replicas` prints the same).
func BenchmarkReplicas(b *testing.B) {
	var figs []loadtest.ReplicaFigures
	for range b.N {
		var err error
		figs, err = loadtest.RunReplicas(context.Background(), loadtest.ReplicaOptions{Dir: b.TempDir(), Postgres: postgresDSN(),
			Launch: launch})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range figs {
		b.Log(f)
		if f.Skipped != "" {
			continue
		}
		name := f.Setup.Store + "x" + strconv.Itoa(f.Setup.Replicas)
		b.ReportMetric(f.Rate, name+"_events/s")
		b.ReportMetric(float64(f.P99.Milliseconds()), name+"_p99_ms")
	}
}

//go:build faults

package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/liaisonhq/liaison/internal/cli"
	"github.com/liaisonhq/liaison/internal/loadtest"
)

// serveEnv, when set, makes the test binary run `liaison serve --config`
// with its value: how the tests start replicas as child processes that a
// SIGKILL can end without killing the test.
const serveEnv = "LIAISON_FAULTS_SERVE"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(serveEnv); cfg != "" {
		os.Exit(cli.Main([]string{"serve", "--config", cfg}, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// launch re-executes the test binary as a replica.
func launch(config string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"="+config)
	return cmd
}

// postgresDSN is the test server: LIAISON_TEST_POSTGRES, or the local
// server CI provides.
func postgresDSN() string {
	if dsn := os.Getenv("LIAISON_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// testSchema makes a fresh schema for one test, dropped when it ends, and
// returns a DSN whose search_path points at it and whose connections name
// themselves application (so the test can terminate exactly those). Without
// a reachable server the test is skipped, saying why — except under
// CI=true, where nothing may skip.
func testSchema(t *testing.T, application string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := postgresDSN()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable at LIAISON_TEST_POSTGRES (or the default 127.0.0.1:5432/test) and CI=true: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (set LIAISON_TEST_POSTGRES to run the fault tests): %v", err)
	}
	conn.Close(ctx)
	dsn, drop, err := loadtest.PostgresSchema(ctx, base, application)
	if err != nil {
		t.Fatalf("PostgreSQL schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := drop(ctx); err != nil {
			t.Errorf("dropping the test schema: %v", err)
		}
	})
	return dsn
}

// applicationName is a name for this run's PostgreSQL connections.
func applicationName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "liaison_faults_" + hex.EncodeToString(b)
}

// mappingsDir is the replicas' mapping folder, as an absolute path (the
// replicas run in the test's working directory, but say it plainly).
func mappingsDir(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("testdata", "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitFor polls cond every 50ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mainEnv makes the test binary run as the liaison command: the tests
// run a command in a process of its own, with the standard input they
// choose.
const mainEnv = "LIAISON_CLI_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// makeRunArgs returns the liaison arguments of the Makefile's run target
// ($(GO) run ./cmd/liaison <args>).
func makeRunArgs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	_, recipe, ok := strings.Cut(string(b), "\nrun:")
	if !ok {
		t.Fatal("the Makefile has no run target")
	}
	_, line, _ := strings.Cut(recipe, "\n\t")
	line, _, _ = strings.Cut(line, "\n")
	_, args, ok := strings.Cut(line, " run ./cmd/liaison")
	if !ok {
		t.Fatalf("make run is %q, not go run ./cmd/liaison", line)
	}
	return strings.Fields(args)
}

// TestMakeRun_ExitsWithStdinOnDevNull: what `make run` runs, with its
// standard input on /dev/null (CI, nohup, systemd), plays the story and
// exits by itself instead of serving until Ctrl-C.
func TestMakeRun_ExitsWithStdinOnDevNull(t *testing.T) {
	args := makeRunArgs(t)
	if len(args) == 0 || args[0] != "sandbox" {
		t.Fatalf("make run runs liaison %v, not the sandbox", args)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// In a folder of its own and on a free port, beside the other tests.
	cmd := exec.CommandContext(ctx, os.Args[0], append(args, "--dir", t.TempDir(), "--listen", "127.0.0.1:0")...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("make run with stdin on /dev/null: %v (a timeout means it kept serving)\n%s\n%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "The story ran in") {
		t.Errorf("the story did not run:\n%s", out.String())
	}
	if strings.Contains(out.String(), "keeps serving") {
		t.Errorf("the sandbox took /dev/null for a terminal:\n%s", out.String())
	}
}

// TestSandbox_RefusesAFolderThatIsNot: --dir naming nothing, or a file,
// is a one-line refusal, not a panic.
func TestSandbox_RefusesAFolderThatIsNot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "liaison.db")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		var out, errb bytes.Buffer
		code := Main([]string{"sandbox", "--dir", dir, "--listen", "127.0.0.1:0"}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), dir+`" is not a folder (--dir names where the database goes)`) {
			t.Errorf("sandbox --dir %s: exit %d, %s", dir, code, errb.String())
		}
	}
}

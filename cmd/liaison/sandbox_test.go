package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets a test run this binary's main in a child process, with the
// standard input and arguments a user would give it.
func TestMain(m *testing.M) {
	if os.Getenv("LIAISON_TEST_RUN_MAIN") == "1" {
		os.Args = append(os.Args[:1], strings.Fields(os.Getenv("LIAISON_TEST_ARGS"))...)
		main()
	}
	os.Exit(m.Run())
}

// runMain runs `liaison args…` in a child process with standard input on
// /dev/null, as CI, nohup and systemd start it.
func runMain(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LIAISON_TEST_RUN_MAIN=1", "LIAISON_TEST_ARGS="+strings.Join(args, " "))
	cmd.Stdin = nil // /dev/null
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("liaison %s did not exit within %s (stdin on /dev/null):\n%s", strings.Join(args, " "), timeout, out.String())
	}
	return out.String(), err
}

func TestSandbox_ExitsByItselfWithStdinOnDevNull(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the whole story")
	}
	out, err := runMain(t, 2*time.Minute, "sandbox", "--dir", t.TempDir(), "--listen", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sandbox failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "The story ran in") || strings.Contains(out, "keeps serving") {
		t.Errorf("want the story played and no wait for Ctrl-C:\n%s", out)
	}
}

func TestSandbox_MissingFolderIsAnErrorNotAPanic(t *testing.T) {
	for _, mode := range []string{"", "--stand-ins"} {
		args := []string{"sandbox", "--dir", "/nonexistent/liaison-test", "--listen", "127.0.0.1:0"}
		if mode != "" {
			args = append(args, mode)
		}
		out, err := runMain(t, time.Minute, args...)
		if err == nil {
			t.Errorf("%v: exited 0:\n%s", args, out)
		}
		if strings.Contains(out, "panic") || !strings.Contains(out, `"/nonexistent/liaison-test" is not a folder`) {
			t.Errorf("%v: want one clear line naming the folder:\n%s", args, out)
		}
	}
}

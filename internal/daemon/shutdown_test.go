package daemon_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sb "github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/sandbox"
	"github.com/liaisonhq/liaison/mappings"
)

// spinRule never ends within a budget as large as the test gives it:
// 10^15 predicate steps.
const spinRule = `rules:
  - name: spin
    when: {kind: imap/email_thread}
    if: 'let r = 1..100000; all(r, all(r, all(r, true)))'
    then:
      - comment: {target: zendesk/customer_ticket, public: false, body: never}
`

// TestShutdown_SIGTERMEndsTheProcessWhileARuleSpins runs the daemon in a
// child process with a rule that spins (its budget set far too high), lets
// a mail start it, and sends SIGTERM: the process must end within
// shutdown_timeout, not when the rule does.
func TestShutdown_SIGTERMEndsTheProcessWhileARuleSpins(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("runs a daemon in a child process and reads its CPU time from /proc; skipped with -short")
	}
	dir := t.TempDir()
	mapDir := filepath.Join(dir, "mappings")
	if err := os.CopyFS(mapDir, mappings.Defaults()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mapDir, "zz-spin.yaml"), []byte(spinRule), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	secret := "shutdown-test-secret"
	t.Setenv(sandbox.SecretEnv, secret)
	cfg := filepath.Join(dir, "liaison.yaml")
	conf := sandbox.Config(addr, filepath.Join(dir, "liaison.db"), dir) +
		"mappings: " + mapDir + "\nrule_budget: {steps: 1000000000000000, time: 1000h}\nshutdown_timeout: 2s\nlog: {level: info}\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, cfg)
	defer c.kill()
	waitReady(t, base, c)

	d := sb.Delivery{ID: "mail-1", Type: core.Mailed, Item: core.Item{
		Ref:   core.Ref{System: "imap", Kind: core.EmailThread, ID: "<spin@shutdown.example>"},
		Title: "Spin", Body: "Start the rule.", Native: "received", Reporter: "ada@shutdown.example",
		UpdatedAt: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}}
	body, _ := json.Marshal(d)
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/sandbox/imap", bytes.NewReader(body))
	req.Header.Set(sb.SignatureHeader, sb.Sign(core.Secret(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("mail not accepted: %d", resp.StatusCode)
	}

	// The rule is spinning once the otherwise idle daemon has burnt a
	// second of CPU time since the mail was accepted.
	pid := c.cmd.Process.Pid
	start := cpuTicks(t, pid)
	deadline := time.Now().Add(60 * time.Second)
	for cpuTicks(t, pid) < start+100 {
		if time.Now().After(deadline) {
			t.Fatalf("the rule never started spinning; log:\n%s", c.log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second): // the deadline is 2s; this bound is generous
		t.Fatalf("the daemon did not exit within 60s of SIGTERM; log:\n%s", c.log)
	}
	if !strings.Contains(c.log.String(), "not stopped 2s after the signal (shutdown_timeout); exiting now") {
		t.Errorf("the log does not say the shutdown deadline ended the process:\n%s", c.log)
	}
}

// cpuTicks is the user and system CPU time of a process, in clock ticks
// (1/100 s on Linux), from /proc/PID/stat.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name (in parentheses) start with the
	// state; utime and stime are the 14th and 15th fields of the line.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	u, _ := strconv.Atoi(f[11])
	k, _ := strconv.Atoi(f[12])
	return u + k
}

package daemon_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sb "github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/cli"
	"github.com/liaisonhq/liaison/internal/sandbox"
)

// TestMain lets the test binary act as the daemon in a child process.
func TestMain(m *testing.M) {
	if args := os.Getenv("LIAISON_TEST_DAEMON_ARGS"); args != "" {
		os.Exit(cli.Main(strings.Fields(args), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

type child struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

func startChild(t *testing.T, cfg string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LIAISON_TEST_DAEMON_ARGS=serve --config "+cfg)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &child{cmd: cmd, log: &buf}
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, base string, c *child) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("daemon not ready; its log:\n%s", c.log)
}

// sandboxState reads a stand-in system's durable state file.
func sandboxState(t *testing.T, path string) (records []core.Item, writes []sb.Write) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Records []core.Item `json:"records"`
		Writes  []sb.Write  `json:"writes"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.Records, st.Writes
}

func metric(base, name string) (float64, bool) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f, true
		}
	}
	return 0, false
}

// TestCrash_KillMidStreamLosesAndDuplicatesNothing feeds mails to a daemon
// in a child process, SIGKILLs it at several points mid-stream and starts
// it again. Senders retry what was not acknowledged, as webhook senders do.
// At the end every mail has exactly one customer ticket and every write the
// gateway made reached its target exactly once.
func TestCrash_KillMidStreamLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs a daemon in a child process; skipped with -short")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	secret := "crash-test-secret"
	t.Setenv(sandbox.SecretEnv, secret)
	cfg := filepath.Join(dir, "liaison.yaml")
	// The sandbox's look-ups are exact and its writes end with their call:
	// a write of a killed process need not be waited for past its lease.
	os.WriteFile(cfg, []byte(sandbox.Config(addr, filepath.Join(dir, "liaison.db"), dir)+
		"log: {level: info}\nuncertain_grace: 1s\nlookup_window: 1s\n"), 0o600)

	const mails = 120
	kills := map[int]bool{15: true, 50: true, 51: true, 90: true}
	c := startChild(t, cfg)
	defer func() { c.kill() }()
	waitReady(t, base, c)
	children := []*child{c}

	post := func(i int) error {
		d := sb.Delivery{ID: fmt.Sprintf("mail-%d", i), Type: core.Mailed, Item: core.Item{
			Ref:   core.Ref{System: "imap", Kind: core.EmailThread, ID: fmt.Sprintf("<m%d@crash.example>", i)},
			Title: fmt.Sprintf("Problem %d", i), Body: "Something is broken.", Native: "received",
			Reporter: fmt.Sprintf("user%d@crash.example", i), UpdatedAt: time.Date(2026, 11, 23, 9, 0, i, 0, time.UTC)}}
		body, _ := json.Marshal(d)
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/sandbox/imap", bytes.NewReader(body))
		req.Header.Set(sb.SignatureHeader, sb.Sign(core.Secret(secret), body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	acked := 0
	for i := 0; i < mails; i++ {
		if kills[i] {
			c.kill()
			c = startChild(t, cfg)
			waitReady(t, base, c)
			children = append(children, c)
		}
		// A sender retries until acknowledged.
		for attempt := 0; ; attempt++ {
			if err := post(i); err == nil {
				acked++
				break
			} else if attempt > 200 {
				t.Fatalf("mail %d never acknowledged: %v\n%s", i, err, c.log)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Re-delivery of an acknowledged mail must change nothing.
		if i%17 == 0 {
			if err := post(i); err != nil {
				t.Fatalf("re-delivery refused: %v", err)
			}
		}
	}
	// One more kill while the backlog is being worked through.
	c.kill()
	c = startChild(t, cfg)
	waitReady(t, base, c)
	children = append(children, c)

	zdState := filepath.Join(dir, "zendesk.json")
	deadline := time.Now().Add(90 * time.Second)
	for {
		recs, _ := sandboxState(t, zdState)
		q, ok1 := metric(base, "liaison_queue_cases")
		a, ok2 := metric(base, "liaison_queue_actions")
		if len(recs) >= mails && ok1 && ok2 && q == 0 && a == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %d tickets, queue cases %v actions %v\n%s", len(recs), q, a, c.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	recs, writes := sandboxState(t, zdState)
	byTitle := map[string]int{}
	for _, r := range recs {
		byTitle[r.Title]++
	}
	for i := 0; i < mails; i++ {
		if n := byTitle[fmt.Sprintf("Problem %d", i)]; n != 1 {
			t.Errorf("mail %d has %d customer tickets; want 1", i, n)
		}
	}
	seen := map[string]bool{}
	for _, w := range writes {
		if seen[w.Key] {
			t.Errorf("write %q reached the help desk twice", w.Key)
		}
		seen[w.Key] = true
	}
	if dead, _ := metric(base, "liaison_dead_letters"); dead != 0 {
		t.Errorf("%v dead letters after the crashes\n%s", dead, c.log)
	}
	// Acknowledged mails were in the intake journal, and the store took
	// them in behind: a run after a kill takes in what the journal holds.
	// (The last child still runs: its log is not read.)
	replays := 0
	for _, c := range children[1 : len(children)-1] {
		replays += strings.Count(c.log.String(), "intake journal: taking in")
	}
	if replays == 0 {
		t.Errorf("no run after a kill took in what the intake journal held")
	}
	t.Logf("%d mails acknowledged across 5 SIGKILLs; %d tickets, %d writes, no loss, no duplicate", acked, len(recs), len(writes))
}

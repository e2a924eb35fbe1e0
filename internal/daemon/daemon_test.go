package daemon_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/daemon"
	"github.com/liaisonhq/liaison/internal/sandbox"
)

// serve runs the sandbox configuration, with extra lines appended, on a
// free port until the test ends, and returns a GET of that daemon's paths
// ("/metrics" on base: a URL of base's own).
func serve(t *testing.T, extra string) (addr string, get func(base, path string) (int, string)) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(sandbox.SecretEnv, "s3cret-for-test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	cfg, err := config.Parse("t.yaml", []byte(sandbox.Config(addr, filepath.Join(dir, "l.db"), "")+extra))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Build(context.Background(), cfg, daemon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	get = func(base, path string) (int, string) {
		t.Helper()
		var resp *http.Response
		var err error
		for i := 0; i < 100; i++ {
			if resp, err = http.Get("http://" + base + path); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	return addr, get
}

func wantSeries(t *testing.T, body string) {
	t.Helper()
	for _, series := range []string{"liaison_queue_cases 0", "liaison_queue_actions 0", "liaison_dead_letters 0", "go_goroutines"} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %q", series)
		}
	}
}

// TestServe_HealthReadinessAndMetrics runs the daemon and scrapes it as an
// operator's monitoring would.
func TestServe_HealthReadinessAndMetrics(t *testing.T) {
	addr, get := serve(t, "")
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(addr, p); code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	code, body := get(addr, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	wantSeries(t, body)
}

// With metrics_listen, /metrics is served there and no longer beside the
// webhooks, which may face the internet.
func TestServe_MetricsOnTheirOwnListener(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := free.Addr().String()
	free.Close()
	addr, get := serve(t, "metrics_listen: "+metricsAddr+"\n")
	code, body := get(metricsAddr, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics on metrics_listen: %d %s", code, body)
	}
	wantSeries(t, body)
	if code, _ := get(addr, "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the webhook listener: %d, want 404", code)
	}
	if code, body := get(addr, "/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
}

// With console.listen, the console is served on its own listener, asks
// for a sign-in, and is not beside the webhooks.
func TestServe_ConsoleOnItsOwnListener(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	consoleAddr := free.Addr().String()
	free.Close()
	users := filepath.Join(t.TempDir(), "users.yaml")
	// grace's password is "correct horse battery".
	if err := os.WriteFile(users, []byte("users:\n  - {name: grace, password_hash: \"$2a$10$Ymp9O0l3I3Zh5K0M8cWkbuJ2Xk9bVtI7m1GmV0oQ7kQm3iKc9qI1e\", role: admin}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, get := serve(t, "console: {listen: "+consoleAddr+", users_file: "+users+"}\n")
	code, body := get(consoleAddr, "/login")
	if code != 200 || !strings.Contains(body, `id="login"`) {
		t.Fatalf("console /login: %d", code)
	}
	// http.Get follows the redirect to the sign-in page.
	if code, body := get(consoleAddr, "/dead"); code != 200 || !strings.Contains(body, `id="login"`) || strings.Contains(body, `id="dead"`) {
		t.Errorf("console /dead without a session: %d, not the sign-in page", code)
	}
	if code, _ := get(addr, "/login"); code != http.StatusNotFound {
		t.Errorf("/login on the webhook listener: %d, want 404", code)
	}
}

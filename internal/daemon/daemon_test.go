package daemon_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/daemon"
	"github.com/liaisonhq/liaison/internal/sandbox"
)

// TestServe_HealthReadinessAndMetrics runs the daemon and scrapes it as an
// operator's monitoring would.
func TestServe_HealthReadinessAndMetrics(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(sandbox.SecretEnv, "s3cret-for-test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg, err := config.Parse("t.yaml", []byte(sandbox.Config(addr, filepath.Join(dir, "l.db"), "")))
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
	get := func(path string) (int, string) {
		var resp *http.Response
		for i := 0; i < 100; i++ {
			if resp, err = http.Get("http://" + addr + path); err == nil {
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
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(p); code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, series := range []string{"liaison_queue_cases 0", "liaison_queue_actions 0", "liaison_dead_letters 0", "go_goroutines"} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %q", series)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

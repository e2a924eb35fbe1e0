package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sb "github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/sandbox"
	"github.com/liaisonhq/liaison/internal/store"
)

// TestBackfill_ResumesAfterInterruption imports 250 help-desk tickets in
// pages, is interrupted after the first page, and a second run picks up
// where the first stopped: every ticket ends up stored, and the second run
// reads only what the first did not.
func TestBackfill_ResumesAfterInterruption(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(sandbox.SecretEnv, "backfill-secret")
	// The help desk's history, in the stand-in's state file.
	no := false
	c, err := sb.New(core.Setup{Name: "zendesk", Log: slog.New(slog.DiscardHandler), Decode: func(v any) error {
		*v.(*sb.Config) = sb.Config{Webhooks: &no, StateFile: filepath.Join(dir, "zendesk.json")}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 250
	for i := 0; i < n; i++ {
		if _, err := c.(*sb.Connector).Put(context.Background(), core.Item{Ref: core.Ref{Kind: core.CustomerTicket, ID: fmt.Sprint(1000 + i)},
			Title: fmt.Sprintf("Old ticket %d", i), Native: "solved"}, core.Created); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "liaison.yaml")
	db := filepath.Join(dir, "l.db")
	os.WriteFile(cfg, []byte(sandbox.Config("127.0.0.1:0", db, dir)), 0o600)

	// First run: stop it once the first page is durable.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out1 bytes.Buffer
	go func() {
		st, err := store.Open(ctx, "sqlite://"+db, store.Options{})
		for err == nil && ctx.Err() == nil {
			if cur, _ := st.Cursor(ctx, "backfill:zendesk"); cur != "" && !strings.HasPrefix(cur, "2026-01-01") {
				cancel()
				break
			}
			time.Sleep(time.Millisecond)
		}
		if st != nil {
			st.Close()
		}
	}()
	err = backfill(ctx, &env{stdout: &out1, stderr: &out1}, []string{"zendesk", "--since", "2026-01-01", "--config", cfg})
	if err == nil || !strings.Contains(err.Error(), "run the same command again to resume") {
		t.Fatalf("interrupted run: err = %v\n%s", err, out1.String())
	}

	var out2 bytes.Buffer
	if err := backfill(context.Background(), &env{stdout: &out2, stderr: &out2}, []string{"zendesk", "--since", "2026-01-01", "--config", cfg}); err != nil {
		t.Fatalf("second run: %v\n%s", err, out2.String())
	}
	if !strings.Contains(out2.String(), "resuming the earlier backfill of zendesk") {
		t.Fatalf("second run did not resume:\n%s", out2.String())
	}
	var read int
	if _, err := fmt.Sscanf(out2.String()[strings.Index(out2.String(), "done: ")+6:], "%d records read", &read); err != nil || read >= n || read == 0 {
		t.Fatalf("second run read %d records (err %v); want fewer than %d:\n%s", read, err, n, out2.String())
	}
	st, err := store.Open(context.Background(), "sqlite://"+db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < n; i++ {
		r := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: fmt.Sprint(1000 + i)}
		if it, err := st.Item(context.Background(), r); err != nil || it.Title != fmt.Sprintf("Old ticket %d", i) {
			t.Fatalf("%s after backfill: %v %+v", r, err, it)
		}
	}
}

package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/sandbox"
	"github.com/liaisonhq/liaison/internal/store"
)

// TestLinks_LevelHistory: `liaison links` lists a ticket's level moves in
// time order with their reasons, from the audit of the levels' actions.
func TestLinks_LevelHistory(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "l.db")
	st, err := store.Open(ctx, "sqlite://"+db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "8200"}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	if _, err := st.Ingest(ctx, []core.Ingest{{Event: core.Event{Source: "zendesk", DeliveryID: "d1", Via: core.ViaWebhook, Type: core.Created,
		Item: core.Item{Ref: tk, Title: "Reports are slow", Native: "open", CreatedAt: at, UpdatedAt: at}, At: at}}}); err != nil {
		t.Fatal(err)
	}
	c, err := st.CaseOf(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	moves := []struct {
		at            time.Time
		group, reason string
	}{
		{at, "Level 1 - Service desk", "routed to Level 1 (every other ticket)"},
		{at.Add(8 * time.Hour), "Level 3 - Product team", "moved up to Level 3: its first-response target was missed"},
		{at.Add(time.Hour), "Level 2 - Application support", "moved up to Level 2: an agent tagged it escalate_level"},
	}
	for _, m := range moves {
		a := core.Action{Key: core.ActionKey("level", m.group), Case: c, Rule: core.LevelRule, Kind: core.SetFields, Target: tk, Subject: tk,
			Fields: map[string]string{"group": m.group}, Reason: m.reason}
		if _, err := st.Enqueue(ctx, []core.Action{a}); err != nil {
			t.Fatal(err)
		}
		if err := st.Complete(ctx, a, core.Result{}, core.AuditEntry{At: m.at, Case: c, Target: tk, Rule: a.Rule, Kind: a.Kind, Key: a.Key,
			Detail: "group=" + m.group, Reason: m.reason}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	code, out, errOut := runCLI("links", "--store", "sqlite://"+db, tk.String())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `
level history:
  2026-11-23 09:00:00  zendesk/customer_ticket/8200: routed to Level 1 (every other ticket)
  2026-11-23 10:00:00  zendesk/customer_ticket/8200: moved up to Level 2: an agent tagged it escalate_level
  2026-11-23 17:00:00  zendesk/customer_ticket/8200: moved up to Level 3: its first-response target was missed
`
	if !strings.Contains(out, want) {
		t.Fatalf("links output lacks the level history in time order:\n%s", out)
	}
}

// TestWhy_ResponseTimes: `liaison why --config` says where a ticket stands
// against each target, in the configuration's mappings.
func TestWhy_ResponseTimes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "l.db")
	st, err := store.Open(ctx, "sqlite://"+db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "8300"}
	at := time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC) // a Monday, long past
	if _, err := st.Ingest(ctx, []core.Ingest{{Event: core.Event{Source: "zendesk", DeliveryID: "d1", Via: core.ViaWebhook, Type: core.Created,
		Item: core.Item{Ref: tk, Title: "Export fails", Native: "open", Priority: "normal", Reporter: "ada@customer.example",
			CreatedAt: at, UpdatedAt: at}, At: at}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	t.Setenv(sandbox.SecretEnv, "why-cli-secret")
	cfg := filepath.Join(dir, "liaison.yaml")
	if err := os.WriteFile(cfg, []byte(sandbox.Config("127.0.0.1:0", db, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("why", "--config", cfg, tk.String())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"\nresponse-time targets:\n",
		"  first-response (1 working day): missed, was due Tue 6 Oct 10:00 UTC; waited ",
		"  resolution (10 working days): missed, was due Mon 19 Oct 10:00 UTC; waited ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("why output lacks %q:\n%s", want, out)
		}
	}
}

package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/store"
)

// TestLinks_ShowsPausedSync: `liaison links` says what an admin paused in
// the case, by whom, when and why, and nothing once it is resumed.
func TestLinks_ShowsPausedSync(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "l.db")
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	st, err := store.Open(ctx, "sqlite://"+db, store.Options{Clock: clock.NewManual(at)})
	if err != nil {
		t.Fatal(err)
	}
	tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "8200"}
	if _, err := st.Ingest(ctx, []core.Ingest{{Event: core.Event{Source: "zendesk", DeliveryID: "d1", Via: core.ViaWebhook, Type: core.Created,
		Item: core.Item{Ref: tk, Title: "Reports are slow", Native: "open", CreatedAt: at, UpdatedAt: at}, At: at}}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []store.Pause{{Ref: tk, By: "grace", Reason: "customer migration"}, {Ref: tk, Whole: true, By: "alan"}} {
		if _, err := st.Pause(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	for _, c := range []struct {
		resume bool
		want   []string
	}{
		{false, []string{"sync paused: the whole case, by alan at 2026-11-23 09:00:00 UTC\n",
			"sync paused: zendesk/customer_ticket/8200, by grace at 2026-11-23 09:00:00 UTC: customer migration\n"}},
		{true, nil},
	} {
		if c.resume {
			st, err := store.Open(ctx, "sqlite://"+db, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, whole := range []bool{false, true} {
				if _, err := st.Resume(ctx, tk, whole, "grace"); err != nil {
					t.Fatal(err)
				}
			}
			st.Close()
		}
		code, out, errOut := runCLI("links", "--store", "sqlite://"+db, tk.String())
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("links output lacks %q:\n%s", w, out)
			}
		}
		if c.want == nil && strings.Contains(out, "sync paused") {
			t.Errorf("after resume, links still shows a pause:\n%s", out)
		}
	}
}

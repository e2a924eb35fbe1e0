package engine

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/store"
)

// TestPollFoundMissed_CountsOnlyVersionsNoWebhookBrought: a poll labels its
// events with ids of its own, which never match a webhook's delivery id;
// it counts as a missed webhook only when it finds a version of the record
// that nothing brought before.
func TestPollFoundMissed_CountsOnlyVersionsNoWebhookBrought(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "l.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	met := NewMetrics(prometheus.NewRegistry(), st)
	eng, err := New(Options{Store: st, Mappings: defaults(t), Clock: clk, Metrics: met, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	issue := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-1"}
	version := func(min int) core.Item {
		return core.Item{Ref: issue, Title: "Login fails", Native: "To Do", UpdatedAt: clk.Now().Add(time.Duration(min) * time.Minute)}
	}
	ev := func(via core.Via, id string, it core.Item) core.Event {
		return core.Event{Source: "jira", DeliveryID: id, Via: via, Type: core.Updated, Item: it, At: it.UpdatedAt}
	}
	steps := []struct {
		ev         core.Event
		wantMissed float64
	}{
		{ev(core.ViaWebhook, "hook-1", version(1)), 0},
		{ev(core.ViaPoll, "KBOT-1@1", version(1)), 0}, // the webhook brought it
		{ev(core.ViaPoll, "KBOT-1@2", version(2)), 1}, // no webhook did
		{ev(core.ViaWebhook, "hook-3", version(3)), 1},
		{ev(core.ViaPoll, "KBOT-1@3", version(3)), 1},
	}
	for i, s := range steps {
		if _, err := eng.Submit(context.Background(), []core.Event{s.ev}); err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(met.PollFound.WithLabelValues("jira")); got != s.wantMissed {
			t.Fatalf("after step %d (%s %s): missed = %v; want %v", i+1, s.ev.Via, s.ev.DeliveryID, got, s.wantMissed)
		}
	}
}

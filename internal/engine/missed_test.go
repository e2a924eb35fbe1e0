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
// that nothing brought before, and no webhook brings it (or a later one)
// within a minute.
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
	other := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-2"}
	start := clk.Now()
	version := func(r core.Ref, min int) core.Item {
		return core.Item{Ref: r, Title: "Login fails", Native: "To Do", UpdatedAt: start.Add(time.Duration(min) * time.Minute)}
	}
	ev := func(via core.Via, id string, it core.Item) core.Event {
		return core.Event{Source: "jira", DeliveryID: id, Via: via, Type: core.Updated, Item: it, At: it.UpdatedAt}
	}
	steps := []struct {
		after      time.Duration // on the clock before the step
		ev         core.Event
		wantMissed float64
	}{
		{0, ev(core.ViaWebhook, "hook-1", version(issue, 1)), 0},
		{0, ev(core.ViaPoll, "KBOT-1@1", version(issue, 1)), 0},                // the webhook brought it
		{0, ev(core.ViaPoll, "KBOT-1@2", version(issue, 2)), 0},                // found first: waits for its webhook
		{2 * time.Minute, ev(core.ViaWebhook, "hook-x", version(other, 3)), 1}, // none came in time
		{0, ev(core.ViaPoll, "KBOT-1@4", version(issue, 4)), 1},
		{10 * time.Second, ev(core.ViaWebhook, "hook-4", version(issue, 4)), 1}, // it came, a little after the poll
		{0, ev(core.ViaPoll, "KBOT-1@5", version(issue, 5)), 1},
		{10 * time.Second, ev(core.ViaWebhook, "hook-6", version(issue, 6)), 1}, // a later version covers it
		{2 * time.Minute, ev(core.ViaWebhook, "hook-y", version(other, 7)), 1},
	}
	for i, s := range steps {
		clk.Add(s.after)
		if _, err := eng.Submit(context.Background(), []core.Event{s.ev}); err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(met.PollFound.WithLabelValues("jira")); got != s.wantMissed {
			t.Fatalf("after step %d (%s %s): missed = %v; want %v", i+1, s.ev.Via, s.ev.DeliveryID, got, s.wantMissed)
		}
	}
}

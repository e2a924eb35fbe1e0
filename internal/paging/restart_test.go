package paging_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/opsgenie"
	ogfake "github.com/liaisonhq/liaison/connectors/opsgenie/fake"
	"github.com/liaisonhq/liaison/connectors/pagerduty"
	pdfake "github.com/liaisonhq/liaison/connectors/pagerduty/fake"
	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/engine"
	"github.com/liaisonhq/liaison/internal/paging/pagingtest"
	"github.com/liaisonhq/liaison/internal/store"
	"github.com/liaisonhq/liaison/mappings"
)

const (
	ogKey = "og-key-restart-SECRET"
	pdKey = "pd-routing-key-restart-SECRET"
)

// gateway is the daemon's core as a restart leaves it: the store file,
// the help desk and bug tracker (sandbox), the paging services (fakes)
// outlive it; the engine, the store handle and the connectors do not.
type gateway struct {
	t      *testing.T
	path   string
	clock  *clock.Manual
	desk   map[string]*sandbox.Connector
	og     *ogfake.Server
	pd     *pdfake.Server
	ogURL  string
	pdURL  string
	st     *store.Store
	eng    *engine.Engine
	events int
}

func newGateway(t *testing.T) *gateway {
	g := &gateway{t: t, path: filepath.Join(t.TempDir(), "liaison.db"),
		clock: clock.NewManual(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)), desk: map[string]*sandbox.Connector{}}
	g.og, g.pd = ogfake.New(ogKey, g.clock.Now), pdfake.New(pdKey, g.clock.Now)
	og, pd := httptest.NewServer(g.og), httptest.NewServer(g.pd)
	t.Cleanup(og.Close)
	t.Cleanup(pd.Close)
	g.ogURL, g.pdURL = og.URL, pd.URL
	for _, name := range []string{"zendesk", "jira"} {
		c, err := sandbox.New(core.Setup{Name: name, Clock: g.clock, Log: slog.New(slog.DiscardHandler), Decode: func(v any) error {
			no := false
			v.(*sandbox.Config).Webhooks = &no
			v.(*sandbox.Config).Prefix = map[core.Kind]string{core.DevTicket: "KBOT-"}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		g.desk[name] = c.(*sandbox.Connector)
	}
	g.start(engine.Options{})
	return g
}

// start opens the store and builds the engine and the paging connectors
// anew, as a process start does.
func (g *gateway) start(o engine.Options) {
	t := g.t
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+g.path, store.Options{Clock: g.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ogs := pagingtest.Setup("opsgenie", `{"api_key_env": "OG", "team": "Support on-call", "url": "`+g.ogURL+`", "allow": ["127.0.0.1"]}`, ogKey)
	ogs.Clock = g.clock
	og, err := opsgenie.New(ogs)
	if err != nil {
		t.Fatal(err)
	}
	pds := pagingtest.Setup("pagerduty", `{"routing_key_env": "PD", "url": "`+g.pdURL+`", "allow": ["127.0.0.1"]}`, pdKey)
	pds.Clock = g.clock
	pd, err := pagerduty.New(pds)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mappings.LoadDefaults(mappings.Options{Systems: map[string]string{
		"zendesk": "sandbox", "jira": "sandbox", "opsgenie": "opsgenie", "pagerduty": "pagerduty"}})
	if err != nil {
		t.Fatal(err)
	}
	o.Store, o.Mappings, o.Clock, o.Log = st, m, g.clock, slog.New(slog.DiscardHandler)
	o.Connectors = []core.Connector{g.desk["zendesk"], g.desk["jira"], og, pd}
	g.eng, err = engine.New(o)
	if err != nil {
		t.Fatal(err)
	}
	g.st = st
}

// restart drops the engine and the store handle and starts again.
func (g *gateway) restart(o engine.Options) {
	g.t.Helper()
	if err := g.st.Close(); err != nil {
		g.t.Fatal(err)
	}
	g.start(o)
}

// ticket changes the help-desk ticket as an agent would and hands the
// engine the event its webhook (or a poll re-reading it) brings.
func (g *gateway) ticket(change func(*core.Item)) {
	g.t.Helper()
	ref := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
	it, ok := g.desk["zendesk"].Record(ref)
	if !ok {
		it = core.Item{Ref: ref, Title: "Login fails for every user", Body: "Since this morning nobody can log in.",
			Native: "open", Priority: "urgent", Labels: []string{"escalate"}, Reporter: "kim@bakery.example"}
	}
	if change != nil {
		change(&it)
	}
	g.clock.Add(time.Second)
	got, err := g.desk["zendesk"].Put(context.Background(), it, core.Updated)
	if err != nil {
		g.t.Fatal(err)
	}
	g.events++
	ev := core.Event{Source: "zendesk", Via: core.ViaPoll, Type: core.Updated, Item: got,
		DeliveryID: fmt.Sprintf("zendesk-%d", g.events), At: g.clock.Now()}
	if _, err := g.eng.Submit(context.Background(), []core.Event{ev}); err != nil {
		g.t.Fatal(err)
	}
}

// settle reconciles what is due, again as the clock moves, until nothing is.
func (g *gateway) settle(step time.Duration) {
	g.t.Helper()
	for range 8 {
		g.clock.Add(step)
		if _, err := g.eng.Drain(context.Background()); err != nil {
			g.t.Fatal(err)
		}
	}
}

// sent counts the requests a paging fake answered at path (any status).
func count[C any](calls []C, match func(C) bool) int {
	n := 0
	for _, c := range calls {
		if match(c) {
			n++
		}
	}
	return n
}

func (g *gateway) opsgenieCreates() int {
	return count(g.og.Calls.All(), func(c ogfake.Call) bool { return c.Method == "POST" && c.Path == "/v2/alerts" })
}

func (g *gateway) opsgenieCloses() int {
	return count(g.og.Calls.All(), func(c ogfake.Call) bool { return regexp.MustCompile(`/close$`).MatchString(c.Path) })
}

func (g *gateway) pagerdutyEvents(action string) int {
	return count(g.pd.Calls.All(), func(c pdfake.Call) bool {
		var ev struct {
			EventAction string `json:"event_action"`
		}
		return json.Unmarshal(c.Body, &ev) == nil && ev.EventAction == action
	})
}

// TestPage_CreatedOnceAndClosedOnceAcrossRestarts: an urgent ticket
// escalated to the developers pages the on-call team once in each paging
// system; the ticket solved closes each page once. Restarts in between,
// with the ticket read again, send nothing more; and a create whose
// outcome the crashed process never learnt (its request was still at
// OpsGenie when the process gave up) is found by its alias after the
// restart, not sent again; so is a close of unknown outcome, found done.
func TestPage_CreatedOnceAndClosedOnceAcrossRestarts(t *testing.T) {
	for _, tc := range []struct {
		name             string
		uncertain, close bool
	}{
		{"clean restarts", false, false},
		{"restart after a create of unknown outcome", true, false},
		{"restart after a close of unknown outcome", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t)
			o := engine.Options{ApplyTimeout: 300 * time.Millisecond, UncertainGrace: time.Second, LookupWindow: 10 * time.Second}
			g.restart(o)
			if tc.uncertain {
				// The create reaches OpsGenie, which makes the alert only
				// after the gateway stopped waiting.
				g.og.Faults.HoldWrites(1, regexp.MustCompile(`^/v2/alerts$`), nil)
			}
			g.ticket(nil)
			g.settle(time.Second)
			if tc.uncertain {
				g.restart(o)
				g.ticket(nil)
				g.settle(time.Minute)
			}
			if n := g.opsgenieCreates(); n != 1 {
				t.Fatalf("OpsGenie creates %d, want 1", n)
			}
			al := g.og.Alerts()
			if len(al) != 1 || al[0].Status != "open" || al[0].Priority != "P1" || al[0].Count != 1 {
				t.Fatalf("OpsGenie alerts %+v", al)
			}
			if n, pd := g.pagerdutyEvents("trigger"), g.pd.Alerts(); n != 1 || len(pd) != 1 || pd[0].Status != "triggered" {
				t.Fatalf("PagerDuty triggers %d, alerts %+v", n, pd)
			}

			g.restart(o)
			g.ticket(nil) // read again after the restart: nothing to page
			g.settle(time.Minute)
			if n := g.opsgenieCreates() + g.pagerdutyEvents("trigger"); n != 2 {
				t.Fatalf("after a restart, %d creates and triggers in all, want 2", n)
			}

			if tc.close {
				// The close reaches OpsGenie, which closes the alert only
				// after the gateway stopped waiting.
				g.og.Faults.HoldWrites(1, regexp.MustCompile(`/close$`), nil)
			}
			g.ticket(func(it *core.Item) { it.Native = "solved" })
			g.settle(time.Second)
			if tc.close {
				g.restart(o)
				g.ticket(nil)
				g.settle(time.Minute)
			}
			if n, al := g.opsgenieCloses(), g.og.Alerts(); n != 1 || al[0].Status != "closed" {
				t.Fatalf("OpsGenie closes %d, alerts %+v", n, al)
			}
			if n, pd := g.pagerdutyEvents("resolve"), g.pd.Alerts(); n != 1 || pd[0].Status != "resolved" {
				t.Fatalf("PagerDuty resolves %d, alerts %+v", n, pd)
			}

			g.restart(o)
			g.ticket(nil)
			g.settle(time.Minute)
			if c, r, cr, tr := g.opsgenieCloses(), g.pagerdutyEvents("resolve"), g.opsgenieCreates(), g.pagerdutyEvents("trigger"); c != 1 || r != 1 || cr != 1 || tr != 1 {
				t.Fatalf("after the last restart: %d closes, %d resolves, %d creates, %d triggers; want one each", c, r, cr, tr)
			}
		})
	}
}

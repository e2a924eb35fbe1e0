package mantis

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/mantis/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

const testToken = "mantis-tok-4b3c2d1e0f-SECRET"

// The CT2 handbook's projects.
const (
	projBugs    = "Bugs InBox"
	projChange  = "Change InBox"
	projMisc    = "Support Misc"
	projDevOps  = "DevOps"
	projOther   = "Marketing site"
	markerField = "Liaison marker"
)

func newClock() *clock.Manual { return clock.NewManual(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) }

// env is a connector wired to a fake Mantis holding the CT2 projects.
type env struct {
	t     *testing.T
	fake  *fake.Server
	conn  *Connector
	clock *clock.Manual
	logs  *bytes.Buffer
	dev   int // a developer's user id
}

type envOpts struct {
	cfg   func(*Config)
	retry retryhttp.Options
}

func testEnv(name string) string {
	if name == "MANTIS_TOKEN" {
		return testToken
	}
	return ""
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), logs: &bytes.Buffer{}}
	e.fake = fake.New(testToken, fake.WithClock(e.clock.Now))
	cats := []string{"General", "Login", "Reports"}
	e.fake.AddProject(projBugs, cats, markerField, "Customer ticket", "Reproducible")
	e.fake.AddProject(projChange, cats, markerField, "Customer ticket")
	e.fake.AddProject(projMisc, []string{"General"}, markerField, "Customer ticket")
	e.fake.AddProject(projDevOps, []string{"Infrastructure"}, markerField, "Target resources")
	e.fake.AddProject(projOther, []string{"General"})
	e.dev = e.fake.AddUser("dana", "dana@acme.example")
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	cfg := Config{
		BaseURL:  srv.URL,
		TokenEnv: "MANTIS_TOKEN",
		Projects: Projects{Dev: []string{projBugs, projChange, projMisc}, Change: projDevOps},
		PageSize: 2,
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	ro := o.retry
	if ro.RetryMax == 0 {
		ro = retryhttp.Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}
	}
	conn, err := newConnector(core.Setup{
		Name:   "mantis",
		Decode: func(v any) error { *v.(*Config) = cfg; return nil },
		Log:    slog.New(slog.NewTextHandler(e.logs, nil)), // the connector logs from the calling goroutine
		Clock:  e.clock,
		Env:    testEnv,
	}, ro)
	if err != nil {
		t.Fatalf("newConnector: %v", err)
	}
	e.conn = conn
	return e
}

// testMappings maps Mantis's statuses for developer and change tickets.
func testMappings() *core.Mappings {
	km := func() *core.KindMap {
		return &core.KindMap{
			Statuses: map[string]core.Status{"new": core.StatusNew, "acknowledged": core.StatusOpen, "assigned": core.StatusInProgress,
				"feedback": core.StatusOnHold, "resolved": core.StatusDone, "closed": core.StatusClosed},
			Native:     map[core.Status]string{core.StatusNew: "new", core.StatusOpen: "acknowledged", core.StatusInProgress: "assigned", core.StatusOnHold: "feedback", core.StatusDone: "resolved", core.StatusClosed: "closed"},
			Priorities: map[string]string{"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"},
			NativePrio: map[string]string{"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"},
			Fields:     map[string]string{"customer_ticket": "Customer ticket"},
		}
	}
	return &core.Mappings{Systems: map[string]*core.SystemMap{"mantis": {
		Name: "mantis", Connector: "mantis",
		Kinds: map[core.Kind]*core.KindMap{core.DevTicket: km(), core.ChangeTicket: {Statuses: map[string]core.Status{"new": core.StatusNew, "closed": core.StatusClosed}}},
	}}}
}

// checked runs CheckMappings with the test mappings and forgets its calls.
func (e *env) checked() *env {
	e.t.Helper()
	if err := e.conn.CheckMappings(context.Background(), testMappings()); err != nil {
		e.t.Fatalf("CheckMappings: %v", err)
	}
	e.fake.ResetCalls()
	return e
}

func (e *env) calls() []string {
	c := e.fake.Calls()
	e.fake.ResetCalls()
	return c
}

func devRef(id string) core.Ref { return core.Ref{System: "mantis", Kind: core.DevTicket, ID: id} }

// pollAll polls from cursor until no page is left, returning the events and
// the final cursor.
func (e *env) pollAll(cur string) ([]core.Event, string) {
	e.t.Helper()
	var all []core.Event
	for range 50 {
		evs, next, more, err := e.conn.Poll(context.Background(), cur)
		if err != nil {
			e.t.Fatalf("Poll: %v", err)
		}
		all = append(all, evs...)
		cur = next
		if !more {
			return all, cur
		}
	}
	e.t.Fatal("Poll never finished its scan")
	return nil, ""
}

func ids(evs []core.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Item.Ref.ID)
	}
	return out
}

// retryhttpNone is a client that does not retry, for decoding tests.
var retryhttpNone = retryhttp.Options{RetryMax: -1}

// createdOrZero is an issue's creation time, or the zero time.
func (iss *wireIssue) createdOrZero() time.Time {
	t, _ := parseTime(iss.CreatedAt)
	return t
}

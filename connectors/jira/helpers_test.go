package jira

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/logtest"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

const (
	testEmail  = "bot@acme.example"
	testToken  = "tok-9f8e7d6c5b4a-SECRET"
	testSecret = "whsec-0a1b2c3d4e5f-SECRET"
)

// newClock returns the tests' clock, at a fixed start.
func newClock() *clock.Manual { return clock.NewManual(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) }

// env is a connector wired to a fake Jira.
type env struct {
	t     *testing.T
	fake  *fake.Server
	srv   *httptest.Server
	conn  *Connector
	clock *clock.Manual
	logs  *logtest.Buffer
	hooks *hookSink
}

type envOpts struct {
	datacenter bool
	cfg        func(*Config)
	fakeOpts   []fake.Option
	retry      retryhttp.Options
	realRetry  bool // production retry settings (real waits)
}

func testConfig(base string, cloud bool) Config {
	on := true
	cfg := Config{
		BaseURL:          base,
		Deployment:       Cloud,
		Email:            testEmail,
		TokenEnv:         "JIRA_TOKEN",
		WebhookSecretEnv: "JIRA_HOOK_SECRET",
		Webhooks:         &on,
		Projects:         Projects{Dev: []string{"KBOT"}, Change: "DO"},
		Timezone:         "UTC",
	}
	if !cloud {
		cfg.Deployment = DataCenter
	}
	return cfg
}

func testEnv(name string) string {
	switch name {
	case "JIRA_TOKEN":
		return testToken
	case "JIRA_HOOK_SECRET":
		return testSecret
	}
	return ""
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), logs: &logtest.Buffer{}}
	fo := []fake.Option{fake.WithAuth(testEmail, testToken), fake.WithClock(e.clock.Now)}
	if o.datacenter {
		fo = append(fo, fake.DataCenter())
	}
	e.fake = fake.New(append(fo, o.fakeOpts...)...)
	e.srv = httptest.NewServer(e.fake)
	t.Cleanup(e.srv.Close)
	e.fake.SetBaseURL(e.srv.URL)
	cfg := testConfig(e.srv.URL, !o.datacenter)
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	ro := o.retry
	if !o.realRetry && ro.RetryMax == 0 {
		ro = retryhttp.Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}
	}
	conn, err := newConnector(core.Setup{
		Name:   "jira",
		Decode: func(v any) error { *v.(*Config) = cfg; return nil },
		Log:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:  e.clock,
		Env:    testEnv,
	}, ro)
	if err != nil {
		t.Fatalf("newConnector: %v", err)
	}
	e.conn = conn
	e.hooks = &hookSink{conn: conn}
	hs := httptest.NewServer(e.hooks)
	t.Cleanup(hs.Close)
	e.fake.SetWebhook(hs.URL, testSecret)
	return e
}

// calls returns the fake's recorded calls as strings and forgets them.
func (e *env) calls() []string {
	var out []string
	for _, c := range e.fake.Calls() {
		out = append(out, c.String())
	}
	e.fake.ResetCalls()
	return out
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

// hookSink is the engine's webhook endpoint in miniature: 401 on a forged
// delivery, 400 on bad input, otherwise it keeps the events.
type hookSink struct {
	conn   *Connector
	mu     sync.Mutex
	events []core.Event
	codes  []int
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, core.MaxWebhookBody))
	evs, err := h.conn.ReceiveWebhook(r.Context(), core.WebhookRequest{Header: r.Header, Body: body})
	code := http.StatusOK
	var bad *core.BadInput
	switch {
	case errors.Is(err, core.ErrForged):
		code = http.StatusUnauthorized
	case errors.As(err, &bad):
		code = http.StatusBadRequest
	case err != nil:
		code = http.StatusInternalServerError
	}
	h.mu.Lock()
	if code == http.StatusOK {
		h.events = append(h.events, evs...)
	}
	h.codes = append(h.codes, code)
	h.mu.Unlock()
	w.WriteHeader(code)
}

func (h *hookSink) take() []core.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.events
	h.events = nil
	return out
}

// testMappings are the default mappings' view of this Jira.
func testMappings() *core.Mappings {
	dev := &core.KindMap{
		Statuses: map[string]core.Status{
			"to do": core.StatusOpen, "in progress": core.StatusInProgress, "in review": core.StatusInReview,
			"ready for qa": core.StatusReadyForQA, "qa validated": core.StatusQAValidated,
			"preprod validated": core.StatusPreprodValidated, "done": core.StatusDone,
		},
		Native: map[core.Status]string{
			core.StatusOpen: "To Do", core.StatusInProgress: "In Progress", core.StatusInReview: "In Review",
			core.StatusReadyForQA: "Ready for QA", core.StatusQAValidated: "QA Validated",
			core.StatusPreprodValidated: "Preprod Validated", core.StatusDone: "Done",
		},
		Priorities: map[string]string{"lowest": "low", "low": "low", "medium": "normal", "high": "high", "highest": "urgent"},
		NativePrio: map[string]string{"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"},
		Fields:     map[string]string{"steps": "Steps to reproduce", "reproducible": "Reproducible", "help_desk": "Help desk ticket"},
		Create:     map[string]string{"project": "KBOT", "issue_type": "Bug"},
	}
	change := &core.KindMap{
		Statuses:   map[string]core.Status{"to do": core.StatusOpen, "in progress": core.StatusInProgress, "done": core.StatusDone},
		Native:     map[core.Status]string{core.StatusOpen: "To Do", core.StatusInProgress: "In Progress", core.StatusDone: "Done"},
		Priorities: dev.Priorities,
		NativePrio: dev.NativePrio,
		Fields:     map[string]string{"target_resources": "Target resources", "approvers": "Approvers", "target_date": "Target date"},
		Create:     map[string]string{"project": "DO", "issue_type": "Change"},
	}
	return &core.Mappings{Systems: map[string]*core.SystemMap{
		"jira": {Name: "jira", Connector: "jira", Kinds: map[core.Kind]*core.KindMap{core.DevTicket: dev, core.ChangeTicket: change}},
	}}
}

func devRef(key string) core.Ref { return core.Ref{System: "jira", Kind: core.DevTicket, ID: key} }
func changeRef(key string) core.Ref {
	return core.Ref{System: "jira", Kind: core.ChangeTicket, ID: key}
}

// mustCreate creates an issue as a person, with no webhook sink attached.
func (e *env) mustCreate(spec fake.IssueSpec) string {
	e.t.Helper()
	key, err := e.fake.CreateIssue(spec)
	if err != nil {
		e.t.Fatalf("CreateIssue: %v", err)
	}
	return key
}

func classify(t *testing.T, err error) (bool, time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	return core.Classify(err)
}

func retryOpts() retryhttp.Options {
	return retryhttp.Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}
}

func httptestURL(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

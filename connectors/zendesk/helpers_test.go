package zendesk

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/logtest"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// Test credentials: distinctive, so a leak into a log or error is found.
const (
	testToken  = "tok-s3cr3t-zd-0001"
	testSecret = "whsec-s3cr3t-zd-0002"
	testEmail  = "liaison-bot@acme.example"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// env is a connector wired to a fake Zendesk, and a gateway endpoint that
// hands the fake's webhooks to the connector.
type env struct {
	t     *testing.T
	clock *clock.Manual
	zd    *fake.Server
	srv   *httptest.Server
	c     *Connector
	logs  *logtest.Buffer

	mu     sync.Mutex
	events []core.Event
	errs   []error
	waits  []time.Duration // pacer sleeps
	// retry, when set, replaces the test's quick retry settings.
	retry retryhttp.Options
}

func newEnv(t *testing.T, edit func(*Config), opts ...fake.Option) *env {
	t.Helper()
	clk := clock.NewManual(t0)
	zd := fake.New(append([]fake.Option{fake.WithClock(clk.Now), fake.WithCredentials(testEmail, testToken)}, opts...)...)
	srv := httptest.NewServer(zd)
	t.Cleanup(srv.Close)
	e := &env{t: t, clock: clk, zd: zd, srv: srv, logs: &logtest.Buffer{}}
	e.c = e.connector(edit)
	gw := httptest.NewServer(http.HandlerFunc(e.receive))
	t.Cleanup(gw.Close)
	zd.SetWebhook(gw.URL+"/webhooks/zendesk/zendesk", testSecret)
	return e
}

// connector builds a new connector instance against the same fake (a
// "restart" keeps nothing but what the test carries over).
func (e *env) connector(edit func(*Config)) *Connector {
	e.t.Helper()
	cfg := Config{BaseURL: e.srv.URL, Email: testEmail, TokenEnv: "ZD_TOKEN", WebhookSecretEnv: "ZD_SECRET"}
	if edit != nil {
		edit(&cfg)
	}
	vars := map[string]string{"ZD_TOKEN": testToken, "ZD_SECRET": testSecret}
	s := core.Setup{
		Name:  "zendesk",
		Log:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock: e.clock,
		Env:   func(k string) string { return vars[k] },
	}
	ro := e.retry
	if ro.RetryMax == 0 {
		ro = retryhttp.Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}
	}
	c, err := newConnector(s, cfg, ro)
	if err != nil {
		e.t.Fatal(err)
	}
	c.pace.sleep = func(_ context.Context, d time.Duration) error {
		e.mu.Lock()
		e.waits = append(e.waits, d)
		e.mu.Unlock()
		return nil
	}
	return c
}

// receive is the gateway's webhook endpoint, answering as the server does.
func (e *env) receive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	evs, err := e.c.ReceiveWebhook(r.Context(), core.WebhookRequest{Header: r.Header, Body: body})
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.errs = append(e.errs, err)
		var bad *core.BadInput
		switch {
		case errors.Is(err, core.ErrForged):
			w.WriteHeader(http.StatusUnauthorized)
		case errors.As(err, &bad):
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
		return
	}
	e.events = append(e.events, evs...)
	w.WriteHeader(http.StatusOK)
}

// takeEvents returns and forgets the events received so far.
func (e *env) takeEvents() []core.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.events
	e.events = nil
	return out
}

// signed builds a webhook request signed with secret at time at.
func signed(body []byte, secret string, at time.Time) core.WebhookRequest {
	ts := at.UTC().Format(time.RFC3339)
	h := http.Header{}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Sign(secret, ts, body))
	return core.WebhookRequest{Header: h, Body: body}
}

// calls returns the fake's recorded calls and forgets them.
func (e *env) calls() []string {
	out := e.zd.CallLines()
	e.zd.ResetCalls()
	return out
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n got:\n  %s\n want:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// catalogCalls are the three reads that name fields, forms and groups.
var catalogCalls = []string{
	"GET /api/v2/ticket_fields.json?page[size]=100",
	"GET /api/v2/ticket_forms.json?page[size]=100",
	"GET /api/v2/groups.json?page[size]=100",
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

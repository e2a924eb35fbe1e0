package github

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/liaisonhq/liaison/connectors/github/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

const (
	testToken  = "ghp_testtoken0123456789"
	testSecret = "whsec-0123456789abcdef"
)

// harness is a connector wired to a fake GitHub, and the fake's webhooks
// wired back to the connector through an HTTP endpoint that answers as the
// engine's server does (401 forged, 400 bad input, 500 other errors).
type harness struct {
	t     *testing.T
	gh    *fake.Server
	api   *httptest.Server
	c     *Connector
	clock *clock.Manual
	logs  *bytes.Buffer

	mu     sync.Mutex
	events []core.Event
	hook   *httptest.Server
}

// newHarness builds the fake and a connector configured with the YAML
// lines extra (joined to base_url, token and secret).
func newHarness(t *testing.T, extra string, opts ...fake.Option) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock.NewManual(time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)), logs: &bytes.Buffer{}}
	opts = append([]fake.Option{fake.WithClock(h.clock.Now), fake.WithToken(testToken)}, opts...)
	h.gh = fake.New(opts...)
	h.api = httptest.NewServer(h.gh)
	t.Cleanup(h.api.Close)
	cfg := "base_url: " + h.api.URL + "\ntoken_env: GH_TOKEN\nwebhook_secret_env: GH_SECRET\n" + extra
	h.c = h.connector(cfg)
	h.hook = httptest.NewServer(http.HandlerFunc(h.receive))
	t.Cleanup(h.hook.Close)
	h.gh.SetWebhook(h.hook.URL, testSecret)
	return h
}

// connector builds a connector from a YAML config on the harness's clock.
func (h *harness) connector(cfg string) *Connector {
	h.t.Helper()
	c, err := newConnector(setup("github", cfg, h.clock, h.logs), fastRetries)
	if err != nil {
		h.t.Fatalf("newConnector: %v", err)
	}
	return c
}

var fastRetries = retryhttp.Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}

func setup(name, cfg string, clk core.Clock, logs io.Writer) core.Setup {
	return core.Setup{
		Name: name,
		Decode: func(v any) error {
			return yaml.UnmarshalWithOptions([]byte(cfg), v, yaml.Strict(), yaml.DisallowUnknownField())
		},
		Log:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock: clk,
		Env: func(k string) string {
			return map[string]string{"GH_TOKEN": testToken, "GH_SECRET": testSecret}[k]
		},
	}
}

func (h *harness) receive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	evs, err := h.c.ReceiveWebhook(r.Context(), core.WebhookRequest{Header: r.Header, Body: body})
	var bad *core.BadInput
	switch {
	case err == nil:
	case errors.Is(err, core.ErrForged):
		w.WriteHeader(http.StatusUnauthorized)
		return
	case errors.As(err, &bad):
		w.WriteHeader(http.StatusBadRequest)
		return
	default:
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h.mu.Lock()
	h.events = append(h.events, evs...)
	h.mu.Unlock()
}

// take does the reads the deliveries deferred (as Run would) and returns
// the events received by webhook so far, then those of the deferred reads,
// and forgets them.
func (h *harness) take() []core.Event {
	h.c.drainLater(context.Background(), h)
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.events
	h.events = nil
	return out
}

// calls returns the fake's recorded calls as "METHOD /path?query" and resets them.
func (h *harness) calls() []string {
	var out []string
	for _, c := range h.gh.Calls() {
		out = append(out, c.String())
	}
	h.gh.ResetCalls()
	return out
}

// webhook builds a signed delivery request.
func webhook(event, id string, body []byte) core.WebhookRequest {
	hd := http.Header{}
	hd.Set("X-GitHub-Event", event)
	hd.Set("X-GitHub-Delivery", id)
	hd.Set("X-Hub-Signature-256", Sign(testSecret, body))
	return core.WebhookRequest{Header: hd, Body: body}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventOf names the X-GitHub-Event of a testdata file from its name.
func eventOf(file string) string {
	name := strings.TrimSuffix(filepath.Base(file), ".json")
	for _, e := range []string{"pull_request_review", "pull_request", "issue_comment", "ping", "push"} {
		if strings.HasPrefix(name, e) {
			return e
		}
	}
	return name
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

// pr returns the fake's pull request.
func (h *harness) pr(repo string, n int) fake.PR {
	h.t.Helper()
	p, ok := h.gh.PR(repo, n)
	if !ok {
		h.t.Fatalf("no pull request %s#%d", repo, n)
	}
	return p
}

// Ingest, Cursor and SetCursor make the harness the sink of the
// connector's deferred reads.
func (h *harness) Ingest(_ context.Context, evs []core.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, evs...)
	return nil
}

func (h *harness) Cursor(context.Context, string) (string, error) { return "", nil }

func (h *harness) SetCursor(context.Context, string, string) error { return nil }

// acknowledged leaves out the events of reads deferred past the answer.
func acknowledged(evs []core.Event) []core.Event {
	return slices.DeleteFunc(evs, func(e core.Event) bool { return strings.HasSuffix(e.DeliveryID, "/commits") })
}

// keyPatterns are link patterns like the default mappings': a Jira key and
// a help-desk ticket, in a pull request's title, body, branch and commits.
func keyPatterns() []*core.Pattern {
	return []*core.Pattern{
		{Name: "jira", From: core.Selector{System: "github", Kind: core.PullRequest}, In: []string{"title", "body", "branch", "commits"},
			Regexp: regexp.MustCompile(`\b([A-Z][A-Z0-9]+-\d+)\b`), To: core.Selector{System: "jira", Kind: core.DevTicket}, Role: core.Fixes},
		{Name: "zendesk", From: core.Selector{System: "github", Kind: core.PullRequest}, In: []string{"title", "body", "branch", "commits"},
			Regexp: regexp.MustCompile(`(?:#|\bZD-)(\d+)\b`), To: core.Selector{System: "zendesk", Kind: core.CustomerTicket}, Role: core.Mentions},
	}
}

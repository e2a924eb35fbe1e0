package pagerduty

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/pagerduty/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/golden"
	"github.com/liaisonhq/liaison/internal/paging/pagingtest"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

const testKey = "R0UT1NGKEY0d1e2f3a4b5cSECRET0000"

type env struct {
	fake *fake.Server
	conn *Connector
	logs *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{logs: &bytes.Buffer{}, fake: fake.New(testKey, func() time.Time { return time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) })}
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	cfg := `{"routing_key_env": "PD_KEY", "source": "support.acme.example", "component": "help desk", "group": "support",
		"url": "` + srv.URL + `", "allow": ["127.0.0.0/8"]}`
	s := pagingtest.Setup("pagerduty", cfg, testKey)
	s.Log = slog.New(slog.NewTextHandler(e.logs, nil))
	c, err := newConnector(s,
		retryhttp.Options{MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, RetryMax: 2, MaxHonoured: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.conn = c
	return e
}

// TestEvents_MatchTheDocumentedContract: the trigger and resolve events
// use only the Events API's documented keys with their documented types,
// carry the routing key and the dedup key, and are the golden bodies.
func TestEvents_MatchTheDocumentedContract(t *testing.T) {
	e := newEnv(t)
	res, err := e.conn.Apply(context.Background(), pagingtest.Create(t, "pagerduty"))
	if err != nil {
		t.Fatal(err)
	}
	resolve := pagingtest.Close(t, "pagerduty")
	if resolve.Target != res.Created {
		t.Fatalf("the resolve targets %v, the trigger made %v", resolve.Target, res.Created)
	}
	if _, err := e.conn.Apply(context.Background(), resolve); err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Calls.All()
	if len(calls) != 2 {
		t.Fatalf("calls %d, want trigger and resolve", len(calls))
	}
	p := pagingtest.Create(t, "pagerduty")
	for i, tc := range []struct {
		documented, gold string
		need             []string
	}{
		{"documented_trigger.json", "trigger.golden.json", []string{`"event_action":"trigger"`, `"dedup_key":"` + p.Marker() + `"`,
			`"routing_key":"` + testKey + `"`, `"severity":"critical"`, `"summary":"URGENT: ticket #4521`}},
		{"documented_resolve.json", "resolve.golden.json", []string{`"event_action":"resolve"`, `"dedup_key":"` + p.Marker() + `"`}},
	} {
		t.Run(tc.gold, func(t *testing.T) {
			c := calls[i]
			if c.Method != http.MethodPost || c.Path != "/v2/enqueue" {
				t.Errorf("request %s %s, want POST /v2/enqueue", c.Method, c.Path)
			}
			bad, err := pagingtest.Mismatches(c.Body, golden.Read(t, tc.documented), "payload.custom_details")
			if err != nil {
				t.Fatal(err)
			}
			if len(bad) > 0 {
				t.Errorf("body departs from %s: %q", tc.documented, bad)
			}
			for _, s := range tc.need {
				if !bytes.Contains(c.Body, []byte(s)) {
					t.Errorf("body lacks %s: %s", s, c.Body)
				}
			}
			// The routing key is the test's, shown as what it stands for.
			golden.JSON(t, tc.gold, bytes.ReplaceAll(c.Body, []byte(testKey), []byte("<routing key>")))
		})
	}
}

// TestPage_TriggeredFoldedResolved: against the stateful fake, a page is
// one alert under the action's marker; a trigger sent again (a create
// whose outcome was unknown) is folded into it; the resolve resolves it.
func TestPage_TriggeredFoldedResolved(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := pagingtest.Create(t, "pagerduty")
	res, err := e.conn.Apply(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created.String() != "pagerduty/page/"+a.Marker() || res.Item == nil || res.Item.Native != StatusTriggered {
		t.Fatalf("result %+v", res)
	}
	if _, err := e.conn.Apply(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.Apply(ctx, pagingtest.Close(t, "pagerduty")); err != nil {
		t.Fatal(err)
	}
	alerts := e.fake.Alerts()
	if len(alerts) != 1 || alerts[0].Events != 2 || alerts[0].Status != StatusResolved || alerts[0].Severity != "critical" ||
		alerts[0].Source != "support.acme.example" || len(alerts[0].Links) != 1 {
		t.Fatalf("alerts %+v", alerts)
	}
}

// TestRetries: 429 (PagerDuty's throttle) and 503 are retried in place
// after the Retry-After; a 500 on an event goes back to the outbox as
// retryable; a 400 is permanent and names what PagerDuty found invalid.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter time.Duration
		wantCalls  int
		wantErr    string
		permanent  bool
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, time.Second, 2, "", false},
		{"503", http.StatusServiceUnavailable, 0, 2, "", false},
		{"500", http.StatusInternalServerError, 0, 1, "500", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Faults.FailNext(1, tc.status, tc.retryAfter)
			start := time.Now()
			_, err := e.conn.Apply(context.Background(), pagingtest.Create(t, "pagerduty"))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if err != nil && pagingtest.Permanent(err) != tc.permanent {
				t.Errorf("err %v: permanent %v", err, pagingtest.Permanent(err))
			}
			if n := len(e.fake.Calls.All()); n != tc.wantCalls {
				t.Errorf("calls %d, want %d", n, tc.wantCalls)
			}
			if took := time.Since(start); took < tc.retryAfter {
				t.Errorf("retried after %v, before the Retry-After of %v", took, tc.retryAfter)
			}
		})
	}
}

// TestKey_NeverInErrorsNorLogs: an event PagerDuty refuses (an unknown
// routing key, an invalid event) gives a permanent error naming what was
// wrong, without the key; logs and the printed connector show none.
func TestKey_NeverInErrorsNorLogs(t *testing.T) {
	e := newEnv(t)
	wrong := *e.conn
	k := core.Secret("X" + testKey)
	wrong.key = &k
	_, err1 := wrong.Apply(context.Background(), pagingtest.Create(t, "pagerduty"))
	e.fake.Faults.FailNext(1, http.StatusTooManyRequests, time.Hour)
	_, err2 := e.conn.Apply(context.Background(), pagingtest.Create(t, "pagerduty"))
	if err1 == nil || err2 == nil {
		t.Fatalf("errors %v, %v", err1, err2)
	}
	if !pagingtest.Permanent(err1) || !strings.Contains(err1.Error(), "Invalid routing key") {
		t.Errorf("refused key: %v", err1)
	}
	shown := fmt.Sprintf("%v %+v %#v %s %v %v", e.conn, e.conn, e.conn, e.logs, err1, err2)
	if strings.Contains(shown, testKey) {
		t.Fatalf("the key shows: %s", shown)
	}
}

// TestTriggerFor_Refuses: an event PagerDuty would refuse is refused
// before any request, permanently.
func TestTriggerFor_Refuses(t *testing.T) {
	pagingtest.Refuses(t, "pagerduty", func(t *testing.T) (core.Applier, func() int) {
		e := newEnv(t)
		return e.conn, func() int { return len(e.fake.Calls.All()) }
	}, []pagingtest.Refusal{
		{Name: "no title", Change: func(a *core.Action) { a.Title = "" }, Want: "needs a title"},
		{Name: "unknown severity", Change: func(a *core.Action) { a.Fields["priority"] = "P1" }, Want: `priority "P1": pagerduty knows critical`},
		{Name: "another kind", Change: func(a *core.Action) { a.Target.Kind = core.DevTicket }, Want: "only pages"},
		{Name: "a comment", Change: func(a *core.Action) { a.Kind = core.AddComment }, Want: "cannot comment"},
	})
}

// TestAnswers_DecodeAsDocumented: the documented answers read as the
// connector needs them.
func TestAnswers_DecodeAsDocumented(t *testing.T) {
	a, err := decodeAccepted(golden.Read(t, "documented_accepted.json"))
	if err != nil || a.DedupKey != "srv01/mysql" {
		t.Errorf("accepted %+v, %v", a, err)
	}
	if _, err := decodeAccepted(golden.Read(t, "documented_invalid.json")); err == nil {
		t.Error("an invalid-event answer read as accepted")
	}
}

func FuzzDecodeAccepted(f *testing.F) {
	for _, name := range []string{"documented_accepted.json", "documented_invalid.json"} {
		f.Add(golden.Read(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAccepted(b)
		if err == nil && a.Status != "success" {
			t.Fatalf("accepted %+v", a)
		}
	})
}

// TestRedirect_NotFollowed: an answer that redirects elsewhere is not
// followed (a 307 would re-send the routing key there) and is a
// permanent error.
func TestRedirect_NotFollowed(t *testing.T) {
	var elsewhere int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere++ }))
	t.Cleanup(other.Close)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v2/enqueue", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirecting.Close)
	c, err := newConnector(pagingtest.Setup("pagerduty", `{"routing_key_env": "K", "url": "`+redirecting.URL+`", "allow": ["127.0.0.1"]}`, testKey),
		retryhttp.Options{MinWait: time.Millisecond, MaxWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Apply(context.Background(), pagingtest.Create(t, "pagerduty"))
	if err == nil || !pagingtest.Permanent(err) || !strings.Contains(err.Error(), "307") {
		t.Fatalf("err %v, want a permanent 307", err)
	}
	if elsewhere != 0 {
		t.Errorf("the redirect was followed %d times", elsewhere)
	}
}

// TestTrigger_RecordedUnderTheAnswersKey: an accepted trigger is a raised
// page whatever key PagerDuty files it under; the page is recorded under
// the key of the answer, so that its resolve reaches it.
func TestTrigger_RecordedUnderTheAnswersKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"status":"success","message":"Event processed","dedup_key":"pd-chosen-key"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := newConnector(pagingtest.Setup("pagerduty", `{"routing_key_env": "K", "url": "`+srv.URL+`", "allow": ["127.0.0.1"]}`, testKey),
		retryhttp.Options{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Apply(context.Background(), pagingtest.Create(t, "pagerduty"))
	if err != nil || res.Created.ID != "pd-chosen-key" {
		t.Fatalf("created %v, %v; want pagerduty/page/pd-chosen-key", res.Created, err)
	}
}

package opsgenie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/opsgenie/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/golden"
	"github.com/liaisonhq/liaison/internal/paging/pagingtest"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

const testKey = "og-key-0d1e2f3a-4b5c-SECRET"

type env struct {
	fake *fake.Server
	conn *Connector
	logs *bytes.Buffer
	now  *clock.Manual
}

func newEnv(t *testing.T, cfg string) *env {
	t.Helper()
	e := &env{logs: &bytes.Buffer{}, now: clock.NewManual(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))}
	e.fake = fake.New(testKey, e.now.Now)
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	if cfg == "" {
		cfg = `{"api_key_env": "OPSGENIE_KEY", "team": "Support on-call", "url": "` + srv.URL + `", "allow": ["127.0.0.1"]}`
	}
	s := pagingtest.Setup("opsgenie", cfg, testKey)
	s.Clock, s.Log = e.now, slog.New(slog.NewTextHandler(e.logs, nil))
	c, err := newConnector(s,
		retryhttp.Options{MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, RetryMax: 2, MaxHonoured: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.conn = c
	return e
}

// TestRequests_MatchTheDocumentedContract: what the connector sends to
// create and to close a page uses only the Alert API's documented keys,
// with their documented types, and is byte for byte the golden body.
func TestRequests_MatchTheDocumentedContract(t *testing.T) {
	e := newEnv(t, "")
	if _, err := e.conn.Apply(context.Background(), pagingtest.Create(t, "opsgenie")); err != nil {
		t.Fatal(err)
	}
	first := pagingtest.Create(t, "opsgenie")
	alias := first.Marker()
	if _, err := e.conn.Apply(context.Background(), pagingtest.Close(t, "opsgenie")); err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Calls.All()
	if len(calls) != 2 {
		t.Fatalf("calls %d, want create and close", len(calls))
	}
	for _, tc := range []struct {
		call             fake.Call
		path, query      string
		documented, gold string
		need             []string
	}{
		{calls[0], "/v2/alerts", "", "documented_create_alert.json", "create_alert.golden.json",
			[]string{`"message":`, `"alias":"` + alias + `"`, `"priority":"P1"`, `"responders":[{"name":"Support on-call","type":"team"}]`}},
		{calls[1], "/v2/alerts/" + alias + "/close", "identifierType=alias", "documented_close_alert.json", "close_alert.golden.json",
			[]string{`"note":`}},
	} {
		t.Run(tc.gold, func(t *testing.T) {
			if tc.call.Method != http.MethodPost || tc.call.Path != tc.path || tc.call.Query != tc.query {
				t.Errorf("request %s %s?%s, want POST %s?%s", tc.call.Method, tc.call.Path, tc.call.Query, tc.path, tc.query)
			}
			bad, err := pagingtest.Mismatches(tc.call.Body, golden.Read(t, tc.documented), "details")
			if err != nil {
				t.Fatal(err)
			}
			if len(bad) > 0 {
				t.Errorf("body departs from %s: %q", tc.documented, bad)
			}
			for _, s := range tc.need {
				if !bytes.Contains(tc.call.Body, []byte(s)) {
					t.Errorf("body lacks %s: %s", s, tc.call.Body)
				}
			}
			golden.JSON(t, tc.gold, tc.call.Body)
		})
	}
}

// TestAnswers_DecodeAsDocumented: the documented answers read as the
// connector needs them.
func TestAnswers_DecodeAsDocumented(t *testing.T) {
	al, err := decodeAlert(golden.Read(t, "documented_get_alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	it := al.item("opsgenie")
	if it.Ref.String() != "opsgenie/page/event_573" || it.Native != StatusClosed || it.Priority != "P5" || it.UpdatedAt.IsZero() {
		t.Errorf("item %+v", it)
	}
	var ack Accepted
	if err := json.Unmarshal(golden.Read(t, "documented_accepted.json"), &ack); err != nil || ack.RequestID == "" {
		t.Errorf("accepted %+v, %v", ack, err)
	}
	if _, err := decodeAlert(golden.Read(t, "documented_not_found.json")); err == nil {
		t.Error("a 404 body decoded as an alert")
	}
}

// TestAlertFor_Refuses: what OpsGenie would refuse is refused before any
// request, permanently.
func TestAlertFor_Refuses(t *testing.T) {
	pagingtest.Refuses(t, "opsgenie", func(t *testing.T) (core.Applier, func() int) {
		e := newEnv(t, "")
		return e.conn, func() int { return len(e.fake.Calls.All()) }
	}, []pagingtest.Refusal{
		{Name: "no title", Change: func(a *core.Action) { a.Title = " " }, Want: "needs a title"},
		{Name: "unknown priority", Change: func(a *core.Action) { a.Fields["priority"] = "Highest" }, Want: `priority "Highest"`},
		{Name: "another kind", Change: func(a *core.Action) { a.Target.Kind = core.DevTicket }, Want: "only pages"},
		{Name: "a comment", Change: func(a *core.Action) { a.Kind = core.AddComment }, Want: "cannot comment"},
	})
}

// TestPage_CreatedFoundAndClosed: against the stateful fake, a page is an
// open alert with the action's alias, found by that marker, closed by the
// transition; a create sent again is folded into the open alert.
func TestPage_CreatedFoundAndClosed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "")
	a := pagingtest.Create(t, "opsgenie")
	if _, err := e.conn.FindByMarker(ctx, core.Page, a.Marker()); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("before create: %v, want not found", err)
	}
	res, err := e.conn.Apply(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created.String() != "opsgenie/page/"+a.Marker() || res.Item == nil || res.Item.Native != StatusOpen {
		t.Fatalf("result %+v", res)
	}
	if ref, err := e.conn.FindByMarker(ctx, core.Page, a.Marker()); err != nil || ref != res.Created {
		t.Fatalf("found %v, %v", ref, err)
	}
	if _, err := e.conn.Apply(ctx, a); err != nil {
		t.Fatal(err)
	}
	close := pagingtest.Close(t, "opsgenie")
	if _, done, err := e.conn.Applied(ctx, close); err != nil || done {
		t.Fatalf("applied before close: %v %v", done, err)
	}
	if _, err := e.conn.Apply(ctx, close); err != nil {
		t.Fatal(err)
	}
	if _, done, err := e.conn.Applied(ctx, close); err != nil || !done {
		t.Fatalf("applied after close: %v %v", done, err)
	}
	alerts := e.fake.Alerts()
	if len(alerts) != 1 || alerts[0].Count != 2 || alerts[0].Status != "closed" || alerts[0].Priority != "P1" ||
		len(alerts[0].Responders) != 1 || alerts[0].Responders[0].Name != "Support on-call" {
		t.Fatalf("alerts %+v", alerts)
	}
	it, err := e.conn.Fetch(ctx, res.Created)
	if err != nil || it.Native != StatusClosed {
		t.Fatalf("fetched %+v, %v", it, err)
	}
}

// TestRetries: 429 and 503 turn a request away, so even a create is
// retried in place after the server's Retry-After; any other 5xx on a
// create goes back to the outbox as retryable, and may have been applied
// (502) or not; a read is retried in place on any of them.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter time.Duration
		read       bool
		wantCalls  int
		wantErr    bool
		uncertain  bool
	}{
		{"create 429 with Retry-After", http.StatusTooManyRequests, time.Second, false, 2, false, false},
		{"create 503", http.StatusServiceUnavailable, 0, false, 2, false, false},
		{"create 500", http.StatusInternalServerError, 0, false, 1, true, false},
		{"create 502", http.StatusBadGateway, 0, false, 1, true, true},
		{"read 500", http.StatusInternalServerError, 0, true, 2, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, "")
			if tc.read {
				if _, err := e.conn.Apply(ctx, pagingtest.Create(t, "opsgenie")); err != nil {
					t.Fatal(err)
				}
				e.fake.Calls.Reset()
			}
			e.fake.Faults.FailNext(1, tc.status, tc.retryAfter)
			start := time.Now()
			var err error
			if tc.read {
				p := pagingtest.Create(t, "opsgenie")
				_, err = e.conn.FindByMarker(ctx, core.Page, p.Marker())
			} else {
				_, err = e.conn.Apply(ctx, pagingtest.Create(t, "opsgenie"))
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil && (pagingtest.Permanent(err) || core.IsUncertain(err) != tc.uncertain) {
				t.Errorf("err %v: permanent %v, uncertain %v", err, pagingtest.Permanent(err), core.IsUncertain(err))
			}
			if n := len(e.fake.Calls.All()); n != tc.wantCalls {
				t.Errorf("calls %d, want %d", n, tc.wantCalls)
			}
			if took := time.Since(start); took < tc.retryAfter {
				t.Errorf("retried after %v, before the Retry-After of %v", took, tc.retryAfter)
			}
			if want := 1; !tc.wantErr && len(e.fake.Alerts()) != want {
				t.Errorf("alerts %d, want %d", len(e.fake.Alerts()), want)
			}
		})
	}
}

// TestKey_NeverInErrorsNorLogs: a refused key, a refused request and a
// long Retry-After give errors and logs without the key; printing the
// connector shows none.
func TestKey_NeverInErrorsNorLogs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "")
	var errs []error
	wrong := newEnv(t, "")
	wrong.conn.key = ptr(core.Secret("not-the-key-" + testKey))
	_, err := wrong.conn.Apply(ctx, pagingtest.Create(t, "opsgenie"))
	errs = append(errs, err)
	e.fake.Faults.FailNext(1, http.StatusTooManyRequests, time.Hour)
	_, err = e.conn.Apply(ctx, pagingtest.Create(t, "opsgenie"))
	errs = append(errs, err)
	if _, err = e.conn.Apply(ctx, pagingtest.Create(t, "opsgenie")); err != nil {
		t.Fatal(err)
	}
	shown := fmt.Sprintf("%v %+v %#v %s", e.conn, e.conn, e.conn, e.logs.String()+wrong.logs.String())
	for i, err := range errs {
		if err == nil {
			t.Fatalf("error %d: none", i)
		}
		shown += err.Error()
	}
	if strings.Contains(shown, testKey) {
		t.Fatalf("the key shows: %s", shown)
	}
	if !strings.Contains(errs[0].Error(), "401") || !pagingtest.Permanent(errs[0]) {
		t.Errorf("a refused key: %v", errs[0])
	}
}

func ptr[T any](v T) *T { return &v }

// TestConfig: the key is required; a URL off OpsGenie's hosts needs the
// allow list; the region picks the host.
func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, want string
		env             string
	}{
		{"no key", `{}`, "api_key_env or api_key_file is required", ""},
		{"unset variable", `{"api_key_env": "NOPE"}`, `api_key_env: environment variable "NOPE" is empty`, ""},
		{"unknown region", `{"api_key_env": "K", "region": "apac"}`, `region "apac"`, testKey},
		{"other host", `{"api_key_env": "K", "url": "https://alerts.example.com"}`, `host "alerts.example.com" is not one of the vendor's API hosts`, testKey},
		{"plain http to the vendor", `{"api_key_env": "K", "url": "http://api.opsgenie.com"}`, "plain http", testKey},
		{"loopback unless allowed", `{"api_key_env": "K", "url": "http://127.0.0.1:9"}`, "list it under allow", testKey},
		{"eu", `{"api_key_env": "K", "region": "eu"}`, "", testKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(pagingtest.Setup("opsgenie", tc.cfg, tc.env))
			if tc.want == "" {
				if err != nil || !strings.Contains(fmt.Sprint(c), "https://api.eu.opsgenie.com") {
					t.Fatalf("%v, %v", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzDecodeAlert(f *testing.F) {
	for _, name := range []string{"documented_get_alert.json", "documented_not_found.json", "documented_accepted.json"} {
		f.Add(golden.Read(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		al, err := decodeAlert(b)
		if err != nil {
			return
		}
		it := al.item("opsgenie")
		if it.Ref.System != "opsgenie" || it.Ref.Kind != core.Page {
			t.Fatalf("item %+v", it)
		}
	})
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
)

// intake keeps what the server accepted, in place of the engine.
type intake struct {
	conns map[string]core.Connector
	mu    sync.Mutex
	got   []core.Event
}

func (in *intake) Accept(_ context.Context, events []core.Event) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.got = append(in.got, events...)
	return nil
}

func (in *intake) Connector(name string) (core.Connector, bool) {
	c, ok := in.conns[name]
	return c, ok
}

func (in *intake) Store() core.Store { return nil }

func (in *intake) accepted() []core.Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]core.Event(nil), in.got...)
}

const hookSecret = "server-test-secret"

// newServer serves one sandbox instance named "sandbox", a real connector
// that verifies its deliveries' HMAC signatures and fetches nothing.
func newServer(t *testing.T, o Options) (*Server, *intake) {
	t.Helper()
	c, err := sandbox.New(core.Setup{Name: "sandbox", Log: slog.New(slog.DiscardHandler),
		Decode: func(v any) error { v.(*sandbox.Config).WebhookSecretEnv = "HOOK_SECRET"; return nil },
		Env:    func(string) string { return hookSecret }})
	if err != nil {
		t.Fatal(err)
	}
	in := &intake{conns: map[string]core.Connector{"sandbox": c}}
	o.Intake, o.Kinds = in, map[string]string{"sandbox": "sandbox"}
	o.Log = slog.New(slog.DiscardHandler)
	return New(o), in
}

// signedDelivery is a sandbox delivery of a customer ticket, signed.
func signedDelivery(t *testing.T, id string) (body []byte, sig string) {
	t.Helper()
	body, err := json.Marshal(sandbox.Delivery{ID: id, Type: core.Updated,
		Item: core.Item{Ref: core.Ref{System: "sandbox", Kind: core.CustomerTicket, ID: "4521"}, Title: "Cannot log in"}})
	if err != nil {
		t.Fatal(err)
	}
	return body, sandbox.Sign(hookSecret, body)
}

// Whatever instance names requests make up, the refusals count under one
// label: the series of liaison_webhooks_rejected_total stay as many as
// the configuration and the closed set of reasons make.
func TestMadeUpInstanceNamesDoNotGrowTheMetrics(t *testing.T) {
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_webhooks_rejected_total"}, []string{"source", "reason"})
	srv, _ := newServer(t, Options{Rejected: rejected})
	h := srv.Handler()
	post := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader([]byte(`{}`))))
		return rec.Code
	}
	if code := post("/webhooks/jira/made-up"); code != http.StatusNotFound {
		t.Fatalf("unknown instance answered %d, want 404", code)
	}
	before := testutil.CollectAndCount(rejected)
	name := make([]byte, 64)
	for i := range 10_000 {
		for j := range name {
			name[j] = "abcdefghijklmnopqrstuvwxyz0123456789-_"[rand.IntN(38)]
		}
		kind := []string{"jira", "github", "zendesk", "sandbox", string(name[:8])}[i%5]
		if code := post("/webhooks/" + kind + "/" + string(name)); code != http.StatusNotFound {
			t.Fatalf("made-up instance %q answered %d, want 404", name, code)
		}
	}
	if after := testutil.CollectAndCount(rejected); after != before {
		t.Errorf("series after 10,000 made-up names: %d, before: %d", after, before)
	}
	if got := testutil.ToFloat64(rejected.WithLabelValues(unknownSource, "unknown")); got != 10_001 {
		t.Errorf("refusals counted under %q: %v, want 10001", unknownSource, got)
	}
}

// What can be refused before the body is read is: a body that is not
// JSON, a declared length over the limit, an unknown endpoint.
func TestWebhookRefusedBeforeReading(t *testing.T) {
	srv, in := newServer(t, Options{})
	h := srv.Handler()
	body, sig := signedDelivery(t, "d-1")
	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		length int64
		want   int
	}{
		{"form body", "/webhooks/sandbox/sandbox", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, -1, http.StatusUnsupportedMediaType},
		{"declared over the limit", "/webhooks/sandbox/sandbox", http.Header{"Content-Type": {"application/json"}}, core.MaxWebhookBody + 1, http.StatusRequestEntityTooLarge},
		{"kind that is not the instance's", "/webhooks/jira/sandbox", nil, -1, http.StatusNotFound},
		{"signed JSON", "/webhooks/sandbox/sandbox", http.Header{"Content-Type": {"application/json; charset=utf-8"}}, -1, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(body))
			for k, v := range tc.header {
				req.Header[k] = v
			}
			req.Header.Set(sandbox.SignatureHeader, sig)
			if tc.length >= 0 {
				req.ContentLength = tc.length
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("answered %d %q, want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
	if got := in.accepted(); len(got) != 1 {
		t.Errorf("accepted %d events, want the signed one only", len(got))
	}
}

// An accepted event keeps the body as received although the buffer it was
// read into is reused by the next request.
func TestAcceptedEventKeepsItsBodyAfterTheBufferIsReused(t *testing.T) {
	srv, in := newServer(t, Options{})
	h := srv.Handler()
	var sent [][]byte
	for i := range 20 {
		body, sig := signedDelivery(t, fmt.Sprintf("d-%d", i))
		req := httptest.NewRequest(http.MethodPost, "/webhooks/sandbox/sandbox", bytes.NewReader(body))
		req.Header.Set(sandbox.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("delivery %d answered %d %q", i, rec.Code, rec.Body)
		}
		sent = append(sent, body)
	}
	got := in.accepted()
	for i, ev := range got {
		if !bytes.Equal(ev.Raw, sent[i]) {
			t.Errorf("event %d: Raw %q, want %q", i, ev.Raw, sent[i])
		}
	}
}

// A body of undeclared length (chunked) is read a class at a time within
// the budget, and refused past the limit.
func TestChunkedBodiesAreReadWithinTheLimit(t *testing.T) {
	srv, in := newServer(t, Options{})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	body, _ := signedDelivery(t, "chunked")
	// Pad the JSON to several classes: the sandbox decoder reads one value.
	padded := append(bytes.Clone(body), bytes.Repeat([]byte(" "), 100_000)...)
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{
		{"within the limit", padded, http.StatusOK},
		{"over the limit", append(bytes.Clone(body), bytes.Repeat([]byte(" "), core.MaxWebhookBody)...), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An io.Reader that is not a *bytes.Reader: no declared length.
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/webhooks/sandbox/sandbox", io.MultiReader(bytes.NewReader(tc.body)))
			req.Header.Set(sandbox.SignatureHeader, sandbox.Sign(hookSecret, tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("answered %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if got := in.accepted(); len(got) != 1 || !bytes.Equal(got[0].Raw, padded) {
		t.Errorf("accepted %d events, want the padded one with its body", len(got))
	}
	if n := srv.bodies.inUse(); n != 0 {
		t.Errorf("%d bytes still reserved after the requests", n)
	}
}

package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/sandbox"
)

// TestPressure: nothing below half the bound, a hold-back growing to
// maxSlowdown up to the bound, then refusal with the excess (in whole
// seconds, at least one) as Retry-After.
func TestPressure(t *testing.T) {
	cases := []struct {
		lag, bound time.Duration
		slow       time.Duration
		refuse     bool
		retry      int
	}{
		{0, 2 * time.Second, 0, false, 0},
		{time.Second, 2 * time.Second, 0, false, 0},
		{1500 * time.Millisecond, 2 * time.Second, maxSlowdown / 2, false, 0},
		{2 * time.Second, 2 * time.Second, maxSlowdown, false, 0},
		{2*time.Second + time.Millisecond, 2 * time.Second, 0, true, 1},
		{5500 * time.Millisecond, 2 * time.Second, 0, true, 4},
		{time.Hour, 0, 0, false, 0}, // no bound: never
	}
	for _, c := range cases {
		slow, refuse, retry := pressure(c.lag, c.bound)
		if slow != c.slow || refuse != c.refuse || retry != c.retry {
			t.Errorf("pressure(%s, %s) = %s, %v, %d; want %s, %v, %d", c.lag, c.bound, slow, refuse, retry, c.slow, c.refuse, c.retry)
		}
	}
}

// TestBackpressureRefusesPastTheBound: with the workers behind past
// max_lag a delivery is answered 503 with Retry-After, unread, and not
// accepted; once they catch up the sender's retry is accepted.
func TestBackpressureRefusesPastTheBound(t *testing.T) {
	var lag atomic.Int64
	srv, in := newServer(t, Options{Lag: func() time.Duration { return time.Duration(lag.Load()) }, MaxLag: time.Second})
	h := srv.Handler()
	send := func(id string) *httptest.ResponseRecorder {
		body, sig := signedDelivery(t, id)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/sandbox/sandbox", bytes.NewReader(body))
		req.Header.Set(sandbox.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	steps := []struct {
		lag      time.Duration
		id       string
		code     int
		retry    string
		accepted int
	}{
		{0, "d-1", http.StatusOK, "", 1},
		{3 * time.Second, "d-2", http.StatusServiceUnavailable, "2", 1},
		{3 * time.Second, "d-1", http.StatusServiceUnavailable, "2", 1}, // a replay too
		{100 * time.Millisecond, "d-2", http.StatusOK, "", 2},
	}
	for i, s := range steps {
		lag.Store(int64(s.lag))
		rec := send(s.id)
		if rec.Code != s.code || rec.Header().Get("Retry-After") != s.retry || len(in.accepted()) != s.accepted {
			t.Fatalf("step %d (lag %s, %s): %d Retry-After %q, %d accepted; want %d %q %d", i+1, s.lag, s.id,
				rec.Code, rec.Header().Get("Retry-After"), len(in.accepted()), s.code, s.retry, s.accepted)
		}
	}
}

// TestPprofOffByDefault: /debug/pprof is served beside /metrics only when
// Pprof is set, on the metrics listener of its own or the main one.
func TestPprofOffByDefault(t *testing.T) {
	for _, c := range []struct {
		pprof, apart bool
	}{{false, false}, {false, true}, {true, false}, {true, true}} {
		t.Run("pprof="+strconv.FormatBool(c.pprof)+",apart="+strconv.FormatBool(c.apart), func(t *testing.T) {
			srv, _ := newServer(t, Options{Pprof: c.pprof, MetricsApart: c.apart})
			h := srv.Handler()
			if c.apart {
				h = srv.MetricsHandler()
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if got := rec.Code == http.StatusOK; got != c.pprof {
					t.Errorf("GET %s: %d; want served: %v", path, rec.Code, c.pprof)
				}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("GET /metrics: %d", rec.Code)
			}
			if c.apart { // never on the webhook listener then
				rec := httptest.NewRecorder()
				srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
				if rec.Code == http.StatusOK {
					t.Errorf("pprof served on the webhook listener beside a metrics listener")
				}
			}
		})
	}
}

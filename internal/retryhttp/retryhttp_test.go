package retryhttp

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

func TestServerWait(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		status int
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{"retry-after seconds", 429, map[string]string{"Retry-After": "2"}, 2 * time.Second, true},
		{"retry-after date", 503, map[string]string{"Retry-After": now.Add(5 * time.Second).Format(http.TimeFormat)}, 5 * time.Second, true},
		{"github reset epoch", 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1795428007"}, time.Unix(1795428007, 0).Sub(now), true},
		{"github reset with quota left is no wait", 403, map[string]string{"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": "1795428007"}, 0, false},
		{"jira reset iso", 429, map[string]string{"X-RateLimit-Reset": "2026-11-23T10:00:30Z"}, 30 * time.Second, true},
		{"zendesk ratelimit-reset", 429, map[string]string{"ratelimit-reset": "7"}, 7 * time.Second, true},
		{"past date is zero", 429, map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0, true},
		{"nothing", 500, nil, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: c.status, Header: http.Header{}}
			for k, v := range c.header {
				resp.Header.Set(k, v)
			}
			got, ok := ServerWait(resp, now)
			if got != c.want || ok != c.ok {
				t.Fatalf("ServerWait = %v, %v; want %v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestRetryAfterIsWaitedOut(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	var waited time.Duration
	c := New(Options{OnRetry: func(_ int, w time.Duration, _ *http.Response) { waited += w }})
	start := time.Now()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || calls.Load() != 2 {
		t.Fatalf("status %d after %d calls; want 200 after 2", resp.StatusCode, calls.Load())
	}
	if waited != time.Second {
		t.Fatalf("backoff chose %v; want the server's 1s", waited)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("returned after %v, before the requested 1s", el)
	}
}

func TestNoRetryOn4xxAndLongWaitGoesBack(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		header    string
		calls     int32
		permanent bool
		wait      time.Duration
	}{
		{"400 not retried", 400, "", 1, true, 0},
		{"404 not retried", 404, "", 1, true, 0},
		{"429 with long wait returned to outbox", 429, "120", 1, false, 120 * time.Second},
		{"5xx retried then temporary", 502, "", 3, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if c.header != "" {
					w.Header().Set("Retry-After", c.header)
				}
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			cl := New(Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond})
			resp, err := cl.Get(srv.URL + "/x?token=hunter2")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if calls.Load() != c.calls {
				t.Fatalf("%d calls; want %d", calls.Load(), c.calls)
			}
			cerr := Classify(resp, nil, "")
			perm, wait := core.Classify(cerr)
			if perm != c.permanent || wait != c.wait {
				t.Fatalf("Classify = permanent %v wait %v; want %v %v (%v)", perm, wait, c.permanent, c.wait, cerr)
			}
			if got := cerr.Error(); got != "GET /x: "+itoa(c.status)+" "+http.StatusText(c.status) {
				t.Fatalf("error %q carries more than method, path and status", got)
			}
		})
	}
}

func TestPostIsNotRetriedInPlaceOn502(t *testing.T) {
	for _, c := range []struct {
		status int
		calls  int32
	}{{502, 1}, {500, 1}, {503, 3}, {429, 3}} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(c.status)
		}))
		cl := New(Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond})
		resp, err := cl.Post(srv.URL, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if calls.Load() != c.calls {
			t.Errorf("POST answered %d: %d calls; want %d", c.status, calls.Load(), c.calls)
		}
		if perm, _ := core.Classify(Classify(resp, nil, "")); perm {
			t.Errorf("POST answered %d classified permanent", c.status)
		}
	}
}

// A write whose connection is lost after it was sent may have taken
// effect: it is not sent again in place, and its error is uncertain, so
// that the outbox looks it up first. A read is retried as before.
func TestLostConnectionAfterSendIsUncertainForWrites(t *testing.T) {
	for _, c := range []struct {
		method    string
		calls     int32
		uncertain bool
	}{{http.MethodPost, 1, true}, {http.MethodPatch, 1, true}, {http.MethodPut, 1, true}, {http.MethodGet, 3, false}} {
		t.Run(c.method, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close() // the request arrived; the answer never does
				}
			}))
			defer srv.Close()
			cl := New(Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond})
			req, _ := http.NewRequest(c.method, srv.URL, strings.NewReader("{}"))
			resp, err := cl.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("no error for a connection closed before the answer")
			}
			if calls.Load() != c.calls {
				t.Errorf("%s: %d calls; want %d", c.method, calls.Load(), c.calls)
			}
			if got := core.IsUncertain(Classify(nil, err, "")); c.uncertain && !got {
				t.Errorf("%s: error %q not uncertain", c.method, err)
			}
		})
	}
	for _, c := range []struct {
		method    string
		status    int
		uncertain bool
	}{{http.MethodPost, 502, true}, {http.MethodPost, 504, true}, {http.MethodPost, 503, false}, {http.MethodPost, 500, false}, {http.MethodPut, 502, true}, {http.MethodGet, 502, false}} {
		resp := &http.Response{StatusCode: c.status, Header: http.Header{}, Request: &http.Request{Method: c.method, URL: &url.URL{Path: "/x"}}}
		if got := core.IsUncertain(Classify(resp, nil, "")); got != c.uncertain {
			t.Errorf("%s answered %d: uncertain = %v; want %v", c.method, c.status, got, c.uncertain)
		}
	}
}

func itoa(i int) string {
	return http.StatusText(0) + string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func TestSameOrigin(t *testing.T) {
	base, _ := url.Parse("https://api.github.com/")
	for _, tc := range []struct {
		u    string
		same bool
	}{
		{"https://api.github.com/repos/x", true},
		{"https://API.github.com:443/repos/x", true},
		{"https://api.github.com:8443/repos/x", false},
		{"http://api.github.com/repos/x", false},
		{"https://evil.api.github.com/repos/x", false},
		{"https://objects.githubusercontent.com/x", false},
	} {
		u, _ := url.Parse(tc.u)
		if got := SameOrigin(base, u); got != tc.same {
			t.Errorf("SameOrigin(%s, %s) = %v; want %v", base, tc.u, got, tc.same)
		}
	}
}

// TestNewTransport_ReusesConnections: rounds of as many concurrent calls as
// the engine's workers make open each connection once; net/http's default
// transport (2 idle per host) opens new ones round after round.
func TestNewTransport_ReusesConnections(t *testing.T) {
	const workers, rounds = 16, 20
	cases := []struct {
		name      string
		transport func() http.RoundTripper
		maxNew    int64
	}{
		{"NewTransport", func() http.RoundTripper { return NewTransport() }, workers},
		{"net/http default", func() http.RoundTripper { return http.DefaultTransport.(*http.Transport).Clone() }, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opened atomic.Int64
			release := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-release // every call of a round is under way at once
				w.WriteHeader(http.StatusNoContent)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					opened.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			hc := New(Options{Transport: c.transport()})
			for range rounds {
				var wg sync.WaitGroup
				var started atomic.Int64
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						started.Add(1)
						resp, err := hc.Get(srv.URL)
						if err != nil {
							t.Error(err)
							return
						}
						resp.Body.Close()
					}()
				}
				for started.Load() < workers {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(5 * time.Millisecond)
				for range workers {
					release <- struct{}{}
				}
				wg.Wait()
			}
			n := opened.Load()
			if c.maxNew >= 0 && n > c.maxNew {
				t.Fatalf("%d connections for %d calls; want at most %d", n, workers*rounds, c.maxNew)
			}
			if c.maxNew < 0 && n <= 2*workers {
				t.Fatalf("%d connections for %d calls: the default transport reused them, so this test proves nothing", n, workers*rounds)
			}
		})
	}
}

// With NoRedirect a 307 comes back as the answer, its body never re-sent
// elsewhere, and classifies permanent; without it the client follows.
func TestNoRedirect(t *testing.T) {
	for _, c := range []struct {
		noRedirect bool
		status     int
		elsewhere  int32
	}{{true, http.StatusTemporaryRedirect, 0}, {false, http.StatusOK, 1}} {
		var elsewhere atomic.Int32
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/v2/enqueue", http.StatusTemporaryRedirect)
		}))
		cl := New(Options{RetryMax: 1, MinWait: time.Millisecond, MaxWait: time.Millisecond, NoRedirect: c.noRedirect})
		resp, err := cl.Post(api.URL+"/v2/enqueue", "application/json", strings.NewReader(`{"routing_key":"k"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		api.Close()
		other.Close()
		if resp.StatusCode != c.status || elsewhere.Load() != c.elsewhere {
			t.Errorf("NoRedirect %v: answer %d, %d requests elsewhere; want %d, %d", c.noRedirect, resp.StatusCode, elsewhere.Load(), c.status, c.elsewhere)
		}
		if perm, _ := core.Classify(Classify(resp, nil, "")); c.noRedirect && !perm {
			t.Errorf("NoRedirect: the 307 classified %v, want permanent", Classify(resp, nil, ""))
		}
	}
}

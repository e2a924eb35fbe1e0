package httpfake

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecorder(t *testing.T) {
	var r Recorder[string]
	if got := r.All(); got != nil {
		t.Fatalf("empty recorder: %q, want nil", got)
	}
	i := r.Record("GET /a")
	r.Record("POST /b")
	r.Update(i, func(s *string) { *s += " 200" })
	all := r.All()
	if strings.Join(all, ",") != "GET /a 200,POST /b" {
		t.Fatalf("records %q", all)
	}
	all[0] = "changed"
	if r.All()[0] != "GET /a 200" {
		t.Fatal("All shares its slice with the recorder")
	}
	r.Reset()
	r.Update(1, func(s *string) { *s = "late" }) // a request answered after Reset
	if got := r.All(); got != nil {
		t.Fatalf("after Reset: %q", got)
	}
	if i := r.Record("GET /c"); i != 0 {
		t.Fatalf("first index after Reset %d", i)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r Recorder[int]
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range 50 {
				i := r.Record(g*100 + k)
				r.Update(i, func(v *int) { *v = -*v })
				_ = r.All()
			}
		})
	}
	wg.Wait()
	if n := len(r.All()); n != 200 {
		t.Fatalf("%d records, want 200", n)
	}
}

// drain takes failures until none is due.
func drain(f *Faults) []Failure {
	var out []Failure
	for {
		x, ok := f.NextFailure()
		if !ok {
			return out
		}
		out = append(out, x)
	}
}

func TestFaultsFailures(t *testing.T) {
	a, b := Failure{503, 0}, Failure{429, 2 * time.Second}
	tests := []struct {
		name    string
		arrange func(f *Faults)
		want    []Failure
	}{
		{"none", func(*Faults) {}, nil},
		{"n in a row", func(f *Faults) { f.FailNext(3, 503, 0) }, []Failure{a, a, a}},
		{"zero queues none", func(f *Faults) { f.FailNext(0, 503, 0) }, nil},
		{"negative queues none", func(f *Faults) { f.FailNext(-2, 503, 0) }, nil},
		{"queued in order", func(f *Faults) { f.FailNext(1, 503, 0); f.FailNext(2, 429, 2*time.Second) }, []Failure{a, b, b}},
		{"replace", func(f *Faults) { f.FailNext(5, 503, 0); f.ReplaceFailures(1, 429, 2*time.Second) }, []Failure{b}},
		{"replace with none ends the outage", func(f *Faults) { f.FailNext(1_000_000, 503, 0); f.ReplaceFailures(0, 0, 0) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Faults
			tc.arrange(&f)
			got := drain(&f)
			if len(got) != len(tc.want) {
				t.Fatalf("failures %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("failures %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestFaultsDrops(t *testing.T) {
	tests := []struct {
		name    string
		arrange func(f *Faults)
		want    int
	}{
		{"none", func(*Faults) {}, 0},
		{"n", func(f *Faults) { f.DropWebhooks(2) }, 2},
		{"added", func(f *Faults) { f.DropWebhooks(2); f.DropWebhooks(1) }, 3},
		{"replaced", func(f *Faults) { f.DropWebhooks(2); f.ReplaceDrops(1) }, 1},
		{"replaced by none", func(f *Faults) { f.DropWebhooks(2); f.ReplaceDrops(0) }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Faults
			tc.arrange(&f)
			n := 0
			for f.DropWebhook() {
				n++
				if n > 10 {
					break
				}
			}
			if n != tc.want {
				t.Fatalf("%d dropped, want %d", n, tc.want)
			}
		})
	}
}

func TestFaultsDelay(t *testing.T) {
	var f Faults
	if !f.Delay(context.Background()) {
		t.Fatal("no delay set, yet Delay gave up")
	}
	f.Slow(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if f.Delay(ctx) {
		t.Fatal("Delay of an hour returned true for an ended request")
	}
	f.Slow(time.Millisecond)
	if !f.Delay(context.Background()) {
		t.Fatal("short delay gave up")
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string // "" for no header
	}{
		{0, ""},
		{-time.Second, ""},
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{2500 * time.Millisecond, "3"},
		{90 * time.Second, "90"},
	}
	for _, tc := range tests {
		h := http.Header{}
		SetRetryAfter(h, tc.d)
		if got := h.Get("Retry-After"); got != tc.want {
			t.Errorf("SetRetryAfter(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestPost(t *testing.T) {
	var got struct {
		method, sig, body string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.sig, got.body = r.Method, r.Header.Get("X-Signature"), string(b)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "forged")
	}))
	defer srv.Close()
	h := http.Header{"X-Signature": {"sha256=abc"}}
	status, err := Post(srv.Client(), srv.URL+"/webhooks/x", h, []byte(`{"a":1}`))
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("status %d, err %v; want 401 and no error", status, err)
	}
	if got.method != http.MethodPost || got.sig != "sha256=abc" || got.body != `{"a":1}` {
		t.Fatalf("receiver saw %+v", got)
	}

	srv.Close()
	status, err = Post(&http.Client{Timeout: time.Second}, srv.URL, h, []byte("secret-body"))
	if err == nil || status != 0 {
		t.Fatalf("unreachable receiver: status %d, err %v", status, err)
	}
	if strings.Contains(err.Error(), "secret-body") || strings.Contains(err.Error(), "sha256=abc") {
		t.Fatalf("error %q repeats the body or a header", err)
	}
}

func TestReceiver(t *testing.T) {
	var r Receiver
	if url, secret := r.Target(); url != "" || secret != "" {
		t.Fatalf("zero Receiver targets %q %q", url, secret)
	}
	r.Set("http://127.0.0.1:1/webhooks/jira/jira", "s1")
	r.Set("http://127.0.0.1:2/webhooks/jira/jira", "s2")
	if url, secret := r.Target(); url != "http://127.0.0.1:2/webhooks/jira/jira" || secret != "s2" {
		t.Fatalf("Target = %q %q; want the last Set", url, secret)
	}
	r.Set("", "")
	if url, _ := r.Target(); url != "" {
		t.Fatalf("after Set(\"\", \"\") Target = %q", url)
	}
}

// TestSnapshot: the copies do not change with the records, nor with
// records appended after; taking one while the fake writes is safe (run
// with -race).
func TestSnapshot(t *testing.T) {
	type rec struct{ N int }
	var (
		mu   sync.Mutex
		recs = []*rec{{N: 1}}
		done = make(chan struct{})
	)
	first := Snapshot(&mu, &recs)
	go func() {
		defer close(done)
		for i := range 100 {
			mu.Lock()
			recs = append(recs, &rec{N: i})
			recs[0].N++
			mu.Unlock()
		}
	}()
	during := Snapshot(&mu, &recs)
	<-done
	if len(first) != 1 || first[0].N != 1 {
		t.Errorf("first snapshot %v changed with the records", first)
	}
	if len(during) == 0 || len(during) > 101 {
		t.Errorf("snapshot taken during writes: %d records", len(during))
	}
}

func TestJSON(t *testing.T) {
	w := httptest.NewRecorder()
	if got := JSON(w, http.StatusAccepted, map[string]string{"status": "success"}); got != http.StatusAccepted {
		t.Errorf("JSON returned %d, want 202", got)
	}
	if w.Code != http.StatusAccepted || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != "{\"status\":\"success\"}\n" {
		t.Errorf("answer %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
}

package paging

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// TestDetail_VendorsWordWithoutTheKey: a refused request's error carries
// the vendor's message and errors, shortened, never the key.
func TestDetail_VendorsWordWithoutTheKey(t *testing.T) {
	e := &Endpoint{key: core.Secret("k3y-SECRET")}
	for _, tc := range []struct{ body, want string }{
		{`{"message":"Key format is not valid!","took":0.001}`, "Key format is not valid!"},
		{`{"status":"invalid event","message":"Event object is invalid","errors":["'payload.severity' is invalid"]}`, "Event object is invalid; 'payload.severity' is invalid"},
		{`{"message":"unknown key k3y-SECRET"}`, "unknown key <secret>"},
		{`{"message":"` + strings.Repeat("é", 300) + `"}`, strings.Repeat("é", 199) + "…"},
		{`not json`, ""},
	} {
		if got := e.detail([]byte(tc.body)); got != tc.want {
			t.Errorf("detail(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func FuzzDetail(f *testing.F) {
	f.Add([]byte(`{"message":"Alert does not exist","took":0.002}`))
	f.Add([]byte(`{"status":"invalid event","message":"Event object is invalid","errors":["x"]}`))
	e := &Endpoint{key: core.Secret("k3y-SECRET")}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := e.detail(b)
		if strings.Contains(d, "k3y-SECRET") || utf8.RuneCountInString(d) > 200 {
			t.Fatalf("detail %q", d)
		}
	})
}

// TestPriority_TheVendorsSpelling: a rule's priority is matched without
// case and sent in the vendor's spelling; none is the default; another is
// refused with what the vendor knows.
func TestPriority_TheVendorsSpelling(t *testing.T) {
	v := Vendor{Name: "opsgenie"}
	known := []string{"P1", "P2", "P3"}
	for _, tc := range []struct{ field, want, err string }{
		{"p1", "P1", ""},
		{" P2 ", "P2", ""},
		{"", "P3", ""},
		{"Highest", "", `priority "Highest": opsgenie knows P1, P2, P3`},
	} {
		got, err := v.Priority(tc.field, "P3", known)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("Priority(%q) = %q, %v; want %q, %q", tc.field, got, err, tc.want, tc.err)
		}
	}
}

// TestCall_A2xxWriteIsTaken: a write the vendor answered 2xx succeeds
// even when the answer's body is not the documented JSON (a relay's page,
// a truncated body): failing it would leave the raised page unrecorded.
// A read whose answer does not decode fails, permanently.
func TestCall_A2xxWriteIsTaken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "<html>queued</html>")
	}))
	t.Cleanup(srv.Close)
	e, err := NewEndpoint(EndpointConfig{URL: srv.URL, Default: "https://api.example", Vendor: []string{"api.example"},
		Allow: []string{"127.0.0.1"}, Key: "k3y-SECRET", Retry: retryhttp.Options{RetryMax: -1}})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ RequestID string }
	if status, err := e.Call(context.Background(), http.MethodPost, "/v2/alerts", nil, nil, map[string]string{"message": "m"}, &out); err != nil || status != http.StatusAccepted {
		t.Errorf("write: %d, %v; want 202 and no error", status, err)
	}
	_, err = e.Call(context.Background(), http.MethodGet, "/v2/alerts/a", nil, nil, nil, &out)
	var ae *core.ApplyError
	if !errors.As(err, &ae) || !ae.Permanent || !strings.Contains(err.Error(), "not the documented JSON") {
		t.Errorf("read: %v; want a permanent error", err)
	}
}

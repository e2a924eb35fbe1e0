package fake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func get(t *testing.T, url, etag string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestConditionalRequestsCostNothing: a GET answers an ETag, the same GET
// with it answers 304, which spends no rate limit; a change answers 200.
func TestConditionalRequestsCostNothing(t *testing.T) {
	s := New()
	srv := httptest.NewServer(s)
	defer srv.Close()
	if _, err := s.OpenPR("acme/kbot", "KBOT-1", "", "k1"); err != nil {
		t.Fatal(err)
	}
	u := srv.URL + "/repos/acme/kbot/pulls?state=all&sort=updated&direction=desc"
	resp, body := get(t, u, "")
	etag := resp.Header.Get("ETag")
	var prs []map[string]any
	if resp.StatusCode != 200 || etag == "" || json.Unmarshal(body, &prs) != nil || len(prs) != 1 || prs[0]["title"] != "KBOT-1" {
		t.Fatalf("list: %d %q %s", resp.StatusCode, etag, body)
	}
	if resp.Header.Get("X-RateLimit-Remaining") != "4999" || s.RateUsed() != 1 {
		t.Fatalf("remaining %s used %d", resp.Header.Get("X-RateLimit-Remaining"), s.RateUsed())
	}
	resp, body = get(t, u, etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 || s.RateUsed() != 1 || s.NotModified() != 1 {
		t.Fatalf("conditional: %d, used %d, 304s %d", resp.StatusCode, s.RateUsed(), s.NotModified())
	}
	if err := s.ClosePR("acme/kbot", 1); err != nil {
		t.Fatal(err)
	}
	if resp, _ = get(t, u, etag); resp.StatusCode != 200 || s.RateUsed() != 2 {
		t.Fatalf("after a change: %d, used %d", resp.StatusCode, s.RateUsed())
	}
	// Under /api/v3 too, as GitHub Enterprise Server serves it.
	if resp, _ = get(t, srv.URL+"/api/v3/repos/acme/kbot/pulls/1", ""); resp.StatusCode != 200 {
		t.Fatalf("GHES path: %d", resp.StatusCode)
	}
	calls := s.Calls()
	if len(calls) != 4 || calls[1].Status != 304 || calls[3].String() != "GET /repos/acme/kbot/pulls/1" {
		t.Fatalf("calls %+v", calls)
	}
}

// TestPagesAndFaults: lists page with Link headers; injected faults answer
// GitHub's secondary-rate-limit shape, then pass.
func TestPagesAndFaults(t *testing.T) {
	s := New()
	srv := httptest.NewServer(s)
	defer srv.Close()
	for i := range 3 {
		if _, err := s.OpenPR("acme/kbot", "pr", "", string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := get(t, srv.URL+"/repos/acme/kbot/pulls?per_page=2", "")
	if !strings.Contains(resp.Header.Get("Link"), `page=2>; rel="next"`) || strings.Count(string(body), `"number":`) != 2 {
		t.Fatalf("page 1: link %q", resp.Header.Get("Link"))
	}
	s.FailNext(1, http.StatusForbidden, 30*time.Second)
	resp, body = get(t, srv.URL+"/repos/acme/kbot/pulls", "")
	if resp.StatusCode != 403 || resp.Header.Get("Retry-After") != "30" || !strings.Contains(string(body), "secondary-rate-limits") {
		t.Fatalf("fault: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, _ = get(t, srv.URL+"/repos/acme/kbot/pulls", ""); resp.StatusCode != 200 {
		t.Fatalf("after the fault: %d", resp.StatusCode)
	}
	s.ExhaustRateLimit()
	if resp, _ = get(t, srv.URL+"/repos/acme/kbot/pulls/1", ""); resp.StatusCode != 403 || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("exhausted: %d", resp.StatusCode)
	}
	if resp, _ = get(t, srv.URL+"/rate_limit", ""); resp.StatusCode != 200 {
		t.Fatalf("rate_limit is free: %d", resp.StatusCode)
	}
}

// TestWebhooksSignedAndRecorded: person actions send signed deliveries,
// listed on the hook; failed ones are listed with status_code 0 and come
// back on a redelivery attempt with the same guid.
func TestWebhooksSignedAndRecorded(t *testing.T) {
	const secret = "s3"
	var mu sync.Mutex
	var got []http.Header
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(b)
		if r.Header.Get("X-Hub-Signature-256") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			w.WriteHeader(401)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
	}))
	defer recv.Close()
	s := New()
	srv := httptest.NewServer(s)
	defer srv.Close()
	s.SetWebhook(recv.URL, secret)
	s.FailNextDeliveries(1)
	n, err := s.OpenPR("acme/kbot", "KBOT-1", "", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Push("acme/kbot", "k1", "second"); err != nil {
		t.Fatal(err)
	}
	if err := s.MergePR("acme/kbot", n); err != nil {
		t.Fatal(err)
	}
	if err := s.MergePR("acme/kbot", n); err == nil {
		t.Fatal("merged twice")
	}
	ds := s.Deliveries("acme/kbot")
	if len(ds) != 4 || ds[0].StatusCode != 0 || ds[1].Event != "push" || ds[2].Action != "synchronize" || ds[3].StatusCode != 200 || len(got) != 3 {
		t.Fatalf("deliveries %+v, received %d", ds, len(got))
	}
	var list []map[string]any
	resp, body := get(t, srv.URL+"/repos/acme/kbot/hooks/"+itoa(s.HookID("acme/kbot"))+"/deliveries?per_page=2", "")
	if json.Unmarshal(body, &list) != nil || len(list) != 2 || !strings.Contains(resp.Header.Get("Link"), "cursor=2") {
		t.Fatalf("deliveries page: %s %q", body, resp.Header.Get("Link"))
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/repos/acme/kbot/hooks/"+itoa(s.HookID("acme/kbot"))+"/deliveries/"+itoa(ds[0].ID)+"/attempts", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("attempt: %v %v", err, resp)
	}
	resp.Body.Close()
	if len(got) != 4 || got[3].Get("X-GitHub-Delivery") != ds[0].GUID || got[3].Get("X-GitHub-Event") != "pull_request" {
		t.Fatalf("redelivery headers %v", got[len(got)-1])
	}
	if p, _ := s.PR("acme/kbot", n); !p.Merged || len(p.Commits) != 2 || p.Commits[1] != "second" {
		t.Fatalf("state %+v", p)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

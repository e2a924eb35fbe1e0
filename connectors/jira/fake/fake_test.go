package fake

import (
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseJQL(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	cases := []struct {
		jql   string
		want  string // a summary of the parsed query, or the error
		isErr bool
	}{
		{`project in (KBOT, DO) AND updated >= "2026/03/02 01:27" ORDER BY updated ASC`, "projects=[KBOT DO] since=2026-03-02T09:27:00Z incl order=updated desc=false", false},
		{`project = KBOT AND labels = "liaison-0123456789ab"`, "projects=[KBOT] labels=[liaison-0123456789ab]", false},
		{`project in (KBOT) AND labels = "liaison-0123456789ab"`, "projects=[KBOT] labels=[liaison-0123456789ab]", false},
		{`key = KBOT-1 ORDER BY created DESC`, "keys=[KBOT-1] order=created desc=true", false},
		{`updated > "2026-03-02"`, "since=2026-03-02T08:00:00Z", false},
		{`project in (KBOT`, "unterminated list", true},
		{`assignee = currentUser()`, "field 'assignee' is not supported", true},
		{`project = KBOT OR project = DO`, "expecting 'AND' or 'ORDER BY' but got 'OR'", true},
		{`updated >= "yesterday"`, "date value 'yesterday' for field 'updated' is invalid", true},
		{`labels = "x`, "unterminated string literal", true},
		{`project = KBOT ORDER BY priority`, "ordering by 'priority'", true},
	}
	for _, c := range cases {
		q, err := parseJQL(c.jql, la)
		if c.isErr {
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: err %v; want %q", c.jql, err, c.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.jql, err)
			continue
		}
		var parts []string
		if len(q.projects) > 0 {
			parts = append(parts, "projects="+strings.Join(strings.Fields("["+strings.Join(q.projects, " ")+"]"), " "))
		}
		if len(q.keys) > 0 {
			parts = append(parts, "keys=["+strings.Join(q.keys, " ")+"]")
		}
		if len(q.labels) > 0 {
			parts = append(parts, "labels=["+strings.Join(q.labels, " ")+"]")
		}
		if q.hasSince {
			s := "since=" + q.since.UTC().Format(time.RFC3339)
			if q.sinceIncl {
				s += " incl"
			}
			parts = append(parts, s)
		}
		if q.orderBy != "" {
			parts = append(parts, "order="+q.orderBy, "desc="+map[bool]string{true: "true", false: "false"}[q.desc])
		}
		if got := strings.Join(parts, " "); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.jql, got, c.want)
		}
	}
}

type client struct {
	t   *testing.T
	srv *httptest.Server
}

func start(t *testing.T, opts ...Option) (*Server, *client) {
	f := New(append([]Option{WithAuth("bot@acme.example", "tok")}, opts...)...)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, &client{t: t, srv: srv}
}

func (c *client) do(method, path, body string, dc bool) (int, http.Header, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	if dc {
		req.Header.Set("Authorization", "Bearer tok")
	} else {
		req.SetBasicAuth("bot@acme.example", "tok")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header, m
}

func TestCloudAndDataCenterEndpoints(t *testing.T) {
	f, c := start(t)
	if _, err := f.CreateIssue(IssueSpec{Summary: "a"}); err != nil {
		t.Fatal(err)
	}
	if code, _, body := c.do("GET", "/rest/api/2/search?jql=project%20%3D%20KBOT", "", false); code != http.StatusGone || !strings.Contains(body["errorMessages"].([]any)[0].(string), "removed") {
		t.Fatalf("cloud old search: %d %v; want 410", code, body)
	}
	code, _, body := c.do("GET", "/rest/api/2/search/jql?jql=project%20%3D%20KBOT", "", false)
	issues := body["issues"].([]any)
	if code != 200 || len(issues) != 1 || body["isLast"] != true {
		t.Fatalf("enhanced search: %d %v", code, body)
	}
	if _, ok := issues[0].(map[string]any)["fields"]; ok {
		t.Fatalf("enhanced search without fields returned fields: %v", issues[0])
	}

	dc, d := start(t, DataCenter())
	if _, err := dc.CreateIssue(IssueSpec{Summary: "a"}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := d.do("GET", "/rest/api/2/search/jql?jql=project%20%3D%20KBOT", "", true); code != http.StatusNotFound {
		t.Fatalf("data center enhanced search: %d; want 404", code)
	}
	code, _, body = d.do("GET", "/rest/api/2/search?jql=project%20%3D%20KBOT&maxResults=10", "", true)
	if code != 200 || body["total"] != float64(1) || body["issues"].([]any)[0].(map[string]any)["fields"] == nil {
		t.Fatalf("data center search: %d %v", code, body)
	}
	if code, _, _ := d.do("GET", "/rest/api/2/myself", "", false); code != http.StatusUnauthorized {
		t.Fatalf("basic auth on data center: %d; want 401", code)
	}
}

func TestPaging(t *testing.T) {
	f, c := start(t)
	for range 5 {
		if _, err := f.CreateIssue(IssueSpec{Summary: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	path := "/rest/api/2/search/jql?jql=project%20%3D%20KBOT%20ORDER%20BY%20created%20DESC&maxResults=2&fields=summary"
	token := ""
	for range 5 {
		p := path
		if token != "" {
			p += "&nextPageToken=" + token
		}
		_, _, body := c.do("GET", p, "", false)
		for _, iss := range body["issues"].([]any) {
			keys = append(keys, iss.(map[string]any)["key"].(string))
		}
		if body["isLast"] == true {
			break
		}
		token = body["nextPageToken"].(string)
	}
	if strings.Join(keys, ",") != "KBOT-5,KBOT-4,KBOT-3,KBOT-2,KBOT-1" {
		t.Fatalf("pages gave %v", keys)
	}
	if code, _, _ := c.do("GET", path+"&nextPageToken=garbage", "", false); code != http.StatusBadRequest {
		t.Fatalf("bad token: %d", code)
	}
}

func TestFaults(t *testing.T) {
	f, c := start(t)
	key, _ := f.CreateIssue(IssueSpec{Summary: "a"})
	f.FailNext(2, http.StatusServiceUnavailable, 1500*time.Millisecond)
	for range 2 {
		if code, h, _ := c.do("GET", "/rest/api/2/issue/"+key, "", false); code != 503 || h.Get("Retry-After") != "2" {
			t.Fatalf("injected: %d %q", code, h.Get("Retry-After"))
		}
	}
	if code, _, _ := c.do("GET", "/rest/api/2/issue/"+key, "", false); code != 200 {
		t.Fatalf("after the faults: %d", code)
	}
	f.RateLimitIssue(key, 1, 5*time.Second)
	if code, _, _ := c.do("GET", "/rest/api/2/issue/"+key, "", false); code != 200 {
		t.Fatalf("reads are not limited: %d", code)
	}
	code, h, _ := c.do("POST", "/rest/api/2/issue/"+key+"/comment", `{"body":"x"}`, false)
	if code != 429 || h.Get("RateLimit-Reason") != "jira-per-issue-on-write" || h.Get("Retry-After") != "5" {
		t.Fatalf("per-issue limit: %d %v", code, h)
	}
	if code, _, _ := c.do("POST", "/rest/api/2/issue/"+key+"/comment", `{"body":"x"}`, false); code != 201 {
		t.Fatalf("after the limit: %d", code)
	}

	f.Slow(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.srv.URL+"/rest/api/2/myself", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a slow answer came before the client's deadline")
	}
	f.Slow(0)
	calls := f.Calls()
	if len(calls) == 0 || calls[0].String() != "GET /rest/api/2/issue/"+key {
		t.Fatalf("calls %v", calls)
	}
}

func TestPersonWebhooks(t *testing.T) {
	f, _ := start(t)
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	defer hook.Close()
	f.SetWebhook(hook.URL, "s3cret")
	key, err := f.CreateIssue(IssueSpec{Summary: "a", Fields: map[string]string{"Reproducible": "Yes", "Approvers": "u1, u2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Transition(key, "Done"); err == nil || !strings.Contains(err.Error(), `available: "In Progress"`) {
		t.Fatalf("a two-step move: %v", err)
	}
	if err := f.Transition(key, "In Progress"); err != nil {
		t.Fatal(err)
	}
	f.DropWebhooks(1)
	if _, err := f.Comment(key, "lost", false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Comment(key, "internal", true); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d webhooks; want 3 (one dropped)", len(got))
	}
	events := []string{"jira:issue_created", "jira:issue_updated", "comment_created"}
	for i, r := range got {
		if r.Header.Get("X-Hub-Signature") != Sign("s3cret", bodies[i]) || r.Header.Get("X-Atlassian-Webhook-Identifier") == "" {
			t.Fatalf("webhook %d headers %v", i, r.Header)
		}
		var w struct {
			WebhookEvent string
			Changelog    struct{ Items []map[string]any }
			Comment      map[string]any
		}
		if err := json.Unmarshal(bodies[i], &w); err != nil || w.WebhookEvent != events[i] {
			t.Fatalf("webhook %d: %s (%v)", i, w.WebhookEvent, err)
		}
		if i == 1 && (len(w.Changelog.Items) != 1 || w.Changelog.Items[0]["toString"] != "In Progress") {
			t.Fatalf("transition changelog %v", w.Changelog)
		}
		if i == 2 && w.Comment["jsdPublic"] != false {
			t.Fatalf("internal comment %v", w.Comment)
		}
	}
	d := f.Deliveries()
	if len(d) != 4 || !d[2].Dropped {
		t.Fatalf("deliveries %+v", d)
	}
	iss, _ := f.Issue(key)
	if approvers, _ := iss.Fields["customfield_10101"].([]any); len(approvers) != 2 {
		t.Fatalf("approvers %v", iss.Fields)
	}
}

func TestIssueLinkKeysAreCaseSensitive(t *testing.T) {
	f, c := start(t)
	a, _ := f.CreateIssue(IssueSpec{Summary: "a"})
	b, _ := f.CreateIssue(IssueSpec{Project: "DO", Summary: "b"})
	if code, _, _ := c.do("POST", "/rest/api/2/issueLink", `{"type":{"Name":"Relates"},"inwardIssue":{"Key":"`+a+`"},"outwardIssue":{"Key":"`+b+`"}}`, false); code != 400 {
		t.Fatalf("capitalised keys: %d; want 400 as Jira's JSON reader is case-sensitive", code)
	}
	for range 2 {
		if code, _, _ := c.do("POST", "/rest/api/2/issueLink", `{"type":{"name":"Relates"},"inwardIssue":{"key":"`+a+`"},"outwardIssue":{"key":"`+b+`"}}`, false); code != 201 {
			t.Fatalf("link: %d", code)
		}
	}
	if iss, _ := f.Issue(a); len(iss.Links) != 1 {
		t.Fatalf("links %v; want one", iss.Links)
	}
	_, _, body := c.do("GET", "/rest/api/2/issue/"+b+"?fields=issuelinks", "", false)
	links := body["fields"].(map[string]any)["issuelinks"].([]any)
	if in := links[0].(map[string]any)["inwardIssue"].(map[string]any); in["key"] != a {
		t.Fatalf("issuelinks of %s: %v", b, links)
	}
}

func TestAttachmentsAreKeptAndShownOnTheIssue(t *testing.T) {
	f, c := start(t)
	key, err := f.CreateIssue(IssueSpec{Summary: "a"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(xsrf string) (int, []any) {
		var body strings.Builder
		mw := multipart.NewWriter(&body)
		pw, _ := mw.CreateFormFile("file", "trace.log")
		pw.Write([]byte("line 1\n"))
		mw.Close()
		req, _ := http.NewRequest("POST", c.srv.URL+"/rest/api/2/issue/"+key+"/attachments", strings.NewReader(body.String()))
		req.SetBasicAuth("bot@acme.example", "tok")
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if xsrf != "" {
			req.Header.Set("X-Atlassian-Token", xsrf)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := post(""); code != http.StatusForbidden {
		t.Fatalf("upload without X-Atlassian-Token: %d, want 403 (XSRF check)", code)
	}
	code, out := post("no-check")
	if code != 200 || len(out) != 1 || out[0].(map[string]any)["filename"] != "trace.log" || out[0].(map[string]any)["size"] != float64(7) {
		t.Fatalf("upload: %d %v; want the new attachment in a list", code, out)
	}
	_, _, issue := c.do("GET", "/rest/api/2/issue/"+key, "", false)
	atts := issue["fields"].(map[string]any)["attachment"].([]any)
	if len(atts) != 1 || atts[0].(map[string]any)["mimeType"] != "application/octet-stream" {
		t.Fatalf("fields.attachment %v", atts)
	}
	if is, _ := f.Issue(key); len(is.Attachments) != 1 || string(is.Attachments[0].Content) != "line 1\n" {
		t.Fatalf("kept attachments %+v", is.Attachments)
	}
}

// Reads share the fake's lock and writes do not: requests of both kinds
// at once all get their answers, and every write is kept (run with -race
// to see reads change nothing).
func TestConcurrentReadsAndWrites(t *testing.T) {
	f, c := start(t)
	key, err := f.CreateIssue(IssueSpec{Summary: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	const readers, writers, rounds = 8, 4, 10
	requests := []struct {
		method, path, body string
		want               int
		n                  int
	}{
		{http.MethodGet, "/rest/api/2/issue/" + key + "?expand=transitions", "", http.StatusOK, readers},
		{http.MethodPost, "/rest/api/2/issue/" + key + "/comment", `{"body":"seen"}`, http.StatusCreated, writers},
	}
	var wg sync.WaitGroup
	errs := make(chan string, (readers+writers)*rounds)
	for _, rq := range requests {
		for range rq.n {
			wg.Go(func() {
				for range rounds {
					req, _ := http.NewRequest(rq.method, c.srv.URL+rq.path, strings.NewReader(rq.body))
					req.SetBasicAuth("bot@acme.example", "tok")
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						errs <- err.Error()
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != rq.want {
						errs <- rq.method + " " + rq.path + ": " + resp.Status
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	iss, ok := f.Issue(key)
	if !ok {
		t.Fatalf("%s is gone", key)
	}
	if got := len(iss.Comments); got != writers*rounds {
		t.Fatalf("%d comments kept; want %d", got, writers*rounds)
	}
}

package fake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newFake(t *testing.T, opts ...Option) (*Server, *httptest.Server) {
	t.Helper()
	zd := New(append([]Option{WithClock(func() time.Time { return t0 }), WithCredentials("bot@acme.example", "tok")}, opts...)...)
	srv := httptest.NewServer(zd)
	t.Cleanup(srv.Close)
	return zd, srv
}

func call(t *testing.T, srv *httptest.Server, method, path string, body any, header ...string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	req.SetBasicAuth("bot@acme.example/token", "tok")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

// TestShapesKeepRecordedKeys: every object the fake renders has every key
// of the real Zendesk object it started from.
func TestShapesKeepRecordedKeys(t *testing.T) {
	zd, srv := newFake(t)
	id, err := zd.CreateTicket("ada@example.com", "Export fails", "body", []string{"vip"}, map[string]string{"Developer ticket": "KBOT-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, tk := call(t, srv, "GET", "/api/v2/tickets/"+itoa(id)+".json?include=users", nil)
	_, _, cs := call(t, srv, "GET", "/api/v2/tickets/"+itoa(id)+"/comments.json", nil)
	_, _, up := call(t, srv, "PUT", "/api/v2/tickets/"+itoa(id)+".json", map[string]any{"ticket": map[string]any{"comment": map[string]any{"body": "x", "public": false}}})
	_, _, se := call(t, srv, "GET", "/api/v2/search.json?query=type:ticket+tags:vip", nil)
	cases := []struct {
		name string
		got  any
		want map[string]any
	}{
		{"ticket", tk["ticket"], template("api-ticket-show-with-custom-fields.json", "ticket")},
		{"user", tk["users"].([]any)[0], template("api-user-show.json", "user")},
		{"comment", cs["comments"].([]any)[0], template("api-ticket-comments-cursor-pagination.json", "comments", "0")},
		{"comments page", cs, template("api-ticket-comments-cursor-pagination.json")},
		{"audit", up["audit"], template("api-ticket-create-response-with-audit.json", "audit")},
		{"search", se, template("api-search-tickets.json")},
	}
	for _, tc := range cases {
		got, _ := tc.got.(map[string]any)
		for k := range tc.want {
			if _, ok := got[k]; !ok {
				t.Errorf("%s lacks recorded key %q", tc.name, k)
			}
		}
	}
	if se["count"].(float64) != 1 {
		t.Errorf("search found %v tickets", se["count"])
	}
}

// TestTriggerPayloadIsJSON: placeholders are escaped, whatever the text.
func TestTriggerPayloadIsJSON(t *testing.T) {
	zd, _ := newFake(t)
	var got [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, b)
	}))
	defer recv.Close()
	zd.SetWebhook(recv.URL, "s")
	weird := "quote \" backslash \\ newline \n tab \t ctrl \x01 sep \u2028 <html> ☃"
	if _, err := zd.CreateTicket("ada@example.com", weird, weird, nil, map[string]string{"Steps to reproduce": weird}); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Ticket struct {
			Subject      string            `json:"subject"`
			CustomFields map[string]string `json:"custom_fields"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(got[0], &v); err != nil {
		t.Fatalf("trigger payload is not JSON: %v\n%s", err, got[0])
	}
	if v.Ticket.Subject != weird || v.Ticket.CustomFields[itoa(zd.FieldID("Steps to reproduce"))] != weird {
		t.Fatalf("round trip lost text: %q", v.Ticket.Subject)
	}
}

// TestWebhooksSignedAndDropped: deliveries carry Zendesk's signature
// headers (checked here independently), and DropWebhooks swallows some.
func TestWebhooksSignedAndDropped(t *testing.T) {
	zd, _ := newFake(t, WithWebhookForm(EventForm))
	var mu sync.Mutex
	var ok, n int
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte("secret"))
		m.Write([]byte(r.Header.Get("X-Zendesk-Webhook-Signature-Timestamp")))
		m.Write(b)
		mu.Lock()
		defer mu.Unlock()
		n++
		if r.Header.Get("X-Zendesk-Webhook-Signature") == base64.StdEncoding.EncodeToString(m.Sum(nil)) {
			ok++
		}
	}))
	defer recv.Close()
	zd.SetWebhook(recv.URL, "secret")
	id, _ := zd.CreateTicket("ada@example.com", "s", "b", nil, nil)
	zd.DropWebhooks(1)
	_, _ = zd.Reply(id, Agent, "dropped", false)
	_ = zd.SetStatus(id, "solved")
	if n != 2 || ok != 2 {
		t.Fatalf("%d delivered, %d correctly signed; want 2, 2", n, ok)
	}
	dl := zd.Deliveries()
	if len(dl) != 3 || !dl[1].Dropped || dl[2].Status != 200 {
		t.Fatalf("deliveries %+v", dl)
	}
	var ev struct {
		Type  string `json:"type"`
		Event struct {
			Current string `json:"current"`
		} `json:"event"`
	}
	_ = json.Unmarshal(dl[2].Body, &ev)
	if ev.Type != "zen:event-type:ticket.status_changed" || ev.Event.Current != "SOLVED" {
		t.Fatalf("status event %+v", ev)
	}
}

// TestExportPages: tickets come in change order, a page at a time; a
// changed ticket moves to the end of the stream.
func TestExportPages(t *testing.T) {
	zd, srv := newFake(t, WithExportPageSize(2))
	var ids []int64
	for i := 0; i < 3; i++ {
		id, _ := zd.CreateTicket("ada@example.com", "t", "b", nil, nil)
		ids = append(ids, id)
	}
	_ = zd.SetStatus(ids[0], "open") // ticket 1 is now the newest change
	_, _, p1 := call(t, srv, "GET", "/api/v2/incremental/tickets/cursor.json?start_time="+itoa(t0.Add(-time.Hour).Unix())+"&include=users,comment_count", nil)
	_, _, p2 := call(t, srv, "GET", "/api/v2/incremental/tickets/cursor.json?cursor="+p1["after_cursor"].(string), nil)
	_, _, p3 := call(t, srv, "GET", "/api/v2/incremental/tickets/cursor.json?cursor="+p2["after_cursor"].(string), nil)
	order := func(p map[string]any) (out []int64) {
		for _, tk := range p["tickets"].([]any) {
			out = append(out, int64(tk.(map[string]any)["id"].(float64)))
		}
		return out
	}
	got := append(order(p1), order(p2)...)
	want := []int64{ids[1], ids[2], ids[0]}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("stream order %v; want %v", got, want)
	}
	if p1["end_of_stream"] != false || p2["end_of_stream"] != true || len(p3["tickets"].([]any)) != 0 || p3["after_cursor"] != p2["after_cursor"] {
		t.Fatalf("end_of_stream %v %v, idle page %v", p1["end_of_stream"], p2["end_of_stream"], p3)
	}
	if _, ok := p1["users"]; !ok || p1["tickets"].([]any)[0].(map[string]any)["comment_count"] != 1.0 {
		t.Fatal("sideloads missing")
	}
}

// TestFaultsAndAuth: FailNext answers with the status and Retry-After,
// Slow delays, and bad credentials are refused.
func TestFaultsAndAuth(t *testing.T) {
	zd, srv := newFake(t)
	zd.FailNext(2, 429, 2500*time.Millisecond)
	for i := 0; i < 2; i++ {
		st, h, body := call(t, srv, "GET", "/api/v2/groups.json", nil)
		if st != 429 || h.Get("Retry-After") != "3" || body["error"] != "APIRateLimitExceeded" {
			t.Fatalf("fault %d: %d %q %v", i, st, h.Get("Retry-After"), body)
		}
	}
	if st, _, _ := call(t, srv, "GET", "/api/v2/groups.json", nil); st != 200 {
		t.Fatalf("after the faults: %d", st)
	}
	zd.Slow(50 * time.Millisecond)
	start := time.Now()
	call(t, srv, "GET", "/api/v2/groups.json", nil)
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("Slow did not delay")
	}
	zd.Slow(0)
	req, _ := http.NewRequest("GET", srv.URL+"/api/v2/groups.json", nil)
	req.SetBasicAuth("bot@acme.example/token", "wrong")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong token answered %d", resp.StatusCode)
	}
	calls := zd.CallLines()
	if calls[0] != "GET /api/v2/groups.json" || len(calls) != 5 {
		t.Fatalf("calls %v", calls)
	}
}

// TestIdempotentCreate: the same Idempotency-Key and body return the same
// ticket; a different body under the key is refused.
func TestIdempotentCreate(t *testing.T) {
	zd, srv := newFake(t)
	body := map[string]any{"ticket": map[string]any{"subject": "s", "comment": map[string]any{"body": "b"}, "tags": []string{"Liaison X"}}}
	st1, _, r1 := call(t, srv, "POST", "/api/v2/tickets.json", body, "Idempotency-Key", "k1")
	st2, h2, r2 := call(t, srv, "POST", "/api/v2/tickets.json", body, "Idempotency-Key", "k1")
	if st1 != 201 || st2 != 201 || h2.Get("X-Idempotency-Lookup") != "hit" ||
		r1["ticket"].(map[string]any)["id"] != r2["ticket"].(map[string]any)["id"] || len(zd.Tickets()) != 1 {
		t.Fatalf("replay: %d %d %v", st1, st2, len(zd.Tickets()))
	}
	body["ticket"].(map[string]any)["subject"] = "other"
	if st, _, _ := call(t, srv, "POST", "/api/v2/tickets.json", body, "Idempotency-Key", "k1"); st != 400 {
		t.Fatalf("key reuse with another body answered %d", st)
	}
	if tk := zd.Tickets()[0]; tk.Tags[0] != "liaison_x" || tk.Requester != "bot@acme.example" {
		t.Fatalf("ticket %+v", tk)
	}
	if st, _, _ := call(t, srv, "POST", "/api/v2/tickets.json", map[string]any{"ticket": map[string]any{"subject": "no body"}}); st != 422 {
		t.Fatalf("create without a comment answered %d", st)
	}
	if !strings.Contains(TriggerBody(1, 2), `"2": "{{ticket.ticket_field_2}}"`) {
		t.Fatal("TriggerBody lacks a field")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestReply_EndUserReopensPendingTicket: as in Zendesk, a requester's reply
// reopens a pending ticket; an agent's does not.
func TestReply_EndUserReopensPendingTicket(t *testing.T) {
	s := New()
	id, err := s.CreateTicket("ada@customer.example", "Reset broken", "It fails.", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(id, "pending"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reply(id, Agent, "We are on it", true); err != nil {
		t.Fatal(err)
	}
	if tk, _ := s.Ticket(id); tk.Status != "pending" {
		t.Fatalf("an agent's reply changed the status to %q", tk.Status)
	}
	if _, err := s.Reply(id, "ada@customer.example", "Steps: open the link", true); err != nil {
		t.Fatal(err)
	}
	if tk, _ := s.Ticket(id); tk.Status != "open" {
		t.Fatalf("after the requester's reply the ticket is %q; want open", tk.Status)
	}
}

// TestHTMLBodyCleaned: a comment written as html_body keeps its
// formatting, loses what Zendesk's cleaning drops (HTML comments,
// scripts), and gets a plain body of its text.
func TestHTMLBodyCleaned(t *testing.T) {
	zd, srv := newFake(t)
	id, err := zd.CreateTicket("ada@example.com", "Export fails", "body", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"ticket": map[string]any{"comment": map[string]any{
		"html_body": "<p>Fixed <b>now</b>.</p><!-- liaison-0123456789ab --><script>x()</script>", "public": true}}}
	if st, _, _ := call(t, srv, "PUT", "/api/v2/tickets/"+strconv.FormatInt(id, 10)+".json", body); st != 200 {
		t.Fatalf("update answered %d", st)
	}
	tk, _ := zd.Ticket(id)
	c := tk.Comments[len(tk.Comments)-1]
	if c.Body != "Fixed now." {
		t.Fatalf("plain body %q", c.Body)
	}
	if h := zd.CommentHTML(id, c.ID); h != "<p>Fixed <b>now</b>.</p>" {
		t.Fatalf("html_body %q", h)
	}
}

package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
)

func webhookRequest(body []byte, h map[string]string) core.WebhookRequest {
	hdr := http.Header{}
	for k, v := range h {
		hdr.Set(k, v)
	}
	return core.WebhookRequest{Header: hdr, Body: body}
}

func TestReceiveWebhook_Signature(t *testing.T) {
	body := readTestdata(t, "webhook-issue_updated-status-todo-to-inprogress.json")
	good := fake.Sign(testSecret, body)
	cases := []struct {
		name   string
		sig    string
		now    time.Duration // after the payload's timestamp
		off    bool          // webhooks: false
		forged bool
	}{
		{"good", good, time.Second, false, false},
		{"good, upper-case method", "SHA256=" + strings.TrimPrefix(good, "sha256="), time.Second, false, false},
		{"good, retried by Jira 30 minutes later", good, 30 * time.Minute, false, false},
		{"missing", "", time.Second, false, true},
		{"wrong secret", fake.Sign("not-the-secret", body), time.Second, false, true},
		{"other body", fake.Sign(testSecret, append(bytes.Clone(body), ' ')), time.Second, false, true},
		{"sha1 method", "sha1=" + strings.TrimPrefix(good, "sha256="), time.Second, false, true},
		{"not hex", "sha256=zz", time.Second, false, true},
		{"no method", strings.TrimPrefix(good, "sha256="), time.Second, false, true},
		{"stale replay", good, 2 * time.Hour, false, true},
		{"dated a minute ahead (clock skew)", good, -time.Minute, false, false},
		{"dated a year ahead", good, -365 * 24 * time.Hour, false, true},
		{"webhooks off", good, time.Second, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c2 := decoderEnv(t)
			if c.off {
				c2.creds.secret = ""
			}
			clk := newClock()
			clk.Set(webhookNow(t, body).Add(c.now - time.Second))
			c2.clock = clk
			h := map[string]string{HeaderDelivery: "d-1"}
			if c.sig != "" {
				h[HeaderSignature] = c.sig
			}
			evs, err := c2.ReceiveWebhook(context.Background(), webhookRequest(body, h))
			if c.forged {
				if !errors.Is(err, core.ErrForged) || evs != nil {
					t.Fatalf("got %d events, %v; want core.ErrForged", len(evs), err)
				}
				return
			}
			if err != nil || len(evs) != 1 || evs[0].DeliveryID != "d-1" {
				t.Fatalf("got %v, %v; want one event d-1", evs, err)
			}
		})
	}
}

// A signed delivery without a timestamp cannot be dated, so it could be
// replayed forever: it is refused like a stale one.
func TestReceiveWebhook_UndatedDeliveryRefused(t *testing.T) {
	var body map[string]any
	if err := json.Unmarshal(readTestdata(t, "webhook-issue_updated-status-todo-to-inprogress.json"), &body); err != nil {
		t.Fatal(err)
	}
	delete(body, "timestamp")
	undated, _ := json.Marshal(body)
	c := decoderEnv(t)
	h := map[string]string{HeaderSignature: fake.Sign(testSecret, undated), HeaderDelivery: "d-1"}
	if evs, err := c.ReceiveWebhook(context.Background(), webhookRequest(undated, h)); !errors.Is(err, core.ErrForged) || evs != nil {
		t.Fatalf("got %d events, %v; want core.ErrForged", len(evs), err)
	}
}

func TestReceiveWebhook_Outcomes(t *testing.T) {
	issueUpdated := readTestdata(t, "webhook-issue_updated-status-todo-to-inprogress.json")
	serverComment := readTestdata(t, "webhook-comment_created-server.json")
	cases := []struct {
		name    string
		body    []byte
		header  map[string]string
		prepare func(*Connector)
		events  int
		bad     bool
		check   func(*testing.T, []core.Event)
	}{
		{name: "malformed json", body: []byte(`{"webhookEvent": "jira:issue_updated", "issue": {`), bad: true},
		{name: "not an object", body: []byte(`[1,2]`), bad: true},
		{name: "no event name", body: []byte(`{"timestamp": 1}`), bad: true},
		{name: "issue event without issue", body: []byte(`{"timestamp": 1559607317234, "webhookEvent": "jira:issue_updated"}`), bad: true},
		{name: "wrong type of field", body: []byte(`{"timestamp": 1559607317234, "webhookEvent": "jira:issue_updated", "issue": {"key": "TES-1", "fields": {"summary": 3}}}`), bad: true},
		{name: "event we do not handle", body: []byte(`{"timestamp": 1559607317234, "webhookEvent": "worklog_created", "worklog": {}}`), events: 0},
		{name: "project not ours", body: []byte(`{"timestamp": 1559607317234, "webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-1", "fields": {}}}`), events: 0},
		{name: "server comment about an unknown issue", body: serverComment, events: 0},
		{name: "server comment about a known issue", body: serverComment, prepare: func(c *Connector) { c.keys.remember("10013", "TES-9") }, events: 1,
			check: func(t *testing.T, evs []core.Event) {
				if evs[0].Item.Ref.ID != "TES-9" || evs[0].Type != core.Commented || evs[0].Item.Title != "" {
					t.Fatalf("event %+v; want a comment-only event on TES-9", evs[0])
				}
			}},
		{name: "fallback delivery id", body: issueUpdated, header: map[string]string{HeaderDelivery: ""}, events: 1,
			check: func(t *testing.T, evs []core.Event) {
				if !strings.HasPrefix(evs[0].DeliveryID, "sha256:") {
					t.Fatalf("delivery id %q", evs[0].DeliveryID)
				}
			}},
		{name: "status change", body: issueUpdated, events: 1,
			check: func(t *testing.T, evs []core.Event) {
				ev := evs[0]
				if ev.Type != core.StatusChange || ev.Item.Native != "In Progress" || ev.Via != core.ViaWebhook || ev.Source != "jira" || len(ev.Raw) == 0 {
					t.Fatalf("event %+v", ev)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := decoderEnv(t)
			if c.prepare != nil {
				c.prepare(conn)
			}
			clk := newClock()
			clk.Set(time.UnixMilli(1559607317234))
			conn.clock = clk
			conn.cfg.WebhookMaxAge = Duration(24 * 365 * 20 * time.Hour)
			h := map[string]string{HeaderSignature: fake.Sign(testSecret, c.body), HeaderDelivery: "d"}
			for k, v := range c.header {
				h[k] = v
			}
			evs, err := conn.ReceiveWebhook(context.Background(), webhookRequest(c.body, h))
			var bad *core.BadInput
			if c.bad {
				if !errors.As(err, &bad) {
					t.Fatalf("err = %v; want *core.BadInput", err)
				}
				return
			}
			if err != nil || len(evs) != c.events {
				t.Fatalf("%d events, %v; want %d", len(evs), err, c.events)
			}
			if c.check != nil {
				c.check(t, evs)
			}
		})
	}
}

// TestWebhooksFromTheFake: a person's actions in the fake reach the
// connector signed, with comments' audience and our marker recognised.
func TestWebhooksFromTheFake(t *testing.T) {
	for _, dc := range []bool{false, true} {
		t.Run(map[bool]string{false: "cloud", true: "datacenter"}[dc], func(t *testing.T) {
			e := newEnv(t, envOpts{datacenter: dc})
			ctx := context.Background()
			key, err := e.fake.CreateIssue(fake.IssueSpec{Summary: "Login broken", Description: "since 9:00"})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.fake.Transition(key, "In Progress"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.fake.Comment(key, "customer-visible answer", false); err != nil {
				t.Fatal(err)
			}
			if _, err := e.fake.Comment(key, "developers only", true); err != nil {
				t.Fatal(err)
			}
			a := core.Action{Key: "mirror", Kind: core.AddComment, Target: devRef(key), Body: "from the help desk", Public: true}
			res, err := e.conn.Apply(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.fake.EditComment(key, res.CommentID, "from the help desk (edited)\n\n"+markerLine(a.Marker())); err != nil {
				t.Fatal(err)
			}
			evs := e.hooks.take()
			var types []core.EventType
			comments := map[string]core.Comment{}
			for _, ev := range evs {
				if ev.Item.Ref != devRef(key) || ev.Source != "jira" || ev.DeliveryID == "" {
					t.Fatalf("event %+v", ev)
				}
				types = append(types, ev.Type)
				for _, c := range ev.Item.Comments {
					comments[c.Body] = c
				}
			}
			want := []core.EventType{core.Created, core.StatusChange, core.Commented, core.Commented, core.Commented}
			if dc {
				// Data Center sends comment_created and issue_updated (issue_commented).
				want = []core.EventType{core.Created, core.StatusChange, core.Commented, core.Commented, core.Commented, core.Commented, core.Commented}
			}
			if len(types) != len(want) {
				t.Fatalf("event types %v; want %v", types, want)
			}
			for i := range want {
				if types[i] != want[i] {
					t.Fatalf("event types %v; want %v", types, want)
				}
			}
			if c := comments["customer-visible answer"]; !c.Public || c.Marker != "" {
				t.Errorf("public comment read as %+v", c)
			}
			if c := comments["developers only"]; c.Public {
				t.Errorf("internal comment read as public: %+v", c)
			}
			if c := comments["from the help desk (edited)"]; c.Marker != a.Marker() {
				t.Errorf("our comment not recognised: %+v", c)
			}
			for _, d := range e.fake.Deliveries() {
				if d.Status != http.StatusOK {
					t.Errorf("delivery %+v not accepted", d)
				}
			}
		})
	}
}

func TestWebhookWithWrongOrNoSecretIsRefusedAndNothingKept(t *testing.T) {
	for _, secret := range []string{"", "a-guessed-secret"} {
		t.Run("secret "+strconv.Quote(secret), func(t *testing.T) {
			e := newEnv(t, envOpts{})
			e.fake.SetWebhook(httptestURL(t, e.hooks), secret)
			if _, err := e.fake.CreateIssue(fake.IssueSpec{Summary: "s"}); err == nil {
				t.Fatal("a forged webhook was accepted")
			}
			if evs := e.hooks.take(); len(evs) != 0 {
				t.Fatalf("kept %d events from a forged delivery", len(evs))
			}
			if d := e.fake.Deliveries(); len(d) != 1 || d[0].Status != http.StatusUnauthorized {
				t.Fatalf("deliveries %+v; want one answered 401", d)
			}
		})
	}
}

// TestOurWritesComeBack: with WithAPIWebhooks the fake, like Jira, sends
// webhooks for the gateway's own writes; they carry its marker.
func TestOurWritesComeBack(t *testing.T) {
	e := newEnv(t, envOpts{fakeOpts: []fake.Option{fake.WithAPIWebhooks()}})
	ctx := context.Background()
	a := core.Action{Key: "create|x", Kind: core.Create, Target: core.Ref{System: "jira", Kind: core.DevTicket}, Title: "t"}
	res, err := e.conn.Apply(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	c := core.Action{Key: "comment|x", Kind: core.AddComment, Target: res.Created, Body: "hello", Public: true}
	if _, err := e.conn.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	e.fake.Flush()
	// Each write's webhook goes out on its own after the answer, as Jira
	// sends them: they may arrive in either order.
	evs := e.hooks.take()
	slices.SortFunc(evs, func(x, y core.Event) int { return strings.Compare(string(x.Type), string(y.Type)) })
	if len(evs) != 2 || evs[1].Type != core.Created || evs[1].Item.Marker != a.Marker() ||
		evs[0].Type != core.Commented || len(evs[0].Item.Comments) != 1 || evs[0].Item.Comments[0].Marker != c.Marker() {
		t.Fatalf("echoes %+v", evs)
	}
}

func TestSplitMarker(t *testing.T) {
	m := core.MarkerFor("k")
	cases := []struct{ in, body, marker string }{
		{"hello\n\n" + markerLine(m), "hello", m},
		{"hello\n\n" + m + "\n", "hello", m},
		{markerLine(m), "", m},
		{"hello " + m, "hello " + m, ""},
		{"mentions " + m + "\nand more", "mentions " + m + "\nand more", ""},
		{"plain", "plain", ""},
	}
	for _, c := range cases {
		body, marker := splitMarker(c.in)
		if body != c.body || marker != c.marker {
			t.Errorf("splitMarker(%q) = %q, %q; want %q, %q", c.in, body, marker, c.body, c.marker)
		}
	}
}

// FuzzWebhook: no body makes the decoder panic, and every event it returns
// names a record of ours.
func FuzzWebhook(f *testing.F) {
	files, _ := filepath.Glob("testdata/webhook-*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"webhookEvent":"comment_created","comment":{"id":"1","self":"/issue/10013/comment/1","body":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"x"}]}]}}}`))
	c := decoderEnv(f)
	c.keys.remember("10013", "TES-1")
	c.cfg.WebhookMaxAge = Duration(1 << 62)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := c.decodeWebhook(http.Header{}, body, now)
		if err != nil {
			var bad *core.BadInput
			if !errors.As(err, &bad) && !errors.Is(err, core.ErrForged) {
				t.Fatalf("error of an unexpected kind: %v", err)
			}
			if len(body) > 8 && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("error echoes the body: %v", err)
			}
			return
		}
		for _, ev := range evs {
			if ev.Source != "jira" || ev.DeliveryID == "" || ev.Item.Ref.System != "jira" || !issueKeyRE.MatchString(ev.Item.Ref.ID) {
				t.Fatalf("event %+v", ev)
			}
			if _, ok := c.kindOf(projectOfKey(ev.Item.Ref.ID)); !ok {
				t.Fatalf("event about %q, not a project of ours", ev.Item.Ref.ID)
			}
		}
	})
}

// BenchmarkWebhookDecode measures signature check, decoding and
// normalization of the real webhook payloads, in events per second.
func BenchmarkWebhookDecode(b *testing.B) {
	files, _ := filepath.Glob("testdata/webhook-*.json")
	type delivery struct {
		req core.WebhookRequest
		now time.Time
	}
	var ds []delivery
	c := decoderEnv(b)
	c.keys.remember("10013", "PRJA-7")
	c.cfg.WebhookMaxAge = Duration(1 << 62)
	c.log = discardLog()
	for _, p := range files {
		body, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, delivery{req: webhookRequest(body, map[string]string{HeaderSignature: fake.Sign(testSecret, body), HeaderDelivery: "d"})})
	}
	ctx := context.Background()
	events := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		evs, err := c.ReceiveWebhook(ctx, ds[i%len(ds)].req)
		if err != nil {
			b.Fatal(err)
		}
		events += len(evs)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// A status change's webhook puts the status the issue left on its path,
// just before the one it entered: a delivery that overtook the one before
// it still proves that step was passed.
func TestWebhookPathHoldsTheStatusLeft(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"webhook-issue_updated-status-todo-to-inprogress.json", []string{"To Do", "In Progress"}},
		{"webhook-issue_updated-status-inprogress-to-done-resolved.json", []string{"In Progress", "Done"}},
		{"webhook-issue_updated-status-done-to-todo-reopened.json", []string{"Done", "To Do"}},
		{"webhook-issue_updated-assignee-changed.json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := decoderEnv(t)
			body := readTestdata(t, tt.file)
			evs, err := c.decodeWebhook(http.Header{HeaderDelivery: {"d"}}, body, webhookNow(t, body))
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d events, %v", len(evs), err)
			}
			var got []string
			for i, st := range evs[0].Item.Path {
				got = append(got, st.Native)
				if i > 0 && !st.At.After(evs[0].Item.Path[i-1].At) {
					t.Errorf("step %q at %s is not after the one before", st.Native, st.At)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("path %q, want %q", got, tt.want)
			}
			if n := len(evs[0].Item.Path); n > 0 && !evs[0].Item.Path[n-1].At.Equal(evs[0].Item.UpdatedAt) {
				t.Errorf("entered %s, want the issue's update time %s", evs[0].Item.Path[n-1].At, evs[0].Item.UpdatedAt)
			}
		})
	}
}

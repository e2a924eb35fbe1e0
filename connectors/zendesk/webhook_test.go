package zendesk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/core"
)

// TestWebhookSignature: only a delivery signed with the secret, as base64
// of the binary HMAC over timestamp+body, within max_skew, gets through.
func TestWebhookSignature(t *testing.T) {
	e := newEnv(t, nil)
	body := []byte(`{"ticket": {"id": "1"}}`)
	hexSig := func() string {
		m := hmac.New(sha256.New, []byte(testSecret))
		m.Write([]byte(t0.Format(time.RFC3339)))
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}()
	cases := []struct {
		name   string
		req    func() core.WebhookRequest
		forged bool
	}{
		{"good", func() core.WebhookRequest { return signed(body, testSecret, t0) }, false},
		{"good, 4m59s old", func() core.WebhookRequest { return signed(body, testSecret, t0.Add(-299*time.Second)) }, false},
		{"wrong secret", func() core.WebhookRequest { return signed(body, "not-the-secret", t0) }, true},
		{"missing signature", func() core.WebhookRequest {
			r := signed(body, testSecret, t0)
			r.Header.Del(HeaderSignature)
			return r
		}, true},
		{"missing timestamp", func() core.WebhookRequest {
			r := signed(body, testSecret, t0)
			r.Header.Del(HeaderTimestamp)
			return r
		}, true},
		{"stale, 6m old", func() core.WebhookRequest { return signed(body, testSecret, t0.Add(-6*time.Minute)) }, true},
		{"from the future, 6m ahead", func() core.WebhookRequest { return signed(body, testSecret, t0.Add(6*time.Minute)) }, true},
		{"hex digest instead of base64", func() core.WebhookRequest {
			r := signed(body, testSecret, t0)
			r.Header.Set(HeaderSignature, hexSig)
			return r
		}, true},
		{"timestamp swapped after signing", func() core.WebhookRequest {
			r := signed(body, testSecret, t0)
			r.Header.Set(HeaderTimestamp, t0.Add(time.Second).Format(time.RFC3339))
			return r
		}, true},
		{"body tampered", func() core.WebhookRequest {
			r := signed(body, testSecret, t0)
			r.Body = []byte(`{"ticket": {"id": "2"}}`)
			return r
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := e.c.ReceiveWebhook(context.Background(), tc.req())
			if tc.forged {
				if !errors.Is(err, core.ErrForged) || evs != nil {
					t.Fatalf("got %d events, err %v; want core.ErrForged and nothing", len(evs), err)
				}
				return
			}
			// Ticket 1 does not exist in the fake: a deletion, but accepted.
			if err != nil || len(evs) != 1 {
				t.Fatalf("got %d events, err %v; want 1 event", len(evs), err)
			}
		})
	}
}

// TestWebhookOffFailsClosed: without a secret the config is refused, and
// with webhooks: false every delivery is refused.
func TestWebhookOffFailsClosed(t *testing.T) {
	e := newEnv(t, nil)
	off := false
	c := e.connector(func(c *Config) { c.WebhookSecretEnv = ""; c.Webhooks = &off })
	_, err := c.ReceiveWebhook(context.Background(), signed([]byte(`{}`), testSecret, t0))
	if !errors.Is(err, core.ErrForged) {
		t.Fatalf("webhooks: false accepted a delivery: %v", err)
	}
}

// TestReadmeTriggerBody: the README's trigger body is the one the fake
// renders, and a rendered one decodes into a complete delivery.
func TestReadmeTriggerBody(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```json\n"+fake.TriggerBody(360011747994)+"```") {
		t.Fatal("README's trigger body differs from fake.TriggerBody(360011747994); update one to match the other")
	}
	e := newEnv(t, nil)
	e.zd.SetWebhook("", "")
	id, err := e.zd.CreateTicket("ada@example.com", `Export "fails" \ with <html>`, "line 1\nline 2\t\"quoted\"", []string{"vip"},
		map[string]string{"Developer ticket": "KBOT-7", "priority": "high"})
	if err != nil {
		t.Fatal(err)
	}
	e.zd.SetWebhook("http://127.0.0.1:1/unused", testSecret)
	e.zd.DropWebhooks(1)
	if _, err := e.zd.Reply(id, "ada@example.com", "more \"details\"", true); err != nil {
		t.Fatal(err)
	}
	dl := e.zd.Deliveries()
	d, err := decodeWebhook(dl[len(dl)-1].Body)
	if err != nil {
		t.Fatalf("rendered trigger body does not decode: %v", err)
	}
	if d.form != formTrigger || d.ticketID != id || d.item.UpdatedAt.IsZero() {
		t.Fatalf("delivery = form %d ticket %d updated %v", d.form, d.ticketID, d.item.UpdatedAt)
	}
	if d.item.Title != `Export "fails" \ with <html>` || d.item.Body != "line 1\nline 2\t\"quoted\"" ||
		d.item.Native != "new" || d.item.Priority != "high" || d.item.Reporter != "ada@example.com" ||
		strings.Join(d.item.Labels, ",") != "vip" || d.latest == nil || d.latest.Body != `more "details"` || !d.latest.Public {
		t.Fatalf("decoded item = %+v, latest %+v", d.item, d.latest)
	}
	devKey := e.zd.FieldID("Developer ticket")
	if d.fields[itoa(devKey)] != "KBOT-7" {
		t.Fatalf("custom fields = %v", d.fields)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestWebhookTriggerRoundTrip: a person's actions in Zendesk reach the
// gateway as complete snapshots keyed like the poller's, reading no more
// than needed: the ticket once, the catalog once, the comments only when
// their count changed.
func TestWebhookTriggerRoundTrip(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LinkField, c.LinkTarget = "Developer ticket", "jira/dev_ticket" })
	id, err := e.zd.CreateTicket("ada@example.com", "Export fails", "Steps: click export", nil,
		map[string]string{"Developer ticket": "KBOT-7", "Reproducible": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	ref := "zendesk/customer_ticket/" + itoa(id)
	show := "GET /api/v2/tickets/" + itoa(id) + ".json?include=users,organizations,comment_count"
	comments := "GET /api/v2/tickets/" + itoa(id) + "/comments.json?include=users&page[size]=100"
	sameLines(t, "calls for a new ticket", e.calls(), concat([]string{show}, catalogCalls, []string{comments}))
	evs := e.takeEvents()
	if len(evs) != 1 {
		t.Fatalf("%d events; want 1", len(evs))
	}
	ev := evs[0]
	it := ev.Item
	tk, _ := e.zd.Ticket(id)
	if ev.Type != core.Created || ev.Via != core.ViaWebhook || ev.Source != "zendesk" ||
		ev.DeliveryID != ref+"@"+tk.UpdatedAt.Format(time.RFC3339Nano) || it.Ref.String() != ref {
		t.Fatalf("event = %s %s %s %q %s", ev.Type, ev.Via, ev.Source, ev.DeliveryID, it.Ref)
	}
	if it.Title != "Export fails" || it.Reporter != "ada@example.com" || it.Native != "new" ||
		it.Fields["Developer ticket"] != "KBOT-7" || it.Fields["Reproducible"] != "yes" ||
		len(it.Comments) != 1 || it.Comments[0].Author != "ada@example.com" || !it.Comments[0].Public {
		t.Fatalf("item = %+v", it)
	}
	if len(ev.Links) != 1 || ev.Links[0].To.String() != "jira/dev_ticket/KBOT-7" || ev.Links[0].Origin != core.Explicit {
		t.Fatalf("links = %+v", ev.Links)
	}

	// An internal note: one comments read.
	if _, err := e.zd.Reply(id, fake.Agent, "looking into it", false); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "calls for a new comment", e.calls(), []string{show, comments})
	ev = e.takeEvents()[0]
	if ev.Type != core.Commented || len(ev.Item.Comments) != 2 || ev.Item.Comments[1].Public || ev.Item.Comments[1].Author != fake.Agent {
		t.Fatalf("comment event = %s %+v", ev.Type, ev.Item.Comments)
	}

	// A status change without a comment: the comments are not read again.
	if err := e.zd.SetStatus(id, "hold"); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "calls for a status change", e.calls(), []string{show})
	ev = e.takeEvents()[0]
	if ev.Item.Native != "hold" || len(ev.Item.Comments) != 2 || ev.Type != core.Updated {
		t.Fatalf("status event = %s native %q, %d comments", ev.Type, ev.Item.Native, len(ev.Item.Comments))
	}
}

// TestWebhookFetchesOnce: whatever the body carries (only the ticket id,
// minute-precision times), the ticket and its comments are read exactly once.
func TestWebhookFetchesOnce(t *testing.T) {
	e := newEnv(t, nil)
	e.zd.SetWebhook("", "")
	id, err := e.zd.CreateTicket("ada@example.com", "Login loops", "It loops", []string{"vip"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.calls()
	_, _ = e.c.catalog(context.Background(), false)
	e.calls()
	bodies := map[string]string{
		"id only":        `{"ticket": {"id": "` + itoa(id) + `"}}`,
		"unquoted id":    `{"ticket": {"id": ` + itoa(id) + `, "subject": "Login loops"}}`,
		"minute precise": `{"ticket": {"id": "` + itoa(id) + `", "subject": "Login loops", "status": "New", "requester_email": "ada@example.com", "updated_at": "2026-11-23T10:00Z"}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			c := e.connector(nil) // fresh caches
			evs, err := c.ReceiveWebhook(context.Background(), signed([]byte(body), testSecret, t0))
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d events, %v", len(evs), err)
			}
			sameLines(t, "calls", e.calls(), concat(
				[]string{"GET /api/v2/tickets/" + itoa(id) + ".json?include=users,organizations,comment_count"},
				catalogCalls,
				[]string{"GET /api/v2/tickets/" + itoa(id) + "/comments.json?include=users&page[size]=100"}))
			it := evs[0].Item
			if it.Title != "Login loops" || it.Reporter != "ada@example.com" || len(it.Comments) != 1 || it.Labels[0] != "vip" || it.UpdatedAt.IsZero() {
				t.Fatalf("item = %+v", it)
			}
			if string(evs[0].Raw) != body {
				t.Fatal("event does not keep the raw body")
			}
		})
	}
}

// TestWebhookEventForm: ticket events are de-duplicated on their id, read
// the ticket once, and keep an internal note internal.
func TestWebhookEventForm(t *testing.T) {
	e := newEnv(t, nil, fake.WithWebhookForm(fake.EventForm))
	id, err := e.zd.CreateTicket("ada@example.com", "Export fails", "Steps", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.zd.Reply(id, fake.Agent, "internal: needs dev", false); err != nil {
		t.Fatal(err)
	}
	evs := e.takeEvents()
	if len(evs) != 2 {
		t.Fatalf("%d events; want 2", len(evs))
	}
	if evs[0].Type != core.Created || evs[1].Type != core.Commented {
		t.Fatalf("types %s, %s", evs[0].Type, evs[1].Type)
	}
	dl := e.zd.Deliveries()
	if evs[1].DeliveryID != "00000000-0000-4000-8000-000000000002" || evs[0].DeliveryID == evs[1].DeliveryID {
		t.Fatalf("delivery ids %q, %q", evs[0].DeliveryID, evs[1].DeliveryID)
	}
	note := evs[1].Item.Comments[1]
	if note.Public || note.Body != "internal: needs dev" || evs[1].Item.Reporter != "ada@example.com" {
		t.Fatalf("note = %+v", note)
	}
	// Zendesk redelivers: same event id, so the inbox keeps one.
	e.calls()
	again, err := e.c.ReceiveWebhook(context.Background(), core.WebhookRequest{Header: dl[1].Header, Body: dl[1].Body})
	if err != nil || again[0].DeliveryID != evs[1].DeliveryID {
		t.Fatalf("redelivery: %v, %+v", err, again)
	}
	// Another domain's event is acknowledged without events.
	other := []byte(`{"type":"zen:event-type:user.active_changed","id":"x","detail":{"id":"1"}}`)
	if evs, err := e.c.ReceiveWebhook(context.Background(), signed(other, testSecret, t0)); err != nil || evs != nil {
		t.Fatalf("user event: %v, %v", evs, err)
	}
}

// TestWebhookFetchFailureStillAcknowledges: when the ticket cannot be read
// the delivery is kept as what it carried, with no update time (so it
// cannot override a snapshot) and a key of its own (so the poller's
// snapshot is not taken for a duplicate).
func TestWebhookFetchFailureStillAcknowledges(t *testing.T) {
	for _, form := range []fake.WebhookForm{fake.TriggerForm, fake.EventForm} {
		e := newEnv(t, nil, fake.WithWebhookForm(form))
		e.zd.SetWebhook("", "")
		id, _ := e.zd.CreateTicket("ada@example.com", "Export fails", "Steps", nil, map[string]string{"Developer ticket": "KBOT-7"})
		_, _ = e.c.catalog(context.Background(), false)
		e.zd.SetWebhook("http://127.0.0.1:1/", testSecret)
		e.zd.DropWebhooks(1)
		_, _ = e.zd.Reply(id, "ada@example.com", "any news?", true)
		dl := e.zd.Deliveries()
		body := dl[len(dl)-1].Body
		e.zd.FailNext(10, http.StatusServiceUnavailable, 0)
		evs, err := e.c.ReceiveWebhook(context.Background(), signed(body, testSecret, t0))
		if err != nil || len(evs) != 1 {
			t.Fatalf("form %d: %d events, %v", form, len(evs), err)
		}
		it, ev := evs[0].Item, evs[0]
		if !it.UpdatedAt.IsZero() || len(it.Comments) != 1 || it.Comments[0].Body != "any news?" || ev.Type != core.Commented {
			t.Fatalf("form %d: partial item = %+v", form, it)
		}
		if form == fake.TriggerForm {
			if it.Title != "Export fails" || it.Reporter != "ada@example.com" || it.Fields["Developer ticket"] != "KBOT-7" ||
				!strings.Contains(ev.DeliveryID, "#webhook#") {
				t.Fatalf("trigger partial = %+v, key %q", it, ev.DeliveryID)
			}
		}
		if !strings.Contains(e.logs.String(), "reading the ticket failed") {
			t.Fatal("the failure was not logged")
		}
	}
}

// TestWebhookMalformed: bodies that are not a trigger body or a ticket
// event are bad input, and the error does not echo them.
func TestWebhookMalformed(t *testing.T) {
	e := newEnv(t, nil)
	for _, body := range []string{
		`not json`, `[]`, `{"hello": "world-ECHO"}`, `{"ticket": {"id": "ECHO"}}`, `{"ticket": "ECHO"}`,
		`{"type": "zen:event-type:ticket.created", "detail": {"id": "ECHO"}, "id": "e1"}`,
		`{"type": "zen:event-type:ticket.created", "detail": {"id": "5"}}`,
	} {
		_, err := e.c.ReceiveWebhook(context.Background(), signed([]byte(body), testSecret, t0))
		var bad *core.BadInput
		if !errors.As(err, &bad) {
			t.Errorf("%s: err %v; want *core.BadInput", body, err)
			continue
		}
		if strings.Contains(err.Error(), "ECHO") || strings.Contains(err.Error(), "world") {
			t.Errorf("error echoes the body: %v", err)
		}
	}
}

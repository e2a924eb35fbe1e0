package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

type tick struct{ t time.Time }

func (c *tick) Now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func newSandbox(t *testing.T, cfg Config, env map[string]string) (*Connector, error) {
	t.Helper()
	c, err := New(core.Setup{Name: "zendesk", Clock: &tick{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		Log: slog.New(slog.DiscardHandler), Env: func(k string) string { return env[k] },
		Decode: func(v any) error { *v.(*Config) = cfg; return nil }})
	if err != nil {
		return nil, err
	}
	return c.(*Connector), nil
}

func TestNew_WebhooksNeedASecret(t *testing.T) {
	if _, err := newSandbox(t, Config{}, nil); err == nil || !strings.Contains(err.Error(), "webhooks need a secret") {
		t.Fatalf("err = %v; want a refusal to run webhooks without a secret", err)
	}
	if _, err := newSandbox(t, Config{WebhookSecretEnv: "S"}, map[string]string{}); err == nil {
		t.Fatal("accepted an empty secret variable")
	}
	if _, err := newSandbox(t, Config{WebhookSecretEnv: "S", WebhookSecretFile: "/nonexistent"}, map[string]string{"S": "hunter2"}); err == nil ||
		!strings.Contains(err.Error(), "webhook_secret_env and webhook_secret_file are both set") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v; want both sources refused, without the value", err)
	}
}

func TestReceiveWebhook_RefusesForgedAndMalformed(t *testing.T) {
	c, err := newSandbox(t, Config{WebhookSecretEnv: "S"}, map[string]string{"S": "hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"d1","type":"created","item":{"ref":{"System":"zendesk","Kind":"customer_ticket","ID":"1"},"title":"x","updated_at":"2026-11-23T09:00:00Z"}}`)
	good := http.Header{SignatureHeader: {Sign("hunter2", body)}}
	cases := []struct {
		name   string
		header http.Header
		body   []byte
		forged bool
	}{
		{"missing signature", http.Header{}, body, true},
		{"wrong secret", http.Header{SignatureHeader: {Sign("other", body)}}, body, true},
		{"body changed after signing", good, append([]byte(" "), body...), true},
		{"not json", http.Header{SignatureHeader: {Sign("hunter2", []byte("{"))}}, []byte("{"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := c.ReceiveWebhook(context.Background(), core.WebhookRequest{Header: tc.header, Body: tc.body})
			if len(evs) != 0 || err == nil {
				t.Fatalf("accepted: %v %v", evs, err)
			}
			var bad *core.BadInput
			if tc.forged != (err == core.ErrForged) || (!tc.forged && !asBad(err, &bad)) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("secret in error")
			}
		})
	}
	evs, err := c.ReceiveWebhook(context.Background(), core.WebhookRequest{Header: good, Body: body})
	if err != nil || len(evs) != 1 || evs[0].DeliveryID != "d1" || evs[0].Item.Title != "x" {
		t.Fatalf("good delivery: %v %+v", err, evs)
	}
}

func asBad(err error, bad **core.BadInput) bool {
	b, ok := err.(*core.BadInput)
	*bad = b
	return ok
}

// TestPoll_PagesNeitherSkipNorRepeat walks records that share update
// times across pages.
func TestPoll_PagesNeitherSkipNorRepeat(t *testing.T) {
	no := false
	c, err := newSandbox(t, Config{Webhooks: &no, PageSize: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := c.Put(context.Background(), core.Item{Ref: core.Ref{Kind: core.CustomerTicket, ID: fmt.Sprint(i)}, Title: "t"}, core.Created); err != nil {
			t.Fatal(err)
		}
	}
	// Two records at the same instant as the last one.
	for _, it := range c.Records(core.CustomerTicket)[:2] {
		c.records[it.Ref].UpdatedAt = c.records[core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "9"}].UpdatedAt
	}
	seen := map[string]int{}
	cur := c.CursorAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for pages := 0; ; pages++ {
		evs, next, more, err := c.Poll(context.Background(), cur)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 3 || pages > 10 {
			t.Fatalf("page of %d, page %d", len(evs), pages)
		}
		for _, e := range evs {
			seen[e.Item.Ref.ID]++
		}
		cur = next
		if !more {
			break
		}
	}
	if len(seen) != 10 {
		t.Fatalf("saw %d records: %v", len(seen), seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("record %s seen %d times", id, n)
		}
	}
	if evs, _, _, _ := c.Poll(context.Background(), cur); len(evs) != 0 {
		t.Fatalf("an idle poll returned %d events", len(evs))
	}
}

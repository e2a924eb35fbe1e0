package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/liaisonhq/liaison/internal/golden"
)

func TestFormatFor(t *testing.T) {
	for _, tc := range []struct {
		url, field string
		want       Format
		err        string
	}{
		{"https://hooks.slack.com/services/T0/B0/x", "", FormatSlack, ""},
		{"https://acme.webhook.office.com/webhookb2/x", "", FormatTeams, ""},
		{"https://chat.acme.example/hooks/x", "", FormatJSON, ""},
		{"https://webhook.office.com.evil.example/x", "", FormatJSON, ""},
		{"https://chat.acme.example/hooks/x", "Slack", FormatSlack, ""},
		{"https://hooks.slack.com/services/x", "json", FormatJSON, ""},
		{"https://chat.acme.example/hooks/x", "discord", "", `format "discord"`},
	} {
		u, _ := url.Parse(tc.url)
		got, err := FormatFor(u, tc.field)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("FormatFor(%s, %q) = %q, %v; want %q, %q", tc.url, tc.field, got, err, tc.want, tc.err)
		}
	}
}

// TestChatMessages_Golden: a notification to a Slack or Teams incoming
// webhook is that chat's message, with the customer's words shown as
// written (never as markup) and a link to the record.
func TestChatMessages_Golden(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	records := fakeRecords{ref("4521"): {Ref: ref("4521"), Title: "Export fails", URL: "https://acme.zendesk.com/agent/tickets/4521"}}
	n, _ := newNotifier(t, Options{Allow: []string{"127.0.0.1"}, Records: records})
	for _, format := range []string{"slack", "teams"} {
		t.Run(format, func(t *testing.T) {
			mu.Lock()
			bodies = nil
			mu.Unlock()
			a := action(srv.URL + secretPath)
			a.Title = "URGENT: ticket #4521 <b>Export</b> & *fails*"
			a.Body = "The customer wrote: <!channel> *everything* is [down](https://evil.example) & slow"
			a.Fields = map[string]string{"format": format}
			if _, err := n.Apply(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(bodies) != 1 {
				t.Fatalf("%d posts", len(bodies))
			}
			golden.JSON(t, format+".golden.json", bodies[0])
		})
	}
}

package zendesk

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/liaisonhq/liaison/connectors/connectortest"
	"github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/core"
)

// TestCheckSite_RoleWebhookAndTrigger: the gateway's account must be an
// agent; an active webhook to the gateway must subscribe to ticket events
// or be notified by a trigger on tickets created and updated; what an
// agent may not list is left to check by hand.
func TestCheckSite_RoleWebhookAndTrigger(t *testing.T) {
	const public = "https://gw.example.org"
	for _, tc := range []struct {
		name    string
		opts    []fake.Option
		hook    string
		missing []string
		unsure  []string
	}{
		{name: "webhook and trigger", hook: public + "/webhooks/zendesk/zendesk"},
		{name: "webhook subscribed to ticket events", opts: []fake.Option{fake.WithWebhookForm(fake.EventForm)}, hook: public + "/webhooks/zendesk/zendesk"},
		{name: "webhook subscribed to some ticket events", hook: public + "/webhooks/zendesk/zendesk",
			opts:    []fake.Option{fake.WithSubscriptions("zen:event-type:ticket.created", "zen:event-type:ticket.status_changed")},
			missing: []string{`webhook "Liaison" is subscribed to ticket events but not to zen:event-type:ticket.comment_added, zen:event-type:ticket.priority_changed, zen:event-type:ticket.custom_field_changed, zen:event-type:ticket.tags_changed`}},
		{name: "webhook without a trigger", hook: public + "/webhooks/zendesk/zendesk",
			opts:    []fake.Option{fake.WithSubscriptions("conditional_ticket_events")},
			missing: []string{`no active trigger notifies webhook "Liaison" (https://gw.example.org/webhooks/zendesk/zendesk): create one in Admin Center`}},
		{name: "no webhook", missing: []string{"no active webhook to https://gw.example.org/webhooks/zendesk/zendesk: create it in Admin Center"}},
		{name: "webhook to another gateway", hook: "https://old.example.org/webhooks/zendesk/zendesk", missing: []string{"no active webhook to https://gw.example.org/"}},
		{name: "an agent cannot list them", opts: []fake.Option{fake.WithRole("agent")}, hook: public + "/webhooks/zendesk/zendesk",
			unsure: []string{"cannot list the webhooks and triggers (GET /api/v2/webhooks: 403"}},
		{name: "an end user", opts: []fake.Option{fake.WithRole("end-user")}, hook: public + "/webhooks/zendesk/zendesk",
			missing: []string{"the gateway's account " + testEmail + " is an end-user: make it an agent"}, unsure: []string{"cannot list the webhooks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, tc.opts...)
			e.zd.SetWebhook(tc.hook, testSecret)
			r := e.c.CheckSite(context.Background(), nil, public)
			connectortest.SiteReport(t, r, tc.missing, tc.unsure)
		})
	}
}

// TestTrigger_FiresOnAndNotifies reads Zendesk's default triggers (a
// recorded list): none notifies a webhook, and each fires on the update
// types its conditions name.
func TestTrigger_FiresOnAndNotifies(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "api-triggers-list.json"))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Triggers []wireTrigger `json:"triggers"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"Notify requester of received request":  {"Create"},
		"Notify requester of comment update":    {"Change"},
		"Notify assignee of assignment":         {"Change", "Create"},
		"Notify all agents of received request": {"Create"},
	}
	seen := 0
	for _, tr := range list.Triggers {
		if tr.notifies("01EJFTSCC78X5V07NPY2MHR00M") {
			t.Errorf("trigger %q notifies a webhook", tr.Title)
		}
		if w, ok := want[tr.Title]; ok {
			seen++
			if got := tr.firesOn(); !slices.Equal(got, w) {
				t.Errorf("trigger %q fires on %v, want %v", tr.Title, got, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d triggers in the recorded list", seen, len(want))
	}
}

// TestCheckSite_FieldTypes: a declared type the account's field does not
// have is for the admin to look at; a declared option the drop-down lacks
// is missing (writing it would fail).
func TestCheckSite_FieldTypes(t *testing.T) {
	e := newEnv(t, nil)
	e.zd.SetWebhook("https://gw.example.org/webhooks/zendesk/zendesk", testSecret)
	e.zd.AddField("Regression", "checkbox")
	m := &core.Mappings{Systems: map[string]*core.SystemMap{"zendesk": {Name: "zendesk", Connector: "zendesk", Kinds: map[core.Kind]*core.KindMap{
		core.CustomerTicket: {
			Fields: map[string]string{"area": "Product area", "steps": "Steps to reproduce", "dev": "Developer ticket",
				"reproducible": "Reproducible", "regression": "Regression"},
			FieldTypes: map[string]core.FieldType{
				"area":         {Type: "dropdown", Options: []string{"billing", "Export", "refunds"}},
				"steps":        {Type: "multiline"},
				"dev":          {Type: "number"},
				"reproducible": {Type: "dropdown", Options: []string{"yes", "no"}},
				"regression":   {Type: "dropdown", Options: []string{"yes", "no"}},
			},
		},
	}}}}
	r := e.c.CheckSite(context.Background(), m, "https://gw.example.org")
	connectortest.SiteReport(t, r, []string{`field "Product area" lacks the options refunds, which the mappings declare`}, []string{
		`field "Developer ticket" is of type text here; the mappings declare Developer ticket: Number`,
		`field "Regression" is of type checkbox here; the mappings declare Regression: Drop-down, options yes, no`,
	})
}

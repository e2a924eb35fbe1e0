package zendesk

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// CheckSite implements core.SiteChecker: the gateway's account is an
// agent (or admin), and, when webhooks are on, an active webhook reaches
// the gateway and either subscribes to ticket events or is notified by an
// active trigger on every ticket created and updated.
func (c *Connector) CheckSite(ctx context.Context, m *core.Mappings, publicURL string) core.SiteReport {
	var r core.SiteReport
	var me struct {
		User struct {
			Role string `json:"role"`
		} `json:"user"`
	}
	if err := c.get(ctx, "/users/me.json", &me); err != nil {
		r.Err = fmt.Errorf("reading the gateway's account: %w", err)
		return r
	}
	if me.User.Role != "agent" && me.User.Role != "admin" {
		r.Missing = append(r.Missing, fmt.Sprintf("the gateway's account %s is an %s: make it an agent in Admin Center → People → Team members (agents update tickets and add comments)",
			c.cfg.Email, cmp.Or(me.User.Role, "account without a role")))
	}
	if err := c.checkFieldTypes(ctx, &r, m); err != nil {
		r.Err = err
		return r
	}
	if c.hooks {
		r.Err = c.checkWebhook(ctx, &r, publicURL)
	}
	return r
}

// fieldKinds are the ticket field types (as /ticket_fields gives them)
// each of the mappings' field types may be.
var fieldKinds = map[string][]string{
	"text": {"text"}, "multiline": {"textarea"}, "number": {"integer", "decimal"}, "date": {"date"},
	"checkbox": {"checkbox"}, "dropdown": {"tagger"}, "multiselect": {"multiselect"}, "user": {"lookup"}, "users": {"lookup"},
}

// checkFieldTypes compares the fields whose declaration gives a type with
// the account's: another type is for the admin to look at (the connector
// writes each type as it is), a missing option is missing (writing it
// fails).
func (c *Connector) checkFieldTypes(ctx context.Context, r *core.SiteReport, m *core.Mappings) error {
	if m == nil || m.Systems[c.name] == nil {
		return nil
	}
	sm := m.Systems[c.name]
	k, err := c.catalog(ctx, false)
	if err != nil {
		return fmt.Errorf("reading the ticket fields: %w", err)
	}
	for _, kind := range slices.Sorted(maps.Keys(sm.Kinds)) {
		km := sm.Kinds[kind]
		for _, canon := range slices.Sorted(maps.Keys(km.FieldTypes)) {
			ft, f := km.FieldTypes[canon], k.field(km.Fields[canon])
			if f == nil {
				continue // CheckMappings names it
			}
			if !slices.Contains(fieldKinds[ft.Type], f.Type) {
				r.Unsure = append(r.Unsure, fmt.Sprintf("field %q is of type %s here; the mappings declare %s: change one of them (Admin Center → Objects and rules → Tickets → Fields, or its type in systems.yaml)",
					f.Title, f.Type, core.SetupFieldLine(f.Title, ft, fieldTypeNames)))
				continue
			}
			var lacks []string
			for _, o := range ft.Options {
				if _, ok := f.option(o); !ok {
					lacks = append(lacks, o)
				}
			}
			if len(lacks) > 0 {
				r.Missing = append(r.Missing, fmt.Sprintf("field %q lacks the options %s, which the mappings declare: add them in Admin Center → Objects and rules → Tickets → Fields",
					f.Title, strings.Join(lacks, ", ")))
			}
		}
	}
	return nil
}

// wireWebhook is one webhook of GET /api/v2/webhooks.
type wireWebhook struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Endpoint      string   `json:"endpoint"`
	Status        string   `json:"status"`
	Subscriptions []string `json:"subscriptions"`
}

// wireTrigger is one trigger of GET /api/v2/triggers.
type wireTrigger struct {
	Title   string `json:"title"`
	Active  bool   `json:"active"`
	Actions []struct {
		Field string          `json:"field"`
		Value json.RawMessage `json:"value"`
	} `json:"actions"`
	Conditions struct {
		All []triggerCondition `json:"all"`
		Any []triggerCondition `json:"any"`
	} `json:"conditions"`
}

type triggerCondition struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

// notifies reports whether the trigger's actions notify the webhook id.
func (t wireTrigger) notifies(id string) bool {
	for _, a := range t.Actions {
		var v []any
		if a.Field == "notification_webhook" && json.Unmarshal(a.Value, &v) == nil && len(v) > 0 && v[0] == id {
			return true
		}
	}
	return false
}

// firesOn returns the update types (Create, Change) the trigger fires on:
// those an update_type condition under "all" requires, else those listed
// under "any", else both.
func (t wireTrigger) firesOn() []string {
	for _, cs := range [][]triggerCondition{t.Conditions.All, t.Conditions.Any} {
		var on []string
		for _, cd := range cs {
			if v, ok := cd.Value.(string); ok && cd.Field == "update_type" && cd.Operator == "is" {
				on = append(on, v)
			}
		}
		if len(on) > 0 {
			slices.Sort(on)
			return slices.Compact(on)
		}
	}
	return []string{"Change", "Create"}
}

// ticketEvents are the ticket events a webhook subscribed to events
// (rather than notified by a trigger) must carry: every kind of change
// the rules read (creation, comments, status, priority, fields, tags).
var ticketEvents = []string{"zen:event-type:ticket.created", "zen:event-type:ticket.comment_added", "zen:event-type:ticket.status_changed",
	"zen:event-type:ticket.priority_changed", "zen:event-type:ticket.custom_field_changed", "zen:event-type:ticket.tags_changed"}

// checkWebhook looks for the webhook and its trigger (listing both needs
// an admin: an agent's answer is 403, and the check is then by hand).
func (c *Connector) checkWebhook(ctx context.Context, r *core.SiteReport, publicURL string) error {
	target := cmp.Or(strings.TrimRight(publicURL, "/"), "https://<gateway>") + core.WebhookPath("zendesk", c.name)
	howHook := "create it in Admin Center → Apps and integrations → Webhooks (endpoint " + target + ", POST, JSON); `liaison setup --system " + c.name + "` prints it"
	howTrigger := "create one in Admin Center → Objects and rules → Business rules → Triggers (Ticket Is Created or Ticket Is Updated, action Notify active webhook with the body `liaison setup --system " + c.name + "` prints)"
	var hooks []wireWebhook
	if err := c.list(ctx, "/webhooks", "webhooks", &hooks); err != nil {
		if s := statusOf(err); s == http.StatusForbidden || s == http.StatusUnauthorized || s == http.StatusNotFound {
			r.Unsure = append(r.Unsure, fmt.Sprintf("cannot list the webhooks and triggers (%v; listing needs an admin): check there is an active webhook to %s and a trigger that notifies it on every ticket created and updated", err, target))
			return nil
		}
		return fmt.Errorf("listing the webhooks: %w", err)
	}
	var ours []wireWebhook
	for _, h := range hooks {
		if h.Status == "active" && core.WebhookAt(h.Endpoint, publicURL, "zendesk", c.name) {
			if slices.ContainsFunc(h.Subscriptions, func(s string) bool { return strings.HasPrefix(s, "zen:event-type:ticket.") }) {
				// Subscribed to ticket events: no trigger needed, but
				// every kind of change the rules read must be sent.
				var lacks []string
				for _, e := range ticketEvents {
					if !slices.Contains(h.Subscriptions, e) {
						lacks = append(lacks, e)
					}
				}
				if len(lacks) > 0 {
					r.Missing = append(r.Missing, fmt.Sprintf("webhook %q is subscribed to ticket events but not to %s: the gateway is not told of those changes; add them in Admin Center → Apps and integrations → Webhooks",
						h.Name, strings.Join(lacks, ", ")))
				}
				return nil
			}
			ours = append(ours, h)
		}
	}
	if len(ours) == 0 {
		r.Missing = append(r.Missing, "no active webhook to "+target+": "+howHook+"; then a trigger that notifies it: "+howTrigger)
		return nil
	}
	var triggers []wireTrigger
	if err := c.list(ctx, "/triggers.json", "triggers", &triggers); err != nil {
		return fmt.Errorf("listing the triggers: %w", err)
	}
	var partial []string
	for _, t := range triggers {
		for _, h := range ours {
			if !t.Active || !t.notifies(h.ID) {
				continue
			}
			on := t.firesOn()
			if slices.Contains(on, "Create") && slices.Contains(on, "Change") {
				return nil
			}
			partial = append(partial, fmt.Sprintf("trigger %q notifies webhook %q on %s only: make it fire on Ticket Is Created and Ticket Is Updated (conditions, Meet ANY)", t.Title, h.Name, strings.Join(on, ", ")))
		}
	}
	if len(partial) > 0 {
		r.Missing = append(r.Missing, partial...)
		return nil
	}
	r.Missing = append(r.Missing, fmt.Sprintf("no active trigger notifies webhook %q (%s): %s", ours[0].Name, ours[0].Endpoint, howTrigger))
	return nil
}

package zendesk

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

func init() { core.RegisterSetupGuide("zendesk", guide) }

// guide lists the custom fields, groups and forms the mappings name, and
// the webhook and trigger (with its JSON body) that report changes.
func guide(system string, m *core.Mappings, publicURL string) []core.SetupStep {
	sm := m.Systems[system]
	if sm == nil {
		return nil
	}
	fields, groups, forms := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(sm.Kinds)) {
		km := sm.Kinds[k]
		for _, f := range km.Fields {
			if !reservedRead[strings.ToLower(f)] && !reservedWrite[strings.ToLower(f)] {
				fields[f] = true
			}
		}
		for _, f := range m.FieldsWritten(system, k) {
			if !reservedWrite[strings.ToLower(f)] {
				fields[f] = true
			}
		}
		if g := km.Create["group"]; g != "" {
			groups[g] = true
		}
		if f := km.Create["form"]; f != "" {
			forms[f] = true
		}
	}
	steps := []core.SetupStep{{
		Title: "The gateway's account",
		Where: "Admin Center → People → Team members; Admin Center → Apps and integrations → Zendesk API → API tokens",
		Items: []string{
			"an agent (config email), with an API token (config token_env or token_file)",
			"an admin, optionally: only then can `liaison check --online` list the webhooks and triggers (otherwise it asks you to check them by hand)",
		},
	}}
	if len(fields) > 0 {
		types := map[string]core.FieldType{}
		for _, km := range sm.Kinds {
			maps.Copy(types, km.FieldTypesOf())
		}
		var lines []string
		for _, f := range slices.Sorted(maps.Keys(fields)) {
			lines = append(lines, core.SetupFieldLine(f, types[f], fieldTypeNames))
		}
		steps = append(steps, core.SetupStep{
			Title: "Custom ticket fields",
			Where: "Admin Center → Objects and rules → Tickets → Fields (named by title, without case)",
			Items: lines,
		})
	}
	if len(groups) > 0 {
		steps = append(steps, core.SetupStep{Title: "Groups", Where: "Admin Center → People → Groups", Items: slices.Sorted(maps.Keys(groups))})
	}
	if len(forms) > 0 {
		steps = append(steps, core.SetupStep{Title: "Ticket forms (Suite Growth and above)", Where: "Admin Center → Objects and rules → Tickets → Forms",
			Items: slices.Sorted(maps.Keys(forms))})
	}
	hook := publicURL + core.WebhookPath("zendesk", system)
	steps = append(steps, core.SetupStep{
		Title: "Webhook",
		Where: "Admin Center → Apps and integrations → Webhooks → Create webhook → Trigger or automation (or POST this to /api/v2/webhooks)",
		Items: []string{
			"endpoint: " + hook + ", POST, JSON, no authentication",
			"copy its signing secret into the variable or file the config's webhook_secret_env (or webhook_secret_file) names",
		},
		Code: core.SetupJSON(map[string]any{"webhook": map[string]any{"name": "Liaison", "endpoint": hook, "http_method": "POST",
			"request_format": "json", "status": "active", "subscriptions": []string{"conditional_ticket_events"}}}),
		Lang: "json",
	})
	steps = append(steps, core.SetupStep{
		Title: "Trigger",
		Where: "Admin Center → Objects and rules → Business rules → Triggers → Add trigger",
		Items: []string{
			"conditions, Meet ANY: Ticket Is Created; Ticket Is Updated",
			"action: Notify by → Active webhook → the webhook above, with this body",
			"in custom_fields, replace each <id of …> with the field's id (the Fields page shows it)",
		},
		Code: triggerJSON(slices.Sorted(maps.Keys(fields))),
		Lang: "json",
	})
	return steps
}

// fieldTypeNames are Zendesk's ticket field types for the mappings' field
// types, as Admin Center names them.
var fieldTypeNames = map[string]string{
	"text": "Text", "multiline": "Multi-line", "number": "Number", "date": "Date", "checkbox": "Checkbox",
	"dropdown": "Drop-down", "multiselect": "Multi-select", "user": "Lookup relationship (users)", "users": "Lookup relationship (users)",
}

// triggerJSON is the trigger's body: Zendesk placeholders for what the
// connector reads from a delivery, and one line per custom field.
func triggerJSON(fields []string) string {
	custom := map[string]string{}
	for _, f := range fields {
		custom[f] = fmt.Sprintf("{{ticket.ticket_field_<id of %s>}}", f)
	}
	body := map[string]any{"ticket": map[string]any{
		"id": "{{ticket.id}}", "url": "{{ticket.link}}", "status": "{{ticket.status}}", "priority": "{{ticket.priority}}",
		"type": "{{ticket.ticket_type}}", "subject": "{{ticket.title}}", "description": "{{ticket.description}}",
		"requester_email": "{{ticket.requester.email}}", "requester_name": "{{ticket.requester.name}}",
		"assignee_email": "{{ticket.assignee.email}}", "group": "{{ticket.group.name}}",
		"organization": "{{ticket.organization.name}}", "tags": "{{ticket.tags}}",
		"created_at": "{{ticket.created_at_with_timestamp}}", "updated_at": "{{ticket.updated_at_with_timestamp}}",
		"latest_comment": map[string]string{
			"id": "{{ticket.latest_comment.id}}", "public": "{{ticket.latest_comment.is_public}}",
			"author_email": "{{ticket.latest_comment.author.email}}",
			"created_at":   "{{ticket.latest_comment.created_at_with_timestamp}}", "body": "{{ticket.latest_comment.value}}",
		},
		"custom_fields": custom,
	}}
	return core.SetupJSON(body)
}

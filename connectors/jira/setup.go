package jira

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

func init() { core.RegisterSetupGuide("jira", guide) }

// guide lists the gateway's account and its permissions, then, per kind
// the mappings give this Jira, the project, issue type, statuses, custom
// fields and priorities to create, and the webhook.
func guide(system string, m *core.Mappings, publicURL string) []core.SetupStep {
	sm := m.Systems[system]
	if sm == nil {
		return nil
	}
	steps := []core.SetupStep{{
		Title: "The gateway's account",
		Where: "Jira Cloud: a user with an API token (id.atlassian.com → Security → API tokens; config email and token_env). Data Center: a user with a personal access token (Profile → Personal Access Tokens; config token_env, deployment: datacenter)",
		Items: accountNeeds(m, system, sm),
	}}
	for _, k := range slices.Sorted(maps.Keys(sm.Kinds)) {
		km := sm.Kinds[k]
		project, issueType := km.Create["project"], km.Create["issue_type"]
		where := "project " + project
		if project == "" {
			// The configuration names the projects (projects: {dev: […],
			// change: …}); the mappings follow it.
			role := strings.TrimSuffix(string(k), "_ticket")
			where = "the " + role + " projects (config: projects." + role + ")"
		}
		var made []string
		if project != "" {
			made = append(made, "project key "+project)
		}
		if issueType != "" {
			made = append(made, "issue type "+issueType+" in "+where)
		}
		steps = append(steps, core.SetupStep{
			Title: fmt.Sprintf("%s: project and issue type", k),
			Where: "Projects → Create project; Project settings → Issue types",
			Items: made,
		})
		var statuses []string
		for _, s := range km.Listed {
			statuses = append(statuses, s+" ("+string(km.Statuses[strings.ToLower(s)])+")")
		}
		items := []string{"statuses: " + strings.Join(statuses, ", ")}
		if path := walk(m, system, k, km); len(path) > 1 {
			var moves []string
			for i := 1; i < len(path); i++ {
				moves = append(moves, path[i-1]+" → "+path[i])
			}
			items = append(items, "transitions the gateway walks, in this order (each may be a chain of transitions): "+strings.Join(moves, "; "))
		}
		if len(km.Validation) > 0 {
			var chain []string
			for _, st := range km.Validation {
				chain = append(chain, km.Native[st])
			}
			items = append(items, "the validation chain (systems.yaml validation:) reads "+strings.Join(chain, " → ")+
				" before a fix is done; for a stock workflow (To Do, In Progress, Done) use the overlay mappings/examples/stock-jira instead of adding them (validation: [] and two pull-request rules)")
		}
		steps = append(steps, core.SetupStep{
			Title: fmt.Sprintf("%s: the workflow of %s", k, where),
			Where: "Project settings → Workflows (a status is matched by name, without case)",
			Items: items,
		})
		fields := map[string]bool{}
		for _, f := range km.Fields {
			fields[f] = true
		}
		for _, f := range m.FieldsWritten(system, k) {
			fields[f] = true
		}
		for _, f := range reservedFields {
			delete(fields, f)
		}
		if len(fields) > 0 {
			types := km.FieldTypesOf()
			var lines []string
			for _, f := range slices.Sorted(maps.Keys(fields)) {
				lines = append(lines, core.SetupFieldLine(f, types[f], fieldTypeNames))
			}
			steps = append(steps, core.SetupStep{
				Title: fmt.Sprintf("%s: custom fields", k),
				Where: "Settings → Issues → Custom fields (then add each to the screens of " + where + "); the type as Jira Cloud / Data Center names it",
				Items: lines,
			})
		}
		if len(km.Outcomes) > 0 {
			var res []string
			for _, r := range slices.Sorted(maps.Keys(km.Outcomes)) {
				res = append(res, capitalized(r)+" ("+string(km.Outcomes[r])+")")
			}
			steps = append(steps, core.SetupStep{
				Title: fmt.Sprintf("%s: resolutions", k),
				Where: "Settings → Issues → Resolutions (matched by name, without case)",
				Items: []string{strings.Join(res, ", ")},
			})
		}
		if len(km.NativePrio) > 0 {
			var prios []string
			for _, p := range slices.Sorted(maps.Keys(km.Priorities)) {
				prios = append(prios, capitalized(p))
			}
			steps = append(steps, core.SetupStep{
				Title: fmt.Sprintf("%s: priorities", k),
				Where: "Settings → Issues → Priorities",
				Items: []string{strings.Join(prios, ", ")},
			})
		}
	}
	hook := publicURL + core.WebhookPath("jira", system)
	jql := "project in (" + cmp.Or(strings.Join(projectsOf(sm), ", "), "<the config's projects>") + ")"
	steps = append(steps, core.SetupStep{
		Title: "Webhook",
		Where: "Settings → System → WebHooks → Create a WebHook (or POST this to /rest/webhooks/1.0/webhook as an administrator)",
		Items: []string{
			"URL: " + hook,
			"events: " + strings.Join(webhookEvents, ", ") + " (Issue created, updated, deleted; Comment created, updated)",
			"JQL: " + jql + " (the projects of the config's projects:)",
			"secret: the one the config's webhook_secret_env (or webhook_secret_file) names; deliveries are signed X-Hub-Signature, HMAC-SHA256",
		},
		Code: core.SetupJSON(map[string]any{"name": "Liaison", "url": hook, "events": webhookEvents,
			"filters": map[string]string{"issue-related-events-section": jql}, "excludeBody": false}),
		Lang: "json",
	})
	return steps
}

// fieldTypeNames are Jira's custom field types for the mappings' field
// types, as Jira Cloud / Data Center name them.
var fieldTypeNames = map[string]string{
	"text": "Short text / Text Field (single line)", "multiline": "Paragraph / Text Field (multi-line)",
	"number": "Number / Number Field", "date": "Date Picker", "checkbox": "Checkboxes (one option)",
	"dropdown": "Select List (single choice)", "multiselect": "Select List (multiple choices)",
	"user": "User Picker (single user)", "users": "User Picker (multiple users)",
}

// walk is the statuses the rules move a kind's issues through, as Jira
// spells them, from where issues start (the status mapped to open, else
// the first listed).
func walk(m *core.Mappings, system string, k core.Kind, km *core.KindMap) []string {
	start := km.Native[core.StatusOpen]
	if start == "" && len(km.Listed) > 0 {
		start = km.Listed[0]
	}
	path := []string{start}
	for _, st := range m.StatusesWritten(system, k) {
		if n := km.Native[st]; n != "" && n != path[len(path)-1] {
			path = append(path, n)
		}
	}
	return path
}

// accountNeeds names the project permissions the rules need per kind
// (those CheckSite asks Jira about), and what listing the webhooks needs.
func accountNeeds(m *core.Mappings, system string, sm *core.SystemMap) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(sm.Kinds)) {
		out = append(out, fmt.Sprintf("in the %s projects' permission scheme: %s", k, strings.Join(permissionsNeeded(m, system, k), ", ")))
	}
	return append(out, "Jira administrator, optionally: only then can `liaison check --online` list the webhooks and read the workflows (otherwise it asks you to check them by hand)")
}

func projectsOf(sm *core.SystemMap) []string {
	seen := map[string]bool{}
	for _, km := range sm.Kinds {
		if p := km.Create["project"]; p != "" {
			seen[p] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// capitalized upper-cases the first letter of a name the mappings keep in
// lower case (Jira compares them without case).
func capitalized(n string) string {
	if n == "" {
		return n
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

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

// guide lists, per kind the mappings give this Jira, the project, issue
// type, statuses, custom fields and priorities to create, and the webhook.
func guide(system string, m *core.Mappings, publicURL string) []core.SetupStep {
	sm := m.Systems[system]
	if sm == nil {
		return nil
	}
	var steps []core.SetupStep
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
		var moves []string
		for _, st := range m.StatusesWritten(system, k) {
			if n := km.Native[st]; n != "" {
				moves = append(moves, n)
			}
		}
		items := []string{"statuses: " + strings.Join(statuses, ", ")}
		if len(moves) > 0 {
			items = append(items, "the gateway moves issues to, in this order: "+strings.Join(moves, " → ")+
				"; the workflow needs a transition into each from the status before it")
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
			steps = append(steps, core.SetupStep{
				Title: fmt.Sprintf("%s: custom fields", k),
				Where: "Settings → Issues → Custom fields (then add each to the screens of " + where + ")",
				Items: slices.Sorted(maps.Keys(fields)),
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
	steps = append(steps, core.SetupStep{
		Title: "Webhook",
		Where: "Settings → System → WebHooks → Create a WebHook",
		Items: []string{
			"URL: " + publicURL + "/webhooks/jira/" + system,
			"events: Issue created, updated, deleted; Comment created, updated",
			"JQL: the projects above (" + cmp.Or(strings.Join(projectsOf(sm), ", "), "those the config's projects: name") + ")",
			"secret: the one the config's webhook_secret_env (or webhook_secret_file) names; deliveries are signed X-Hub-Signature, HMAC-SHA256",
		},
	})
	return steps
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

package mantis

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

func init() { core.RegisterSetupGuide("mantis", guide) }

// guide lists what a Mantis needs for the mappings in force: the API user
// and its token, per kind the projects (with a category), the statuses the
// gateway reads and writes, the custom fields (the marker field first),
// and that no webhook is needed. It reads only the mappings; project names
// come from their create defaults, since the config is not at hand here.
func guide(system string, m *core.Mappings, _ string) []core.SetupStep {
	sm := m.Systems[system]
	if sm == nil {
		return nil
	}
	steps := []core.SetupStep{{
		Title: "API user and token",
		Where: "Manage → Manage Users → Create New Account; then, logged in as that user, My Account → API Tokens",
		Items: []string{
			"a user of its own for the gateway (every issue it creates is reported by it; the marker look-up searches the issues it reported)",
			"access level developer or above in each project below, and allowed to add private notes",
			"not subject to moderation (a moderated write is refused, never queued twice)",
			"an API token of that user, in the variable or file the config's token_env (or token_file) names",
		},
	}}
	for _, k := range slices.Sorted(maps.Keys(sm.Kinds)) {
		km := sm.Kinds[k]
		items := []string{"each project the config lists under projects." + map[core.Kind]string{core.DevTicket: "dev", core.ChangeTicket: "change"}[k]}
		if p := km.Create[fieldProject]; p != "" && !strings.Contains(p, "{{") {
			items = []string{"project " + p}
		}
		if c := km.Create[fieldCategory]; c != "" && !strings.Contains(c, "{{") {
			items = append(items, "category "+c+" in it")
		} else {
			items = append(items, "at least one category in it (the first is used when a rule names none)")
		}
		steps = append(steps, core.SetupStep{
			Title: fmt.Sprintf("%s: project", k),
			Where: "Manage → Manage Projects → Create New Project; Manage Projects → the project → Categories",
			Items: items,
		})
		var statuses []string
		for _, s := range km.Listed {
			statuses = append(statuses, s+" ("+string(km.Statuses[strings.ToLower(s)])+")")
		}
		if len(statuses) > 0 {
			steps = append(steps, core.SetupStep{
				Title: fmt.Sprintf("%s: statuses", k),
				Where: "Manage → Manage Configuration → Workflow Thresholds and Workflow Transitions (names as in status_enum_string)",
				Items: []string{"statuses: " + strings.Join(statuses, ", "),
					"the gateway sets a status directly; the workflow must allow the API user each move"},
			})
		}
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
		delete(fields, defaultMarkerField)
		items = []string{defaultMarkerField + " (or the config's marker_field): type String, read and write access developer, linked to every project above; holds the creation marker"}
		steps = append(steps, core.SetupStep{
			Title: fmt.Sprintf("%s: custom fields", k),
			Where: "Manage → Manage Custom Fields (then link each to the projects above)",
			Items: append(items, slices.Sorted(maps.Keys(fields))...),
		})
	}
	steps = append(steps, core.SetupStep{
		Title: "No webhook",
		Where: "nothing to set up in Mantis",
		Items: []string{"MantisBT sends no webhooks: the gateway polls the issue list every poll_interval (default 1m)"},
	})
	return steps
}

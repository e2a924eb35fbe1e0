package opsgenie

import (
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/paging"
)

func init() { core.RegisterSetupGuide("opsgenie", guide) }

// guide lists what an OpsGenie account needs for the mappings in force:
// an API integration and its key, the responder team, and what the rules
// page with. It reads only the mappings.
func guide(system string, m *core.Mappings, _ string) []core.SetupStep {
	if m.Kind(system, core.Page) == nil {
		return nil
	}
	use := paging.UseOf(system, m)
	steps := []core.SetupStep{{
		Title: "API integration and its key",
		Where: "Settings → Integrations → Add integration → API (or a team's own: Teams → the team → Integrations)",
		Items: []string{
			"an API integration with Create and Update Access, enabled; its API key is the GenieKey the gateway sends",
			"the key in the variable or file the config's api_key_env (or api_key_file) names",
			"region: eu in the config for an account on app.eu.opsgenie.com (the API is then api.eu.opsgenie.com)",
		},
	}, {
		Title: "Responder team",
		Where: "Teams → Add team; the team → On-call (a schedule) and Escalations",
		Items: []string{
			"the team the config's team names (Support on-call, say): every page goes to it, unless a rule names another in its team field",
			"an on-call schedule and an escalation for it, so that a page reaches the person on call, day and night",
		},
	}}
	if len(use.Raise) > 0 || len(use.Close) > 0 {
		steps = append(steps, core.SetupStep{
			Title: "What the rules page with",
			Where: "Settings → Notifications, per priority (each responder's own rules)",
			Items: []string{
				"pages raised at " + use.Raised(),
				"pages closed by " + use.Closed() + ": the alert is closed when the help-desk ticket is handled",
				"the alert's alias is the gateway's marker (liaison- and twelve hex digits): OpsGenie de-duplicates on it, and the gateway reads the alert by it",
			},
		})
	}
	steps = append(steps, core.SetupStep{
		Title: "No webhook",
		Items: []string{"nothing to set up for the way back: the gateway reads an alert by its alias when it needs to"},
	})
	return steps
}

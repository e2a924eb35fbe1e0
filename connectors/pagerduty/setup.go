package pagerduty

import (
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/paging"
)

func init() { core.RegisterSetupGuide("pagerduty", guide) }

// guide lists what a PagerDuty account needs for the mappings in force:
// a service with an Events API v2 integration, its urgency by severity,
// and what the rules page with. It reads only the mappings.
func guide(system string, m *core.Mappings, _ string) []core.SetupStep {
	if m.Kind(system, core.Page) == nil {
		return nil
	}
	use := paging.UseOf(system, m)
	return []core.SetupStep{{
		Title: "Service and Events API v2 integration",
		Where: "Services → Service Directory → New Service (the on-call team's escalation policy); the service → Integrations → Add an integration → Events API V2",
		Items: []string{
			"the integration's key (the routing key) in the variable or file the config's routing_key_env (or routing_key_file) names",
			"region: eu in the config for an account in PagerDuty's EU service region (events.eu.pagerduty.com)",
		},
	}, {
		Title: "Urgency by severity",
		Where: "the service → Settings → Assign and Notify → Urgency: Based on alert severity",
		Items: []string{
			"pages triggered at severity " + use.Raised(),
			"critical and error as high urgency (someone is paged at once), warning and info as low",
		},
	}, {
		Title: "Resolving",
		Items: []string{
			"pages resolved by " + use.Closed() + ": the gateway sends a resolve with the page's dedup key when the help-desk ticket is handled",
			"the dedup key is the gateway's marker (liaison- and twelve hex digits); a trigger sent again with it is folded into the open alert",
			"no webhook: nothing comes back from PagerDuty",
		},
	}}
}

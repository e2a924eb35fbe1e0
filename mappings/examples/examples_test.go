package examples

import (
	"slices"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/mappings"
)

// TestLoad_ChoosesTheTrackersMappings: dev_tracker picks the shipped
// mappings: the defaults (Jira) or the Mantis variant, which routes to
// the CT2 projects and keeps the defaults' response-time targets and
// paging; an unknown tracker is refused with the known ones.
func TestLoad_ChoosesTheTrackersMappings(t *testing.T) {
	for _, tc := range []struct {
		tracker      string
		dev, notDev  string
		rule, source string
	}{
		{"", "jira", "mantis", "escalate-bug", "embedded defaults"},
		{"jira", "jira", "mantis", "escalate-bug", "embedded defaults"},
		{"mantis", "mantis", "jira", "escalate-request", "embedded mappings for dev_tracker mantis"},
	} {
		t.Run("tracker "+tc.tracker, func(t *testing.T) {
			m, err := Load(tc.tracker, mappings.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind(tc.dev, core.DevTicket) == nil || m.Systems[tc.notDev] != nil {
				t.Errorf("systems %v: want %s, not %s", keys(m.Systems), tc.dev, tc.notDev)
			}
			if m.Source != tc.source {
				t.Errorf("source %q, want %q", m.Source, tc.source)
			}
			var names []string
			for _, r := range m.Rules {
				names = append(names, r.Name)
			}
			for _, want := range []string{tc.rule, "page-urgent-escalation", "page-resolved"} {
				if !slices.Contains(names, want) {
					t.Errorf("rules lack %s: %v", want, names)
				}
			}
			if len(m.SLAs) == 0 || m.Kind("opsgenie", core.Page) == nil {
				t.Errorf("response-time targets %d, opsgenie pages %v", len(m.SLAs), m.Kind("opsgenie", core.Page))
			}
		})
	}
	if _, err := Load("gitlab", mappings.Options{}); err == nil || !strings.Contains(err.Error(), "want one of jira, mantis") {
		t.Errorf("unknown tracker: %v", err)
	}
}

// TestLoad_MantisWithTheConfiguredSystems: with a configuration running
// Zendesk and Mantis only, the variant loads, and what names the systems
// it lacks is disabled and said.
func TestLoad_MantisWithTheConfiguredSystems(t *testing.T) {
	m, err := Load("mantis", mappings.Options{Systems: map[string]string{"zendesk": "zendesk", "mantis": "mantis"},
		Projects: map[string]map[core.Kind][]string{"mantis": {core.DevTicket: {"Bugs InBox", "Change InBox", "Support Misc"}, core.ChangeTicket: {"DevOps"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var off []string
	for _, line := range m.Disabled {
		off = append(off, strings.SplitN(line, " not configured", 2)[0])
	}
	if want := []string{`system "github" is`, `system "imap" is`, `systems "opsgenie", "pagerduty" are`}; !slices.Equal(off, want) {
		t.Errorf("disabled %q, want %q", off, want)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

package core

import (
	"slices"
	"testing"
)

// TestWithout_SaysOnceWhatAlikeSystemsDisable: systems that disabled the
// same actions (the paging alternatives) share one line; others keep
// their own, and a system nothing names says so.
func TestWithout_SaysOnceWhatAlikeSystemsDisable(t *testing.T) {
	ticket := Selector{System: "zendesk", Kind: CustomerTicket}
	page := func(system string, kind ActionKind) *ActionSpec {
		return &ActionSpec{Kind: kind, Target: Selector{System: system, Kind: Page}}
	}
	mappings := func() *Mappings {
		return &Mappings{
			Systems: map[string]*SystemMap{"zendesk": {}, "jira": {}, "opsgenie": {}, "pagerduty": {}, "imap": {}},
			Rules: []*Rule{
				{Name: "escalate", When: ticket, Then: []*ActionSpec{{Kind: Create, Target: Selector{System: "jira", Kind: DevTicket}}}},
				{Name: "page", When: ticket, Then: []*ActionSpec{page("opsgenie", Create), page("pagerduty", Create)}},
				{Name: "page-resolved", When: ticket, Then: []*ActionSpec{page("opsgenie", Transition), page("pagerduty", Transition)}},
			},
		}
	}
	for _, tc := range []struct {
		name  string
		off   []string
		lines []string
		rules []string
	}{
		{"neither paging system", []string{"opsgenie", "pagerduty"},
			[]string{`systems "opsgenie", "pagerduty" are not configured; disabled: rule page's create, rule page-resolved's transition`},
			[]string{"escalate"}},
		{"one paging system", []string{"pagerduty"},
			[]string{`system "pagerduty" is not configured; disabled: rule page's create, rule page-resolved's transition`},
			[]string{"escalate", "page", "page-resolved"}},
		{"systems that disable different things", []string{"jira", "opsgenie", "imap"},
			[]string{`system "imap" is not configured; nothing else names it`,
				`system "jira" is not configured; disabled: rule escalate's create`,
				`system "opsgenie" is not configured; disabled: rule page's create, rule page-resolved's transition`},
			[]string{"page", "page-resolved"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mappings()
			off := map[string]bool{}
			for _, s := range tc.off {
				off[s] = true
			}
			if got := m.Without(off); !slices.Equal(got, tc.lines) {
				t.Errorf("lines\n got %q\nwant %q", got, tc.lines)
			}
			var rules []string
			for _, r := range m.Rules {
				rules = append(rules, r.Name)
			}
			if !slices.Equal(rules, tc.rules) {
				t.Errorf("rules left %q, want %q", rules, tc.rules)
			}
			for _, s := range tc.off {
				if m.Systems[s] != nil {
					t.Errorf("system %s still there", s)
				}
			}
		})
	}
}

package paging_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	_ "github.com/liaisonhq/liaison/connectors/opsgenie"
	_ "github.com/liaisonhq/liaison/connectors/pagerduty"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/paging"
	"github.com/liaisonhq/liaison/mappings"
)

const misnamed = `
systems:
  zendesk:
    connector: zendesk
    kinds:
      customer_ticket:
        statuses: {open: open}
  opsgenie:
    connector: opsgenie
    kinds:
      page:
        statuses: {open: open, snoozed: on_hold, closed: closed}
        priorities: {P1: urgent, P9: low}
rules:
  - name: page-it
    when: {kind: zendesk/customer_ticket}
    then:
      - create:
          target: opsgenie/page
          title: x
          fields: {priority: P7}
      - create:
          target: opsgenie/page
          title: y
          fields: {priority: '{{.Item.Priority}}'}
`

// TestCheckNames: statuses, priorities and written priorities the vendor
// lacks are each named, with the rule's position; the defaults have none.
func TestCheckNames(t *testing.T) {
	m, err := mappings.Load(fstest.MapFS{"m.yaml": {Data: []byte(misnamed)}}, mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := paging.CheckNames("opsgenie", m, []string{"open", "acked", "closed"}, []string{"P1", "P2", "P3", "P4", "P5"})
	want := []string{
		`page status "snoozed" is not one the vendor has (known: open, acked, closed)`,
		`page priority "p9" is not one the vendor has (known: P1, P2, P3, P4, P5)`,
		`m.yaml:21:30: rule "page-it": priority "P7" is not one the vendor has (known: P1, P2, P3, P4, P5)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	d, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for system, names := range map[string][2][]string{
		"opsgenie":  {{"open", "acked", "closed"}, {"P1", "P2", "P3", "P4", "P5"}},
		"pagerduty": {{"triggered", "acknowledged", "resolved"}, {"critical", "error", "warning", "info"}},
	} {
		if bad := paging.CheckNames(system, d, names[0], names[1]); len(bad) > 0 {
			t.Errorf("defaults, %s: %q", system, bad)
		}
	}
}

// TestGuides_NameWhatTheDefaultsPageWith: each vendor's setup guide for
// the defaults names the priorities and the rules that raise and close
// pages, and the credential's config key; a system that keeps no pages
// gets no guide.
func TestGuides_NameWhatTheDefaultsPageWith(t *testing.T) {
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		system string
		want   []string
	}{
		{"opsgenie", []string{"pages raised at P1 (rule page-urgent-escalation), P2 (rule page-missed-target)", "closed by rule page-resolved", "api_key_env"}},
		{"pagerduty", []string{"severity critical (rule page-urgent-escalation), error (rule page-missed-target)", "resolved by rule page-resolved", "routing_key_env"}},
	} {
		t.Run(tc.system, func(t *testing.T) {
			guide, ok := core.LookupSetupGuide(tc.system)
			if !ok {
				t.Fatalf("no guide registered for %s", tc.system)
			}
			var text strings.Builder
			for _, st := range guide(tc.system, m, "") {
				text.WriteString(st.Title + "\n" + strings.Join(st.Items, "\n") + "\n")
			}
			for _, want := range tc.want {
				if !strings.Contains(text.String(), want) {
					t.Errorf("guide lacks %q:\n%s", want, text.String())
				}
			}
			if g := guide("zendesk", m, ""); g != nil {
				t.Errorf("a guide for a system without pages: %+v", g)
			}
		})
	}
}

package paging_test

import (
	"slices"
	"testing"
	"testing/fstest"

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

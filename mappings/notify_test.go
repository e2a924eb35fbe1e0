package mappings

import (
	"net/mail"
	"slices"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// A notify rule whose to is the reporter plans exactly one recipient, even
// when the reporter's address (From: "victim@corp.example,x"@attacker.example,
// kept unquoted) holds a comma and another address; a value that is not one
// address fails the rule rather than reaching anyone.
func TestNotify_ToIsOneParsedAddress(t *testing.T) {
	m, err := loadBudget(t, `rules:
  - name: tell-reporter
    when: {kind: zendesk/customer_ticket}
    then:
      - notify: {to: '{{.Item.Reporter}}', body: hello}
`, Budget{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reporter string
		want     []mail.Address // nil: the rule fails
	}{
		{"victim@corp.example,x@attacker.example", []mail.Address{{Address: "victim@corp.example,x@attacker.example"}}},
		{"ada@customer.example", []mail.Address{{Address: "ada@customer.example"}}},
		{"Ada <ada@customer.example>", []mail.Address{{Name: "Ada", Address: "ada@customer.example"}}},
		{"ada@customer.example, eve@attacker.example", nil},
	} {
		tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "1"}
		c := &core.Case{ID: 1, Items: []core.Item{{Ref: tk, Native: "open", Reporter: tc.reporter, UpdatedAt: time.Unix(1, 0)}}}
		plan := core.PlanCase(c, m, time.Unix(2, 0))
		if tc.want == nil {
			if len(plan.Actions) != 0 || len(plan.Errors) != 1 {
				t.Errorf("%q: actions %+v, errors %v; want the rule to fail", tc.reporter, plan.Actions, plan.Errors)
			}
			continue
		}
		if len(plan.Errors) > 0 || len(plan.Actions) != 1 {
			t.Fatalf("%q: actions %+v, errors %v", tc.reporter, plan.Actions, plan.Errors)
		}
		if got := plan.Actions[0].Recipients; !slices.Equal(got, tc.want) {
			t.Errorf("%q: recipients %+v; want %+v", tc.reporter, got, tc.want)
		}
	}
}

package mappings

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/liaisonhq/liaison/core"
)

// loadBudget loads the default systems and the given rules within budget b.
func loadBudget(t *testing.T, rules string, b Budget) (*core.Mappings, error) {
	t.Helper()
	return Load(fstest.MapFS{"systems.yaml": {Data: defaultFile(t, "systems.yaml")}, "rules.yaml": {Data: []byte(rules)}},
		Options{Budget: b})
}

// commentRule is a rules file of one rule on customer tickets that
// comments body.
func commentRule(name, body string) string {
	return "rules:\n  - name: " + name + "\n    when: {kind: zendesk/customer_ticket}\n    then:\n      - comment:\n          body: '" + body + "'\n"
}

// An if that would run 10^12 steps stops at the budget with
// ErrOverBudget; an if within it still answers.
func TestBudget_ExpressionOverBudgetFails(t *testing.T) {
	for _, tc := range []struct {
		name, cond string
		over       bool
	}{
		{"nested all over a let range", `let r = 1..1000; all(r, all(r, all(r, all(r, true))))`, true},
		{"filter inside filter", `let r = 1..1000; len(filter(r, len(filter(r, # < 0)) > 0)) > 0`, true},
		{"map inside any", `let r = 1..1000; any(r, sum(map(r, # * 2)) < 0)`, true},
		{"reduce", `let r = 1..1000; reduce(r, reduce(r, #acc + #, 0) + #acc, 0) > 0`, true},
		{"within budget", `let r = 1..10; all(r, all(r, # > 0)) && Item.Status == "open"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := loadBudget(t, `rules:
  - name: spin
    when: {kind: zendesk/customer_ticket}
    if: '`+tc.cond+`'
    then:
      - comment: {body: x}
`, Budget{Steps: 5000})
			if err != nil {
				t.Fatal(err)
			}
			ok, err := m.Rules[0].If.Eval(&core.Env{Item: core.ItemView{Status: "open"}})
			if !tc.over {
				if err != nil || !ok {
					t.Fatalf("Eval = %v, %v; want true, nil", ok, err)
				}
				return
			}
			if !errors.Is(err, core.ErrOverBudget) {
				t.Fatalf("Eval error = %v; want ErrOverBudget", err)
			}
			if !strings.Contains(err.Error(), "more than 5000 steps") || !strings.Contains(err.Error(), `rule "spin"`) {
				t.Errorf("error %q does not say the rule and the budget", err)
			}
		})
	}
}

// A template with nested ranges over large numbers is refused by the
// load (it is linted within the budget, not run to the end); one whose
// loops depend on the data loads, and stops at the budget when it runs.
func TestBudget_TemplateOverBudget(t *testing.T) {
	_, err := loadBudget(t, commentRule("spin", `{{range 100000}}{{range 100000}}x{{end}}{{end}}`), Budget{Steps: 5000})
	if err == nil || !strings.Contains(err.Error(), "over its evaluation budget: more than 5000 steps even for an empty record") {
		t.Fatalf("Load error = %v; want the template refused as over budget", err)
	}

	m, err := loadBudget(t, commentRule("labels", `{{range .Item.Labels}}{{range $.Item.Labels}}{{range $.Item.Labels}}.{{end}}{{end}}{{end}}`), Budget{Steps: 5000})
	if err != nil {
		t.Fatal(err)
	}
	body := m.Rules[0].Then[0].Body
	small := &core.Env{Item: core.ItemView{Labels: []string{"a", "b"}}}
	if got, err := body.Render(small); err != nil || got != "........" {
		t.Fatalf("Render = %q, %v; want 8 dots", got, err)
	}
	big := &core.Env{Item: core.ItemView{Labels: make([]string, 100)}} // 100^3 iterations
	if _, err := body.Render(big); !errors.Is(err, core.ErrOverBudget) || !strings.Contains(err.Error(), "more than 5000 steps") {
		t.Fatalf("Render error = %v; want ErrOverBudget after 5000 steps", err)
	}
}

// Output past the budget fails the template too.
func TestBudget_TemplateOutput(t *testing.T) {
	m, err := loadBudget(t, commentRule("long", `{{range .Item.Labels}}{{$.Item.Body}}{{end}}`), Budget{Output: 1000})
	if err != nil {
		t.Fatal(err)
	}
	env := &core.Env{Item: core.ItemView{Labels: make([]string, 11), Body: strings.Repeat("x", 100)}}
	if _, err := m.Rules[0].Then[0].Body.Render(env); !errors.Is(err, core.ErrOverBudget) {
		t.Fatalf("Render error = %v; want ErrOverBudget", err)
	}
}

// A rule's template may not define or call templates: the budget could
// not follow a call.
func TestBudget_TemplateCallsRefused(t *testing.T) {
	_, err := loadBudget(t, commentRule("calls", `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`), Budget{})
	if err == nil || !strings.Contains(err.Error(), "cannot define or call other templates") {
		t.Fatalf("Load error = %v; want template calls refused", err)
	}
}

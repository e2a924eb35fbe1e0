package mappings

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// compileOne loads a folder of one file holding the default systems and
// the given rules, and returns the first rule.
func compileOne(t *testing.T, rules string) *core.Rule {
	t.Helper()
	sys := defaultFile(t, "systems.yaml")
	m, err := Load(fstest.MapFS{"systems.yaml": {Data: sys}, "rules.yaml": {Data: []byte(rules)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m.Rules[0]
}

func defaultFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(Defaults(), name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTemplateFuncs(t *testing.T) {
	r := compileOne(t, `rules:
  - name: funcs
    when: {kind: zendesk/customer_ticket}
    then:
      - comment:
          body: |-
            {{.Item.Labels | join ", "}}|{{.Item.Title | upper}}|{{.Item.Title | lower}}|{{"  x  " | trim}}
            {{.Item.Assignee | default "nobody"}}|{{.Item.Title | truncate 8}}|{{.Item.Title | truncate 50}}
            {{.Now | date "2006-01-02"}}|{{.Item.Body | replace "\n" " / "}}|{{.Item.Field "org" | slug}}
            {{.Item.Body | quote}}
            {{native_status "jira/dev_ticket" "ready_for_qa"}}|{{native_priority "jira/dev_ticket" "urgent"}}|{{native_priority "github/pull_request" "urgent"}}|{{native_status "nowhere/dev_ticket" "open"}}
`)
	env := &core.Env{
		Item: core.ItemView{Title: "Login Broken Again", Body: "line one\nline two", Labels: []string{"bug", "web"},
			Fields: map[string]string{"org": "Ünïcode & Sons, Ltd."}},
		Now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC),
	}
	got, err := r.Then[0].Body.Render(env)
	if err != nil {
		t.Fatal(err)
	}
	want := "bug, web|LOGIN BROKEN AGAIN|login broken again|x\n" +
		"nobody|Login B…|Login Broken Again\n" +
		"2026-11-23|line one / line two|ünïcode-sons-ltd\n" +
		"> line one\n> line two\n" +
		"Ready for QA|Highest||"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestRender_ErrorsNameThePlace checks that a template or condition that
// fails at run time says where it was written.
func TestRender_ErrorsNameThePlace(t *testing.T) {
	r := compileOne(t, `rules:
  - name: org-label
    when: {kind: zendesk/customer_ticket}
    if: 'Item.Fields["org"] != ""'
    then:
      - comment:
          body: 'Organisation: {{.Item.Fields.org}}'
`)
	_, err := r.Then[0].Body.Render(&core.Env{Item: core.ItemView{Fields: map[string]string{}}})
	if err == nil || !strings.HasPrefix(err.Error(), `rules.yaml:7:17: rule "org-label": comment: template: body:1:`) ||
		!strings.Contains(err.Error(), `map has no entry for key "org"`) {
		t.Errorf("err = %v", err)
	}
	ok, err := r.If.Eval(nil)
	if err != nil || ok {
		t.Errorf("Eval(nil) = %v, %v; a nil env reads as empty", ok, err)
	}
}

// TestDiagnostics_NoWebhookSecret checks that a notify URL, whose path is
// the credential of chat and incident webhooks, is not repeated in a
// diagnostic.
func TestDiagnostics_NoWebhookSecret(t *testing.T) {
	const token = "T0000/B0000/XXXXsecretXXXX"
	sys := defaultFile(t, "systems.yaml")
	for _, to := range []string{"ftp://hooks.example.com/services/" + token, "https://user:" + token + "@/x", "hooks.example.com/services/" + token} {
		ds := Check(fstest.MapFS{"systems.yaml": {Data: sys}, "r.yaml": {Data: []byte(`rules:
  - name: page
    when: {kind: zendesk/customer_ticket}
    then:
      - notify: {to: "` + to + `"}
`)}}, Options{})
		if len(ds) == 0 {
			t.Errorf("%q accepted", to)
		}
		if strings.Contains(ds.Error(), "XXXXsecretXXXX") {
			t.Errorf("diagnostic repeats the webhook URL's secret: %s", ds)
		}
	}
}

package mappings

import (
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// TestJiraBodyEscapesValuesOnly: a body written to Jira escapes what the
// template puts in it, not the template's own markup, and | markup keeps
// a value's formatting.
func TestJiraBodyEscapesValuesOnly(t *testing.T) {
	r := compileOne(t, `rules:
  - name: note
    when: {kind: zendesk/customer_ticket}
    then:
      - comment:
          target: jira/dev_ticket
          body: "*From the help desk:* {{.Item.Title}} {{with .Item.Body}}[{{.}}]{{end}} {{.Item.Title | markup}}"
      - comment:
          body: "*Noted:* {{.Item.Title}}"
`)
	env := &core.Env{Item: core.ItemView{Ref: "zendesk/customer_ticket/1", System: "zendesk", Kind: "customer_ticket", ID: "1",
		Title: "{panel}Hi", Body: "!x!"}}
	got := render(t, r.Then[0].Body, env)
	if want := `*From the help desk:* \{panel\}Hi [\!x\!] {panel}Hi`; got != want {
		t.Errorf("jira body = %q; want %q", got, want)
	}
	if got := render(t, r.Then[1].Body, env); !strings.HasSuffix(got, "{panel}Hi") {
		t.Errorf("zendesk body = %q; want the title as written", got)
	}
}

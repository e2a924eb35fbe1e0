package mappings

import (
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// TestWikiLiteral: what Jira's wiki renderer would take for markup is
// escaped; keys, URLs and ordinary punctuation inside words stay as they are.
func TestWikiLiteral(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text, KBOT-12 and https://x.example/a-b?c=d_e", "plain text, KBOT-12 and https://x.example/a-b?c=d_e"},
		{"{panel:title=Hi}x{panel}", `\{panel:title=Hi\}x\{panel\}`},
		{"[~accountid:5b10ac8d82e05b22cc7d4ef5]", `\[\~accountid:5b10ac8d82e05b22cc7d4ef5\]`},
		{"!http://evil.example/p.png!", `\!http://evil.example/p.png\!`},
		{"[click|http://phish.example]", `\[click\|http://phish.example\]`},
		{"*bold* _it_ -gone- +u+ ^sup^ ~sub~", `\*bold\* \_it\_ \-gone\- \+u\+ \^sup\^ \~sub\~`},
		{"h1. Title\nbq. quote\nh7. no", "\u200bh1. Title\n\u200bbq. quote\nh7. no"},
		{"# one\n* two\n- three", "\\# one\n\\* two\n\\- three"},
		{"----", `\-\-\-\-`},
		{"??cite?? Why?", `\?\?cite\?\? Why?`},
		{`a \\ b \{`, "a \\\u200b\\\u200b b \\\u200b\\{"},
		{"|| a || b ||", `\|\| a \|\| b \|\|`},
	}
	for _, c := range cases {
		if got := wikiLiteral(c.in); got != c.want {
			t.Errorf("wikiLiteral(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

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

package jirawiki

import "testing"

// TestLiteral: what Jira's wiki renderer would take for markup is
// escaped; keys, URLs and ordinary punctuation inside words stay as they are.
func TestLiteral(t *testing.T) {
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
		if got := Literal(c.in); got != c.want {
			t.Errorf("Literal(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

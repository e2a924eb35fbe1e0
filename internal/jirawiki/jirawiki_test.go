package jirawiki

import (
	"strings"
	"testing"
)

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

// FuzzLiteral: in any escaped text, every character that starts markup
// wherever it stands follows a backslash that is itself not escaped, and
// no line begins a heading or a quote.
func FuzzLiteral(f *testing.F) {
	for _, s := range []string{"{panel}x{panel}", `a \\{b}`, "h1. x\nbq. y", "[~accountid:1]", "!http://x!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := []rune(Literal(s))
		for i, r := range out {
			if strings.ContainsRune(wikiAlways, r) && (i == 0 || out[i-1] != '\\' || i >= 2 && out[i-2] == '\\') {
				t.Fatalf("Literal(%q) = %q: %q at %d is live", s, string(out), r, i)
			}
		}
		for _, line := range strings.Split(string(out), "\n") {
			if lineMarkup([]rune(line)) {
				t.Fatalf("Literal(%q) has a line %q that starts markup", s, line)
			}
		}
	})
}

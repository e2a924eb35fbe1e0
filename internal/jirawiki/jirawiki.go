// Package jirawiki escapes text for Jira's wiki markup (the renderer of
// descriptions, comments and text-area fields on Jira's REST API v2), so
// that a customer's words copied into Jira read literally: no panels,
// headings, [~accountid:…] mentions that notify people, or !http://…!
// images loaded from elsewhere.
package jirawiki

import (
	"strings"
	"unicode"
)

// Jira's wiki renderer takes a backslash before - # * _ + ? ^ ~ | % { } [
// ] ( ) ! @ as "this character, literally". wikiAlways start markup
// wherever they stand (macros, links, mentions, images, tables);
// wikiEdge only at the edge of a word (bold, lists, rules, citations), so
// that a URL or a key such as KBOT-12 stays as it is; # only at the start
// of a line (a numbered list), ? only doubled (a citation). The others
// are left alone, to keep the text readable: % and @ are no markup, and
// ( ) only make emoticons.
const (
	wikiAlways = `{}[]!|`
	wikiEdge   = `-*_+^~`
)

// Literal escapes text so that Jira's wiki renderer shows it as
// written. A backslash of the text's own is followed by a zero-width space,
// so that it can neither escape what follows nor make a line break (\\).
// A line that would begin a heading or a quote (h1. … h6., bq.) starts
// with a zero-width space.
func Literal(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	word := func(i int) bool {
		return i >= 0 && i < len(rs) && (unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i]))
	}
	for i, r := range rs {
		if i == 0 || rs[i-1] == '\n' {
			if lineMarkup(rs[i:]) {
				b.WriteRune('\u200b')
			}
		}
		switch {
		case r == '\\':
			b.WriteString("\\\u200b")
			continue
		case strings.ContainsRune(wikiAlways, r),
			strings.ContainsRune(wikiEdge, r) && !(word(i-1) && word(i+1)),
			r == '#' && (i == 0 || rs[i-1] == '\n'),
			r == '?' && (i > 0 && rs[i-1] == '?' || i+1 < len(rs) && rs[i+1] == '?'):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lineMarkup reports whether a line starts with a heading or quote marker.
func lineMarkup(line []rune) bool {
	if len(line) < 4 || line[2] != '.' || line[3] != ' ' {
		return false
	}
	h := line[0] == 'h' && line[1] >= '1' && line[1] <= '6'
	return h || (line[0] == 'b' && line[1] == 'q')
}

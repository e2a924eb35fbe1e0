package mappings

import (
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"

	"github.com/liaisonhq/liaison/core"
)

// Jira renders descriptions and comments as wiki markup, so a customer's
// words copied there could draw panels and headings, notify people
// ([~accountid:…]) or load images from anywhere (!http://…!). The bodies
// of actions that write to a Jira system are therefore compiled so that
// every value a template puts in them reads literally, while the template's
// own text keeps its formatting: each output of the template is escaped
// (wikiLiteral), unless it ends with | markup.

// wikiTarget reports whether every record an action writes (sel, or the
// subject when sel is zero) is in a Jira system.
func (c *compiler) wikiTarget(sel core.Selector, sc scope) bool {
	refs := c.targets(sel, sc)
	for _, r := range refs {
		sys, _, _ := strings.Cut(r.name, "/")
		if sm := c.m.Systems[sys]; sm == nil || sm.Connector != "jira" {
			return false
		}
	}
	return len(refs) > 0
}

// escapeOutputs makes every output action of t's templates pass through
// the function named fn last. Actions that only assign a variable write
// nothing and are left alone, as are outputs that end with | markup.
func escapeOutputs(t *template.Template, fn string) {
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			escapeNode(tt.Tree, tt.Tree.Root, fn)
		}
	}
}

func escapeNode(tree *parse.Tree, n parse.Node, fn string) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			escapeNode(tree, c, fn)
		}
	case *parse.ActionNode:
		p := x.Pipe
		if len(p.Decl) > 0 || len(p.Cmds) == 0 {
			return
		}
		last := p.Cmds[len(p.Cmds)-1]
		if id, ok := last.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "markup" || id.Ident == fn) {
			return
		}
		id := parse.NewIdentifier(fn).SetTree(tree).SetPos(x.Pos)
		p.Cmds = append(p.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: x.Pos, Args: []parse.Node{id}})
	case *parse.IfNode:
		escapeNode(tree, x.List, fn)
		escapeNode(tree, x.ElseList, fn)
	case *parse.RangeNode:
		escapeNode(tree, x.List, fn)
		escapeNode(tree, x.ElseList, fn)
	case *parse.WithNode:
		escapeNode(tree, x.List, fn)
		escapeNode(tree, x.ElseList, fn)
	}
}

// Jira's wiki renderer takes a backslash before - # * _ + ? ^ ~ | % { } [
// ] ( ) ! @ as "this character, literally". wikiAlways start markup
// wherever they stand (macros, links, mentions, images, tables);
// wikiEdge only at the edge of a word (bold, lists, rules, citations), so
// that a URL or a key such as KBOT-12 stays as it is; # only at the start
// of a line (a numbered list), ? only doubled (a citation). The others are left alone, to keep the
// text readable: % and @ are no markup, and ( ) only make emoticons.
const (
	wikiAlways = `{}[]!|`
	wikiEdge   = `-*_+^~`
)

// wikiLiteral escapes a value so that Jira's wiki renderer shows it as
// written. A backslash of the text's own is followed by a zero-width space,
// so that it can neither escape what follows nor make a line break (\\).
// A line that would begin a heading or a quote (h1. … h6., bq.) starts
// with a zero-width space.
func wikiLiteral(v any) string {
	s := fmt.Sprint(v)
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

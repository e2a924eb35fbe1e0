package mappings

import (
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/jirawiki"
)

// Jira renders descriptions and comments as wiki markup, so a customer's
// words copied there could draw panels and headings, notify people
// ([~accountid:…]) or load images from anywhere (!http://…!). The bodies
// of actions that write to a Jira system are therefore compiled so that
// every value a template puts in them reads literally, while the template's
// own text keeps its formatting: each output of the template is escaped
// (jirawiki.Literal), unless it ends with | markup.

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
		if tt.Tree == nil {
			continue
		}
		eachNode(tt.Tree.Root, func(n parse.Node) {
			if a, ok := n.(*parse.ActionNode); ok {
				escapeAction(tt.Tree, a, fn)
			}
		})
	}
}

func escapeAction(tree *parse.Tree, x *parse.ActionNode, fn string) {
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
}

// wikiLiteral is jirawiki.Literal for any value a template outputs.
func wikiLiteral(v any) string { return jirawiki.Literal(fmt.Sprint(v)) }

package mappings

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/liaisonhq/liaison/core"
)

// templateFuncs are the functions templates may call besides text/template's
// own (eq, printf, index, len, and, or, not, ...). Piped values come last,
// so `{{.Item.Labels | join ", "}}` works. x holds the mappings being
// built: native_status, native_priority, identity, missing and
// add_working_days read it when the template runs.
func templateFuncs(x *extras) template.FuncMap {
	m := x.m
	return template.FuncMap{
		// join joins strings: {{.Item.Labels | join ", "}}.
		"join": func(sep string, list []string) string { return strings.Join(list, sep) },
		// lower lower-cases a text: {{.Item.Title | lower}}.
		"lower": strings.ToLower,
		// upper upper-cases a text.
		"upper": strings.ToUpper,
		// trim drops the spaces and line ends around a text.
		"trim": strings.TrimSpace,
		// default gives def when v is empty: {{.Item.Assignee | default "nobody"}}.
		"default": func(def, v string) string {
			if strings.TrimSpace(v) == "" {
				return def
			}
			return v
		},
		// truncate cuts s to n characters, ending with "…" when cut.
		"truncate": func(n int, s string) string {
			if n <= 0 || utf8.RuneCountInString(s) <= n {
				return s
			}
			r := []rune(s)
			return string(r[:max(n-1, 0)]) + "…"
		},
		// date formats a time with a Go layout: {{.Now | date "2006-01-02"}}.
		"date": func(layout string, t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Format(layout)
		},
		// replace replaces every old by new: {{.Item.Title | replace "\n" " "}}.
		"replace": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		// quote prefixes every line with "> ", for quoting a mirrored comment.
		"quote": func(s string) string {
			lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
			for i, l := range lines {
				lines[i] = strings.TrimRight("> "+l, " ")
			}
			return strings.Join(lines, "\n")
		},
		// slug makes a label or tag of free text: "Acme Corp." → "acme-corp".
		"slug": slug,
		// native_status and native_priority translate a canonical value to
		// the name a system uses for it: {{native_priority "jira/dev_ticket" .Item.Priority}}.
		"native_status": func(sel, canonical string) string {
			s := core.ParseSelector(sel)
			if km := m.Kind(s.System, s.Kind); km != nil {
				return km.Native[core.Status(canonical)]
			}
			return ""
		},
		"native_priority": func(sel, canonical string) string {
			s := core.ParseSelector(sel)
			return nativePriority(m.Kind(s.System, s.Kind), canonical)
		},
		// next_priority is the canonical priority after one (urgent stays
		// urgent): {{next_priority .Item.Priority}}.
		"next_priority": nextPriority,
		// highest_priority is the highest canonical priority of a list of
		// records or priorities: {{highest_priority (.Linked "customer_ticket")}}.
		"highest_priority": highestPriority,
		// identity translates a person's identity in any system into
		// theirs in another, through people: {{identity "jira" .Item.Assignee}}.
		"identity": x.identity,
		// missing lists the labels of a checklist whose values the record
		// lacks: {{range missing .Item "bug_report"}}- {{.}}{{end}}.
		"missing": x.missing,
		// mentions reports whether a text holds one of the words or
		// phrases as whole words, ignoring case: {{if mentions .Item.Title "error" "crash"}}.
		"mentions": mentions,
		// add_working_days is the close of the nth working day after a
		// time's, in the default calendar: {{.Now | add_working_days 2 | date "2006-01-02"}}.
		"add_working_days": x.addWorkingDays,
		// budget_step counts a range iteration against the evaluation
		// budget; the compiler puts it in every range (see meterRanges).
		templateStepFunc: templateStep,
		// markup keeps a value's own formatting where outputs are escaped
		// (a Jira body): {{.Item.Field "Release note" | markup}}.
		"markup": func(v any) string { return fmt.Sprint(v) },
		// wiki_literal escapes a value for Jira's wiki markup; the bodies of
		// actions that write to Jira call it on every output themselves.
		"wiki_literal": wikiLiteral,
	}
}

func nativePriority(km *core.KindMap, canonical string) string {
	if km == nil {
		return ""
	}
	return km.NativePrio[canonical]
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}

// text compiles a template. It returns nil, after reporting, when the source
// does not parse or uses a field that does not exist; nil without a report
// when s is not set.
func (c *compiler) text(s str, name string, sc scope, prefix string) *core.Text {
	return c.compileText(s, name, sc, prefix, false)
}

// wikiText compiles a template whose outputs are escaped for Jira's wiki
// markup (see wiki.go) when wiki is set.
func (c *compiler) compileText(s str, name string, sc scope, prefix string, wiki bool) *core.Text {
	if !s.Set || s.Bad {
		return nil
	}
	t, err := safeParseTemplate(name, s.V, c.funcs)
	if err != nil {
		p, line, msg := templateErrPos(s, err)
		c.errf(p, "%stemplate %s does not parse: %s", prefix, excerpt(s.V, line), msg)
		return nil
	}
	if n := findTemplateCall(t); n != "" {
		c.errf(s.Pos, "%stemplate %s: %s is not allowed here: a rule's template cannot define or call other templates", prefix, excerpt(s.V, 0), n)
		return nil
	}
	if err := c.meterRanges(t); err != nil {
		c.errf(s.Pos, "%stemplate %s: %v", prefix, excerpt(s.V, 0), err)
		return nil
	}
	if !c.lintTemplate(t, s, sc, prefix) {
		return nil
	}
	if wiki {
		escapeOutputs(t, "wiki_literal")
	}
	pos, where, budget := s.Pos, strings.TrimSuffix(prefix, ": "), c.opts.Budget.orDefaults()
	return &core.Text{
		Source: s.V,
		Pos:    pos,
		Render: func(env *core.Env) (string, error) {
			if env == nil {
				env = &core.Env{}
			}
			var buf bytes.Buffer
			if err := execute(t, &buf, env, budget); err != nil {
				return "", fmt.Errorf("%s: %s: %w", pos, where, err)
			}
			return buf.String(), nil
		},
	}
}

// execute runs a compiled template on env within the budget. Over it, the
// error wraps core.ErrOverBudget and says which part of the budget, not
// where in the template: text/template would point into the inserted step.
func execute(t *template.Template, w io.Writer, env *core.Env, b Budget) error {
	err := t.Execute(&cappedWriter{w: w, max: b.Output}, newRuleEnv(env, b))
	if err != nil && errors.Is(err, core.ErrOverBudget) {
		_, why, _ := strings.Cut(err.Error(), core.ErrOverBudget.Error())
		return fmt.Errorf("template %w%s", core.ErrOverBudget, why)
	}
	return err
}

// meterRanges puts a budget step at the start of every range body of t, so
// that nested ranges over large numbers (range 100000) stop at the budget.
func (c *compiler) meterRanges(t *template.Template) error {
	if t.Tree == nil {
		return nil
	}
	if c.stepNode == nil {
		step, err := template.New("step").Funcs(c.funcs).Parse("{{" + templateStepFunc + " $}}")
		if err != nil {
			return err
		}
		c.stepNode = step.Tree.Root.Nodes[0]
	}
	eachNode(t.Tree.Root, func(n parse.Node) {
		if r, ok := n.(*parse.RangeNode); ok && r.List != nil {
			r.List.Nodes = append([]parse.Node{c.stepNode.Copy()}, r.List.Nodes...)
		}
	})
	return nil
}

// eachNode calls f for n and for every node under it in lists and in the
// bodies of if, range and with, parents first.
func eachNode(n parse.Node, f func(parse.Node)) {
	if l, ok := n.(*parse.ListNode); ok && l == nil {
		return
	}
	f(n)
	var b *parse.BranchNode
	switch x := n.(type) {
	case *parse.ListNode:
		for _, ch := range x.Nodes {
			eachNode(ch, f)
		}
		return
	case *parse.IfNode:
		b = &x.BranchNode
	case *parse.RangeNode:
		b = &x.BranchNode
	case *parse.WithNode:
		b = &x.BranchNode
	default:
		return
	}
	eachNode(b.List, f)
	eachNode(b.ElseList, f)
}

// findTemplateCall names the first {{define}}, {{block}} or {{template}}
// of t, or returns "". A called template's $ is not the rule's Env, so
// the budget could not follow it there; rules have no need of them.
func findTemplateCall(t *template.Template) string {
	for _, d := range t.Templates() {
		if d.Name() != t.Name() {
			return "{{define}}"
		}
	}
	found := ""
	if t.Tree == nil {
		return ""
	}
	eachNode(t.Tree.Root, func(n parse.Node) {
		if _, ok := n.(*parse.TemplateNode); ok {
			found = "{{template}}"
		}
	})
	return found
}

func safeParseTemplate(name, src string, funcs template.FuncMap) (t *template.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("template: %s:1: the template parser failed (%v)", name, r)
		}
	}()
	return template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
}

var (
	// "template: body:3: unexpected "}" in operand"
	parseErrRe = regexp.MustCompile(`^template: [^:]*:(\d+): (.*)$`)
	// "template: body:1:12: executing "body" at <.Item.Titel>: can't evaluate ..."
	execErrRe = regexp.MustCompile(`^template: [^:]*:(\d+):(\d+): executing "[^"]*" at <([^>]*)>: (.*)$`)
	quotedRe  = regexp.MustCompile(`"([^"]+)"`)
)

// templateErrPos places a parse error: text/template gives the line; the
// column is where the quoted culprit of the message first appears on it.
func templateErrPos(s str, err error) (core.Pos, int, string) {
	msg := err.Error()
	m := parseErrRe.FindStringSubmatch(msg)
	if m == nil {
		return s.Pos, 0, strings.TrimPrefix(msg, "template: ")
	}
	line, _ := strconv.Atoi(m[1])
	msg = m[2]
	col := 0
	lines := strings.Split(s.V, "\n")
	// At the end of the text, point at its last line that holds something.
	for line > 1 && line <= len(lines) && strings.TrimSpace(lines[line-1]) == "" {
		line--
	}
	if strings.Contains(msg, "unexpected EOF") {
		msg += " (an {{if}}, {{range}} or {{with}} without its {{end}}?)"
	}
	if line >= 1 && line <= len(lines) {
		if q := quotedRe.FindStringSubmatch(msg); q != nil {
			if i := strings.Index(lines[line-1], q[1]); i >= 0 {
				col = utf8.RuneCountInString(lines[line-1][:i])
			}
		}
	}
	return s.at(line-1, col), line - 1, msg
}

// lintTemplate runs the template once on an empty Env to find references
// to fields and methods that do not exist and calls with wrong arguments
// (text/template finds those only when it runs), and checks that Comment
// is used only where it is set. Missing map keys are left alone: which
// fields a record has is only known at run time.
func (c *compiler) lintTemplate(t *template.Template, s str, sc scope, prefix string) bool {
	ok := true
	for _, v := range []struct {
		name, where string
		set         bool
	}{
		{"Comment", "in mirror_comments", sc.comment},
		{"SLA", "in an sla's breach actions", sc.sla},
		{"Duplicate", "in the then actions of a duplicates entry", sc.duplicate},
	} {
		if v.set || t.Tree == nil {
			continue
		}
		if n := findField(t.Tree.Root, v.name); n != nil {
			// The node's position is that of its last name; point at the
			// first ".Name" instead.
			off := int(n.Position())
			if i := strings.Index(s.V, "."+v.name); i >= 0 {
				off = i
			}
			line, col := nodeLineCol(s.V, off)
			c.errf(s.at(line, col), "%s.%s is set only %s; here it is always empty", prefix, v.name, v.where)
			ok = false
		}
	}
	if t.Tree != nil {
		walkCommands(t.Tree.Root, func(cmd *parse.CommandNode) {
			if len(cmd.Args) < 3 {
				return
			}
			id, isIdent := cmd.Args[0].(*parse.IdentifierNode)
			name, isString := cmd.Args[2].(*parse.StringNode)
			if !isIdent || id.Ident != "missing" || !isString {
				return
			}
			if _, known := c.x.checklists[name.Text]; !known {
				line, col := nodeLineCol(s.V, int(name.Position()))
				names := sortedKeys(c.x.checklists)
				c.errf(s.at(line, col), "%sunknown checklist %q (checklists: %s)%s", prefix, name.Text, orNone(names), suggest(name.Text, names))
				ok = false
			}
		})
	}
	env := &core.Env{Item: core.ItemView{Fields: map[string]string{}}}
	err := execute(t, discard{}, env, c.opts.Budget.orDefaults())
	if err == nil {
		return ok
	}
	if errors.Is(err, core.ErrOverBudget) {
		c.errf(s.Pos, "%s%v even for an empty record: bound its loops", prefix, err)
		return false
	}
	m := execErrRe.FindStringSubmatch(err.Error())
	if m == nil {
		return ok
	}
	reason := m[4]
	if !strings.Contains(reason, "can't evaluate field") && !strings.Contains(reason, "wrong number of args") && !strings.Contains(reason, "wrong type for value") {
		return ok
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	if strings.HasPrefix(m[3], ".") {
		c.errf(s.at(line-1, col), "%stemplate: %s: %s", prefix, quoteAction(m[3]), reason)
	} else {
		c.errf(s.at(line-1, col), "%stemplate: %s", prefix, reason)
	}
	return false
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// nodeLineCol converts a byte offset in src to a 0-based line and rune column.
func nodeLineCol(src string, off int) (int, int) {
	off = min(max(off, 0), len(src))
	before := src[:off]
	line := strings.Count(before, "\n")
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, utf8.RuneCountInString(before)
}

// findField returns the first field reference .Name... in the tree.
func findField(n parse.Node, name string) parse.Node {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return nil
		}
		for _, ch := range x.Nodes {
			if f := findField(ch, name); f != nil {
				return f
			}
		}
	case *parse.ActionNode:
		return findField(x.Pipe, name)
	case *parse.PipeNode:
		if x == nil {
			return nil
		}
		for _, cmd := range x.Cmds {
			if f := findField(cmd, name); f != nil {
				return f
			}
		}
	case *parse.CommandNode:
		for _, a := range x.Args {
			if f := findField(a, name); f != nil {
				return f
			}
		}
	case *parse.FieldNode:
		if len(x.Ident) > 0 && x.Ident[0] == name {
			return x
		}
	case *parse.ChainNode:
		return findField(x.Node, name)
	case *parse.IfNode:
		return findBranch(&x.BranchNode, name)
	case *parse.RangeNode:
		return findBranch(&x.BranchNode, name)
	case *parse.WithNode:
		return findBranch(&x.BranchNode, name)
	}
	return nil
}

// walkCommands calls f for every command of the tree, in pipelines of
// actions, if, range and with, and in parenthesised pipelines.
func walkCommands(n parse.Node, f func(*parse.CommandNode)) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, ch := range x.Nodes {
			walkCommands(ch, f)
		}
	case *parse.ActionNode:
		walkCommands(x.Pipe, f)
	case *parse.PipeNode:
		if x == nil {
			return
		}
		for _, cmd := range x.Cmds {
			walkCommands(cmd, f)
		}
	case *parse.CommandNode:
		f(x)
		for _, a := range x.Args {
			walkCommands(a, f)
		}
	case *parse.IfNode:
		walkBranch(&x.BranchNode, f)
	case *parse.RangeNode:
		walkBranch(&x.BranchNode, f)
	case *parse.WithNode:
		walkBranch(&x.BranchNode, f)
	}
}

func walkBranch(b *parse.BranchNode, f func(*parse.CommandNode)) {
	walkCommands(b.Pipe, f)
	walkCommands(b.List, f)
	walkCommands(b.ElseList, f)
}

func findBranch(b *parse.BranchNode, name string) parse.Node {
	if f := findField(b.Pipe, name); f != nil {
		return f
	}
	if f := findField(b.List, name); f != nil {
		return f
	}
	return findField(b.ElseList, name)
}

// excerpt quotes a template for a message: whole when it is one short
// line, else its line (0-based) where the problem is.
func excerpt(src string, line int) string {
	if !strings.Contains(src, "\n") && utf8.RuneCountInString(src) <= 60 {
		return strconv.Quote(src)
	}
	lines := strings.Split(src, "\n")
	l := strings.TrimSpace(lines[min(max(line, 0), len(lines)-1)])
	if utf8.RuneCountInString(l) > 60 {
		l = string([]rune(l)[:59]) + "…"
	}
	return fmt.Sprintf("line %q", l)
}

// quoteAction quotes the template action an execution error names.
func quoteAction(a string) string { return strconv.Quote("{{" + a + "}}") }

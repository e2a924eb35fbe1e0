package mappings

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/liaisonhq/liaison/core"
)

// scope is what an expression or template can see, for the checks that
// go beyond compiling: which records Item and Target are, and whether a
// comment is set.
type scope struct {
	subject      core.Selector // the rule's when
	subjectKnown bool          // when resolved; otherwise skip checks that need it
	inAction     bool          // an action's if: Target is set
	target       core.Selector // the action's target (zero: the subject)
	comment      bool          // mirror_comments: Comment is set
	sla          bool          // an sla's breach actions: SLA is set
	duplicate    bool          // a duplicate rule's then actions: Duplicate is set
}

// compileExpr compiles a rule condition against core.Env, with the
// functions of funcs.go. A panic in the compiler (on input it did not
// anticipate) is reported as an error.
func (c *compiler) compileExpr(src string) (prog *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("the expression compiler failed (%v)", r)
		}
	}()
	opts := append([]expr.Option{expr.Env(&ruleEnv{Env: &core.Env{}}), expr.AsBool(),
		expr.Function(stepFunc, exprStep, new(func(*ruleEnv) bool)), expr.Patch(stepper{})}, c.x.exprFunctions()...)
	return expr.Compile(src, opts...)
}

// cond compiles an if. It returns nil, after reporting, when the source
// does not compile or names something that does not exist; nil without a
// report when there is no if.
func (c *compiler) cond(s str, sc scope, prefix string) *core.Cond {
	if !s.Set || s.Bad || strings.TrimSpace(s.V) == "" {
		return nil
	}
	prog, err := c.compileExpr(s.V)
	if err != nil {
		p, msg, near := s.Pos, err.Error(), ""
		var fe *file.Error
		if errors.As(err, &fe) {
			p, msg = s.at(fe.Line-1, fe.Column), fe.Message
			if !strings.Contains(fe.Message, "EOF") {
				near = wordAt(s.V, fe.From)
			}
		}
		if near != "" {
			c.errf(p, "%sexpression does not compile near %q: %s", prefix, near, msg)
		} else {
			c.errf(p, "%sexpression does not compile: %s", prefix, msg)
		}
		return nil
	}
	if !c.lintExpr(s, sc, prefix) {
		return nil
	}
	where := strings.TrimSuffix(prefix, ": ")
	pos, budget := s.Pos, c.opts.Budget.orDefaults()
	return &core.Cond{
		Source: s.V,
		Pos:    pos,
		Eval: func(env *core.Env) (bool, error) {
			if env == nil {
				env = &core.Env{}
			}
			out, err := expr.Run(prog, newRuleEnv(env, budget))
			if errors.Is(err, core.ErrOverBudget) {
				// expr's message quotes the expression at the step function.
				_, why, _ := strings.Cut(err.Error(), core.ErrOverBudget.Error())
				why, _, _ = strings.Cut(why, " (")
				return false, fmt.Errorf("%s: %s: if %w%s", pos, where, core.ErrOverBudget, why)
			}
			if err != nil {
				return false, fmt.Errorf("%s: %s: if: %w", pos, where, err)
			}
			b, ok := out.(bool)
			if !ok {
				return false, fmt.Errorf("%s: %s: if returned %T, not true or false", pos, where, out)
			}
			return b, nil
		},
	}
}

// lintExpr checks what the compiler cannot: that statuses, priorities,
// kinds and event types compared or passed in the expression exist in the
// mappings. It reports at the offending literal and returns false on any
// problem.
func (c *compiler) lintExpr(s str, sc scope, prefix string) bool {
	tree, err := parser.Parse(s.V)
	if err != nil || tree == nil {
		return true // compiled, so this does not happen; nothing to add
	}
	l := &exprLint{c: c, s: s, sc: sc, prefix: prefix}
	l.walk(tree.Node, nil)
	return !l.failed
}

type exprLint struct {
	c      *compiler
	s      str
	sc     scope
	prefix string
	failed bool
}

func (l *exprLint) errf(n ast.Node, format string, args ...any) {
	l.failed = true
	l.c.errf(l.s.atOffset(n.Location().From), l.prefix+format, args...)
}

// walk visits n; ptr is the records the closure pointer (#, or .Field
// inside all/any/filter ...) stands for, when known.
func (l *exprLint) walk(n ast.Node, ptr *core.Selector) {
	if n == nil {
		return
	}
	switch x := n.(type) {
	case *ast.IdentifierNode:
		switch {
		case x.Value == "Comment" && !l.sc.comment:
			l.errf(x, "Comment is set only in mirror_comments (its if and body); here it is always empty")
		case x.Value == "Target" && !l.sc.inAction:
			l.errf(x, "Target is set only in an action's if; in a rule's if use Item, Has, First or Linked")
		case x.Value == "SLA" && !l.sc.sla:
			l.errf(x, "SLA is set only in an sla's breach actions; here it is always empty")
		case x.Value == "Duplicate" && !l.sc.duplicate:
			l.errf(x, "Duplicate is set only in the then actions of a duplicates entry; here it is always empty")
		}
	case *ast.BinaryNode:
		switch x.Operator {
		case "==", "!=":
			l.compare(x.Left, x.Right, ptr)
			l.compare(x.Right, x.Left, ptr)
		case "in", "not in":
			if arr, ok := x.Right.(*ast.ArrayNode); ok {
				for _, e := range arr.Nodes {
					l.compare(x.Left, e, ptr)
				}
			}
		}
	case *ast.CallNode:
		l.call(x, ptr)
	case *ast.BuiltinNode:
		if len(x.Arguments) == 2 {
			if _, isPred := x.Arguments[1].(*ast.PredicateNode); isPred {
				l.walk(x.Arguments[0], ptr)
				inner := l.collection(x.Arguments[0])
				l.walk(x.Arguments[1], inner)
				return
			}
		}
	}
	for _, ch := range exprChildren(n) {
		l.walk(ch, ptr)
	}
}

// collection returns the records a collection expression holds, when it
// is Linked("...").
func (l *exprLint) collection(n ast.Node) *core.Selector {
	if call, ok := n.(*ast.CallNode); ok {
		if id, ok := call.Callee.(*ast.IdentifierNode); ok && id.Value == "Linked" && len(call.Arguments) == 1 {
			if sn, ok := call.Arguments[0].(*ast.StringNode); ok {
				sel := core.ParseSelector(sn.Value)
				return &sel
			}
		}
	}
	return nil
}

// recordOf returns the records a member access's object stands for.
func (l *exprLint) recordOf(n ast.Node, ptr *core.Selector) (core.Selector, bool) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		switch x.Value {
		case "Item":
			return l.sc.subject, l.sc.subjectKnown
		case "Target":
			if l.sc.target == (core.Selector{}) {
				return l.sc.subject, l.sc.subjectKnown
			}
			return l.sc.target, true
		}
	case *ast.PointerNode:
		if ptr != nil && x.Name == "" {
			return *ptr, true
		}
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok && id.Value == "First" && len(x.Arguments) == 1 {
			if sn, ok := x.Arguments[0].(*ast.StringNode); ok {
				return core.ParseSelector(sn.Value), true
			}
		}
	}
	return core.Selector{}, false
}

// compare checks `member == "literal"` for the members whose values the
// mappings define.
func (l *exprLint) compare(member, lit ast.Node, ptr *core.Selector) {
	m, ok := member.(*ast.MemberNode)
	if !ok {
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return
	}
	val, ok := lit.(*ast.StringNode)
	if !ok {
		return
	}
	switch prop.Value {
	case "Status":
		if core.Status(val.Value).Known() {
			return
		}
		sel, known := l.recordOf(m.Node, ptr)
		if known {
			for _, r := range l.c.resolve(sel) {
				if canon, isNative := r.km.Statuses[strings.ToLower(val.Value)]; isNative {
					l.errf(val, "Status holds canonical statuses and %q is a native status of %s: compare with %q, or use Native", val.Value, r.name, canon)
					return
				}
			}
		}
		l.errf(val, "unknown status %q (canonical statuses: %s)%s", val.Value, quoteList(core.Statuses), suggest(val.Value, core.Statuses))
	case "Outcome":
		if val.Value != "" && !slices.Contains(core.Outcomes, core.Outcome(val.Value)) {
			l.errf(val, "unknown outcome %q (outcomes: %s)%s", val.Value, quoteList(core.Outcomes), suggest(val.Value, core.Outcomes))
		}
	case "Priority":
		if !slices.Contains(core.Priorities, val.Value) {
			l.errf(val, "unknown priority %q (canonical priorities: %s)%s", val.Value, quoteList(core.Priorities), suggest(val.Value, core.Priorities))
		}
	case "Native", "NativePriority":
		sel, known := l.recordOf(m.Node, ptr)
		if !known {
			return
		}
		refs := l.c.resolve(sel)
		if len(refs) == 0 {
			return
		}
		what, lower := "status", strings.ToLower(val.Value)
		if prop.Value == "NativePriority" {
			what = "priority"
		}
		var names, natives []string
		for _, r := range refs {
			list := l.c.order[r.km]
			_, has := r.km.Statuses[lower]
			if what == "priority" {
				list = l.c.prios[r.km]
				_, has = r.km.Priorities[lower]
			}
			if has {
				return
			}
			names = append(names, r.name)
			for _, n := range list {
				if !slices.Contains(natives, n) {
					natives = append(natives, n)
				}
			}
		}
		l.errf(val, "unknown %s %q for %s (known: %s)%s", what, val.Value, strings.Join(names, ", "), orNone(natives), suggest(val.Value, natives))
	}
}

// call checks the arguments of Has, Linked, First, Seen and missing.
func (l *exprLint) call(x *ast.CallNode, _ *core.Selector) {
	if id, ok := x.Callee.(*ast.IdentifierNode); ok && id.Value == "missing" && len(x.Arguments) == 2 {
		if arg, ok := x.Arguments[1].(*ast.StringNode); ok {
			if _, known := l.c.x.checklists[arg.Value]; !known {
				l.errf(arg, "unknown checklist %q (checklists: %s)%s", arg.Value, orNone(sortedKeys(l.c.x.checklists)), suggest(arg.Value, sortedKeys(l.c.x.checklists)))
			}
		}
		return
	}
	if len(x.Arguments) != 1 {
		return
	}
	arg, ok := x.Arguments[0].(*ast.StringNode)
	if !ok {
		return
	}
	switch callee := x.Callee.(type) {
	case *ast.IdentifierNode:
		switch callee.Value {
		case "Has", "Linked", "First", "MentionedBy":
			l.selectorArg(arg)
		}
	case *ast.MemberNode:
		if p, ok := callee.Property.(*ast.StringNode); ok && p.Value == "Seen" {
			if !slices.Contains(eventTypes, core.EventType(arg.Value)) {
				l.errf(arg, "unknown event type %q (known: %s)%s", arg.Value, quoteList(eventTypes), suggest(arg.Value, eventTypes))
			}
		}
	}
}

// selectorArg checks the "kind" or "system/kind" given to Has, Linked or
// First: something in the mappings must match it, or the call is always
// empty.
func (l *exprLint) selectorArg(arg *ast.StringNode) {
	sel := core.ParseSelector(arg.Value)
	if sel.Kind != "" && !sel.Kind.Known() {
		l.errf(arg, "unknown kind %q (known: %s)%s", sel.Kind, quoteList(core.Kinds), suggest(string(sel.Kind), core.Kinds))
		return
	}
	if sel.System != "" {
		if _, ok := l.c.m.Systems[sel.System]; !ok {
			if sel.Kind == "" {
				// ParseSelector reads an unknown word as a system; it is
				// more likely a misspelt kind.
				l.errf(arg, "%q is neither a kind (%s) nor a system in the mappings (%s)%s", arg.Value, quoteList(core.Kinds), l.c.systemNames(), suggest(arg.Value, core.Kinds))
			} else {
				l.errf(arg, "unknown system %q (systems in the mappings: %s)", sel.System, l.c.systemNames())
			}
			return
		}
	}
	if len(l.c.resolve(sel)) == 0 {
		l.errf(arg, "no system in the mappings has records of %q", arg.Value)
	}
}

// guardsPublic reports whether an if requires Comment.Public: it is
// Comment.Public itself or a conjunction with it.
func guardsPublic(src string) bool {
	tree, err := parser.Parse(src)
	if err != nil || tree == nil {
		return false
	}
	var guards func(n ast.Node) bool
	guards = func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.MemberNode:
			id, ok1 := x.Node.(*ast.IdentifierNode)
			p, ok2 := x.Property.(*ast.StringNode)
			return ok1 && ok2 && id.Value == "Comment" && p.Value == "Public"
		case *ast.BinaryNode:
			switch x.Operator {
			case "&&", "and":
				return guards(x.Left) || guards(x.Right)
			case "==":
				if b, ok := x.Right.(*ast.BoolNode); ok && b.Value {
					return guards(x.Left)
				}
				if b, ok := x.Left.(*ast.BoolNode); ok && b.Value {
					return guards(x.Right)
				}
			}
		}
		return false
	}
	return guards(tree.Node)
}

// exprChildren lists a node's children (ast.Walk's cases, without the
// visitor, so that a walk can carry context).
func exprChildren(n ast.Node) []ast.Node {
	switch x := n.(type) {
	case *ast.UnaryNode:
		return []ast.Node{x.Node}
	case *ast.BinaryNode:
		return []ast.Node{x.Left, x.Right}
	case *ast.ChainNode:
		return []ast.Node{x.Node}
	case *ast.MemberNode:
		return []ast.Node{x.Node, x.Property}
	case *ast.SliceNode:
		return []ast.Node{x.Node, x.From, x.To}
	case *ast.CallNode:
		return append([]ast.Node{x.Callee}, x.Arguments...)
	case *ast.BuiltinNode:
		return x.Arguments
	case *ast.PredicateNode:
		return []ast.Node{x.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{x.Value, x.Expr}
	case *ast.SequenceNode:
		return x.Nodes
	case *ast.ConditionalNode:
		return []ast.Node{x.Cond, x.Exp1, x.Exp2}
	case *ast.ArrayNode:
		return x.Nodes
	case *ast.MapNode:
		return x.Pairs
	case *ast.PairNode:
		return []ast.Node{x.Key, x.Value}
	}
	return nil
}

// wordAt returns the identifier, number or operator starting at rune
// offset off of src, to quote the culprit of a compile error.
func wordAt(src string, off int) string {
	r := []rune(src)
	if off < 0 || off >= len(r) {
		return ""
	}
	isWord := func(c rune) bool { return c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c) }
	end := off
	if isWord(r[off]) {
		for end < len(r) && isWord(r[end]) {
			end++
		}
	} else if r[off] == '"' || r[off] == '\'' {
		end = off + 1
		for end < len(r) && r[end] != r[off] && r[end] != '\n' {
			end++
		}
		end = min(end+1, len(r))
	} else {
		for end < len(r) && !isWord(r[end]) && !unicode.IsSpace(r[end]) && end-off < 3 {
			end++
		}
	}
	return string(r[off:end])
}

package mappings

import (
	"fmt"
	"io"
	"time"

	"github.com/expr-lang/expr/ast"

	"github.com/liaisonhq/liaison/core"
)

// Budget bounds one evaluation of a rule's if or of one template, so that
// a careless rule (nested loops over large ranges) fails for the case at
// hand instead of holding a worker, start-up or `liaison check` forever.
// A step is one iteration of a predicate (all, any, filter, map, ...) or of
// a template's range. Zero fields take the defaults.
type Budget struct {
	Steps int           // default DefaultBudgetSteps
	Time  time.Duration // default DefaultBudgetTime
	// Output bounds what one template writes (default DefaultBudgetOutput).
	Output int
}

// The default budget: far above what the default rules take (a few
// hundred steps on a large case), far below a stuck worker.
const (
	DefaultBudgetSteps  = 100_000
	DefaultBudgetTime   = time.Second
	DefaultBudgetOutput = 1 << 20
)

func (b Budget) orDefaults() Budget {
	if b.Steps <= 0 {
		b.Steps = DefaultBudgetSteps
	}
	if b.Time <= 0 {
		b.Time = DefaultBudgetTime
	}
	if b.Output <= 0 {
		b.Output = DefaultBudgetOutput
	}
	return b
}

// meter counts the steps of one evaluation. It is not shared: each
// evaluation makes its own, so concurrent workers need no lock.
type meter struct {
	b     Budget
	steps int
	start time.Time // taken at the first step: an evaluation without loops never reads the clock
}

// timeEvery is how many steps pass between two looks at the clock.
const timeEvery = 256

// step counts one step and fails once the budget is spent.
func (m *meter) step() error {
	m.steps++
	if m.steps == 1 {
		m.start = time.Now()
	}
	if m.steps > m.b.Steps {
		return fmt.Errorf("%w: more than %d steps", core.ErrOverBudget, m.b.Steps)
	}
	if m.steps%timeEvery == 0 && time.Since(m.start) > m.b.Time {
		return fmt.Errorf("%w: more than %s", core.ErrOverBudget, m.b.Time)
	}
	return nil
}

// ruleEnv is what a compiled if or template runs on: the rule's Env, whose
// fields and methods it promotes, and the evaluation's meter, which rules
// cannot see (it is unexported) but the step functions reach through $env
// and $.
type ruleEnv struct {
	*core.Env
	meter meter
}

func newRuleEnv(env *core.Env, b Budget) *ruleEnv { return &ruleEnv{Env: env, meter: meter{b: b}} }

// stepFunc is the function the budget patch calls; "$" keeps it out of the
// names an admin would write.
const stepFunc = "$step"

// stepper is the expr patch that makes every predicate body count a step
// first: `all(xs, P)` runs as `all(xs, ($step($env); P))`. Predicates are
// the only loops expr has; ranges and arrays are already bounded by its
// memory budget.
type stepper struct{}

func (stepper) Visit(node *ast.Node) {
	p, ok := (*node).(*ast.PredicateNode)
	if !ok {
		return
	}
	if seq, ok := p.Node.(*ast.SequenceNode); ok && len(seq.Nodes) == 2 && isStep(seq.Nodes[0]) {
		return // patched already (the checker may visit twice)
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: stepFunc}, Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}}}
	call.SetLocation(p.Node.Location())
	seq := &ast.SequenceNode{Nodes: []ast.Node{call, p.Node}}
	seq.SetLocation(p.Node.Location())
	p.Node = seq
}

func isStep(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	return ok && id.Value == stepFunc
}

// exprStep is the step function: it returns the error that stops the
// expression once the budget is spent.
func exprStep(params ...any) (any, error) {
	env, ok := params[0].(*ruleEnv)
	if !ok {
		return true, nil
	}
	return true, env.meter.step()
}

// templateStepFunc is the template function the budget patch calls at the
// start of every range iteration.
const templateStepFunc = "budget_step"

// templateStep is templateStepFunc: it writes nothing and fails once the
// budget is spent, which stops the template.
func templateStep(env *ruleEnv) (string, error) {
	if env == nil {
		return "", nil
	}
	return "", env.meter.step()
}

// cappedWriter fails a template whose output passes the budget.
type cappedWriter struct {
	w        io.Writer
	max, len int
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if c.len+len(p) > c.max {
		return 0, fmt.Errorf("%w: more than %d bytes of output", core.ErrOverBudget, c.max)
	}
	c.len += len(p)
	return c.w.Write(p)
}

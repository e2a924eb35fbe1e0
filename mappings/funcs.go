package mappings

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"

	"github.com/liaisonhq/liaison/core"
)

// extras is what the functions of expressions and templates read from the
// mappings beyond core.Mappings: the checklists and the default calendar.
// The compiler fills it while it compiles; the functions read it when a
// rule runs, by which time it is complete and no longer changes.
type extras struct {
	m          *core.Mappings
	checklists map[string][]checkItem
	calendar   *core.Calendar // the top-level calendar, or nil for core.DefaultCalendar
	// orgCalendars are the organisations' own calendars (calendars:), by
	// the organisation's name.
	orgCalendars map[string]*core.Calendar
}

// checkItem is one line of a checklist: what the reporter is asked for,
// and where its value is found: the first of sources that holds it (a
// field, title, ..., or text:<finder>).
type checkItem struct {
	label   string
	sources []string
}

// textSource is the prefix of a checklist source that looks in what the
// reporter wrote (finders.go).
const textSource = "text:"

func (x *extras) cal() *core.Calendar {
	if x.calendar != nil {
		return x.calendar
	}
	return core.DefaultCalendar()
}

// missing returns the labels of checklist name whose values are empty on
// the record, in the checklist's order.
func (x *extras) missing(v core.ItemView, name string) ([]string, error) {
	items, ok := x.checklists[name]
	if !ok {
		return nil, fmt.Errorf("unknown checklist %q (checklists: %s)", name, orNone(sortedKeys(x.checklists)))
	}
	out := []string{}
	var said []string // the reporter's texts, unquoted at the first text: source only
	for _, it := range items {
		if !x.holds(v, it.sources, &said) {
			out = append(out, it.label)
		}
	}
	return out, nil
}

// holds reports whether one of a checklist line's sources has a value.
// said caches reporterTexts(v) for the lines of one checklist.
func (x *extras) holds(v core.ItemView, sources []string, said *[]string) bool {
	for _, src := range sources {
		if finder, ok := strings.CutPrefix(src, textSource); ok {
			if *said == nil {
				*said = reporterTexts(v)
			}
			if found(*said, finder) {
				return true
			}
		} else if strings.TrimSpace(x.value(v, src)) != "" {
			return true
		}
	}
	return false
}

// value reads what a checklist line names: title (or summary), body (or
// description), priority, reporter, assignee, or a field by its canonical
// name in the record's kind (systems ... fields) or its native name.
func (x *extras) value(v core.ItemView, source string) string {
	switch strings.ToLower(source) {
	case "title", "summary":
		return v.Title
	case "body", "description":
		return v.Body
	case "priority":
		if v.Priority != "" {
			return v.Priority
		}
		return v.NativePriority
	case "reporter":
		return v.Reporter
	case "assignee":
		return v.Assignee
	}
	if km := x.m.Kind(v.System, core.Kind(v.Kind)); km != nil {
		if native, ok := km.Fields[source]; ok {
			source = native
		}
	}
	return v.Field(source)
}

// identity translates a person's identity in any system into their
// identity in system to, through people; "" when unknown.
func (x *extras) identity(to, id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	for _, p := range x.m.People {
		for _, mine := range slices.Sorted(maps.Keys(p.IDs)) {
			if strings.EqualFold(p.IDs[mine], id) {
				return p.IDs[to]
			}
		}
	}
	return ""
}

// addWorkingDays returns the close of the nth working day after the day t
// falls in, in the default calendar; t itself when n is not positive.
func (x *extras) addWorkingDays(n int, t time.Time) time.Time {
	if n <= 0 {
		return t
	}
	return x.cal().CloseAfter(t, n)
}

// nextPriority is the canonical priority after p (urgent stays urgent);
// "" for a priority that is not canonical.
func nextPriority(p string) string {
	i := slices.Index(core.Priorities, strings.ToLower(strings.TrimSpace(p)))
	if i < 0 {
		return ""
	}
	return core.Priorities[min(i+1, len(core.Priorities)-1)]
}

// highestPriority returns the highest canonical priority of a list of
// priorities ([]string) or of records ([]core.ItemView, by their Priority);
// "" when none is canonical.
func highestPriority(list any) (string, error) {
	var ps []string
	switch l := list.(type) {
	case []string:
		ps = l
	case []core.ItemView:
		for _, v := range l {
			ps = append(ps, v.Priority)
		}
	case []any:
		for _, e := range l {
			switch x := e.(type) {
			case string:
				ps = append(ps, x)
			case core.ItemView:
				ps = append(ps, x.Priority)
			default:
				return "", fmt.Errorf("highest_priority: a list of priorities or records, got a %T in it", e)
			}
		}
	case nil:
	default:
		return "", fmt.Errorf("highest_priority: a list of priorities or records, got %T", list)
	}
	best := -1
	for _, p := range ps {
		best = max(best, slices.Index(core.Priorities, strings.ToLower(strings.TrimSpace(p))))
	}
	if best < 0 {
		return "", nil
	}
	return core.Priorities[best], nil
}

// mentions reports whether text holds one of words (or phrases) as a whole
// word, ignoring case: "error" is in "An error page" but not in "terrors".
func mentions(text string, words ...string) bool {
	lower := strings.ToLower(text)
	for _, w := range words {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		for from := 0; from < len(lower); {
			i := strings.Index(lower[from:], w)
			if i < 0 {
				break
			}
			start, end := from+i, from+i+len(w)
			if boundary(lower, start, true) && boundary(lower, end, false) {
				return true
			}
			_, size := utf8.DecodeRuneInString(lower[start:])
			from = start + size
		}
	}
	return false
}

// boundary reports whether position i of s is not inside a word: the rune
// before it (before) or at it (after) is not a letter or digit.
func boundary(s string, i int, before bool) bool {
	var r rune
	if before {
		if i == 0 {
			return true
		}
		r, _ = utf8.DecodeLastRuneInString(s[:i])
	} else {
		if i >= len(s) {
			return true
		}
		r, _ = utf8.DecodeRuneInString(s[i:])
	}
	return !unicode.IsLetter(r) && !unicode.IsDigit(r)
}

// exprFunctions are the functions expressions may call besides expr's
// builtins, with the same names and arguments as in templates.
func (x *extras) exprFunctions() []expr.Option {
	return []expr.Option{
		expr.Function("missing", func(params ...any) (any, error) {
			return x.missing(params[0].(core.ItemView), params[1].(string))
		}, new(func(core.ItemView, string) []string)),
		expr.Function("mentions", func(params ...any) (any, error) {
			words := make([]string, 0, len(params)-1)
			for _, p := range params[1:] {
				words = append(words, p.(string))
			}
			return mentions(params[0].(string), words...), nil
		}, new(func(string, ...string) bool)),
		expr.Function("next_priority", func(params ...any) (any, error) {
			return nextPriority(params[0].(string)), nil
		}, new(func(string) string)),
		expr.Function("highest_priority", func(params ...any) (any, error) {
			return highestPriority(params[0])
		}, new(func([]core.ItemView) string), new(func([]string) string), new(func([]any) string)),
		expr.Function("identity", func(params ...any) (any, error) {
			return x.identity(params[0].(string), params[1].(string)), nil
		}, new(func(string, string) string)),
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

package fake

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// query is a parsed JQL query of the subset the connector sends.
type query struct {
	projects  []string // project in (...) / project = X
	keys      []string // key = X / key in (...)
	labels    []string // labels = "x" (all must be present)
	since     time.Time
	sinceIncl bool
	hasSince  bool
	orderBy   string // "updated", "created" or "" (key order)
	desc      bool
}

// parseJQL reads clauses joined by AND and an optional ORDER BY; dates are
// read in loc, the API user's time zone, as Jira does.
func parseJQL(s string, loc *time.Location) (*query, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	q := &query{}
	p := &parser{toks: toks}
	for !p.done() {
		if p.peekWord("order") {
			break
		}
		if err := p.clause(q, loc); err != nil {
			return nil, err
		}
		if p.done() || p.peekWord("order") {
			break
		}
		if !p.word("and") {
			return nil, fmt.Errorf("expecting 'AND' or 'ORDER BY' but got '%s'", p.peekText())
		}
	}
	if p.word("order") {
		if !p.word("by") {
			return nil, fmt.Errorf("expecting 'BY' after 'ORDER'")
		}
		f := strings.ToLower(p.next())
		if f != "updated" && f != "created" && f != "key" {
			return nil, fmt.Errorf("ordering by '%s' is not supported by this fake", f)
		}
		q.orderBy = f
		switch {
		case p.word("asc"):
		case p.word("desc"):
			q.desc = true
		}
	}
	if !p.done() {
		return nil, fmt.Errorf("unexpected '%s' at the end of the query", p.peekText())
	}
	return q, nil
}

func (p *parser) clause(q *query, loc *time.Location) error {
	field := strings.ToLower(p.next())
	op := strings.ToLower(p.next())
	var vals []string
	switch op {
	case "in":
		if p.next() != "(" {
			return fmt.Errorf("expecting '(' after 'in'")
		}
		for {
			v := p.next()
			if v == "" {
				return fmt.Errorf("unterminated list")
			}
			vals = append(vals, v)
			sep := p.next()
			if sep == ")" {
				break
			}
			if sep == "" {
				return fmt.Errorf("unterminated list")
			}
			if sep != "," {
				return fmt.Errorf("expecting ',' or ')' in a list")
			}
		}
	case "=", ">=", ">":
		v := p.next()
		if v == "" {
			return fmt.Errorf("expecting a value after '%s'", op)
		}
		vals = []string{v}
	default:
		return fmt.Errorf("the operator '%s' is not supported by this fake", op)
	}
	switch field {
	case "project":
		if op != "in" && op != "=" {
			return fmt.Errorf("project supports = and in")
		}
		q.projects = append(q.projects, vals...)
	case "key", "issuekey":
		if op != "in" && op != "=" {
			return fmt.Errorf("key supports = and in")
		}
		q.keys = append(q.keys, vals...)
	case "labels":
		if op != "=" {
			return fmt.Errorf("labels supports =")
		}
		q.labels = append(q.labels, vals...)
	case "updated":
		if op != ">=" && op != ">" {
			return fmt.Errorf("updated supports >= and >")
		}
		t, err := parseJQLDate(vals[0], loc)
		if err != nil {
			return err
		}
		q.since, q.sinceIncl, q.hasSince = t, op == ">=", true
	default:
		return fmt.Errorf("field '%s' is not supported by this fake", field)
	}
	return nil
}

func parseJQLDate(v string, loc *time.Location) (time.Time, error) {
	for _, l := range []string{"2006/01/02 15:04", "2006-01-02 15:04", "2006/01/02", "2006-01-02"} {
		if t, err := time.ParseInLocation(l, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date value '%s' for field 'updated' is invalid: valid formats are 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'", v)
}

func (q *query) match(iss *issue) bool {
	if iss.deleted {
		return false
	}
	if len(q.projects) > 0 && !slices.ContainsFunc(q.projects, func(p string) bool { return strings.EqualFold(p, iss.project) }) {
		return false
	}
	if len(q.keys) > 0 && !slices.ContainsFunc(q.keys, func(k string) bool { return strings.EqualFold(k, iss.key) }) {
		return false
	}
	for _, l := range q.labels {
		if !slices.Contains(iss.labels, l) {
			return false
		}
	}
	if q.hasSince {
		if iss.updated.Before(q.since) || (!q.sinceIncl && iss.updated.Equal(q.since)) {
			return false
		}
	}
	return true
}

func (q *query) sort(is []*issue) {
	slices.SortStableFunc(is, func(a, b *issue) int {
		var d int
		switch q.orderBy {
		case "updated":
			d = a.updated.Compare(b.updated)
		case "created":
			d = a.created.Compare(b.created)
		}
		if d == 0 {
			d = a.id - b.id
		}
		if q.desc {
			d = -d
		}
		return d
	})
}

type parser struct {
	toks []token
	i    int
}

type token struct {
	text   string
	quoted bool
}

func (p *parser) done() bool { return p.i >= len(p.toks) }

func (p *parser) next() string {
	if p.done() {
		return ""
	}
	p.i++
	return p.toks[p.i-1].text
}

func (p *parser) peekText() string {
	if p.done() {
		return ""
	}
	return p.toks[p.i].text
}

func (p *parser) peekWord(w string) bool {
	return !p.done() && !p.toks[p.i].quoted && strings.EqualFold(p.toks[p.i].text, w)
}

func (p *parser) word(w string) bool {
	if p.peekWord(w) {
		p.i++
		return true
	}
	return false
}

func lex(s string) ([]token, error) {
	var out []token
	r := []rune(s)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(' || c == ')' || c == ',' || c == '=':
			out = append(out, token{text: string(c)})
			i++
		case c == '>' || c == '<' || c == '!':
			if i+1 < len(r) && r[i+1] == '=' {
				out = append(out, token{text: string(r[i : i+2])})
				i += 2
			} else {
				out = append(out, token{text: string(c)})
				i++
			}
		case c == '"' || c == '\'':
			j := i + 1
			var b strings.Builder
			for ; j < len(r) && r[j] != c; j++ {
				if r[j] == '\\' && j+1 < len(r) {
					j++
				}
				b.WriteRune(r[j])
			}
			if j >= len(r) {
				return nil, fmt.Errorf("unterminated string literal")
			}
			out = append(out, token{text: b.String(), quoted: true})
			i = j + 1
		default:
			j := i
			for j < len(r) && !unicode.IsSpace(r[j]) && !strings.ContainsRune(`(),="'<>!`, r[j]) {
				j++
			}
			out = append(out, token{text: string(r[i:j])})
			i = j
		}
	}
	return out, nil
}

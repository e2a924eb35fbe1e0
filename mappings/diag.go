package mappings

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// Diagnostic is one problem found in the mapping files, at the position of
// the offending YAML node (or the character inside an expression or a
// template, when the problem is there).
type Diagnostic struct {
	Pos core.Pos
	Msg string
}

// String formats d as "file:line:col: message". A problem with the folder
// itself (no files, unreadable) has no line and prints as "folder: message".
func (d Diagnostic) String() string {
	if d.Pos.Line <= 0 {
		return d.Pos.File + ": " + d.Msg
	}
	return d.Pos.String() + ": " + d.Msg
}

// Diagnostics is every problem found in one load, sorted by file, line and
// column. It is the error Load returns; its Error is one diagnostic a line,
// which is also what `liaison check` prints.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// sorted returns ds ordered by position and message, without repeats (one
// node can be reached twice through a YAML alias).
func (ds Diagnostics) sorted() Diagnostics {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	return slices.Compact(out)
}

// diags collects diagnostics while a load runs.
type diags struct{ list Diagnostics }

func (d *diags) add(p core.Pos, format string, args ...any) {
	d.list = append(d.list, Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// quoteList formats names for a "(known: ...)" hint.
func quoteList[S ~string](names []S) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// suggest returns ` did you mean "x"?` when one of known is close to got,
// else "".
func suggest[S ~string](got string, known []S) string {
	if len(got) > 64 {
		return ""
	}
	best, bestD := "", 0
	lg := strings.ToLower(got)
	for _, k := range known {
		ks := string(k)
		if len(ks) > 64 {
			continue
		}
		d := distance(lg, strings.ToLower(ks))
		if best == "" || d < bestD {
			best, bestD = ks, d
		}
	}
	// Allow about one edit in three characters: enough for typos, not for
	// unrelated words. A long shared beginning (priority, priorities)
	// counts too.
	if best == "" || bestD == 0 || (bestD > max(1, len(got)/3) && commonPrefix(lg, strings.ToLower(best)) < 5) {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the edit distance of a and b by rune, counting a swap of
// two neighbours as one edit ("doen" is one edit from "done").
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			c := 1
			if ra[i-1] == rb[j-1] {
				c = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+c)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

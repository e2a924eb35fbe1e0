package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// printResponseTimes says where a record stands against each response-time
// target of m that times it, at now.
func printResponseTimes(w io.Writer, m *core.Mappings, it *core.Item, now time.Time) {
	var lines []string
	for _, s := range m.SLAs {
		if s.When.Matches(it.Ref) {
			lines = append(lines, s.Describe(m, it, now))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "\nresponse-time targets:")
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

// printLevels lists the escalation-level moves of a case's records, oldest
// first, with why each was made: the audit of the levels' actions. Moves
// an agent made by hand are the help desk's own history.
func printLevels(ctx context.Context, w io.Writer, st *store.Store, c *core.Case) error {
	var moves []core.AuditEntry
	for _, it := range c.Items {
		a, err := st.Audit(ctx, it.Ref, 0)
		if err != nil {
			return err
		}
		for _, e := range a {
			if e.Rule == core.LevelRule {
				moves = append(moves, e)
			}
		}
	}
	if len(moves) == 0 {
		return nil
	}
	slices.SortStableFunc(moves, func(a, b core.AuditEntry) int { return a.At.Compare(b.At) })
	fmt.Fprintln(w, "\nlevel history:")
	for _, m := range moves {
		fmt.Fprintf(w, "  %s  %s: %s\n", m.At.UTC().Format(time.DateTime), m.Target, m.Reason)
	}
	return nil
}

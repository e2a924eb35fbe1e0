package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// printPaused lists what an admin paused in case id, with who and why:
// the engine writes nothing there until it is resumed.
func printPaused(ctx context.Context, w io.Writer, st *store.Store, id core.CaseID) error {
	ps, err := st.Paused(ctx, id)
	if err != nil || len(ps) == 0 {
		return err
	}
	for _, p := range ps {
		what := p.Ref.String()
		if p.Whole {
			what = "the whole case"
		}
		line := fmt.Sprintf("sync paused: %s, by %s at %s UTC", what, p.By, p.At.UTC().Format(time.DateTime))
		if p.Reason != "" {
			line += ": " + p.Reason
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	return nil
}

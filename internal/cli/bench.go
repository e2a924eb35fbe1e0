package cli

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/liaisonhq/liaison/internal/loadtest"
)

func bench(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "bench")
	dir := fs.String("dir", "", "folder for the database (default: a temporary one)")
	paced := fs.Duration("paced", 5*time.Second, "length of each paced phase")
	n := fs.Int("n", 20000, "events in the ingest phase")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "liaison-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	fmt.Fprintf(e.stdout, "liaison bench: sandbox daemon on SQLite (synchronous=FULL), load generator in-process, %d CPUs, %s\n",
		runtime.NumCPU(), runtime.Version())
	r, err := loadtest.Run(ctx, loadtest.Options{Dir: *dir, Paced: *paced, IngestN: *n})
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, r)
	return nil
}

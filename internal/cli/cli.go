// Package cli implements the liaison command's subcommands.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/store"

	// The shipped connectors; adding one is one line here.
	_ "github.com/liaisonhq/liaison/connectors/github"
	_ "github.com/liaisonhq/liaison/connectors/imap"
	_ "github.com/liaisonhq/liaison/connectors/jira"
	_ "github.com/liaisonhq/liaison/connectors/mantis"
	_ "github.com/liaisonhq/liaison/connectors/opsgenie"
	_ "github.com/liaisonhq/liaison/connectors/pagerduty"
	_ "github.com/liaisonhq/liaison/connectors/sandbox"
	_ "github.com/liaisonhq/liaison/connectors/zendesk"
)

type command struct {
	name, args, help string
	run              func(ctx context.Context, env *env, args []string) error
}

type env struct {
	stdout, stderr io.Writer
	// shutdownTimeout is how long the command may take to stop once a
	// signal came, in nanoseconds (serve sets it from the configuration).
	shutdownTimeout atomic.Int64
}

// errUsage makes Main exit 2 without repeating the message.
var errUsage = errors.New("usage")

// exitError carries an exit code other than 1 with its message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func commands() []command {
	return []command{
		{"serve", "--config FILE", "run the daemon", serve},
		{"check", "[DIR] [--config FILE [--online]]", "validate mapping files (exit 1 with file:line:col errors); with --config the connectors' sections and secrets; --online contacts each system", check},
		{"simulate", "--scenario FILE [--mappings DIR]", "replay a scenario against empty state and print the actions, one JSON object a line", simulateCmd},
		{"links", "REF (--config FILE | --store DSN)", "show a record's case: linked records, statuses, pending and dead actions, audit", links},
		{"why", "REF (--config FILE | --store DSN)", "show which rule last set each status and field of a record, from which event, when", why},
		{"replay", "[KEY ...] (--config FILE | --store DSN)", "re-queue dead-lettered actions (all when no key is given)", replay},
		{"backfill", "SOURCE --since DATE --config FILE", "import a source's records through its poller (resumable)", backfill},
		{"migrate", "(--config FILE | --store DSN)", "apply database migrations and exit", migrate},
		{"digest", "--org ORG [--week 2026-W47] (--config FILE | --store DSN)", "print an organisation's weekly digest: tickets raised, done and scheduled", digestCmd},
		{"sandbox", "[--dir DIR] [--listen ADDR] [--stand-ins]", "run the daemon against fakes of Jira, GitHub, Zendesk and IMAP on loopback and play the support story (make run)", sandboxCmd},
		{"bench", "[--dir DIR] [--duration D]", "measure ingest, acknowledgement, reconcile and event-to-action figures on the sandbox", bench},
		{"setup", "[--config FILE] [--mappings DIR] [--url URL] [--system NAME]", "print, as Markdown, what to create in each tracker for the mappings in force", setupCmd},
		{"version", "", "print the release, its commit and the Go version it was built with", versionCmd},
	}
}

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		e := &env{stdout: stdout, stderr: stderr}
		e.shutdownTimeout.Store(int64(config.DefaultShutdownTimeout))
		finished := make(chan struct{})
		defer close(finished)
		go stopWithin(ctx, stop, e, c.name, finished)
		err := c.run(ctx, e, args[1:])
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "usage: liaison %s %s\n", c.name, c.args)
			return 2
		case errors.As(err, &ee):
			fmt.Fprintln(stderr, ee.msg)
			return ee.code
		}
		fmt.Fprintf(stderr, "liaison %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "liaison: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// stopWithin bounds a stop: once a signal ends ctx, the command has the
// shutdown timeout to return (finished) before the process exits anyway,
// whatever it is doing (a rule, a connector call, a slow disk). A second
// signal ends it at once: stop restores the default handling.
func stopWithin(ctx context.Context, stop func(), e *env, name string, finished <-chan struct{}) {
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	stop()
	wait := time.Duration(e.shutdownTimeout.Load())
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		fmt.Fprintf(e.stderr, "liaison %s: not stopped %s after the signal (shutdown_timeout); exiting now\n", name, wait)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "liaison links help desks, bug trackers, code hosts and mailboxes, and keeps them in sync.")
	fmt.Fprintln(w, "\nusage:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  liaison %-9s %-40s %s\n", c.name, c.args, c.help)
	}
}

// flags returns a flag set that reports errors instead of exiting.
func flags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("liaison "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parse parses flags anywhere among the arguments and returns the rest.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	}
	o := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// openStore opens the store named by --store, or by the config file.
func openStore(ctx context.Context, cfgPath, dsn string) (*store.Store, error) {
	var cfg *config.Config
	if dsn == "" && cfgPath != "" {
		var err error
		if cfg, err = config.Load(cfgPath); err != nil {
			return nil, err
		}
	}
	return storeOf(ctx, cfg, dsn)
}

// storeOf opens the store dsn names, or else cfg's (which may be nil when
// dsn is set).
func storeOf(ctx context.Context, cfg *config.Config, dsn string) (*store.Store, error) {
	if dsn == "" {
		if cfg == nil {
			return nil, fmt.Errorf("name the database with --store DSN or --config FILE: %w", errUsage)
		}
		var err error
		if dsn, err = cfg.StoreDSN(); err != nil {
			return nil, err
		}
	}
	return store.Open(ctx, dsn, store.Options{})
}

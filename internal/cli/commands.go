package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/console"
	"github.com/liaisonhq/liaison/internal/daemon"
	"github.com/liaisonhq/liaison/internal/simulate"
	"github.com/liaisonhq/liaison/mappings"
)

func serve(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "serve")
	cfgPath := fs.String("config", "liaison.yaml", "configuration file")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	e.shutdownTimeout.Store(int64(cfg.ShutdownTimeout))
	log := newLogger(e.stderr, cfg.Log.Level, cfg.Log.Format)
	d, err := daemon.Build(ctx, cfg, daemon.Options{Log: log})
	if err != nil {
		return err
	}
	return d.Run(ctx, nil)
}

func check(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "check")
	cfgPath := fs.String("config", "", "configuration file: also check every connector's section and secrets, and that rules name only configured systems")
	online := fs.Bool("online", false, "with --config: also contact every configured system and check the mappings against it, as serve does at start")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 || (*online && *cfgPath == "") {
		return errUsage
	}
	var (
		o     mappings.Options
		cfg   *config.Config
		conns []core.Connector
		errs  []error
	)
	dir, tracker := "", ""
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
		o, dir, tracker = daemon.MappingOptions(cfg), cfg.Mappings, cfg.DevTracker
		// Quiet: the connectors are built to be checked, not run.
		conns, err = daemon.Connectors(cfg, daemon.Options{Log: slog.New(slog.DiscardHandler)})
		errs = append(errs, err)
		if cfg.Console.Listen != "" {
			errs = append(errs, console.CheckConfig(cfg.Console))
		}
	}
	if len(rest) == 1 {
		dir = rest[0]
	}
	m, err := daemon.LoadMappings(dir, tracker, o)
	errs = append(errs, err)
	if err == nil && *online {
		notes, err := daemon.CheckSystems(ctx, conns, m, cfg.PublicURL)
		for _, n := range notes {
			fmt.Fprintln(e.stderr, n)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	where := dir
	if where == "" && m != nil {
		where = m.Source
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d systems, %d link patterns, %d rules, %d sync rules, %d response-time targets, %d duplicates entries)\n",
		where, len(m.Systems), len(m.Patterns), len(m.Rules), len(m.Sync), len(m.SLAs), len(m.Duplicates))
	for _, line := range append(m.Overlaid, m.Disabled...) {
		fmt.Fprintf(e.stdout, "  %s\n", line)
	}
	for _, line := range m.CalendarsInForce() {
		fmt.Fprintf(e.stdout, "  %s\n", line)
	}
	if m.Levels != nil {
		fmt.Fprintf(e.stdout, "  levels: %s\n", m.Levels)
	}
	if cfg != nil {
		what := "sections and secrets"
		if *online {
			what += "; each system has what the mappings name"
		}
		fmt.Fprintf(e.stdout, "%s: ok (%d connectors: %s)\n", *cfgPath, len(conns), what)
	}
	return nil
}

func simulateCmd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "simulate")
	scen := fs.String("scenario", "", "scenario file (YAML)")
	dir := fs.String("mappings", "", "mapping folder (default: the embedded defaults)")
	tracker := fs.String("dev-tracker", "", "without --mappings: the shipped mappings for this bug tracker (jira, mantis), as dev_tracker in the config")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *scen == "" {
		return errUsage
	}
	b, err := os.ReadFile(*scen)
	if err != nil {
		return err
	}
	s, err := simulate.Load(*scen, b)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	m, err := daemon.LoadMappings(*dir, *tracker, mappings.Options{Projects: simulate.Projects})
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	return simulate.Run(ctx, s, m, e.stdout)
}

func replay(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "replay")
	cfgPath := fs.String("config", "", "configuration file")
	dsn := fs.String("store", "", "database DSN (instead of --config)")
	keys, err := parse(fs, args)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *cfgPath, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Replay(ctx, keys...)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "re-queued %d dead-lettered action(s); a running daemon applies them now\n", n)
	return nil
}

func migrate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "migrate")
	cfgPath := fs.String("config", "", "configuration file")
	dsn := fs.String("store", "", "database DSN (instead of --config)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *cfgPath, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s schema at version %d\n", st.Backend(), v)
	return nil
}

func backfill(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "backfill")
	cfgPath := fs.String("config", "liaison.yaml", "configuration file")
	sinceS := fs.String("since", "", "date to import from (YYYY-MM-DD or RFC 3339)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || *sinceS == "" {
		return errUsage
	}
	since, err := parseDate(*sinceS)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, "warn", cfg.Log.Format)
	d, err := daemon.Build(ctx, cfg, daemon.Options{Log: log})
	if err != nil {
		return err
	}
	defer d.Store.Close()
	c, ok := d.Engine.Connector(rest[0])
	if !ok {
		return fmt.Errorf("no connector named %q in %s", rest[0], *cfgPath)
	}
	return runBackfill(ctx, e, d, c, since)
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want YYYY-MM-DD or an RFC 3339 time", s)
}

// runBackfill walks the poller from since under its own cursor, so an
// interrupted import resumes where it stopped, and shows progress by how
// far the records' update times have come from since to now.
func runBackfill(ctx context.Context, e *env, d *daemon.Daemon, c core.Connector, since time.Time) error {
	p, ok := c.(core.Poller)
	if !ok {
		return fmt.Errorf("connector %q cannot poll, so it cannot backfill", c.Name())
	}
	key := "backfill:" + c.Name()
	cur, err := d.Store.Cursor(ctx, key)
	if err != nil {
		return err
	}
	if cur == "" {
		ps, ok := c.(core.PollSince)
		if !ok {
			return fmt.Errorf("connector %q cannot start a poll from a date", c.Name())
		}
		cur = ps.CursorAt(since)
	} else {
		fmt.Fprintf(e.stderr, "resuming the earlier backfill of %s\n", c.Name())
	}
	start, total, fresh := time.Now(), 0, 0
	span := time.Since(since)
	// What is stored stays stored, and the cursor says where to go on.
	resumable := func(records int, err error) error {
		return fmt.Errorf("after %d records: %w (run the same command again to resume)", records, err)
	}
	for {
		evs, next, more, err := p.Poll(ctx, cur)
		if err != nil {
			return resumable(total, err)
		}
		ok, err := d.Engine.Submit(ctx, evs)
		if err != nil {
			return resumable(total, err)
		}
		if err := d.Store.SetCursor(ctx, key, next); err != nil {
			return resumable(total+len(evs), err)
		}
		cur = next
		total += len(evs)
		var reached time.Time
		for i, ev := range evs {
			if ok[i] {
				fresh++
			}
			if ev.Item.UpdatedAt.After(reached) {
				reached = ev.Item.UpdatedAt
			}
		}
		frac := 1.0
		if more && span > 0 && !reached.IsZero() {
			frac = min(max(float64(reached.Sub(since))/float64(span), 0.001), 1)
		}
		progress(e, frac, total, time.Since(start))
		if !more || ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintf(e.stderr, "\nbackfill of %s done: %d records read, %d new; the daemon reconciles them\n", c.Name(), total, fresh)
	if err := ctx.Err(); err != nil {
		return errors.New("interrupted; run the same command again to resume")
	}
	return nil
}

func progress(e *env, frac float64, n int, elapsed time.Duration) {
	const width = 30
	done := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < done {
			bar[i] = '#'
		}
	}
	eta := "—"
	if frac > 0 && frac < 1 {
		eta = core.FormatDuration(time.Duration(float64(elapsed) * (1 - frac) / frac))
	}
	fmt.Fprintf(e.stderr, "\r[%s] %3.0f%%  %d records  %s elapsed  %s left      ", bar, frac*100, n, core.FormatDuration(elapsed), eta)
}

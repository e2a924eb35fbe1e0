package cli

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/daemon"
	"github.com/liaisonhq/liaison/internal/digest"
	"github.com/liaisonhq/liaison/mappings"
)

// digestCmd prints one organisation's weekly digest, as the daemon would
// mail it, from the store. With --config, the digest section's template
// and time zone and the admin's mappings apply; flags override them.
func digestCmd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "digest")
	org := fs.String("org", "", "organisation, as the customer tickets' org field names it")
	weekS := fs.String("week", "", "ISO week such as 2026-W47 (default: the last complete week)")
	cfgPath := fs.String("config", "", "configuration file")
	dsn := fs.String("store", "", "database DSN (instead of --config)")
	tmplPath := fs.String("template", "", "template file (default: digest.template, else the embedded template)")
	tz := fs.String("timezone", "", "time zone the week is counted in (default: digest.timezone, else UTC)")
	html := fs.Bool("html", false, "print the mail's HTML part instead of its text (the default template only)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 || *org == "" {
		return errUsage
	}
	var cfg *config.Config
	mapDir, tracker, mopts := "", "", mappings.Options{}
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
		mapDir, tracker, mopts = cfg.Mappings, cfg.DevTracker, daemon.MappingOptions(cfg)
		*tmplPath = cmp.Or(*tmplPath, cfg.Digest.Template)
		*tz = cmp.Or(*tz, cfg.Digest.Timezone)
	}
	loc, err := time.LoadLocation(cmp.Or(*tz, "UTC"))
	if err != nil {
		return fmt.Errorf("--timezone %q: want a zone name such as Europe/Paris", *tz)
	}
	week := digest.WeekOf(time.Now().In(loc).AddDate(0, 0, -7))
	if *weekS != "" {
		if week, err = digest.ParseWeek(*weekS); err != nil {
			return err
		}
	}
	tmpl, err := digest.LoadTemplate(*tmplPath)
	if err != nil {
		return err
	}
	m, err := daemon.LoadMappings(mapDir, tracker, mopts)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	st, err := storeOf(ctx, cfg, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	rs, err := digest.Build(ctx, st, week, []string{*org}, digest.Options{Mappings: m, Location: loc, Now: time.Now()})
	if err != nil {
		return err
	}
	r := rs[0]
	subject, body, err := tmpl.Render(r)
	if err != nil {
		return err
	}
	if *html {
		if body, err = tmpl.RenderHTML(r); err != nil {
			return err
		}
		if body == "" {
			return fmt.Errorf("--html: the template %q has no HTML part (only the default template has one)", *tmplPath)
		}
	}
	fmt.Fprintf(plainWriter{e.stdout}, "Subject: %s\n\n%s", subject, body)
	if len(r.Raised)+len(r.Done)+len(r.Scheduled) == 0 {
		fmt.Fprintf(e.stderr, "note: no ticket of organisation %q was raised, done or open in %s; check the name against the tickets' org field\n", *org, week)
	}
	return nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/daemon"
	"github.com/liaisonhq/liaison/internal/store"
)

// openRecord parses `REF (--config FILE | --store DSN)`, opens the store
// and reads the record, or says the gateway does not know it. It returns
// the configuration named (or nil). The caller closes the store.
func openRecord(ctx context.Context, e *env, name string, args []string) (*store.Store, *core.Item, *config.Config, error) {
	fs := flags(e, name)
	cfgPath := fs.String("config", "", "configuration file")
	dsn := fs.String("store", "", "database DSN (instead of --config)")
	rest, err := parse(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(rest) != 1 {
		return nil, nil, nil, errUsage
	}
	var cfg *config.Config
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			return nil, nil, nil, err
		}
	}
	st, err := storeOf(ctx, cfg, *dsn)
	if err != nil {
		return nil, nil, nil, err
	}
	ref, err := resolveRef(ctx, st, rest[0])
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	it, err := st.Item(ctx, ref)
	if err != nil {
		st.Close()
		if errors.Is(err, core.ErrNotFound) {
			return nil, nil, nil, &exitError{code: 1, msg: fmt.Sprintf("%s is not known to this gateway", ref)}
		}
		return nil, nil, nil, err
	}
	return st, it, cfg, nil
}

// resolveRef reads a record's name as an admin types it: the full
// system/kind/id, or a short form the store can pin down: an id alone
// (KBOT-1, 4521), a pull request's URL or repo#n, a Message-ID.
func resolveRef(ctx context.Context, st *store.Store, s string) (core.Ref, error) {
	if ref, err := core.ParseRef(s); err == nil {
		return ref, nil
	}
	id := shortID(s)
	refs, err := st.RefsWithID(ctx, id)
	if err != nil {
		return core.Ref{}, err
	}
	switch len(refs) {
	case 1:
		return refs[0], nil
	case 0:
		return core.Ref{}, &exitError{code: 1, msg: fmt.Sprintf("%q is not known to this gateway: no record has the id %q "+
			"(name a record as system/kind/id, e.g. jira/dev_ticket/KBOT-1, or by its id alone: KBOT-1, 4521, acme/app#12)", s, id)}
	default:
		names := make([]string, len(refs))
		for i, r := range refs {
			names[i] = r.String()
		}
		return core.Ref{}, &exitError{code: 2, msg: fmt.Sprintf("%q names %d records; say which: %s", s, len(refs), strings.Join(names, ", "))}
	}
}

// shortID is the record id a short form stands for: a GitHub pull
// request's URL becomes owner/repo#n, a Message-ID loses its brackets.
func shortID(s string) string {
	s = strings.TrimSpace(s)
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); len(parts) == 4 && (parts[2] == "pull" || parts[2] == "pulls") {
			return parts[0] + "/" + parts[1] + "#" + parts[3]
		}
	}
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		return s[1 : len(s)-1]
	}
	return s
}

func links(ctx context.Context, e *env, args []string) error {
	st, it, _, err := openRecord(ctx, e, "links", args)
	if err != nil {
		return err
	}
	defer st.Close()
	ref := it.Ref
	c, err := caseOf(ctx, st, ref)
	if err != nil {
		return err
	}
	id := c.ID
	w := plainWriter{e.stdout} // customer text: no terminal controls
	fmt.Fprintf(w, "case %d: %d records\n\n", c.ID, len(c.Items))
	if err := printPaused(ctx, w, st, id); err != nil {
		return err
	}
	for _, it := range c.Items {
		mark := " "
		if it.Ref == ref {
			mark = "*"
		}
		status := it.Native
		switch {
		case !it.Known():
			status = "(not fetched yet)"
		case status == "":
			status = "-"
		}
		fmt.Fprintf(w, "%s %-44s %-18s %s\n", mark, it.Ref, status, core.ClipLine(it.Title, 60))
		if it.URL != "" {
			fmt.Fprintf(w, "    %s\n", it.URL)
		}
	}
	fmt.Fprintln(w, "\nlinks:")
	for _, l := range c.Links {
		note := ""
		if !l.Joins() {
			note = ", a mention only: not linked"
		}
		fmt.Fprintf(w, "  %s —%s→ %s  (%s%s)\n", l.From, l.Role, l.To, l.Origin, note)
	}
	acts, err := st.Actions(ctx, id, "")
	if err != nil {
		return err
	}
	printActions(w, "pending actions", acts, core.Pending)
	printActions(w, "dead letters", acts, core.Dead)
	if err := printLevels(ctx, w, st, c); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nrecent audit:")
	var entries []core.AuditEntry
	for _, it := range c.Items {
		a, err := st.Audit(ctx, it.Ref, 20)
		if err != nil {
			return err
		}
		entries = append(entries, a...)
	}
	slices.SortStableFunc(entries, func(a, b core.AuditEntry) int { return b.At.Compare(a.At) })
	entries = slices.CompactFunc(entries, func(a, b core.AuditEntry) bool { return a.Key == b.Key })
	if len(entries) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, a := range entries[:min(len(entries), 15)] {
		fmt.Fprintf(w, "  %s  %-28s %-10s %s: %s\n", a.At.UTC().Format(time.DateTime), a.Rule, a.Kind, a.Target, a.Detail)
	}
	return nil
}

func printActions(w io.Writer, title string, acts []core.Action, st core.ActionState) {
	fmt.Fprintf(w, "\n%s:\n", title)
	n := 0
	for _, a := range acts {
		if a.State != st {
			continue
		}
		n++
		line := fmt.Sprintf("  %s %s by rule %q, %d attempt(s)", a.Kind, a.Target, a.Rule, a.Attempts)
		if a.LastError != "" {
			line += ": " + a.LastError
		}
		if st == core.Pending && !a.NextAttempt.IsZero() {
			line += ", next at " + a.NextAttempt.UTC().Format(time.DateTime)
		}
		fmt.Fprintln(w, line)
	}
	if n == 0 {
		fmt.Fprintln(w, "  none")
	}
}

// why answers, for each status and field of a record, which rule last set
// it and when, from the audit log; and lists the events seen about it.
func why(ctx context.Context, e *env, args []string) error {
	st, it, cfg, err := openRecord(ctx, e, "why", args)
	if err != nil {
		return err
	}
	defer st.Close()
	ref := it.Ref
	audit, err := st.Audit(ctx, ref, 500)
	if err != nil {
		return err
	}
	w := plainWriter{e.stdout} // customer text: no terminal controls
	fmt.Fprintf(w, "%s  %q\n\n", ref, core.ClipLine(it.Title, 70))
	// Audit is newest first: the first entry per field is the last setter.
	type setter struct {
		value string
		a     core.AuditEntry
	}
	last := map[string]setter{}
	var order []string
	note := func(field, value string, a core.AuditEntry) {
		if _, ok := last[field]; !ok {
			last[field] = setter{value, a}
			order = append(order, field)
		}
	}
	var comments []core.AuditEntry
	for _, a := range audit {
		switch a.Kind {
		case core.Transition:
			note("status", strings.TrimPrefix(a.Detail, "status → "), a)
		case core.SetFields:
			// "set k = v, … (note)": the connector's note is about the
			// write, not the last value.
			detail := a.Detail
			if i := strings.LastIndex(detail, " ("); i > 0 && strings.HasSuffix(detail, ")") {
				detail = detail[:i]
			}
			for _, kv := range strings.Split(strings.TrimPrefix(detail, "set "), ", ") {
				k, v, _ := strings.Cut(kv, " = ")
				note(k, v, a)
			}
		case core.Create:
			note("(created)", a.Detail, a)
		case core.AddComment:
			comments = append(comments, a)
		}
	}
	fmt.Fprintf(w, "status: %s\n", it.Native)
	if s, ok := last["status"]; ok {
		fmt.Fprintf(w, "  set to %q by rule %q at %s UTC\n  because %s\n", s.value, s.a.Rule, s.a.At.UTC().Format(time.DateTime), core.ClipLine(s.a.Reason, 200))
	} else {
		fmt.Fprintln(w, "  never set by the gateway (a person or the system set it)")
	}
	for _, f := range order {
		if f == "status" {
			continue
		}
		s := last[f]
		fmt.Fprintf(w, "%s: %s\n  set by rule %q at %s UTC\n  because %s\n", f, s.value, s.a.Rule, s.a.At.UTC().Format(time.DateTime), core.ClipLine(s.a.Reason, 200))
	}
	if len(comments) > 0 {
		fmt.Fprintf(w, "comments written by the gateway: %d\n", len(comments))
		for _, a := range comments {
			fmt.Fprintf(w, "  %s  rule %q: %s\n", a.At.UTC().Format(time.DateTime), a.Rule, a.Detail)
		}
	}
	if cfg != nil {
		m, err := daemon.LoadMappings(cfg.Mappings, cfg.DevTracker, daemon.MappingOptions(cfg))
		if err != nil {
			return err
		}
		printResponseTimes(w, m, it, time.Now())
		if err := printFailingRules(ctx, w, st, m, ref); err != nil {
			return err
		}
	}
	evs, err := st.Events(ctx, ref, 10)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nlatest events about it:")
	if len(evs) == 0 {
		fmt.Fprintln(w, "  none stored")
	}
	for _, ev := range evs {
		fmt.Fprintf(w, "  %s  %-14s via %-7s from %s (delivery %s)\n", ev.At.UTC().Format(time.DateTime), ev.Type, ev.Via, ev.Source, core.ClipLine(ev.DeliveryID, 50))
	}
	return nil
}

// printFailingRules plans the record's case with the configured mappings,
// touching nothing, and lists the rules that fail on it now: a rule over
// its evaluation budget, a template that breaks on this case's data. The
// daemon logs these on every reconcile; here the admin sees them by record.
func printFailingRules(ctx context.Context, w io.Writer, st *store.Store, m *core.Mappings, ref core.Ref) error {
	c, err := caseOf(ctx, st, ref)
	if err != nil {
		return err
	}
	plan := core.PlanCase(c, m, time.Now())
	fmt.Fprintln(w, "\nrules failing on its case now:")
	if len(plan.Errors) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, err := range plan.Errors {
		fmt.Fprintf(w, "  %v\n", err)
	}
	return nil
}

// caseOf loads the case a record belongs to.
func caseOf(ctx context.Context, st *store.Store, ref core.Ref) (*core.Case, error) {
	id, err := st.CaseOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	return st.LoadCase(ctx, id)
}

package console

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// healthRow is one connector instance on the health page.
type healthRow struct {
	Source       string
	Webhooks     int // events in over the window, by way in
	Polls        int
	Pushes       int
	Applies      int
	LastDelivery time.Time
	LastPoll     time.Time // when its cursor last moved
	Dead         int
	LastError    string
	// From this process's metrics (Metrics): changes polls found that no
	// webhook brought, webhooks refused, requests left in the rate-limit
	// window ("" when the connector reports none).
	Missed, Rejected int
	RateLeft         string
}

// ruleHealth is one rule on the health page.
type ruleHealth struct {
	Rule    string
	Applied int // actions applied over the window
	Dead    int // its actions in the dead-letter list now
}

type healthPage struct {
	Metrics        bool
	Since          time.Time
	Rows           []healthRow
	Rules          []ruleHealth
	DirtyCases     int
	PendingActions int
	Dead           int
}

// healthWindow is how far back the health page counts events.
const healthWindow = 24 * time.Hour

// healthPage shows, per connector instance, what the store knows: events
// in over the last day by way in (webhook, poll, push, the snapshots our
// writes returned), the last delivery, when its poll cursor last moved,
// its dead letters and the newest one's error; per rule, the actions it
// applied over the day and its dead letters; and the queue's depth.
func (c *Console) healthPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	since := c.o.Clock.Now().Add(-healthWindow)
	acts, err := c.o.Records.Activity(ctx, since)
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	cursors, err := c.o.Records.Cursors(ctx)
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	dead, err := c.o.Records.DeadLetters(ctx)
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	p := healthPage{Since: since, Dead: len(dead)}
	if p.DirtyCases, p.PendingActions, err = c.o.Records.QueueDepth(ctx); err != nil {
		c.internal(w, r, s, err)
		return
	}
	rows := map[string]*healthRow{}
	row := func(src string) *healthRow {
		if rows[src] == nil {
			rows[src] = &healthRow{Source: src}
		}
		return rows[src]
	}
	for _, a := range acts {
		h := row(a.Source)
		switch a.Via {
		case core.ViaWebhook:
			h.Webhooks += a.Events
		case core.ViaPoll:
			h.Polls += a.Events
		case core.ViaPush:
			h.Pushes += a.Events
		case core.ViaApply:
			h.Applies += a.Events
		}
		if a.Via != core.ViaApply && a.Last.After(h.LastDelivery) {
			h.LastDelivery = a.Last
		}
	}
	// A poll source's cursor is named after its instance, sometimes with
	// a suffix (jira:KBOT): it counts for the instance.
	for src, at := range cursors {
		name, _, _ := strings.Cut(src, ":")
		if h := row(name); at.After(h.LastPoll) {
			h.LastPoll = at
		}
	}
	for _, a := range dead { // oldest first: the last error seen wins
		h := row(a.Target.System)
		h.Dead++
		h.LastError = a.LastError
	}
	if c.o.Metrics != nil {
		p.Metrics = true
		if err := c.fromMetrics(row); err != nil {
			c.o.Log.Warn("console: read metrics", "err", err)
		}
	}
	for _, h := range rows {
		p.Rows = append(p.Rows, *h)
	}
	applied, err := c.o.Records.RuleActivity(ctx, since)
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	rules := map[string]*ruleHealth{}
	rule := func(name string) *ruleHealth {
		if rules[name] == nil {
			rules[name] = &ruleHealth{Rule: name}
		}
		return rules[name]
	}
	for name, n := range applied {
		rule(name).Applied = n
	}
	for _, a := range dead {
		rule(a.Rule).Dead++
	}
	for _, x := range rules {
		p.Rules = append(p.Rules, *x)
	}
	slices.SortFunc(p.Rules, func(a, b ruleHealth) int { return cmp.Or(cmp.Compare(b.Dead, a.Dead), cmp.Compare(a.Rule, b.Rule)) })
	slices.SortFunc(p.Rows, func(a, b healthRow) int { return cmp.Compare(a.Source, b.Source) })
	c.render(w, r, http.StatusOK, "health", s, p)
}

// fromMetrics adds to each connector's row what only the process's
// metrics know.
func (c *Console) fromMetrics(row func(string) *healthRow) error {
	fams, err := c.o.Metrics.Gather()
	if err != nil {
		return err
	}
	for _, f := range fams {
		name := f.GetName()
		for _, m := range f.GetMetric() {
			label := map[string]string{}
			for _, l := range m.GetLabel() {
				label[l.GetName()] = l.GetValue()
			}
			switch {
			case name == "liaison_poll_found_missed_total":
				row(label["source"]).Missed += int(m.GetCounter().GetValue())
			// Requests for made-up endpoints count under "unknown": no
			// connector's.
			case name == "liaison_webhooks_rejected_total" && label["source"] != "unknown":
				row(label["source"]).Rejected += int(m.GetCounter().GetValue())
			case strings.HasPrefix(name, "liaison_") && strings.HasSuffix(name, "_rate_limit_remaining") && label["instance"] != "":
				row(label["instance"]).RateLeft = strconv.FormatFloat(m.GetGauge().GetValue(), 'f', -1, 64)
			}
		}
	}
	return nil
}

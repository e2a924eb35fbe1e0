package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/engine"
	"github.com/liaisonhq/liaison/internal/store"
)

// Line is one action as simulate prints it.
type Line struct {
	Step    int               `json:"step"`
	Rule    string            `json:"rule"`
	Action  core.ActionKind   `json:"action"`
	Target  string            `json:"target"`
	Subject string            `json:"subject,omitempty"`
	Status  string            `json:"status,omitempty"`
	Title   string            `json:"title,omitempty"`
	Body    string            `json:"body,omitempty"`
	Public  *bool             `json:"public,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
	Labels  []string          `json:"labels,omitempty"`
	Other   string            `json:"other,omitempty"`
	To      string            `json:"to,omitempty"`
	Created string            `json:"created,omitempty"`
	// At is the clock's time, for a response-time target's breach: when
	// the gateway acted on it.
	At string `json:"at,omitempty"`
}

// recorder is a sandbox instance whose applied actions are written out.
type recorder struct {
	*sandbox.Connector
	emit func(core.Action, core.Result)
}

func (r recorder) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	res, err := r.Connector.Apply(ctx, a)
	if err == nil {
		r.emit(a, res)
	}
	return res, err
}

type notifier struct {
	emit func(core.Action, core.Result)
}

func (n notifier) Apply(_ context.Context, a core.Action) (core.Result, error) {
	n.emit(a, core.Result{})
	return core.Result{}, nil
}

// Run replays s against m and writes one JSON object per applied action.
func Run(ctx context.Context, s *Scenario, m *core.Mappings, out io.Writer) error {
	dir, err := os.MkdirTemp("", "liaison-simulate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The clock advances only when the scenario says.
	clock := clock.NewManual(s.Start)
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "simulate.db"), store.Options{Clock: clock})
	if err != nil {
		return err
	}
	defer st.Close()

	step := 0
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var werr error
	slas := map[string]bool{}
	for _, s := range m.SLAs {
		slas[s.Name] = true
	}
	emit := func(a core.Action, res core.Result) {
		l := Line{Step: step, Rule: a.Rule, Action: a.Kind, Target: a.Target.String(), Subject: a.Subject.String(),
			Status: a.Native, Title: a.Title, Body: a.Body, Fields: a.Fields, Labels: a.Labels, To: a.To}
		if slas[a.Rule] {
			l.At = clock.Now().UTC().Format("Mon 2006-01-02 15:04 MST")
		}
		if a.Kind == core.AddComment {
			l.Public = &a.Public
		}
		if a.Kind == core.Create {
			l.Target = a.Target.System + "/" + string(a.Target.Kind)
			l.Created = res.Created.String()
		}
		if !a.Other.IsZero() {
			l.Other = a.Other.String()
		}
		if err := enc.Encode(l); err != nil && werr == nil {
			werr = err
		}
	}
	systems := map[string]*sandbox.Connector{}
	var conns []core.Connector
	for _, name := range slices.Sorted(maps.Keys(m.Systems)) {
		c, err := sandbox.New(core.Setup{Name: name, Clock: clock, Log: slog.New(slog.DiscardHandler),
			Decode: func(v any) error {
				cfg := v.(*sandbox.Config)
				no := false
				cfg.Webhooks = &no
				cfg.Prefix = prefixes(m.Systems[name])
				return nil
			}})
		if err != nil {
			return err
		}
		sc := c.(*sandbox.Connector)
		systems[name] = sc
		conns = append(conns, recorder{Connector: sc, emit: emit})
	}
	eng, err := engine.New(engine.Options{Store: st, Connectors: conns, Mappings: m, Clock: clock,
		Log: slog.New(slog.DiscardHandler), Notifier: notifier{emit}, MaxAttempts: 1})
	if err != nil {
		return err
	}
	for i, ev := range s.Events {
		step = i + 1
		clock.Add(cmpDur(ev.After, time.Minute))
		if ev.waits() {
			if _, err := eng.Drain(ctx); err != nil {
				return err
			}
			continue
		}
		sc := systems[sysOf(ev.Item.Ref)]
		if sc == nil {
			return fmt.Errorf("events[%d]: system %q is not in the mappings", i, sysOf(ev.Item.Ref))
		}
		it, err := apply(ctx, sc, ev)
		if err != nil {
			return fmt.Errorf("events[%d]: %w", i, err)
		}
		if _, err := eng.Submit(ctx, []core.Event{{Source: sc.Name(), Via: core.ViaWebhook, Type: ev.Type, Item: it,
			DeliveryID: fmt.Sprintf("%s@v%d", it.Ref, it.Version), At: clock.Now()}}); err != nil {
			return err
		}
		if _, err := eng.Drain(ctx); err != nil {
			return err
		}
	}
	dead, err := st.DeadLetters(ctx)
	if err != nil {
		return err
	}
	for _, a := range dead {
		return fmt.Errorf("action %s of rule %q on %s failed: %s", a.Kind, a.Rule, a.Target, a.LastError)
	}
	return werr
}

// Projects are the projects simulate's stand-in trackers hold, as the
// sandbox's configuration names them: load the mappings to simulate with
// mappings.Options{Projects: simulate.Projects}.
var Projects = map[string]map[core.Kind][]string{"jira": {core.DevTicket: {"KBOT"}, core.ChangeTicket: {"DO"}}}

// prefixes gives created records ids like the real systems' (KBOT-1): the
// kind's create project, else its first configured one.
func prefixes(sm *core.SystemMap) map[core.Kind]string {
	out := map[core.Kind]string{}
	for k, km := range sm.Kinds {
		p := km.Create["project"]
		if p == "" && len(km.Projects) > 0 {
			p = km.Projects[0]
		}
		if p != "" {
			out[k] = p + "-"
		}
	}
	return out
}

func cmpDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func sysOf(ref string) string {
	sys, _, _, _ := splitRef(ref)
	return sys
}

// apply performs a step on the sandbox as a person would and returns the
// record's new snapshot.
func apply(ctx context.Context, sc *sandbox.Connector, st Step) (core.Item, error) {
	_, kind, id, err := splitRef(st.Item.Ref)
	if err != nil {
		return core.Item{}, err
	}
	ref := core.Ref{System: sc.Name(), Kind: kind, ID: id}
	if id == "" {
		recs := sc.Records(kind)
		if len(recs) == 0 {
			return core.Item{}, fmt.Errorf("no %s/%s exists yet to change", sc.Name(), kind)
		}
		ref = recs[len(recs)-1].Ref
	}
	it, exists := sc.Record(ref)
	if !exists {
		it = core.Item{Ref: ref, Fields: map[string]string{}}
	}
	s := st.Item
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&it.Title, s.Title)
	set(&it.Body, s.Body)
	set(&it.Native, s.Status)
	set(&it.Priority, s.Priority)
	set(&it.Reporter, s.Reporter)
	set(&it.Assignee, s.Assignee)
	set(&it.URL, s.URL)
	if s.Labels != nil {
		it.Labels = s.Labels
	}
	if s.Untrusted != nil {
		it.Untrusted = *s.Untrusted
	}
	if it.Fields == nil {
		it.Fields = map[string]string{}
	}
	maps.Copy(it.Fields, s.Fields)
	if c := st.Comment; c != nil {
		public := c.Public == nil || *c.Public
		it.Comments = append(slices.Clone(it.Comments), core.Comment{ID: fmt.Sprintf("c%d", len(it.Comments)+1),
			Author: c.Author, Body: c.Body, Public: public})
	}
	return sc.Put(ctx, it, st.Type)
}

package mappings

import (
	"path"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// rawLevels is the levels section: the help desk's escalation levels as
// its groups. Pos.Line is 0 when the key is absent.
type rawLevels struct {
	Pos         core.Pos       `yaml:"-"`
	When        rawWhen        `yaml:"when"`
	Field       str            `yaml:"field"`
	EscalateTag str            `yaml:"escalate_tag"`
	OnBreach    boolean        `yaml:"on_breach"`
	List        list[rawLevel] `yaml:"list"`
	Routes      list[rawRoute] `yaml:"routes"`
}

func (*rawLevels) what() string { return "levels" }

type rawLevel struct {
	Pos     core.Pos        `yaml:"-"`
	Name    str             `yaml:"name"`
	Group   str             `yaml:"group"`
	Targets omap[omap[str]] `yaml:"targets"` // sla name → priority → target
}

func (*rawLevel) what() string { return "level" }

type rawRoute struct {
	Pos       core.Pos  `yaml:"-"`
	Level     str       `yaml:"level"`
	Priority  list[str] `yaml:"priority"`
	Org       list[str] `yaml:"org"`
	Requester list[str] `yaml:"requester"`
}

func (*rawRoute) what() string { return "route" }

// levels compiles the levels section, defined in one file at most; it
// runs after the slas, whose targets a level may replace.
func (c *compiler) levels(files []rawFile) {
	var first core.Pos
	for _, f := range files {
		raw := f.Levels
		if raw.Pos.Line == 0 {
			continue
		}
		if first.Line != 0 {
			c.errf(raw.Pos, "levels are already defined at %s: the mappings have one list of levels", first)
			continue
		}
		first = raw.Pos
		if l := c.levelsOf(raw); l != nil {
			c.m.Levels = l
		}
	}
}

func (c *compiler) levelsOf(raw rawLevels) *core.Levels {
	const prefix = "levels: "
	l := &core.Levels{Pos: raw.Pos, When: core.Selector{System: "zendesk", Kind: core.CustomerTicket}, Field: "group",
		EscalateTag: strings.TrimSpace(raw.EscalateTag.V), OnBreach: raw.OnBreach.V}
	ok := true
	if raw.When.Pos.Line != 0 {
		var good bool
		l.When, good = c.whenOf(raw.When, raw.Pos, prefix, "zendesk/customer_ticket")
		ok = ok && good
	}
	if raw.Field.Set && strings.TrimSpace(raw.Field.V) != "" {
		l.Field = strings.TrimSpace(raw.Field.V)
	}
	if len(raw.List.Items) == 0 && !raw.List.Bad {
		c.errf(raw.Pos, "%smissing list: the levels, lowest first, each a group of the help desk, e.g. list: [{name: Level 1, group: Service desk}]", prefix)
		ok = false
	}
	byName := map[string]int{}
	var names []string
	for _, rl := range raw.List.Items {
		name := strings.TrimSpace(rl.Name.V)
		switch {
		case rl.Name.Bad || rl.Group.Bad:
			ok = false
			continue
		case name == "":
			c.errf(rl.Pos, "%slevel: missing name, e.g. name: Level 1", prefix)
			ok = false
			continue
		case strings.TrimSpace(rl.Group.V) == "":
			c.errf(rl.Pos, "%slevel %q: missing group: the help-desk group that handles the level, e.g. group: Service desk", prefix, name)
			ok = false
		}
		if _, dup := byName[strings.ToLower(name)]; dup {
			c.errf(rl.Name.Pos, "%slevel %q is listed twice", prefix, name)
			ok = false
			continue
		}
		byName[strings.ToLower(name)] = len(l.List)
		names = append(names, name)
		lv := &core.Level{Name: name, Group: strings.TrimSpace(rl.Group.V)}
		ok = c.levelTargets(lv, rl, prefix) && ok
		l.List = append(l.List, lv)
	}
	for _, rr := range raw.Routes.Items {
		r := core.LevelRoute{Pos: rr.Pos}
		name := strings.TrimSpace(rr.Level.V)
		i, known := byName[strings.ToLower(name)]
		switch {
		case rr.Level.Bad:
			ok = false
		case !rr.Level.Set || name == "":
			c.errf(rr.Pos, "%sroute: missing level: the level it sends tickets to (%s)", prefix, quoteList(names))
			ok = false
		case !known:
			c.errf(rr.Level.Pos, "%sroute: unknown level %q (levels: %s)%s", prefix, name, quoteList(names), suggest(name, names))
			ok = false
		default:
			r.Level = i
		}
		for _, p := range rr.Priority.Items {
			if !slices.Contains(core.Priorities, p.V) {
				c.errf(p.Pos, "%sroute: unknown priority %q (canonical priorities: %s)%s", prefix, p.V, quoteList(core.Priorities), suggestPriority(p.V))
				ok = false
				continue
			}
			r.Priorities = append(r.Priorities, p.V)
		}
		for _, o := range rr.Org.Items {
			r.Orgs = append(r.Orgs, strings.TrimSpace(o.V))
		}
		for _, q := range rr.Requester.Items {
			if _, err := path.Match(q.V, ""); err != nil {
				c.errf(q.Pos, "%sroute: requester %q is not a pattern: write an address or e.g. *@partner.example", prefix, q.V)
				ok = false
				continue
			}
			r.Requesters = append(r.Requesters, strings.TrimSpace(q.V))
		}
		if len(r.Priorities) > 0 && len(r.Orgs)+len(r.Requesters) > 0 {
			c.errf(rr.Pos, "%sroute: priority routes apply at any time, org and requester routes to new tickets only: write them as two routes", prefix)
			ok = false
		}
		l.Routes = append(l.Routes, r)
	}
	if !ok {
		return nil
	}
	return l
}

// levelTargets reads a level's own targets: by sla name, then priority.
func (c *compiler) levelTargets(lv *core.Level, rl rawLevel, prefix string) bool {
	ok := true
	for _, e := range rl.Targets.Entries {
		var sla *core.SLA
		for _, s := range c.m.SLAs {
			if s.Name == e.Key.V {
				sla = s
			}
		}
		if sla == nil {
			var known []string
			for _, s := range c.m.SLAs {
				known = append(known, s.Name)
			}
			c.errf(e.Key.Pos, "%slevel %q: targets: unknown sla %q (slas: %s)%s", prefix, lv.Name, e.Key.V, quoteList(known), suggest(e.Key.V, known))
			ok = false
			continue
		}
		for _, pe := range e.Val.Entries {
			if !slices.Contains(core.Priorities, pe.Key.V) {
				c.errf(pe.Key.Pos, "%slevel %q: unknown priority %q (canonical priorities: %s)%s", prefix, lv.Name, pe.Key.V, quoteList(core.Priorities), suggestPriority(pe.Key.V))
				ok = false
				continue
			}
			tg, err := core.ParseTarget(pe.Val.V)
			if err == nil {
				_, err = fitsCalendars(tg, sla)
			}
			if err != nil {
				c.errf(pe.Val.Pos, "%slevel %q: target for %s: %v", prefix, lv.Name, pe.Key.V, err)
				ok = false
				continue
			}
			if lv.Targets == nil {
				lv.Targets = map[string]map[string]core.SLATarget{}
			}
			if lv.Targets[sla.Name] == nil {
				lv.Targets[sla.Name] = map[string]core.SLATarget{}
			}
			lv.Targets[sla.Name][pe.Key.V] = tg
		}
	}
	return ok
}

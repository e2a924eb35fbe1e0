package core

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Levels are the help desk's escalation levels (the CT2 handbook's levels
// 0-4), each a group of the help desk. A new ticket is routed to its
// level's group by the first matching route; it moves up one level when
// an agent tags it with EscalateTag (the tag is removed as it moves) or,
// with OnBreach, when one of its response-time targets is breached; a
// route by priority is a floor at any time ("all urgent issues are handled
// at Level 3"). A level may give its own targets, which replace the sla's
// for the tickets at that level.
type Levels struct {
	Pos  Pos
	When Selector // the tickets routed (zendesk/customer_ticket)
	// Field is the ticket field naming the group ("group" in Zendesk).
	Field       string
	List        []*Level // lowest first
	Routes      []LevelRoute
	EscalateTag string
	OnBreach    bool
}

// Level is one escalation level.
type Level struct {
	Name  string
	Group string
	// Targets replace an sla's targets (by sla name, then canonical
	// priority) for the tickets at this level.
	Targets map[string]map[string]SLATarget
}

// LevelRoute sends the tickets it matches to Level (an index of List). A
// route with Priorities matches on the ticket's canonical priority and is
// a floor at any time; Orgs (the org field) and Requesters (addresses, or
// patterns such as *@partner.example) route a new ticket only. A route
// with none of them matches every new ticket.
type LevelRoute struct {
	Pos        Pos
	Level      int
	Priorities []string
	Orgs       []string
	Requesters []string
}

// Of is the level a ticket is at, by its group; -1 when its group is none
// of the levels'.
func (l *Levels) Of(it *Item) int {
	g := strings.TrimSpace(it.Field(l.Field))
	return slices.IndexFunc(l.List, func(lv *Level) bool { return strings.EqualFold(lv.Group, g) })
}

// route is the first route matching a ticket of canonical priority prio:
// its index in Routes, or -1.
func (l *Levels) route(it *Item, prio string, isNew bool) int {
	for i, r := range l.Routes {
		if len(r.Priorities) > 0 {
			if slices.Contains(r.Priorities, prio) {
				return i
			}
			continue
		}
		if !isNew {
			continue
		}
		org := strings.TrimSpace(it.Field("org"))
		if len(r.Orgs) > 0 && !slices.ContainsFunc(r.Orgs, func(o string) bool { return strings.EqualFold(o, org) }) {
			continue
		}
		if len(r.Requesters) > 0 && !slices.ContainsFunc(r.Requesters, func(p string) bool { return matchAddress(p, it.Reporter) }) {
			continue
		}
		return i
	}
	return -1
}

// matchAddress reports whether an address matches a pattern: the address
// itself or a shell pattern (*@partner.example), case not mattering.
func matchAddress(pattern, addr string) bool {
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(strings.TrimSpace(addr)))
	return err == nil && ok
}

// Target is the target a ticket's level gives for an sla and priority, if
// any.
func (l *Levels) Target(it *Item, sla, prio string) (SLATarget, bool) {
	if l == nil {
		return SLATarget{}, false
	}
	if i := l.Of(it); i >= 0 {
		tg, ok := l.List[i].Targets[sla][prio]
		return tg, ok
	}
	return SLATarget{}, false
}

// LevelRule names the actions the levels take, in the audit and in
// `liaison links`.
const LevelRule = "levels"

// levels routes and escalates the open tickets the levels cover. breached
// are the slas each ticket has breached (from the sla pass). Each move is
// keyed by why it happens, so it is taken once: a breach moves a ticket
// up once per sla, a tag once per level it leaves.
func (p *planner) levels(l *Levels, breached map[Ref][]string) {
	for i := range p.c.Items {
		it := &p.c.Items[i]
		if !l.When.Matches(it.Ref) || !it.Known() || it.Deleted || !p.open(it) {
			continue
		}
		cur := l.Of(it)
		prio := p.views[it.Ref].Priority
		ref := it.Ref.String()
		if cur < 0 {
			if strings.TrimSpace(it.Field(l.Field)) != "" {
				continue // an agent put it in a group of no level: theirs to decide
			}
			if r := l.route(it, prio, true); r >= 0 {
				p.moveLevel(l, it, l.Routes[r].Level, "", fmt.Sprintf("routed to %s (%s)", l.List[l.Routes[r].Level].Name, describeRoute(l.Routes[r])), "route", ref)
			}
			continue
		}
		if r := l.route(it, prio, false); r >= 0 && l.Routes[r].Level > cur {
			to := l.Routes[r].Level
			p.moveLevel(l, it, to, "", fmt.Sprintf("moved up to %s: %s", l.List[to].Name, describeRoute(l.Routes[r])), "floor", ref, l.List[to].Name)
			continue
		}
		if cur+1 >= len(l.List) {
			continue // the top level: nowhere to go
		}
		next := l.List[cur+1].Name
		if l.EscalateTag != "" && slices.ContainsFunc(it.Labels, func(s string) bool { return strings.EqualFold(s, l.EscalateTag) }) {
			p.moveLevel(l, it, cur+1, l.EscalateTag, fmt.Sprintf("moved up to %s: an agent tagged it %s", next, l.EscalateTag), "tag", ref, l.List[cur].Name)
			continue
		}
		if l.OnBreach {
			for _, sla := range breached[it.Ref] {
				p.moveLevel(l, it, cur+1, "", fmt.Sprintf("moved up to %s: its %s target was missed", next, sla), "breach", ref, sla)
				break
			}
		}
	}
}

// moveLevel sets the ticket's group to level to's, removing tag.
func (p *planner) moveLevel(l *Levels, it *Item, to int, tag, reason string, key ...string) {
	fields := map[string]string{l.Field: l.List[to].Group}
	if tag != "" {
		fields["remove_tags"] = tag
	}
	p.add(Action{Kind: SetFields, Rule: LevelRule, Target: it.Ref, Subject: it.Ref, Reason: reason, Fields: fields},
		append([]string{"level"}, key...)...)
}

func describeRoute(r LevelRoute) string {
	switch {
	case len(r.Priorities) > 0:
		return "priority " + strings.Join(r.Priorities, ", ")
	case len(r.Orgs) > 0 && len(r.Requesters) > 0:
		return "organisation " + strings.Join(r.Orgs, ", ") + " and requester " + strings.Join(r.Requesters, ", ")
	case len(r.Orgs) > 0:
		return "organisation " + strings.Join(r.Orgs, ", ")
	case len(r.Requesters) > 0:
		return "requester " + strings.Join(r.Requesters, ", ")
	}
	return "every other ticket"
}

// String describes the levels for `liaison check`.
func (l *Levels) String() string {
	var names []string
	for _, lv := range l.List {
		names = append(names, fmt.Sprintf("%s (group %q)", lv.Name, lv.Group))
	}
	var up []string
	if l.EscalateTag != "" {
		up = append(up, "by the tag "+l.EscalateTag)
	}
	if l.OnBreach {
		up = append(up, "by a missed target")
	}
	s := strings.Join(names, ", ")
	if len(up) > 0 {
		s += "; up one level " + strings.Join(up, " or ")
	}
	return s
}

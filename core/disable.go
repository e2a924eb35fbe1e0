package core

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Without drops what the mappings say about systems that are not
// configured, so that the shipped defaults run with the systems a team
// has (Jira and Zendesk alone; Zendesk and a mailbox alone): the systems
// themselves, link patterns, sync rules, response-time targets and
// duplicate rules that name one, the actions of a rule that act on one,
// and a rule left with no action or that fires on one. It returns a line
// saying what it disabled, for the start-up log and `check`: one per
// system, or one for systems that disabled the same things.
func (m *Mappings) Without(off map[string]bool) []string {
	if len(off) == 0 {
		return nil
	}
	gone := map[string][]string{}
	names := func(sel ...Selector) string {
		for _, s := range sel {
			if off[s.System] {
				return s.System
			}
		}
		return ""
	}
	// actions keeps the actions not on an unconfigured system; subject
	// stands for an action's zero target.
	actions := func(as []*ActionSpec, subject Selector) []*ActionSpec {
		return slices.DeleteFunc(slices.Clone(as), func(a *ActionSpec) bool {
			return off[a.TargetOf(subject).System]
		})
	}
	m.Patterns = slices.DeleteFunc(m.Patterns, func(p *Pattern) bool {
		if s := names(p.From, p.To); s != "" {
			gone[s] = append(gone[s], "link "+p.Name)
			return true
		}
		return false
	})
	m.Rules = slices.DeleteFunc(m.Rules, func(r *Rule) bool {
		if s := names(r.When); s != "" {
			gone[s] = append(gone[s], "rule "+r.Name)
			return true
		}
		kept := actions(r.Then, r.When)
		if len(kept) == len(r.Then) {
			return false
		}
		for _, a := range r.Then {
			if !slices.Contains(kept, a) {
				t := a.Target.System
				gone[t] = append(gone[t], fmt.Sprintf("rule %s's %s", r.Name, a.Kind))
			}
		}
		r.Then = kept
		return len(kept) == 0
	})
	m.Sync = slices.DeleteFunc(m.Sync, func(s *SyncRule) bool {
		if sys := names(s.A, s.B); sys != "" {
			gone[sys] = append(gone[sys], "sync "+s.Name)
			return true
		}
		return false
	})
	m.SLAs = slices.DeleteFunc(m.SLAs, func(s *SLA) bool {
		if sys := names(s.When); sys != "" {
			gone[sys] = append(gone[sys], "sla "+s.Name)
			return true
		}
		s.Breach = actions(s.Breach, s.When)
		return false
	})
	m.Duplicates = slices.DeleteFunc(m.Duplicates, func(d *DuplicateRule) bool {
		if sys := names(d.When, d.Among); sys != "" {
			gone[sys] = append(gone[sys], "duplicates "+d.Name)
			return true
		}
		d.Then = actions(d.Then, d.When)
		return false
	})
	for i := range m.People {
		for sys := range off {
			delete(m.People[i].IDs, sys)
		}
	}
	// Systems that stand for one another (OpsGenie and PagerDuty, the
	// same rules' alternative actions) share a line: an admin who runs
	// neither reads once what that turns off.
	var (
		order []string
		alike = map[string][]string{}
	)
	for _, sys := range slices.Sorted(maps.Keys(off)) {
		delete(m.Systems, sys)
		what := strings.Join(gone[sys], ", ")
		if alike[what] == nil {
			order = append(order, what)
		}
		alike[what] = append(alike[what], strconv.Quote(sys))
	}
	out := make([]string, 0, len(order))
	for _, what := range order {
		systems := alike[what]
		subject, pronoun := "system "+systems[0]+" is", "it"
		if len(systems) > 1 {
			subject, pronoun = "systems "+strings.Join(systems, ", ")+" are", "them"
		}
		if what == "" {
			out = append(out, fmt.Sprintf("%s not configured; nothing else names %s", subject, pronoun))
		} else {
			out = append(out, fmt.Sprintf("%s not configured; disabled: %s", subject, what))
		}
	}
	return out
}

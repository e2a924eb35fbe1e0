package core

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Without drops what the mappings say about systems that are not
// configured, so that the shipped defaults run with the systems a team
// has (Jira and Zendesk alone; Zendesk and a mailbox alone): the systems
// themselves, link patterns, sync rules, response-time targets and
// duplicate rules that name one, the actions of a rule that act on one,
// and a rule left with no action or that fires on one. It returns one line
// per system saying what it disabled, for the start-up log and `check`.
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
	var out []string
	for _, sys := range slices.Sorted(maps.Keys(off)) {
		delete(m.Systems, sys)
		what := "nothing else names it"
		if len(gone[sys]) > 0 {
			what = "disabled: " + strings.Join(gone[sys], ", ")
		}
		out = append(out, fmt.Sprintf("system %q is not configured; %s", sys, what))
	}
	return out
}

package mappings

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// TestProcess_Paging: the default paging rules (paging.yaml) page the
// on-call team for an urgent escalation and for an urgent ticket that
// missed a target, page nothing else, close each page once the ticket is
// handled, and page a case once: a ticket reopened after its page was
// closed is not paged again.
func TestProcess_Paging(t *testing.T) {
	m := loadDefaults(t)
	urgent := with(complete(), func(it *core.Item) { it.Priority = "urgent" })
	escalated := with(urgent, func(it *core.Item) { it.Fields["Developer ticket"] = "KBOT-88" })
	const alias = "liaison-0123456789ab"
	page := func(system, native string) core.Item {
		return core.Item{Ref: core.Ref{System: system, Kind: core.Page, ID: alias}, Title: "URGENT: ticket #4521", Native: native}
	}
	paged := func(og, pd string) []core.Item { return []core.Item{page("opsgenie", og), page("pagerduty", pd)} }
	breached := func(prio string) core.Item {
		return with(complete(), func(it *core.Item) { it.Priority, it.Labels = prio, []string{"bug", "breached-first-response"} })
	}
	for _, tc := range []struct {
		name  string
		items []core.Item
		want  []string
	}{
		{"an urgent escalation pages in each system", []core.Item{escalated, devTicket("In Progress")}, []string{
			"page-urgent-escalation create opsgenie/page/ priority=P1",
			"page-urgent-escalation create pagerduty/page/ priority=critical",
		}},
		{"an urgent escalation to DevOps pages", []core.Item{urgent, {Ref: changeRef, Title: "Backup failed", Native: "Open"}}, []string{
			"page-urgent-escalation create opsgenie/page/ priority=P1",
			"page-urgent-escalation create pagerduty/page/ priority=critical",
		}},
		{"a high escalation does not page", []core.Item{with(escalated, func(it *core.Item) { it.Priority = "high" }), devTicket("In Progress")}, nil},
		{"an urgent ticket not escalated does not page", []core.Item{urgent}, nil},
		{"a paged case is not paged again", append([]core.Item{escalated, devTicket("In Progress")}, paged("open", "triggered")...), nil},
		{"an urgent ticket that missed a target pages", []core.Item{breached("urgent")}, []string{
			"page-missed-target create opsgenie/page/ priority=P2",
			"page-missed-target create pagerduty/page/ priority=error",
		}},
		{"a high ticket that missed a target does not page (a miss raises it to high from normal)", []core.Item{breached("high")}, nil},
		{"the ticket solved: each page is closed", append([]core.Item{with(escalated, func(it *core.Item) { it.Native = "solved" }), devTicket("Done")}, paged("open", "acknowledged")...), []string{
			"page-resolved transition opsgenie/page/" + alias + " → closed",
			"page-resolved transition pagerduty/page/" + alias + " → resolved",
		}},
		{"the ticket closed with its pages closed: nothing", append([]core.Item{with(escalated, func(it *core.Item) { it.Native = "closed" })}, paged("closed", "resolved")...), nil},
		{"the ticket reopened after its page was closed: not paged again", append([]core.Item{escalated, devTicket("In Progress")}, paged("closed", "resolved")...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &core.Case{ID: 1, Items: slices.Clone(tc.items), Keys: map[string]core.ActionState{}}
			for i := range c.Items {
				c.Items[i].UpdatedAt = monday.Add(-time.Hour)
			}
			c.Sort()
			plan := core.PlanCase(c, m, monday)
			for _, err := range plan.Errors {
				t.Errorf("plan error: %v", err)
			}
			var got []string
			for _, a := range plan.Actions {
				if a.Target.Kind != core.Page {
					continue
				}
				s := a.Rule + " " + string(a.Kind) + " " + a.Target.String()
				if a.Kind == core.Transition {
					s += " → " + a.Native
				} else {
					s += " priority=" + a.Fields["priority"]
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("pages planned:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

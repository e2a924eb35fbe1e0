package core

import (
	"strings"
	"testing"
	"time"
)

func levelMappings() *Mappings {
	m := slaMappings()
	m.SLAs[0].Breach = []*ActionSpec{{Kind: AddComment, Body: text(func(*Env) string { return "missed" })}}
	m.Levels = &Levels{When: Selector{System: "zendesk", Kind: CustomerTicket}, Field: "group", EscalateTag: "escalate_level", OnBreach: true,
		List: []*Level{{Name: "Level 1", Group: "L1"}, {Name: "Level 2", Group: "L2",
			Targets: map[string]map[string]SLATarget{"first-response": {"high": {Within: 2 * time.Hour}}}}, {Name: "Level 3", Group: "L3"}},
		Routes: []LevelRoute{{Level: 2, Priorities: []string{"urgent"}}, {Level: 1, Orgs: []string{"Northwind"}},
			{Level: 1, Requesters: []string{"*@partner.example"}}, {Level: 0}}}
	return m
}

// TestPlanCase_Levels: routes, the urgent floor, an agent's tag and a
// breach each move a ticket to the level's group, once.
func TestPlanCase_Levels(t *testing.T) {
	created := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) // Monday
	at := func(group, prio, reporter string, labels ...string) Item {
		it := ticket("9", "open", labels...)
		it.CreatedAt, it.Priority, it.Reporter = created, prio, reporter
		if group != "" {
			it.Fields["group"] = group
		}
		return it
	}
	cases := []struct {
		name string
		it   Item
		now  time.Time
		keys map[string]ActionState
		want string // "group[,remove_tags] reason" or ""
	}{
		{name: "a new ticket goes to level 1", it: at("", "normal", "bob@firm.example"), now: created,
			want: "L1 routed to Level 1 (every other ticket)"},
		{name: "an urgent one to level 3", it: at("", "urgent", "bob@firm.example"), now: created,
			want: "L3 routed to Level 3 (priority urgent)"},
		{name: "a partner's to level 2", it: at("", "normal", "Desk@Partner.example"), now: created,
			want: "L2 routed to Level 2 (requester *@partner.example)"},
		{name: "an organisation's to level 2", it: func() Item { it := at("", "normal", "a@b.example"); it.Fields["org"] = "northwind"; return it }(), now: created,
			want: "L2 routed to Level 2 (organisation Northwind)"},
		{name: "raised to urgent: up to level 3", it: at("L1", "urgent", "bob@firm.example"), now: created,
			want: "L3 moved up to Level 3: priority urgent"},
		{name: "an agent's tag: up one, the tag off", it: at("L1", "normal", "bob@firm.example", "escalate_level"), now: created,
			want: "L2,escalate_level moved up to Level 2: an agent tagged it escalate_level"},
		{name: "the tag at the top level does nothing", it: at("L3", "normal", "bob@firm.example", "escalate_level"), now: created},
		{name: "a breach: up one", it: at("L1", "normal", "bob@firm.example"), now: created.Add(96 * time.Hour),
			want: "L2 moved up to Level 2: its first-response target was missed"},
		{name: "a breach moves it once", it: at("L2", "normal", "bob@firm.example"), now: created.Add(96 * time.Hour),
			keys: map[string]ActionState{ActionKey("level", "breach", "zendesk/customer_ticket/9", "first-response"): Done}},
		{name: "level 2's own target: high within 2 working hours", it: at("L2", "high", "bob@firm.example"), now: created.Add(2 * time.Hour),
			want: "L3 moved up to Level 3: its first-response target was missed"},
		{name: "a group of no level is the agents' choice", it: at("Billing", "urgent", "bob@firm.example"), now: created},
		{name: "a solved ticket stays", it: func() Item {
			it := at("L1", "normal", "bob@firm.example", "escalate_level")
			it.Native = "solved"
			return it
		}(), now: created},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanCase(&Case{ID: 1, Items: []Item{tc.it}, Keys: tc.keys}, levelMappings(), tc.now)
			got := ""
			for _, a := range p.Actions {
				if a.Rule != LevelRule {
					continue
				}
				if got != "" {
					t.Fatalf("two level moves: %q and %+v", got, a)
				}
				got = a.Fields["group"]
				if tag := a.Fields["remove_tags"]; tag != "" {
					got += "," + tag
				}
				got += " " + a.Reason
			}
			if got != tc.want {
				t.Fatalf("level move %q; want %q", got, tc.want)
			}
		})
	}
}

func TestItem_RemoveTags(t *testing.T) {
	it := Item{Labels: []string{"bug", "Escalate_Level", "misc"}}
	it.SetField("remove_tags", "escalate_level, nothere")
	if got := strings.Join(it.Labels, ","); got != "bug,misc" {
		t.Fatalf("labels %q; want bug,misc", got)
	}
}

// TestSLA_DescribeAtALevel: `liaison why` and the digest read the target
// of the ticket's level, as the planner does: at Level 2 a high ticket is
// due within 2 working hours, not by the next working day.
func TestSLA_DescribeAtALevel(t *testing.T) {
	m := levelMappings()
	s := m.SLAs[0]
	created := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) // Monday
	tk := ticket("9", "open")
	tk.CreatedAt, tk.Priority, tk.Reporter, tk.Fields["group"] = created, "high", "bob@firm.example", "L2"
	if got, want := s.Describe(m, &tk, created.Add(time.Hour)), "first-response (2 working hours): due Mon 23 Nov 11:00 UTC; waited 1 h of working time so far"; got != want {
		t.Fatalf("at Level 2: %q\nwant %q", got, want)
	}
	tk.Fields["group"] = "L1"
	if got, want := s.Describe(m, &tk, created.Add(time.Hour)), "first-response (the next working day): due Tue 24 Nov 17:00 UTC; waited 1 h of working time so far"; got != want {
		t.Fatalf("at Level 1: %q\nwant %q", got, want)
	}
}

package core

import (
	"testing"
	"time"
	_ "time/tzdata"
)

func paris(t *testing.T) *Calendar {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris") // time/tzdata: never skipped for want of the host's zoneinfo
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultCalendar()
	c.Location = loc
	c.Holidays["2026-12-25"] = true
	return c
}

func at(t *testing.T, c *Calendar, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, c.Location)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCalendar(t *testing.T) {
	c := paris(t)
	cases := []struct {
		name, from string
		target     SLATarget
		due        string
	}{
		{"within the day", "2026-11-23 10:00", SLATarget{Within: 4 * time.Hour}, "2026-11-23 14:00"},
		{"carries over the night", "2026-11-23 15:00", SLATarget{Within: 4 * time.Hour}, "2026-11-24 11:00"},
		{"medium 24h is three working days", "2026-11-23 09:00", SLATarget{Within: 24 * time.Hour}, "2026-11-25 17:00"},
		{"friday evening skips the weekend", "2026-11-27 16:00", SLATarget{Within: 2 * time.Hour}, "2026-11-30 10:00"},
		{"received on saturday starts monday", "2026-11-28 11:00", SLATarget{Within: time.Hour}, "2026-11-30 10:00"},
		{"christmas is no working day", "2026-12-24 16:00", SLATarget{Within: 2 * time.Hour}, "2026-12-28 10:00"},
		{"high: next working day, over a weekend", "2026-11-27 11:00", SLATarget{NextWorkingDay: true}, "2026-11-30 17:00"},
		{"high: next working day, over a holiday", "2026-12-24 11:00", SLATarget{NextWorkingDay: true}, "2026-12-28 17:00"},
		{"high: after hours counts from the next opening", "2026-11-23 20:00", SLATarget{NextWorkingDay: true}, "2026-11-25 17:00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			from := at(t, c, tc.from)
			got := tc.target.Deadline(c, from)
			if want := at(t, c, tc.due); !got.Equal(want) {
				t.Fatalf("deadline %s; want %s", got.Format("Mon 2006-01-02 15:04"), want.Format("Mon 2006-01-02 15:04"))
			}
			if !tc.target.NextWorkingDay {
				if w := c.Between(from, got); w != tc.target.Within {
					t.Fatalf("Between = %s; want %s", w, tc.target.Within)
				}
			}
		})
	}
}

// TestCalendar_SummerTime: a team that works every day, 08:00 to 20:00
// Paris time, opens at 08:00 on the Sundays the clocks change (29 March
// and 25 October 2026), not an hour off.
func TestCalendar_SummerTime(t *testing.T) {
	c := paris(t)
	for d := range c.Weekdays {
		c.Weekdays[d] = true
	}
	c.Open, c.Close = 8*time.Hour, 20*time.Hour
	cases := []struct {
		name, from string
		target     SLATarget
		due        string
		working    time.Duration // Between(from, due); 0: not checked
	}{
		{"working hours into the spring change", "2026-03-28 19:00", SLATarget{Within: 2 * time.Hour}, "2026-03-29 09:00", 2 * time.Hour},
		{"working hours into the autumn change", "2026-10-24 19:00", SLATarget{Within: 2 * time.Hour}, "2026-10-25 09:00", 2 * time.Hour},
		{"a whole working day on the spring change", "2026-03-29 08:00", SLATarget{Within: 12 * time.Hour}, "2026-03-29 20:00", 12 * time.Hour},
		{"1 working day onto the spring change", "2026-03-28 10:00", SLATarget{Form: WorkingDays, Days: 1}, "2026-03-29 10:00", 0},
		{"1 working day from the autumn change", "2026-10-25 10:00", SLATarget{Form: WorkingDays, Days: 1}, "2026-10-26 10:00", 0},
		{"same day on the spring change", "2026-03-29 09:00", SLATarget{Form: SameDayOrNextMorning, Cutoff: 14 * time.Hour, Morning: 12 * time.Hour}, "2026-03-29 20:00", 0},
		{"next morning on the spring change", "2026-03-28 15:00", SLATarget{Form: SameDayOrNextMorning, Cutoff: 14 * time.Hour, Morning: 12 * time.Hour}, "2026-03-29 12:00", 0},
		{"next working day's close on the autumn change", "2026-10-24 10:00", SLATarget{NextWorkingDay: true}, "2026-10-25 20:00", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			from := at(t, c, tc.from)
			got := tc.target.Deadline(c, from)
			if want := at(t, c, tc.due); !got.Equal(want) {
				t.Fatalf("deadline %s; want %s", got.In(c.Location).Format("Mon 2006-01-02 15:04 MST"), want.Format("Mon 2006-01-02 15:04 MST"))
			}
			if tc.working != 0 {
				if w := c.Between(from, got); w != tc.working {
					t.Fatalf("Between = %s; want %s", w, tc.working)
				}
			}
		})
	}
}

func slaMappings() *Mappings {
	m := testMappings()
	m.Rules, m.Sync = nil, nil
	m.SLAs = []*SLA{{Name: "first-response", When: Selector{System: "zendesk", Kind: CustomerTicket}, Measure: FirstResponse,
		Calendar: DefaultCalendar(),
		Targets:  map[string]SLATarget{"high": {NextWorkingDay: true}, "normal": {Within: 24 * time.Hour}},
		Breach: []*ActionSpec{
			{Kind: AddComment, Body: text(func(e *Env) string {
				return "SLA " + e.SLA.Name + " breached; due " + e.SLA.Deadline.Format(time.RFC3339)
			})},
			{Kind: SetFields, Fields: map[string]*Text{"priority": lit("urgent")}},
		}}}
	return m
}

// TestPlanCase_SLA: a high-priority ticket opened on a Friday morning is due
// at the close of Monday; before that the plan only asks to be woken then;
// after it, the breach actions run; an agent's public reply stops it.
func TestPlanCase_SLA(t *testing.T) {
	m := slaMappings()
	created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC) // Friday
	due := time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC)     // Monday close
	tk := ticket("7", "open")
	tk.CreatedAt, tk.Reporter = created, "ada@customer.example"
	tk.Comments = []Comment{{ID: "1", Author: "ada@customer.example", Body: "still broken?", Public: true, CreatedAt: created.Add(time.Hour)}}

	p := PlanCase(&Case{ID: 1, Items: []Item{tk}}, m, due.Add(-time.Minute))
	if len(p.Actions) != 0 || !p.WakeAt.Equal(due) {
		t.Fatalf("before the deadline: actions %v, wake %v; want none and %v", kinds(p.Actions), p.WakeAt, due)
	}
	p = PlanCase(&Case{ID: 1, Items: []Item{tk}}, m, due)
	if got := kinds(p.Actions); len(got) != 2 || got[0] != "comment zendesk/customer_ticket/7" || p.Actions[1].Fields["priority"] != "urgent" {
		t.Fatalf("at the deadline: %v %+v", got, p.Actions)
	}
	answered := tk
	answered.Comments = append(answered.Comments, Comment{ID: "2", Author: "agent@acme.example", Body: "Looking", Public: true, CreatedAt: created.Add(2 * time.Hour)})
	if p := PlanCase(&Case{ID: 1, Items: []Item{answered}}, m, due.Add(time.Hour)); len(p.Actions) != 0 || !p.WakeAt.IsZero() {
		t.Fatalf("answered ticket: actions %v, wake %v", kinds(p.Actions), p.WakeAt)
	}
	internal := tk
	internal.Comments = append(internal.Comments, Comment{ID: "3", Author: "agent@acme.example", Body: "note", Public: false, CreatedAt: created.Add(2 * time.Hour)})
	if p := PlanCase(&Case{ID: 1, Items: []Item{internal}}, m, due); len(p.Actions) != 2 {
		t.Fatalf("an internal note is no response to the customer: %v", kinds(p.Actions))
	}
	low := tk
	low.Priority = "low"
	if p := PlanCase(&Case{ID: 1, Items: []Item{low}}, m, due.Add(1000*time.Hour)); len(p.Actions) != 0 || !p.WakeAt.IsZero() {
		t.Fatalf("a priority without a target is not timed: %v", kinds(p.Actions))
	}
}

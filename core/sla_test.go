package core

import (
	"slices"
	"testing"
	"time"
)

// TestSLATarget_Forms: each target form the handbooks use, on a Paris
// calendar (09:00-17:00, Monday to Friday, Christmas off).
func TestSLATarget_Forms(t *testing.T) {
	c := paris(t)
	high := SLATarget{Form: SameDayOrNextMorning, Cutoff: 14 * time.Hour, Morning: 12 * time.Hour}
	cases := []struct {
		name, from string
		target     SLATarget
		due, text  string
	}{
		{"8 working hours over the night", "2026-11-23 15:00", SLATarget{Within: 8 * time.Hour}, "2026-11-24 15:00", "8 working hours"},
		{"90 working minutes", "2026-11-23 16:30", SLATarget{Within: 90 * time.Minute}, "2026-11-24 10:00", "1 h 30 min of working time"},
		{"1 working day is the same time next working day", "2026-11-23 10:00", SLATarget{Form: WorkingDays, Days: 1}, "2026-11-24 10:00", "1 working day"},
		{"1 working day over a weekend", "2026-11-27 16:00", SLATarget{Form: WorkingDays, Days: 1}, "2026-11-30 16:00", "1 working day"},
		{"1 working day over a holiday", "2026-12-24 10:00", SLATarget{Form: WorkingDays, Days: 1}, "2026-12-28 10:00", "1 working day"},
		{"2 working days from saturday", "2026-11-28 11:00", SLATarget{Form: WorkingDays, Days: 2}, "2026-12-02 09:00", "2 working days"},
		{"high before 14:00: same day", "2026-11-23 13:59", high, "2026-11-23 17:00", "same working day, or next working morning if received after 14:00"},
		{"high after 14:00: next morning", "2026-11-23 14:30", high, "2026-11-24 12:00", ""},
		{"high on friday after 14:00: monday morning", "2026-11-27 15:00", high, "2026-11-30 12:00", ""},
		{"high in the evening: next morning", "2026-11-23 19:00", high, "2026-11-24 12:00", ""},
		{"high before opening: same day", "2026-11-23 07:30", high, "2026-11-23 17:00", ""},
		{"high on christmas eve afternoon: after the holiday", "2026-12-24 15:00", high, "2026-12-28 12:00", ""},
		{"4 calendar hours over the night", "2026-11-27 22:00", SLATarget{Form: CalendarHours, Within: 4 * time.Hour}, "2026-11-28 02:00", "4 calendar hours"},
		{"24 calendar hours over a weekend", "2026-11-28 10:00", SLATarget{Form: CalendarHours, Within: 24 * time.Hour}, "2026-11-29 10:00", "24 calendar hours"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			from := at(t, c, tc.from)
			got, paused := tc.target.Due(c, from, nil)
			if want := at(t, c, tc.due); paused || !got.Equal(want) {
				t.Fatalf("due %s (paused %v); want %s", got.In(c.Location).Format("Mon 2006-01-02 15:04"), paused, want.Format("Mon 2006-01-02 15:04"))
			}
			if tc.text != "" && tc.target.String() != tc.text {
				t.Fatalf("String() = %q; want %q", tc.target.String(), tc.text)
			}
		})
	}
}

// TestSLATarget_Pauses: the clock stands still while the ticket waits on
// the customer and the deadline moves by the clock time spent waiting.
func TestSLATarget_Pauses(t *testing.T) {
	c := paris(t)
	day := SLATarget{Form: WorkingDays, Days: 1}
	cal := SLATarget{Form: CalendarHours, Within: 4 * time.Hour}
	cases := []struct {
		name, from string
		target     SLATarget
		pauses     [][2]string // "" To: still waiting
		due        string      // "" while paused
		waitedAt   string
		waited     time.Duration
	}{
		{"two days pending moves a working day target by two days", "2026-11-23 10:00", day,
			[][2]string{{"2026-11-23 11:00", "2026-11-25 11:00"}}, "2026-11-26 10:00", "2026-11-25 12:00", 2 * time.Hour},
		{"still waiting: no deadline", "2026-11-23 10:00", day, [][2]string{{"2026-11-23 11:00", ""}}, "", "2026-11-30 11:00", time.Hour},
		{"a pause after the deadline changes nothing", "2026-11-23 10:00", day,
			[][2]string{{"2026-11-24 11:00", "2026-11-24 12:00"}}, "2026-11-24 10:00", "2026-11-24 10:00", 8 * time.Hour},
		{"pending over a weekend costs no working time", "2026-11-27 16:00", SLATarget{Within: 2 * time.Hour},
			[][2]string{{"2026-11-27 16:30", "2026-11-30 09:00"}}, "2026-11-30 10:30", "2026-11-30 10:30", 2 * time.Hour},
		{"pending over a weekend keeps a working day's deadline", "2026-11-28 11:00", day,
			[][2]string{{"2026-11-28 12:00", "2026-11-29 12:00"}}, "2026-12-01 09:00", "2026-12-01 09:00", 8 * time.Hour},
		{"a working day paused for a working day is due at an opening", "2026-11-23 09:00", day,
			[][2]string{{"2026-11-23 09:00", "2026-11-24 09:00"}}, "2026-11-25 09:00", "2026-11-25 09:00", 8 * time.Hour},
		{"calendar hours pause in wall time", "2026-11-28 10:00", cal,
			[][2]string{{"2026-11-28 11:00", "2026-11-28 13:00"}}, "2026-11-28 16:00", "2026-11-28 16:00", 4 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ps []Pause
			for _, p := range tc.pauses {
				ps = append(ps, Pause{From: at(t, c, p[0])})
				if p[1] != "" {
					ps[len(ps)-1].To = at(t, c, p[1])
				}
			}
			from := at(t, c, tc.from)
			got, paused := tc.target.Due(c, from, ps)
			if tc.due == "" {
				if !paused {
					t.Fatalf("due %s; want the clock paused", got)
				}
			} else if want := at(t, c, tc.due); paused || !got.Equal(want) {
				t.Fatalf("due %s (paused %v); want %s", got.In(c.Location).Format("Mon 2006-01-02 15:04"), paused, tc.due)
			}
			if w := tc.target.Waited(c, from, at(t, c, tc.waitedAt), ps); w != tc.waited {
				t.Fatalf("waited %s; want %s", w, tc.waited)
			}
		})
	}
}

// TestPlanCase_SLAPausesWhilePending: a normal ticket set to pending
// (waiting on the customer) for two days does not breach; the gateway's
// own public question is no first response unless the sla says so.
func TestPlanCase_SLAPausesWhilePending(t *testing.T) {
	m := slaMappings()
	m.SLAs[0].Targets["normal"] = SLATarget{Form: WorkingDays, Days: 1}
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) // Monday
	tk := ticket("7", "pending")
	tk.Priority, tk.CreatedAt, tk.Reporter = "normal", created, "ada@customer.example"
	tk.Path = []StatusStep{{Native: "open", At: created}, {Native: "pending", At: created.Add(time.Hour)}}
	tk.Comments = []Comment{{ID: "1", Author: "liaison@acme.example", Body: "Which version?", Public: true, CreatedAt: created.Add(time.Hour), Marker: "k1"}}

	if p := PlanCase(&Case{ID: 1, Items: []Item{tk}}, m, created.Add(50*time.Hour)); len(p.Actions) != 0 || !p.WakeAt.IsZero() {
		t.Fatalf("pending two days: actions %v, wake %v; want none", kinds(p.Actions), p.WakeAt)
	}
	// The customer answers on Wednesday 11:00: the clock resumes with 7
	// working hours left, due Thursday 10:00.
	reopened := tk
	reopened.Native, reopened.Status = "open", StatusOpen
	reopened.Path = append(tk.Path, StatusStep{Native: "open", At: created.Add(49 * time.Hour)})
	due := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	p := PlanCase(&Case{ID: 1, Items: []Item{reopened}}, m, created.Add(49*time.Hour))
	if len(p.Actions) != 0 || !p.WakeAt.Equal(due) {
		t.Fatalf("resumed: actions %v, wake %v; want none and %v", kinds(p.Actions), p.WakeAt, due)
	}
	if p := PlanCase(&Case{ID: 1, Items: []Item{reopened}}, m, due); len(p.Actions) != 2 {
		t.Fatalf("at the moved deadline: %v; want the breach (the gateway's question is no first response)", kinds(p.Actions))
	}
	m.SLAs[0].GatewayReplies = true
	if p := PlanCase(&Case{ID: 1, Items: []Item{reopened}}, m, due); len(p.Actions) != 0 {
		t.Fatalf("gateway replies count: %v; want none", kinds(p.Actions))
	}
}

func TestFormatDuration(t *testing.T) {
	cases := []struct {
		d           time.Duration
		text, hours string
	}{
		{3*time.Hour + 20*time.Minute, "3 h 20 min", "3 h 20 min"},
		{45 * time.Minute, "45 min", "45 min"},
		{24 * time.Hour, "1 day", "24 h"},
		{52*time.Hour + 59*time.Second, "2 days 4 h", "52 h"},
		{20 * time.Second, "under a minute", "under a minute"},
		{-90 * time.Minute, "-1 h 30 min", "-1 h 30 min"},
	}
	for _, tc := range cases {
		if got := FormatDuration(tc.d); got != tc.text {
			t.Errorf("FormatDuration(%s) = %q; want %q", tc.d, got, tc.text)
		}
		if got := FormatHours(tc.d); got != tc.hours {
			t.Errorf("FormatHours(%s) = %q; want %q", tc.d, got, tc.hours)
		}
	}
}

func TestCalendar_String(t *testing.T) {
	c := paris(t)
	c.Name = "acme"
	if got, want := c.String(), "Mon Tue Wed Thu Fri 09:00-17:00, Europe/Paris, 1 holiday"; got != want {
		t.Fatalf("String() = %q; want %q", got, want)
	}
	m := &Mappings{SLAs: []*SLA{
		{Name: "first-response", Calendar: &Calendar{Name: "default", Location: time.UTC}, Calendars: map[string]*Calendar{"acme": c}},
		{Name: "on-call", Calendar: &Calendar{Location: time.UTC}},
	}}
	want := []string{
		"calendar in force: round the clock, UTC, 0 holidays",
		"calendar of acme: Mon Tue Wed Thu Fri 09:00-17:00, Europe/Paris, 1 holiday",
		"calendar of sla on-call: round the clock, UTC, 0 holidays",
	}
	if got := m.CalendarsInForce(); !slices.Equal(got, want) {
		t.Fatalf("CalendarsInForce() = %q; want %q", got, want)
	}
}

// TestSLA_CalendarFor: a ticket counts in its organisation's calendar,
// whatever the case of the name; others in the sla's.
func TestSLA_CalendarFor(t *testing.T) {
	def, ny, apac := DefaultCalendar(), DefaultCalendar(), DefaultCalendar()
	s := &SLA{Calendar: def, Calendars: map[string]*Calendar{"Northwind": ny, "Support APAC": apac}}
	for _, tc := range []struct {
		org, group string
		want       *Calendar
	}{{"Northwind", "", ny}, {" northwind ", "Support APAC", ny}, {"Acme", "support apac", apac}, {"Acme", "", def}, {"", "", def}} {
		if got := s.CalendarFor(&Item{Fields: map[string]string{"org": tc.org, "group": tc.group}}); got != tc.want {
			t.Errorf("org %q, group %q: got the wrong calendar", tc.org, tc.group)
		}
	}
}

// TestSLA_ResponseTime: the first response time leaves out the wait on
// the customer and ignores the gateway's own question.
func TestSLA_ResponseTime(t *testing.T) {
	m := slaMappings()
	s := m.SLAs[0]
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tk := ticket("7", "open")
	tk.Priority, tk.CreatedAt, tk.Reporter = "normal", created, "ada@customer.example"
	if got := s.ResponseTime(m, &tk); got != "" {
		t.Fatalf("unanswered: %q", got)
	}
	tk.Path = []StatusStep{{Native: "open", At: created}, {Native: "pending", At: created.Add(time.Hour)}, {Native: "open", At: created.Add(25 * time.Hour)}}
	tk.Comments = []Comment{
		{ID: "1", Author: "liaison@acme.example", Body: "Which version?", Public: true, CreatedAt: created.Add(time.Hour), Marker: "k"},
		{ID: "3", Author: "agent@acme.example", Body: "Fixed.", Public: true, CreatedAt: created.Add(26*time.Hour + 20*time.Minute)},
		{ID: "2", Author: "agent@acme.example", Body: "note", Public: false, CreatedAt: created.Add(25 * time.Hour)},
	}
	// 1 h before the pause, 1 h 20 min after it.
	if got := s.ResponseTime(m, &tk); got != "2 h 20 min of working time" {
		t.Fatalf("ResponseTime = %q; want 2 h 20 min of working time", got)
	}
}

// TestSLA_Describe: where a ticket stands, as `liaison why` says it.
func TestSLA_Describe(t *testing.T) {
	m := slaMappings()
	m.SLAs[0].Targets["normal"] = SLATarget{Form: WorkingDays, Days: 1}
	s := m.SLAs[0]
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) // Monday
	base := ticket("7", "open")
	base.Priority, base.CreatedAt, base.Reporter = "normal", created, "ada@customer.example"
	with := func(f func(*Item)) *Item { it := base.Clone(); f(&it); return &it }
	cases := []struct {
		name string
		it   *Item
		now  time.Time
		want string
	}{
		{"due", &base, created.Add(3*time.Hour + 20*time.Minute),
			"first-response (1 working day): due Tue 24 Nov 10:00 UTC; waited 3 h 20 min of working time so far"},
		{"missed", &base, created.Add(48 * time.Hour),
			"first-response (1 working day): missed, was due Tue 24 Nov 10:00 UTC; waited 16 h of working time"},
		{"paused", with(func(it *Item) {
			it.Native = "pending"
			it.Path = []StatusStep{{Native: "open", At: created}, {Native: "pending", At: created.Add(time.Hour)}}
		}), created.Add(48 * time.Hour), "first-response (1 working day): paused while the customer is waited on; waited 1 h of working time so far"},
		{"met", with(func(it *Item) {
			it.Comments = []Comment{{ID: "1", Author: "agent@acme.example", Body: "On it", Public: true, CreatedAt: created.Add(45 * time.Minute)}}
		}), created.Add(48 * time.Hour), "first-response (1 working day): met after 45 min of working time"},
		{"no target", with(func(it *Item) { it.Priority = "low" }), created, `first-response: no target for priority "low"`},
	}
	for _, tc := range cases {
		if got := s.Describe(m, tc.it, tc.now); got != tc.want {
			t.Errorf("%s: %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

package core

import (
	"strings"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	cases := []struct {
		in   string
		want SLATarget
		err  string
	}{
		{in: "8 working hours", want: SLATarget{Form: WorkingHours, Within: 8 * time.Hour}},
		{in: "1 working hour", want: SLATarget{Form: WorkingHours, Within: time.Hour}},
		{in: "30 working minutes", want: SLATarget{Form: WorkingHours, Within: 30 * time.Minute}},
		{in: "1 working day", want: SLATarget{Form: WorkingDays, Days: 1}},
		{in: " 3  Working Days ", want: SLATarget{Form: WorkingDays, Days: 3}},
		{in: "4 hours", want: SLATarget{Form: CalendarHours, Within: 4 * time.Hour}},
		{in: "24 calendar hours", want: SLATarget{Form: CalendarHours, Within: 24 * time.Hour}},
		{in: "90 minutes", want: SLATarget{Form: CalendarHours, Within: 90 * time.Minute}},
		{in: "same working day, or next working morning if received after 14:00", want: SLATarget{Form: SameDayOrNextMorning, Cutoff: 14 * time.Hour, Morning: 12 * time.Hour}},
		{in: "same working day, or next working morning (by 10:30) if received after 15:00", want: SLATarget{Form: SameDayOrNextMorning, Cutoff: 15 * time.Hour, Morning: 10*time.Hour + 30*time.Minute}},
		{in: "next_working_day", want: SLATarget{NextWorkingDay: true}},
		{in: "24h", err: `"24h" does not say which clock counts: write "24 working hours" (working time) or "24 calendar hours" (round the clock)`},
		{in: "90m", err: `write "90 working minutes"`},
		{in: "2 days", err: `days are working days: write "2 working days", or "48 calendar hours"`},
		{in: "1 day", err: `days are working days: write "1 working day", or "24 calendar hours"`},
		{in: "1d", err: `"1d" does not say which clock counts: write "1 working day" (working days) or "24 calendar hours" (round the clock)`},
		{in: "0 working hours", err: "must be positive"},
		{in: "same working day, or next working morning if received after 25:00", err: `"25:00" is not a time of day`},
		{in: "soon", err: `"soon" is not a target`},
	}
	for _, tc := range cases {
		got, err := ParseTarget(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseTarget(%q) error %v; want one containing %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseTarget: any text parses or is refused with a message; a parsed
// target is positive and its deadline comes after its start.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"8 working hours", "1 working day", "24 calendar hours", "next_working_day", "24h",
		"same working day, or next working morning by 11:00 if received after 14:00"} {
		f.Add(s)
	}
	c := DefaultCalendar()
	start := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if tg.String() == "" {
			t.Fatalf("%q: empty String()", s)
		}
		if due, _ := tg.Due(c, start, nil); !due.After(start) {
			t.Fatalf("%q: due %s is not after the start", s, due)
		}
	})
}

package digest

import (
	"strings"
	"testing"
	"time"
)

func TestParseWeek(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  Week
		start string // Monday, UTC
		err   string
	}{
		{in: "2026-W47", want: Week{2026, 47}, start: "2026-11-16"},
		{in: "2026w47", want: Week{2026, 47}, start: "2026-11-16"},
		{in: " 2026-W01 ", want: Week{2026, 1}, start: "2025-12-29"}, // 1 January 2026 is a Thursday
		{in: "2026-W53", want: Week{2026, 53}, start: "2026-12-28"},
		{in: "2020-W53", want: Week{2020, 53}, start: "2020-12-28"},
		{in: "2027-W01", want: Week{2027, 1}, start: "2027-01-04"},
		{in: "2025-W53", err: "2025 has weeks 1 to 52"},
		{in: "2026-W00", err: "weeks 1 to 53"},
		{in: "2026-W7", err: "want an ISO week"},
		{in: "26-W47", err: "want an ISO week"},
		{in: "2026-47", err: "want an ISO week"},
		{in: "", err: "want an ISO week"},
	} {
		got, err := ParseWeek(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseWeek(%q) err = %v; want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseWeek(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		if s := got.Start(time.UTC).Format(time.DateOnly); s != tc.start {
			t.Errorf("%v starts %s; want %s", got, s, tc.start)
		}
		if WeekOf(got.Start(time.UTC)) != got || WeekOf(got.End(time.UTC).Add(-time.Nanosecond)) != got || WeekOf(got.End(time.UTC)) != got.Next() {
			t.Errorf("%v: bounds do not agree with ISOWeek", got)
		}
	}
	if !(Week{2025, 52}).Before(Week{2026, 1}) || (Week{2026, 2}).Before(Week{2026, 1}) || (Week{2026, 53}).Next() != (Week{2027, 1}) {
		t.Error("week order")
	}
}

func TestWeek_StartInZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	// The week of the autumn clock change: 168 hours plus one.
	w := Week{2026, 44}
	if s, e := w.Start(ny), w.End(ny); s.Format(time.RFC3339) != "2026-10-26T00:00:00-04:00" || e.Format(time.RFC3339) != "2026-11-02T00:00:00-05:00" || e.Sub(s) != 169*time.Hour {
		t.Errorf("week 44 in New York: %s to %s", s, e)
	}
}

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Schedule
		ok   bool
	}{
		{"mon 08:00", Schedule{time.Monday, 8 * time.Hour}, true},
		{"Monday 8:30", Schedule{time.Monday, 8*time.Hour + 30*time.Minute}, true},
		{"FRI 17:45", Schedule{time.Friday, 17*time.Hour + 45*time.Minute}, true},
		{"sun 00:00", Schedule{time.Sunday, 0}, true},
		{"mon 24:00", Schedule{}, false},
		{"mon 08:60", Schedule{}, false},
		{"mon 8", Schedule{}, false},
		{"mon", Schedule{}, false},
		{"monxday 08:00", Schedule{}, false},
		{"weekly", Schedule{}, false},
		{"", Schedule{}, false},
	} {
		got, err := ParseSchedule(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseSchedule(%q) = %v, %v", tc.in, got, err)
		}
		if err == nil {
			if back, err := ParseSchedule(got.String()); err != nil || back != got {
				t.Errorf("%v does not read back: %v %v", got, back, err)
			}
		}
	}
}

func TestSchedule_LastNextReported(t *testing.T) {
	s := Schedule{time.Monday, 8 * time.Hour}
	utc := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		now, last time.Time
		reported  string
	}{
		{utc(23, 7, 59), utc(16, 8, 0), "2026-W46"},
		{utc(23, 8, 0), utc(23, 8, 0), "2026-W47"},
		{utc(25, 12, 0), utc(23, 8, 0), "2026-W47"},
		{utc(29, 23, 59), utc(23, 8, 0), "2026-W47"},
		{utc(30, 8, 0), utc(30, 8, 0), "2026-W48"},
	} {
		last := s.Last(tc.now, time.UTC)
		if !last.Equal(tc.last) || Reported(last).String() != tc.reported {
			t.Errorf("at %s: last %s reporting %s; want %s reporting %s", tc.now, last, Reported(last), tc.last, tc.reported)
		}
		if next := s.Next(tc.now, time.UTC); !next.After(tc.now) || !next.Equal(last.AddDate(0, 0, 7)) {
			t.Errorf("at %s: next %s", tc.now, next)
		}
	}
	// Sent on a Friday, the digest reports the week in progress.
	fri := Schedule{time.Friday, 17 * time.Hour}
	if got := Reported(fri.Last(utc(20, 18, 0), time.UTC)).String(); got != "2026-W47" {
		t.Errorf("friday digest reports %s; want 2026-W47", got)
	}
}

// FuzzParseWeek: whatever an admin types, a week read back prints as it
// parses, and its bounds agree with the standard library's ISO weeks.
func FuzzParseWeek(f *testing.F) {
	for _, s := range []string{"2026-W47", "2020-W53", "2025-W53", "2026w01", "0000-W01", "9999-W52", "-001-W01", "2026-W+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWeek(s)
		if err != nil {
			return
		}
		back, err := ParseWeek(w.String())
		if err != nil || back != w {
			t.Fatalf("%q → %v → %q → %v, %v", s, w, w.String(), back, err)
		}
		if WeekOf(w.Start(time.UTC)) != w {
			t.Fatalf("%v starts in week %v", w, WeekOf(w.Start(time.UTC)))
		}
	})
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"mon 08:00", "Friday 17:30", "sun 0:00", "tue 23:59", "wed 24:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseSchedule(s)
		if err != nil {
			return
		}
		if sc.At < 0 || sc.At >= 24*time.Hour {
			t.Fatalf("%q: time of day %v", s, sc.At)
		}
		now := time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)
		if last := sc.Last(now, time.UTC); last.After(now) || now.Sub(last) >= 7*24*time.Hour || last.Weekday() != sc.Day {
			t.Fatalf("%q: last %v", s, last)
		}
	})
}

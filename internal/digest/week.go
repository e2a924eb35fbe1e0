package digest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Week is an ISO 8601 week: Monday to Sunday, week 1 being the one with
// the year's first Thursday.
type Week struct {
	Year int
	Num  int
}

// WeekOf returns the ISO week t falls in, in t's location.
func WeekOf(t time.Time) Week {
	y, w := t.ISOWeek()
	return Week{y, w}
}

// ParseWeek reads "2026-W47" (also "2026W47" and a lower-case w).
func ParseWeek(s string) (Week, error) {
	y, n, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(s)), "W")
	y = strings.TrimSuffix(y, "-")
	year, err1 := strconv.Atoi(y)
	num, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || len(y) != 4 || len(n) != 2 {
		return Week{}, fmt.Errorf("week %q: want an ISO week such as 2026-W47", s)
	}
	w := Week{year, num}
	if num < 1 || num > weeksIn(year) {
		return Week{}, fmt.Errorf("week %q: %d has weeks 1 to %d", s, year, weeksIn(year))
	}
	return w, nil
}

// weeksIn is 52 or 53: a year has 53 ISO weeks when 28 December is in week 53.
func weeksIn(year int) int {
	_, w := time.Date(year, 12, 28, 12, 0, 0, 0, time.UTC).ISOWeek()
	return w
}

func (w Week) String() string { return fmt.Sprintf("%04d-W%02d", w.Year, w.Num) }

// Start is the week's Monday at 00:00 in loc.
func (w Week) Start(loc *time.Location) time.Time {
	// 4 January is always in week 1.
	jan4 := time.Date(w.Year, 1, 4, 0, 0, 0, 0, loc)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	return monday.AddDate(0, 0, 7*(w.Num-1))
}

// End is the next week's Monday at 00:00 in loc: the week is [Start, End).
func (w Week) End(loc *time.Location) time.Time { return w.Start(loc).AddDate(0, 0, 7) }

// Next is the week after w.
func (w Week) Next() Week { return WeekOf(w.Start(time.UTC).AddDate(0, 0, 7)) }

// Before reports whether w comes before o.
func (w Week) Before(o Week) bool {
	return w.Year < o.Year || w.Year == o.Year && w.Num < o.Num
}

// Schedule is when the weekly digest goes out: a weekday and a time of day
// in the digest's time zone.
type Schedule struct {
	Day time.Weekday
	At  time.Duration // since midnight
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseSchedule reads "mon 08:00" (a weekday's first three letters or its
// full English name, and a 24-hour time).
func ParseSchedule(s string) (Schedule, error) {
	f := strings.Fields(strings.ToLower(s))
	bad := fmt.Errorf("schedule %q: want a weekday and a time, such as \"mon 08:00\"", s)
	if len(f) != 2 || len(f[0]) < 3 {
		return Schedule{}, bad
	}
	day, ok := weekdays[f[0][:3]]
	if !ok || (len(f[0]) > 3 && !strings.HasPrefix(strings.ToLower(time.Weekday(day).String()), f[0])) {
		return Schedule{}, bad
	}
	hh, mm, ok := strings.Cut(f[1], ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || len(mm) != 2 || len(hh) < 1 || len(hh) > 2 || h < 0 || h > 23 || m < 0 || m > 59 {
		return Schedule{}, bad
	}
	return Schedule{Day: day, At: time.Duration(h)*time.Hour + time.Duration(m)*time.Minute}, nil
}

func (s Schedule) String() string {
	return fmt.Sprintf("%s %02d:%02d", strings.ToLower(s.Day.String()[:3]), int(s.At.Hours()), int(s.At.Minutes())%60)
}

// Last returns the latest scheduled moment at or before now, in loc.
func (s Schedule) Last(now time.Time, loc *time.Location) time.Time {
	now = now.In(loc)
	y, m, d := now.Date()
	back := (int(now.Weekday()) - int(s.Day) + 7) % 7
	day := time.Date(y, m, d-back, 0, 0, 0, 0, loc)
	at := time.Date(day.Year(), day.Month(), day.Day(), int(s.At.Hours()), int(s.At.Minutes())%60, 0, 0, loc)
	if at.After(now) {
		day = day.AddDate(0, 0, -7)
		at = time.Date(day.Year(), day.Month(), day.Day(), int(s.At.Hours()), int(s.At.Minutes())%60, 0, 0, loc)
	}
	return at
}

// Next returns the first scheduled moment after now, in loc.
func (s Schedule) Next(now time.Time, loc *time.Location) time.Time {
	last := s.Last(now, loc)
	return time.Date(last.Year(), last.Month(), last.Day()+7, int(s.At.Hours()), int(s.At.Minutes())%60, 0, 0, loc)
}

// Reported is the week a digest sent at a scheduled moment reports: the
// week the moment three days earlier falls in. Sent from Monday to
// Wednesday, a digest reports the week before; from Thursday to Sunday,
// the week in progress.
func Reported(at time.Time) Week { return WeekOf(at.AddDate(0, 0, -3)) }

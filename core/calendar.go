package core

import (
	"fmt"
	"strings"
	"time"
)

// Calendar is a team's working time: the weekdays and hours it works in
// its time zone, less holidays. Response-time targets are counted in it.
type Calendar struct {
	// Name says whose calendar it is (default, an organisation): check
	// prints it, breach notes do not.
	Name        string
	Location    *time.Location
	Weekdays    [7]bool       // indexed by time.Weekday
	Open, Close time.Duration // since midnight, local
	Holidays    map[string]bool
}

// DefaultCalendar is Monday to Friday, 09:00 to 17:00 UTC.
func DefaultCalendar() *Calendar {
	c := &Calendar{Location: time.UTC, Open: 9 * time.Hour, Close: 17 * time.Hour, Holidays: map[string]bool{}}
	for d := time.Monday; d <= time.Friday; d++ {
		c.Weekdays[d] = true
	}
	return c
}

// workday reports whether the day of t (local) is worked.
func (c *Calendar) workday(t time.Time) bool {
	return c.Weekdays[t.Weekday()] && !c.Holidays[t.Format(time.DateOnly)]
}

func (c *Calendar) midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, c.Location)
}

// clock is the moment the wall clock reads since (a time of day such as
// Open) on the local date of day. It is not midnight plus since: on the
// day a time zone changes to or from summer time the two differ by the
// hour the clocks moved.
func (c *Calendar) clock(day time.Time, since time.Duration) time.Time {
	y, m, d := day.In(c.Location).Date()
	return time.Date(y, m, d, int(since/time.Hour), int(since%time.Hour/time.Minute), int(since%time.Minute/time.Second), int(since%time.Second), c.Location)
}

// timeOfDay is what the wall clock reads at t, as a duration since
// midnight (the inverse of clock).
func (c *Calendar) timeOfDay(t time.Time) time.Duration {
	h, m, s := t.In(c.Location).Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
}

// Add returns the moment d of working time after t. A t outside working
// hours starts counting at the next opening.
func (c *Calendar) Add(t time.Time, d time.Duration) time.Time {
	t = t.In(c.Location)
	if c.Close <= c.Open {
		return t.Add(d) // no working hours configured: count wall time
	}
	for i := 0; i < 3660; i++ { // ten years of days bounds a calendar with no working day
		day := c.midnight(t)
		if c.workday(t) {
			open, shut := c.clock(day, c.Open), c.clock(day, c.Close)
			if t.Before(open) {
				t = open
			}
			if t.Before(shut) {
				if left := shut.Sub(t); d <= left {
					return t.Add(d)
				} else {
					d -= left
				}
			}
		}
		t = c.midnight(day.AddDate(0, 0, 1).Add(time.Hour)) // next day; the hour absorbs DST changes
	}
	return t
}

// Between returns the working time from a to b (zero when b is not after a).
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	a, b = a.In(c.Location), b.In(c.Location)
	if c.Close <= c.Open {
		return b.Sub(a)
	}
	var sum time.Duration
	for day := c.midnight(a); !day.After(b); day = c.midnight(day.AddDate(0, 0, 1).Add(time.Hour)) {
		if !c.workday(day) {
			continue
		}
		open, shut := c.clock(day, c.Open), c.clock(day, c.Close)
		lo, hi := maxTime(open, a), minTime(shut, b)
		if hi.After(lo) {
			sum += hi.Sub(lo)
		}
	}
	return sum
}

// EndOfNextWorkingDay is the close of the working day after the one t
// falls in (or, outside working hours, after the next one to open): the
// next_working_day target.
func (c *Calendar) EndOfNextWorkingDay(t time.Time) time.Time {
	return c.CloseAfter(c.Add(t, 0), 1)
}

// CloseAfter is the close of the n-th working day after the day t falls
// in (n at least 1).
func (c *Calendar) CloseAfter(t time.Time, n int) time.Time {
	return c.clock(c.workdaysAfter(t, n), c.Close)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sameDay reports whether a and b fall on one local date of c.
func (c *Calendar) sameDay(a, b time.Time) bool {
	a, b = a.In(c.Location), b.In(c.Location)
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// nextWorkday is the midnight of the first working day after the one t
// falls in.
func (c *Calendar) nextWorkday(t time.Time) time.Time {
	day := c.midnight(t.In(c.Location))
	for i := 0; i < 3660; i++ {
		day = c.midnight(day.AddDate(0, 0, 1).Add(time.Hour))
		if c.workday(day) {
			break
		}
	}
	return day
}

// workdaysAfter is the midnight of the n-th working day after the one t
// falls in (t itself when n is 0).
func (c *Calendar) workdaysAfter(t time.Time, n int) time.Time {
	day := t.In(c.Location)
	for range n {
		day = c.nextWorkday(day)
	}
	return day
}

// AddWorkingDays is "n working days" after t: the same time of day on the
// n-th working day after the one the clock starts on. A t outside working
// hours starts the clock at the next opening, so a ticket received on
// Saturday with "1 working day" is due Tuesday at opening time.
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	start := c.Add(t, 0)
	if c.Close <= c.Open {
		return start.AddDate(0, 0, n)
	}
	return c.clock(c.workdaysAfter(start, n), c.timeOfDay(start))
}

// String describes the calendar for people: `liaison check` prints it, so
// an admin sees which working time the targets count in.
func (c *Calendar) String() string {
	var days []string
	for d := time.Sunday; d <= time.Saturday; d++ {
		if c.Weekdays[(d+1)%7] {
			days = append(days, time.Weekday((d + 1) % 7).String()[:3])
		}
	}
	hours := "round the clock" // Add and Between count wall time, whatever the weekdays
	if c.Close > c.Open {
		hours = fmt.Sprintf("%s %s-%s", strings.Join(days, " "), ClockTime(c.Open), ClockTime(c.Close))
	}
	holidays := fmt.Sprintf("%d holidays", len(c.Holidays))
	if len(c.Holidays) == 1 {
		holidays = "1 holiday"
	}
	return fmt.Sprintf("%s, %s, %s", hours, c.Location, holidays)
}

// ClockTime prints a duration since midnight as 09:00 (check's messages
// about working hours print it too).
func ClockTime(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

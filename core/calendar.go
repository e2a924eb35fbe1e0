package core

import (
	"fmt"
	"time"
)

// Calendar is a team's working time: the weekdays and hours it works in
// its time zone, less holidays. Response-time targets are counted in it.
type Calendar struct {
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
			open, shut := day.Add(c.Open), day.Add(c.Close)
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
		open, shut := day.Add(c.Open), day.Add(c.Close)
		lo, hi := maxTime(open, a), minTime(shut, b)
		if hi.After(lo) {
			sum += hi.Sub(lo)
		}
	}
	return sum
}

// EndOfNextWorkingDay is the close of the working day after the one t
// falls in (or, outside working hours, after the next one to open): the
// "same or next working day" target.
func (c *Calendar) EndOfNextWorkingDay(t time.Time) time.Time {
	start := c.Add(t, 0) // the next working moment
	day := c.midnight(start)
	for i := 0; i < 3660; i++ {
		day = c.midnight(day.AddDate(0, 0, 1).Add(time.Hour))
		if c.workday(day) {
			return day.Add(c.Close)
		}
	}
	return day
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

// SLAMeasure is what a response-time target times.
type SLAMeasure string

// What can be timed.
const (
	FirstResponse SLAMeasure = "first_response" // a public reply by someone other than the requester
	Resolution    SLAMeasure = "resolution"     // the record reaches solved or closed
)

// SLATarget is one priority's target: working hours, or the end of the
// next working day.
type SLATarget struct {
	Within         time.Duration
	NextWorkingDay bool
}

// Deadline is when a target started at t falls due.
func (tg SLATarget) Deadline(c *Calendar, t time.Time) time.Time {
	if tg.NextWorkingDay {
		return c.EndOfNextWorkingDay(t)
	}
	return c.Add(t, tg.Within)
}

func (tg SLATarget) String() string {
	if tg.NextWorkingDay {
		return "same or next working day"
	}
	return fmt.Sprintf("%s of working time", tg.Within)
}

// SLA is a response-time target over records of one kind: per canonical
// priority, how long until the measure must be met, counted in Calendar;
// a breach runs Breach once per record.
type SLA struct {
	Name     string
	Pos      Pos
	When     Selector
	Measure  SLAMeasure
	Calendar *Calendar
	Targets  map[string]SLATarget // by canonical priority
	Breach   []*ActionSpec
}

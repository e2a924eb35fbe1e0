package core

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Target texts, as the mapping files write them (lower case, commas and
// runs of spaces ignored). The README's table gives their meaning.
var (
	countRE   = regexp.MustCompile(`^(\d{1,5}) (working |calendar )?(hours?|h|minutes?|min|days?)$`)
	goDaysRE  = regexp.MustCompile(`^(\d{1,5}) ?d$`)
	sameDayRE = regexp.MustCompile(`^same working day (?:or )?next working morning(?: by (\d{1,2}:\d{2}))? if received after (\d{1,2}:\d{2})$`)
)

// DefaultMorning is when "the next working morning" ends unless the
// target says `by HH:MM`.
const DefaultMorning = 12 * time.Hour

// ParseTarget reads one target as a mapping file writes it:
//
//	8 working hours, 30 working minutes   working time
//	1 working day, 3 working days         the same time of day, that many working days on
//	same working day, or next working morning if received after 14:00
//	same working day, or next working morning by 11:00 if received after 14:00
//	4 hours, 24 calendar hours, 90 minutes  wall time, round the clock
//	next_working_day                       the close of the next working day
//
// A bare Go duration ("24h") is refused: it does not say which clock
// counts, which is what made "24h" mean three working days.
func ParseTarget(s string) (SLATarget, error) {
	norm := strings.Join(strings.Fields(strings.ToLower(strings.NewReplacer(",", " ", "(", " ", ")", " ").Replace(s))), " ")
	if norm == "next_working_day" {
		return SLATarget{NextWorkingDay: true}, nil
	}
	if m := sameDayRE.FindStringSubmatch(norm); m != nil {
		tg := SLATarget{Form: SameDayOrNextMorning, Morning: DefaultMorning}
		var ok bool
		if tg.Cutoff, ok = parseClock(m[2]); !ok {
			return SLATarget{}, fmt.Errorf("%q: %q is not a time of day (00:00 to 23:59)", s, m[2])
		}
		if m[1] != "" {
			if tg.Morning, ok = parseClock(m[1]); !ok {
				return SLATarget{}, fmt.Errorf("%q: %q is not a time of day (00:00 to 23:59)", s, m[1])
			}
		}
		return tg, nil
	}
	m := countRE.FindStringSubmatch(norm)
	if m == nil {
		if d, err := time.ParseDuration(strings.TrimSpace(s)); err == nil && d > 0 {
			n, unit := d/time.Hour, "hours"
			if d%time.Hour != 0 {
				n, unit = d/time.Minute, "minutes"
			}
			return SLATarget{}, fmt.Errorf("%q does not say which clock counts: write \"%d working %s\" (working time) or \"%d calendar %s\" (round the clock)", s, n, unit, n, unit)
		}
		if d := goDaysRE.FindStringSubmatch(norm); d != nil {
			n, _ := strconv.Atoi(d[1])
			return SLATarget{}, fmt.Errorf("%q does not say which clock counts: write %q (working days) or \"%d calendar hours\" (round the clock)", s, workingDays(n), 24*n)
		}
		return SLATarget{}, fmt.Errorf("%q is not a target: write e.g. \"8 working hours\", \"1 working day\", \"4 calendar hours\" or \"same working day, or next working morning if received after 14:00\"", s)
	}
	n, _ := strconv.Atoi(m[1])
	if n <= 0 {
		return SLATarget{}, fmt.Errorf("%q: a target must be positive", s)
	}
	clock, unit := strings.TrimSpace(m[2]), m[3]
	switch {
	case strings.HasPrefix(unit, "day"):
		if clock != "working" {
			return SLATarget{}, fmt.Errorf("%q: days are working days: write %q, or \"%d calendar hours\" round the clock", s, workingDays(n), 24*n)
		}
		return SLATarget{Form: WorkingDays, Days: n}, nil
	case strings.HasPrefix(unit, "h"):
		return clockTarget(clock, time.Duration(n)*time.Hour), nil
	}
	return clockTarget(clock, time.Duration(n)*time.Minute), nil
}

// clockTarget is a count of working time, or of wall time when the text
// says calendar or names no clock: "4 hours" in the managed-cloud handbook
// is round the clock.
func clockTarget(clock string, d time.Duration) SLATarget {
	if clock == "working" {
		return SLATarget{Form: WorkingHours, Within: d}
	}
	return SLATarget{Form: CalendarHours, Within: d}
}

// parseClock reads HH:MM as the time since midnight.
func parseClock(s string) (time.Duration, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh > 23 || mm > 59 {
		return 0, false
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, true
}

// workingDays is "1 working day", "3 working days".
func workingDays(n int) string {
	if n == 1 {
		return "1 working day"
	}
	return fmt.Sprintf("%d working days", n)
}

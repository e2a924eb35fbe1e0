package core

import (
	"fmt"
	"strings"
	"time"
)

// FormatDuration prints a duration as people write it: "3 h 20 min",
// "45 min", "2 days 4 h", "under a minute". Every duration that reaches a
// person (breach notes, digests, check and why output) goes through it,
// never through time.Duration's "3h20m0s". Seconds are dropped: no target
// is that fine.
func FormatDuration(d time.Duration) string { return formatDuration(d, true) }

// FormatHours prints working time: hours and minutes, never days, since a
// working day is not 24 hours ("27 h 5 min").
func FormatHours(d time.Duration) string { return formatDuration(d, false) }

func formatDuration(d time.Duration, withDays bool) string {
	if d < 0 {
		return "-" + formatDuration(-d, withDays)
	}
	d = d.Truncate(time.Minute)
	if d == 0 {
		return "under a minute"
	}
	days, hours, mins := 0, int(d/time.Hour), int(d%time.Hour/time.Minute)
	if withDays {
		days, hours = hours/24, hours%24
	}
	var parts []string
	switch {
	case days == 1:
		parts = append(parts, "1 day")
	case days > 1:
		parts = append(parts, fmt.Sprintf("%d days", days))
	}
	if hours > 0 {
		parts = append(parts, fmt.Sprintf("%d h", hours))
	}
	if mins > 0 {
		parts = append(parts, fmt.Sprintf("%d min", mins))
	}
	return strings.Join(parts, " ")
}

// countHours prints whole hours as "1 hour", "8 hours" with the word
// between (`working`, `calendar`), or the duration in hours and minutes
// followed by tail when it is not whole.
func countHours(d time.Duration, word, tail string) string {
	switch {
	case d == time.Hour:
		return "1 " + word + " hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("%d %s hours", d/time.Hour, word)
	}
	return FormatHours(d) + " " + tail
}

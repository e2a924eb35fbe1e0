package mappings

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // calendars name IANA time zones; the binary must not depend on the host's zoneinfo

	"github.com/liaisonhq/liaison/core"
)

// This file compiles the parts of the mapping files that describe the
// support process beyond rules: checklists, the working-hours calendar,
// response-time targets (sla) and duplicate rules.

// ---- checklists ----

// checklists compiles every checklists entry. A name is defined once.
func (c *compiler) checklists(files []rawFile) {
	where := map[string]core.Pos{}
	for _, f := range files {
		for _, e := range f.Checklists.Entries {
			name := e.Key.V
			prefix := fmt.Sprintf("checklist %q: ", name)
			if !validName.MatchString(name) {
				c.errf(e.Key.Pos, "checklist name %q may hold only letters, digits, '-', '_' and '.'", name)
				continue
			}
			if first, dup := where[name]; dup {
				c.errf(e.Key.Pos, "duplicate checklist name %q (first defined at %s): give each checklist its own name", name, first)
				continue
			}
			where[name] = e.Key.Pos
			if e.Val.Bad {
				continue
			}
			if len(e.Val.Entries) == 0 {
				c.errf(e.Key.Pos, "%sempty: list what is needed, each as <what the reporter is asked for>: <title, body, priority or a field>", prefix)
				continue
			}
			var items []checkItem
			good := true
			for _, it := range e.Val.Entries {
				label, source := strings.TrimSpace(it.Key.V), strings.TrimSpace(it.Val.V)
				switch {
				case it.Val.Bad:
					good = false
				case label == "":
					c.errf(it.Key.Pos, "%san empty line: say what the reporter is asked for", prefix)
					good = false
				case source == "":
					c.errf(it.Key.Pos, "%s%q: say where its value is found: title, body, priority, reporter, assignee or a field name", prefix, label)
					good = false
				default:
					srcs, ok := c.checkSources(prefix, label, it.Val, source)
					good = good && ok
					items = append(items, checkItem{label: label, sources: srcs})
				}
			}
			if good {
				c.x.checklists[name] = items
			}
		}
	}
}

// checkSources reads a checklist line's sources: "steps", or alternatives
// joined with " or " ("steps or text:steps"), each a place of the record
// or text:<finder>.
func (c *compiler) checkSources(prefix, label string, at str, source string) ([]string, bool) {
	var out []string
	ok := true
	for _, s := range strings.Split(source, " or ") {
		s = strings.TrimSpace(s)
		finder, isText := strings.CutPrefix(s, textSource)
		switch {
		case s == "":
			c.errf(at.Pos, "%s%q: an empty alternative in %q: write places joined with \" or \", e.g. steps or text:steps", prefix, label, source)
			ok = false
		case isText && finders[finder] == nil:
			c.errf(at.Pos, "%s%q: unknown text finder %q (known: %s)%s", prefix, label, finder, quoteList(finderNames()), suggest(finder, finderNames()))
			ok = false
		default:
			out = append(out, s)
		}
	}
	return out, ok
}

// ---- calendar ----

// calendars compiles the top-level calendar, defined in one file at most.
func (c *compiler) calendars(files []rawFile) {
	var first core.Pos
	for _, f := range files {
		raw := f.Calendar
		if raw.Pos.Line == 0 {
			continue
		}
		// A second calendar is reported, and checked all the same.
		cal := c.calendar(raw, "")
		if first.Line != 0 {
			c.errf(raw.Pos, "calendar is already defined at %s: the mappings have one default calendar (an sla may give its own under calendar:)", first)
			continue
		}
		first = raw.Pos
		if cal != nil {
			cal.Name = "default"
			c.x.calendar = cal
		}
	}
	// Organisations' own calendars: each starts from the default calendar
	// (or core's), so one may give only its time zone.
	seen := map[string]core.Pos{}
	for _, f := range files {
		for _, e := range f.Calendars.Entries {
			org := strings.TrimSpace(e.Key.V)
			if at, dup := seen[org]; dup {
				c.errf(e.Key.Pos, "calendars: %q has a calendar already (at %s)", org, at)
				continue
			}
			seen[org] = e.Key.Pos
			if cal := c.calendarFrom(c.x.cal(), e.Val, fmt.Sprintf("calendars: %q: ", org)); cal != nil {
				cal.Name = org
				if c.x.orgCalendars == nil {
					c.x.orgCalendars = map[string]*core.Calendar{}
				}
				c.x.orgCalendars[org] = cal
			}
		}
	}
}

var weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// weekday reads "mon" or "monday" (lower case) as a time.Weekday; -1 when
// it is neither.
func weekday(name string) int {
	for i, short := range weekdayNames {
		if name == short || name == strings.ToLower(time.Weekday(i).String()) {
			return i
		}
	}
	return -1
}

// hoursRE reads "09:00-17:00".
var hoursRE = regexp.MustCompile(`^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$`)

// calendar compiles one calendar; nil after reporting a problem. Absent
// keys take the defaults: UTC, Monday to Friday, 09:00-17:00, no holidays.
func (c *compiler) calendar(raw rawCalendar, prefix string) *core.Calendar {
	return c.calendarFrom(core.DefaultCalendar(), raw, prefix)
}

// calendarFrom compiles raw over a copy of base: what raw leaves out is
// base's (an organisation's calendar may give only its time zone).
func (c *compiler) calendarFrom(base *core.Calendar, raw rawCalendar, prefix string) *core.Calendar {
	if raw.Bad {
		return nil
	}
	cal := *base
	cal.Holidays = maps.Clone(base.Holidays)
	if raw.Holidays.Set {
		cal.Holidays = map[string]bool{} // an own list replaces the base's holidays
	}
	ok := true
	if raw.Timezone.Set && !raw.Timezone.Bad {
		tz := strings.TrimSpace(raw.Timezone.V)
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "" || strings.EqualFold(tz, "local") {
			c.errf(raw.Timezone.Pos, "%scalendar: unknown time zone %q: name an IANA time zone, e.g. Europe/Paris or America/New_York", prefix, tz)
			ok = false
		} else {
			cal.Location = loc
		}
	}
	if raw.Weekdays.Set && !raw.Weekdays.Bad {
		var days [7]bool
		for _, d := range raw.Weekdays.Items {
			if d.Bad {
				ok = false
				continue
			}
			name := strings.ToLower(strings.TrimSpace(d.V))
			i := weekday(name)
			if i < 0 {
				c.errf(d.Pos, "%scalendar: unknown weekday %q (expected mon, tue, wed, thu, fri, sat, sun, or the full names)%s", prefix, d.V, suggest(name, weekdayNames))
				ok = false
				continue
			}
			if days[i] {
				c.errf(d.Pos, "%scalendar: weekday %q is listed twice", prefix, d.V)
				ok = false
			}
			days[i] = true
		}
		if len(raw.Weekdays.Items) == 0 {
			c.errf(raw.Weekdays.Pos, "%scalendar: no weekdays: list the days worked, e.g. weekdays: [mon, tue, wed, thu, fri]", prefix)
			ok = false
		}
		cal.Weekdays = days
	}
	if raw.Hours.Set && !raw.Hours.Bad {
		open, shut, err := parseHours(raw.Hours.V)
		if err != "" {
			c.errf(raw.Hours.Pos, "%scalendar: hours %q %s", prefix, raw.Hours.V, err)
			ok = false
		} else {
			cal.Open, cal.Close = open, shut
		}
	}
	for _, h := range raw.Holidays.Items {
		if h.Bad {
			ok = false
			continue
		}
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(h.V))
		if err != nil {
			c.errf(h.Pos, "%scalendar: holiday %q is not a date: write YYYY-MM-DD, e.g. 2026-12-25", prefix, h.V)
			ok = false
			continue
		}
		cal.Holidays[d.Format(time.DateOnly)] = true
	}
	if !ok {
		return nil
	}
	return &cal
}

// parseHours reads "09:00-17:00" as the durations since midnight; the
// problem, worded to follow the value, when it cannot.
func parseHours(s string) (time.Duration, time.Duration, string) {
	m := hoursRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, `is not a range of hours: write "09:00-17:00"`
	}
	at := func(h, min string) (time.Duration, bool) {
		hh, _ := strconv.Atoi(h)
		mm, _ := strconv.Atoi(min)
		if mm > 59 || hh > 24 || (hh == 24 && mm > 0) {
			return 0, false
		}
		return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, true
	}
	open, ok1 := at(m[1], m[2])
	shut, ok2 := at(m[3], m[4])
	switch {
	case !ok1 || !ok2:
		return 0, 0, "holds a time that does not exist (hours 00 to 24, minutes 00 to 59)"
	case shut <= open:
		return 0, 0, "closes before it opens: the working day must end after it starts, on the same day"
	}
	return open, shut, ""
}

// ---- sla ----

var measures = []core.SLAMeasure{core.FirstResponse, core.Resolution}

func (c *compiler) sla(raw rawSLA) *core.SLA {
	ok := c.claim("sla", raw.Name, raw.Pos)
	prefix := namedPrefix("sla", raw.Name)
	s := &core.SLA{Name: raw.Name.V, Pos: raw.Pos, Targets: map[string]core.SLATarget{}}
	var whenOK bool
	s.When, whenOK = c.whenOf(raw.When, raw.Pos, prefix, "zendesk/customer_ticket")
	ok = ok && whenOK
	switch {
	case raw.Measure.Bad:
		ok = false
	case !raw.Measure.Set || raw.Measure.V == "":
		c.errf(raw.Pos, "%smissing measure: what is timed, first_response or resolution", prefix)
		ok = false
	case !slices.Contains(measures, core.SLAMeasure(raw.Measure.V)):
		c.errf(raw.Measure.Pos, "%sunknown measure %q (expected first_response or resolution)%s", prefix, raw.Measure.V, suggest(raw.Measure.V, measures))
		ok = false
	default:
		s.Measure = core.SLAMeasure(raw.Measure.V)
	}
	switch {
	case raw.Calendar.Pos.Line != 0:
		s.Calendar = c.calendar(raw.Calendar, prefix)
		ok = ok && s.Calendar != nil
	default:
		s.Calendar = c.x.cal()
		s.Calendars = c.x.orgCalendars // an sla with its own calendar counts in it for everyone
	}
	if len(raw.Targets.Entries) == 0 && !raw.Targets.Bad {
		c.errf(raw.Pos, "%smissing targets: how long each priority may wait, e.g. targets: {high: same working day, or next working morning if received after 14:00, normal: 1 working day, low: 16 working hours}", prefix)
		ok = false
	}
	for _, e := range raw.Targets.Entries {
		prio := e.Key.V
		if !slices.Contains(core.Priorities, prio) {
			c.errf(e.Key.Pos, "%sunknown priority %q in targets (canonical priorities: %s)%s", prefix, prio, quoteList(core.Priorities), suggestPriority(prio))
			ok = false
			continue
		}
		if e.Val.Bad {
			ok = false
			continue
		}
		tg, err := core.ParseTarget(e.Val.V)
		cal := s.Calendar
		if err == nil {
			cal, err = fitsCalendars(tg, s)
		}
		if err != nil {
			hint := ""
			if cal != nil && cal.Close > cal.Open {
				hint = fmt.Sprintf(" (a working day of this calendar is %s)", core.FormatHours(cal.Close-cal.Open))
			}
			c.errf(e.Val.Pos, "%starget for %s: %v%s", prefix, prio, err, hint)
			ok = false
			continue
		}
		s.Targets[prio] = tg
	}
	s.PauseIn = []core.Status{}
	if !raw.PauseIn.Set {
		s.PauseIn = slices.Clone(core.DefaultPauseIn)
	}
	for _, st := range raw.PauseIn.Items {
		if st.Bad {
			ok = false
			continue
		}
		if !core.Status(st.V).Known() {
			c.errf(st.Pos, "%spause_in: unknown status %q (canonical statuses: %s)%s", prefix, st.V, quoteList(core.Statuses), suggest(st.V, core.Statuses))
			ok = false
			continue
		}
		s.PauseIn = append(s.PauseIn, core.Status(st.V))
	}
	s.GatewayReplies = raw.CountGatewayReplies.V
	if raw.CountGatewayReplies.Set && s.Measure == core.Resolution {
		c.errf(raw.CountGatewayReplies.Pos, "%scount_gateway_replies applies to first_response only", prefix)
		ok = false
	}
	if len(raw.Breach.Items) == 0 && !raw.Breach.Bad {
		c.errf(raw.Pos, "%smissing breach: the actions taken when a target is missed (%s), e.g. an internal note", prefix, quoteList(verbs))
		ok = false
	}
	sc := scope{subject: s.When, subjectKnown: whenOK, sla: true}
	for i, a := range raw.Breach.Items {
		spec := c.action(a, sc, prefix, i)
		if spec == nil {
			ok = false
			continue
		}
		s.Breach = append(s.Breach, spec)
	}
	if !ok {
		return nil
	}
	return s
}

// fitsCalendars checks a target of s against its calendar and each
// organisation's (or group's) own, which may keep other hours; on a
// misfit it returns the calendar the target does not fit.
func fitsCalendars(tg core.SLATarget, s *core.SLA) (*core.Calendar, error) {
	if s.Calendar != nil {
		if err := fitsCalendar(tg, s.Calendar); err != nil {
			return s.Calendar, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Calendars)) {
		if err := fitsCalendar(tg, s.Calendars[name]); err != nil {
			return s.Calendars[name], fmt.Errorf("in the calendar of %s: %w", name, err)
		}
	}
	return nil, nil
}

// fitsCalendar refuses a same-day target whose times fall outside the
// calendar's working hours: a morning that ends before opening, or a
// cutoff after closing, would never be what the handbook means.
func fitsCalendar(tg core.SLATarget, cal *core.Calendar) error {
	if tg.Form != core.SameDayOrNextMorning || cal.Close <= cal.Open {
		return nil
	}
	if tg.Morning <= cal.Open || tg.Morning > cal.Close {
		return fmt.Errorf("the next working morning must end within working hours (%s to %s): write \"by HH:MM\"", core.ClockTime(cal.Open), core.ClockTime(cal.Close))
	}
	if tg.Cutoff <= cal.Open || tg.Cutoff > cal.Close {
		return fmt.Errorf("the time received after must fall within working hours (%s to %s)", core.ClockTime(cal.Open), core.ClockTime(cal.Close))
	}
	return nil
}

// whenOf reads the when of an sla or duplicate rule: a selector, without
// seen.
func (c *compiler) whenOf(w rawWhen, at core.Pos, prefix, example string) (core.Selector, bool) {
	ok := true
	if w.Seen.Set {
		c.errf(w.Seen.Pos, "%swhen: seen applies to rules only: remove it (this looks at the records' state, whatever happened to them)", prefix)
		ok = false
	}
	switch {
	case w.Bad || w.Kind.Bad:
		return core.Selector{}, false
	case w.Pos.Line == 0:
		c.errf(at, "%smissing when: say which records it is about, e.g. when: %s", prefix, example)
		return core.Selector{}, false
	case !w.Kind.Set:
		c.errf(w.Pos, "%swhen: missing kind: write kind: system/kind or kind, e.g. kind: %s", prefix, example)
		return core.Selector{}, false
	}
	sel, good := c.selector(w.Kind, prefix, "when kind", false)
	return sel, good && ok
}

// ---- duplicates ----

func (c *compiler) duplicate(raw rawDuplicate) *core.DuplicateRule {
	ok := c.claim("duplicates entry", raw.Name, raw.Pos)
	prefix := namedPrefix("duplicates entry", raw.Name)
	d := &core.DuplicateRule{Name: raw.Name.V, Pos: raw.Pos, Role: core.DuplicateOf}
	var whenOK bool
	d.When, whenOK = c.whenOf(raw.When, raw.Pos, prefix, "zendesk/customer_ticket")
	ok = ok && whenOK
	sc := scope{subject: d.When, subjectKnown: whenOK}
	d.If = c.cond(raw.If, sc, prefix)
	if raw.If.Set && d.If == nil && strings.TrimSpace(raw.If.V) != "" {
		ok = false
	}
	switch {
	case raw.Among.Bad:
		ok = false
	case !raw.Among.Set:
		hint := ""
		if !raw.Threshold.Set {
			// No among and no threshold: most likely a rule appended at
			// the end of the file, which is the duplicates: list.
			hint = " (this entry is in the duplicates: list, which finds known problems; if it is a rule, move it under rules:)"
		}
		c.errf(raw.Pos, "%smissing among: the system/kind of the records searched for a duplicate, e.g. among: jira/dev_ticket%s", prefix, hint)
		ok = false
	default:
		// The system is needed: a rule's create names system/kind, and the
		// create is held back only for the same system/kind.
		sel, good := c.selector(raw.Among, prefix, "among", true)
		switch {
		case !good:
			ok = false
		case whenOK && sel.Kind == d.When.Kind:
			c.errf(raw.Among.Pos, "%samong %q is the kind of the records it is about: a record's own case always holds that kind, so nothing would be searched; name another kind", prefix, raw.Among.V)
			ok = false
		default:
			d.Among = sel
		}
	}
	switch {
	case raw.Threshold.Bad:
		ok = false
	case !raw.Threshold.Set || strings.TrimSpace(raw.Threshold.V) == "":
		c.errf(raw.Pos, "%smissing threshold: how similar (0 to 1) a record's title and text must be to count as the same problem, e.g. threshold: 0.5", prefix)
		ok = false
	default:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw.Threshold.V), 64)
		if err != nil || f < 0 || f > 1 || f != f {
			c.errf(raw.Threshold.Pos, "%sthreshold %q: expected a number from 0 to 1 (the similarity of title and text; 0.5 is a fair start)", prefix, raw.Threshold.V)
			ok = false
		} else {
			d.Threshold = f
		}
	}
	if raw.Role.Set {
		if r, good := c.role(raw.Role, prefix); good {
			d.Role = r
		} else {
			ok = false
		}
	}
	tsc := sc
	tsc.duplicate = true
	for i, a := range raw.Then.Items {
		spec := c.action(a, tsc, prefix, i)
		if spec == nil {
			ok = false
			continue
		}
		d.Then = append(d.Then, spec)
	}
	if !ok {
		return nil
	}
	return d
}

// suggestPriority is suggest for canonical priorities, knowing the usual
// other names of normal.
func suggestPriority(got string) string {
	switch strings.ToLower(got) {
	case "medium", "moderate", "standard", "default":
		return `; did you mean "normal"?`
	case "critical", "highest", "blocker":
		return `; did you mean "urgent"?`
	}
	return suggest(got, core.Priorities)
}

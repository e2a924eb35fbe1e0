package core

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// SLAMeasure is what a response-time target times.
type SLAMeasure string

// What can be timed.
const (
	FirstResponse SLAMeasure = "first_response" // a public reply by an agent (not the requester)
	Resolution    SLAMeasure = "resolution"     // the record reaches solved or closed
)

// TargetForm is how a target's deadline is counted. Each form is one way
// the support handbooks write a response time; the README's table lists
// them with the mapping syntax.
type TargetForm int

const (
	// WorkingHours: Within of working time ("8 working hours").
	WorkingHours TargetForm = iota
	// WorkingDays: by the same time of day on the Days-th next working day
	// ("1 working day").
	WorkingDays
	// SameDayOrNextMorning: by the close of the day received, or by
	// Morning on the next working day when received after Cutoff or
	// outside working hours (the CT2 handbook's high priority).
	SameDayOrNextMorning
	// CalendarHours: Within of wall time, nights and weekends included
	// (24/7 support: "4 hours", "24 calendar hours").
	CalendarHours
	// EndOfNextWorkingDay: the close of the working day after the one the
	// clock starts on ("next_working_day").
	EndOfNextWorkingDay
)

// SLATarget is one priority's target.
type SLATarget struct {
	Form   TargetForm
	Within time.Duration // WorkingHours, CalendarHours
	Days   int           // WorkingDays
	// Cutoff and Morning (since midnight, local) are SameDayOrNextMorning's
	// "received after" and "next working morning by" times.
	Cutoff, Morning time.Duration
	// NextWorkingDay selects EndOfNextWorkingDay whatever Form says.
	NextWorkingDay bool
}

func (tg SLATarget) form() TargetForm {
	if tg.NextWorkingDay {
		return EndOfNextWorkingDay
	}
	return tg.Form
}

// Deadline is when a target whose clock started at t and never paused
// falls due.
func (tg SLATarget) Deadline(c *Calendar, t time.Time) time.Time {
	switch tg.form() {
	case EndOfNextWorkingDay:
		return c.EndOfNextWorkingDay(t)
	case WorkingDays:
		return c.AddWorkingDays(t, tg.Days)
	case CalendarHours:
		return t.Add(tg.Within)
	case SameDayOrNextMorning:
		start := c.Add(t, 0)
		since := c.timeOfDay(start)
		if c.Close <= c.Open {
			return start.Add(24 * time.Hour)
		}
		switch {
		case c.sameDay(start, t) && since < tg.Cutoff:
			return c.clock(start, c.Close) // same working day
		case !c.sameDay(start, t):
			return c.clock(start, tg.Morning) // received outside hours: the next morning is the next opening's
		default:
			return c.clock(c.nextWorkday(start), tg.Morning)
		}
	}
	return c.Add(t, tg.Within)
}

// String is the target as the handbooks write it; breach notes print it.
func (tg SLATarget) String() string {
	switch tg.form() {
	case EndOfNextWorkingDay:
		return "the next working day" // due at its close, even when received early on a working day
	case WorkingDays:
		return workingDays(tg.Days)
	case CalendarHours:
		return countHours(tg.Within, "calendar", "round the clock")
	case SameDayOrNextMorning:
		by := ""
		if tg.Morning != DefaultMorning {
			by = " by " + ClockTime(tg.Morning)
		}
		return fmt.Sprintf("same working day, or next working morning%s if received after %s", by, ClockTime(tg.Cutoff))
	}
	return countHours(tg.Within, "working", "of working time")
}

// wall reports whether the target counts wall time rather than working time.
func (tg SLATarget) wall() bool { return tg.form() == CalendarHours }

// measure is the clock time from a to b on the target's clock: working
// time in c, or wall time for calendar-hour targets.
func (tg SLATarget) measure(c *Calendar, a, b time.Time) time.Duration {
	if tg.wall() {
		return max(b.Sub(a), 0)
	}
	return c.Between(a, b)
}

// Pause is a stretch of time a target's clock stood still: the record
// waited on the customer. To is zero while it still waits.
type Pause struct{ From, To time.Time }

// Due is when a target whose clock started at start falls due, given the
// stretches it paused (in time order). A pause extends the deadline by the
// clock time it covered (working time, or wall time for calendar-hour
// targets). paused is true, and due zero, while the clock stands still.
func (tg SLATarget) Due(c *Calendar, start time.Time, pauses []Pause) (due time.Time, paused bool) {
	naive := tg.Deadline(c, start)
	if len(pauses) == 0 {
		// Most records: no budget to measure (a walk over the calendar's
		// days the planner would do for each of them on every pass).
		return naive, false
	}
	// used is the clock time run before cur, stood the clock time the
	// pauses covered.
	budget, used, stood, cur := tg.measure(c, start, naive), time.Duration(0), time.Duration(0), start
	for _, p := range pauses {
		if !p.To.IsZero() && !p.To.After(cur) {
			continue
		}
		if p.From.After(cur) {
			if seg := tg.measure(c, cur, p.From); used+seg >= budget {
				break
			} else {
				used += seg
			}
			cur = p.From
		}
		if p.To.IsZero() {
			return time.Time{}, true
		}
		stood += tg.measure(c, cur, p.To)
		cur = p.To
	}
	if stood == 0 {
		// Never paused, or only while the clock did not run (pending
		// over a weekend): the exact form's deadline.
		return naive, false
	}
	if tg.wall() {
		return cur.Add(budget - used), false
	}
	due = c.Add(cur, budget-used)
	if tg.form() == WorkingDays {
		// A working day ends at the same time the next working day, so
		// a count that runs out at a close is due at the next opening,
		// as Deadline gives it.
		due = c.Add(due, 0)
	}
	return due, false
}

// Waited is the clock time a record has waited from start until now, less
// the pauses: what a breach note reports as the customer's wait.
func (tg SLATarget) Waited(c *Calendar, start, now time.Time, pauses []Pause) time.Duration {
	total := tg.measure(c, start, now)
	for _, p := range pauses {
		to := p.To
		if to.IsZero() || to.After(now) {
			to = now
		}
		total -= tg.measure(c, maxTime(p.From, start), to)
	}
	return max(total, 0)
}

// waitedText is Waited as people write it: wall time with days, working
// time in hours.
func (tg SLATarget) waitedText(c *Calendar, start, now time.Time, pauses []Pause) string {
	if tg.wall() {
		return FormatDuration(tg.Waited(c, start, now, pauses))
	}
	return FormatHours(tg.Waited(c, start, now, pauses)) + " of working time"
}

// SLA is a response-time target over records of one kind: per canonical
// priority, how long until the measure must be met, counted in Calendar
// (or the calendar of the record's organisation); a breach runs Breach
// once per record.
type SLA struct {
	Name     string
	Pos      Pos
	When     Selector
	Measure  SLAMeasure
	Calendar *Calendar
	// Calendars are organisations' (or help-desk groups') own calendars,
	// by the name the record's "org" (or "group") field holds.
	Calendars map[string]*Calendar
	Targets   map[string]SLATarget // by canonical priority
	// PauseIn are the canonical statuses the clock stands still in: the
	// record waits on the customer (default pending and on_hold).
	PauseIn []Status
	// GatewayReplies makes the gateway's own public comments (triage's
	// question) meet a first response; by default only agents' do.
	GatewayReplies bool
	Breach         []*ActionSpec
}

// DefaultPauseIn are the statuses a target's clock stops in unless the
// sla says otherwise.
var DefaultPauseIn = []Status{StatusPending, StatusOnHold}

// CalendarFor is the calendar an item's target counts in: its
// organisation's (org field) when the sla has one, else its help-desk
// group's (group field: a team in another time zone), else the sla's.
func (s *SLA) CalendarFor(it *Item) *Calendar {
	for _, field := range []string{"org", "group"} {
		if c := s.calendarNamed(it.Fields[field]); c != nil {
			return c
		}
	}
	return s.Calendar
}

// calendarNamed is Calendars[name], the case of the name not mattering:
// help desks do not always keep a name in one case.
func (s *SLA) calendarNamed(name string) *Calendar {
	name = strings.TrimSpace(name)
	if name == "" || len(s.Calendars) == 0 {
		return nil
	}
	if c := s.Calendars[name]; c != nil {
		return c
	}
	for n, c := range s.Calendars {
		if strings.EqualFold(n, name) {
			return c
		}
	}
	return nil
}

// TargetFor is the target a record of canonical priority prio is held
// to: its escalation level's own (levels may be nil), else the sla's.
// The planner, `liaison why` and the digest all read it here, so they
// agree on the clock.
func (s *SLA) TargetFor(it *Item, prio string, levels *Levels) (SLATarget, bool) {
	if tg, own := levels.Target(it, s.Name, prio); own {
		return tg, true
	}
	tg, ok := s.Targets[prio]
	return tg, ok
}

// pauses reads, from a record's observed status path, the stretches it
// spent in one of the sla's pausing statuses.
func (s *SLA) pauses(it *Item, km *KindMap) []Pause {
	in := s.PauseIn
	if in == nil {
		in = DefaultPauseIn
	}
	var out []Pause
	for _, st := range it.Path {
		canon := Status("")
		if km != nil {
			canon = km.Canonical(st.Native)
		}
		waiting := slices.Contains(in, canon)
		open := len(out) > 0 && out[len(out)-1].To.IsZero()
		switch {
		case waiting && !open:
			out = append(out, Pause{From: st.At})
		case !waiting && open:
			out[len(out)-1].To = st.At
		}
	}
	return out
}

// sla checks every record a response-time target covers: met, due later
// (the plan asks to be woken then), paused (no wake: the status change
// that resumes the clock is an event), or breached (the breach actions
// run, each once per record).
func (p *planner) sla(s *SLA) {
	for i := range p.c.Items {
		it := &p.c.Items[i]
		if !s.When.Matches(it.Ref) || !it.Known() || it.Deleted || it.CreatedAt.IsZero() {
			continue
		}
		tg, ok := s.TargetFor(it, p.views[it.Ref].Priority, p.m.Levels)
		if !ok || s.met(it) {
			continue
		}
		cal := s.CalendarFor(it)
		pauses := s.pauses(it, p.m.Kind(it.Ref.System, it.Ref.Kind))
		due, paused := tg.Due(cal, it.CreatedAt, pauses)
		if paused {
			continue
		}
		if p.now.Before(due) {
			if p.out.WakeAt.IsZero() || due.Before(p.out.WakeAt) {
				p.out.WakeAt = due
			}
			continue
		}
		env := p.env(it)
		env.SLA = SLAView{Name: s.Name, Measure: string(s.Measure), Target: tg.String(), Deadline: due.In(cal.Location),
			Waited: tg.waitedText(cal, it.CreatedAt, p.now, pauses)}
		if p.breached == nil {
			p.breached = map[Ref][]string{}
		}
		p.breached[it.Ref] = append(p.breached[it.Ref], s.Name)
		r := &Rule{Name: s.Name, Pos: s.Pos, When: s.When, Then: s.Breach}
		p.then(r, it, env, fmt.Sprintf("%s not met within %s (due %s)", s.Measure, tg, due.In(cal.Location).Format("Mon 2 Jan 15:04 MST")))
	}
}

// met reports whether a record met the sla's measure. A solved record
// needs no first response any more. A first response is a public comment
// by someone other than the requester, made by a person: the gateway's
// own comments (Marker set) count only when the sla says so.
func (s *SLA) met(it *Item) bool {
	done := it.Status == StatusSolved || it.Status == StatusClosed || it.Status == StatusDone
	if s.Measure == Resolution || done {
		return done
	}
	_, ok := s.firstResponse(it)
	return ok
}

// firstResponse is the first comment that is a first response, as met
// counts it.
func (s *SLA) firstResponse(it *Item) (time.Time, bool) {
	var first time.Time
	for _, c := range it.Comments {
		if c.Marker != "" && !s.GatewayReplies {
			continue
		}
		if c.Public && !c.Deleted && !strings.EqualFold(c.Author, it.Reporter) && !c.CreatedAt.Before(it.CreatedAt) &&
			(first.IsZero() || c.CreatedAt.Before(first)) {
			first = c.CreatedAt
		}
	}
	return first, !first.IsZero()
}

// ResponseTime is how long a record waited for its first response, on
// the clock of its target (working or wall time, the waits on the
// customer left out), as people write it: "3 h 20 min of working time".
// "" when the sla times no first response or none was given yet; the
// weekly digest prints it.
func (s *SLA) ResponseTime(m *Mappings, it *Item) string {
	if s.Measure != FirstResponse || it.CreatedAt.IsZero() {
		return ""
	}
	at, ok := s.firstResponse(it)
	if !ok {
		return ""
	}
	km := m.Kind(it.Ref.System, it.Ref.Kind)
	tg, _ := s.TargetFor(it, km.CanonicalPriority(it.Priority), m.Levels) // none: working time
	return tg.waitedText(s.CalendarFor(it), it.CreatedAt, at, s.pauses(it, km))
}

// CalendarsInForce describes, one line each, the calendars m's targets
// count in: `liaison check` prints them, so that no one runs on a time
// zone or holidays they did not choose.
func (m *Mappings) CalendarsInForce() []string {
	var lines []string
	seen := map[*Calendar]bool{}
	add := func(c *Calendar, whose string) {
		if c == nil || seen[c] {
			return
		}
		seen[c] = true
		lines = append(lines, fmt.Sprintf("%s: %s", whose, c))
	}
	for _, s := range m.SLAs {
		whose := "calendar in force"
		if s.Calendar != nil && s.Calendar.Name == "" {
			whose = "calendar of sla " + s.Name
		}
		add(s.Calendar, whose)
		for _, org := range slices.Sorted(maps.Keys(s.Calendars)) {
			add(s.Calendars[org], "calendar of "+org)
		}
	}
	return lines
}

// SLAStanding is where a record stands against an sla at a moment.
type SLAStanding struct {
	Priority string    // the record's canonical priority
	Target   SLATarget // its target (its level's, when the level has one); HasTarget false when none
	HasTarget,
	Timed, // the record's creation time is known
	Met,
	Paused bool // the customer is waited on: the clock stands still
	Due    time.Time // when not met and not paused, in the calendar's time zone
	Waited string    // the clock time waited so far, as people write it
}

// Standing says where a record stands against the sla at now: met, due,
// paused while the customer is waited on, or missed (now at or after Due).
func (s *SLA) Standing(m *Mappings, it *Item, now time.Time) SLAStanding {
	km := m.Kind(it.Ref.System, it.Ref.Kind)
	rec := *it
	if st := km.Canonical(rec.Native); st != "" {
		rec.Status = st
	}
	prio := km.CanonicalPriority(rec.Priority)
	out := SLAStanding{Priority: cmp.Or(prio, rec.Priority)}
	out.Target, out.HasTarget = s.TargetFor(&rec, prio, m.Levels)
	if !out.HasTarget || rec.CreatedAt.IsZero() {
		return out
	}
	out.Timed = true
	cal := s.CalendarFor(&rec)
	pauses := s.pauses(&rec, km)
	if out.Met = s.met(&rec); out.Met {
		// The response time, as ResponseTime gives it, from the target,
		// calendar and pauses already read here.
		if at, ok := s.firstResponse(&rec); ok && s.Measure == FirstResponse {
			out.Waited = out.Target.waitedText(cal, rec.CreatedAt, at, pauses)
		}
		return out
	}
	out.Waited = out.Target.waitedText(cal, rec.CreatedAt, now, pauses)
	if out.Due, out.Paused = out.Target.Due(cal, rec.CreatedAt, pauses); !out.Paused {
		out.Due = out.Due.In(cal.Location)
	}
	return out
}

// Describe says where a record stands against the sla at now, in one line
// for people (`liaison why`): met, due, paused while the customer is
// waited on, or missed, with the clock time waited as people write it.
func (s *SLA) Describe(m *Mappings, it *Item, now time.Time) string {
	st := s.Standing(m, it, now)
	if !st.HasTarget {
		return fmt.Sprintf("%s: no target for priority %q", s.Name, st.Priority)
	}
	head := fmt.Sprintf("%s (%s)", s.Name, st.Target)
	switch {
	case !st.Timed:
		return head + ": not timed, the record's creation time is unknown"
	case st.Met && st.Waited != "":
		return head + ": met after " + st.Waited
	case st.Met:
		return head + ": met"
	case st.Paused:
		return fmt.Sprintf("%s: paused while the customer is waited on; waited %s so far", head, st.Waited)
	case now.Before(st.Due):
		return fmt.Sprintf("%s: due %s; waited %s so far", head, st.Due.Format("Mon 2 Jan 15:04 MST"), st.Waited)
	}
	return fmt.Sprintf("%s: missed, was due %s; waited %s", head, st.Due.Format("Mon 2 Jan 15:04 MST"), st.Waited)
}

// Package digest builds and sends the weekly digest: per customer
// organisation, for an ISO week, the tickets raised that week, what was
// done (tickets solved or closed that week), and what is scheduled for next
// week (the tickets still open, each with its developer or change ticket
// and that ticket's status).
//
// The material comes from the store alone (core.Store): customer tickets
// and their "org" field (set by the help-desk connector from the
// organisation, or by rules), the status history from the inbox's
// snapshots and from the audit of the gateway's own transitions, and the
// linked records from the tickets' cases. Statuses are read as they stood
// at the end of the week, so a digest printed later for a past week reads
// the same.
//
// A digest is rendered from a text/template (DefaultTemplate, or an
// admin's file) and sent by mail on a schedule by a Scheduler, which keeps
// the last week sent per organisation in a store cursor ("digest:<org>"),
// so that a restart neither sends one twice nor skips one.
package digest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Report is one organisation's digest for one week: the data a template
// renders.
type Report struct {
	Org  string
	Week Week
	// From and To bound the week ([From, To), Monday 00:00 to the next
	// Monday 00:00) in Location; Last is its Sunday.
	From, To, Last time.Time
	Location       *time.Location
	// Raised are the organisation's customer tickets created in the week,
	// oldest first.
	Raised []Ticket
	// Done are those that became solved or closed in the week and were
	// still so at its end, in the order they were done.
	Done []Ticket
	// Scheduled are those open at the end of the week, most urgent first,
	// then oldest first, with their developer and change tickets.
	Scheduled []Ticket
	// Maintenance are the change tickets completed in the week, and
	// Planned those with a target date in the next week ([To, NextTo)),
	// with their downtime windows: the organisation's change tickets are
	// those linked to its customer tickets or naming it in their org field.
	Maintenance, Planned []Change
	NextTo               time.Time
	// Generated is when the report was built.
	Generated time.Time
}

// Ticket is a customer ticket as it stood at the end of the week (its
// status) and as it is now (title, URL, priority).
type Ticket struct {
	Ref      core.Ref
	ID       string
	Title    string
	URL      string
	Priority string // native
	Assignee string
	// Status is the canonical status at the end of the week; Native the
	// system's name for it.
	Status  core.Status
	Native  string
	Created time.Time
	// DoneAt is when the ticket became solved or closed (Done only).
	DoneAt time.Time
	// Answered is how long the customer waited for the first response,
	// as the first-response target counts it ("2 h 18 min of working
	// time"); empty when not answered, or when no target times it.
	Answered string
	// Linked are the developer and change tickets in the ticket's case,
	// with their status at the end of the week.
	Linked []Linked

	rank int // canonical priority's place in core.Priorities, for sorting
}

// StatusName is the native status name, or the canonical one when the
// native is not known.
func (t Ticket) StatusName() string { return cmp.Or(t.Native, string(t.Status)) }

// Linked is a developer or change ticket linked to a customer ticket.
type Linked struct {
	Ref      core.Ref
	Kind     core.Kind
	ID       string
	Title    string
	URL      string
	Assignee string
	Status   core.Status
	Native   string
}

// StatusName is the native status name, or the canonical one.
func (l Linked) StatusName() string { return cmp.Or(l.Native, string(l.Status)) }

// linkedOf is record x as it stood (st) at the end of the week.
func linkedOf(x *core.Item, st state) Linked {
	return Linked{Ref: x.Ref, Kind: x.Ref.Kind, ID: x.Ref.ID, Title: x.Title, URL: x.URL, Assignee: x.Assignee,
		Status: st.status, Native: st.native}
}

// KindName is "developer ticket" or "change ticket".
func (l Linked) KindName() string { return kindName(l.Kind) }

func kindName(k core.Kind) string {
	switch k {
	case core.DevTicket:
		return "developer ticket"
	case core.ChangeTicket:
		return "change ticket"
	case core.PullRequest:
		return "pull request"
	}
	return strings.ReplaceAll(string(k), "_", " ")
}

// Source is what a digest reads; core.Store satisfies it.
type Source interface {
	Records(ctx context.Context, sel core.Selector, since time.Time, n int) ([]core.Item, error)
	CaseOf(ctx context.Context, r core.Ref) (core.CaseID, error)
	LoadCase(ctx context.Context, id core.CaseID) (*core.Case, error)
	Events(ctx context.Context, r core.Ref, n int) ([]core.Event, error)
	Audit(ctx context.Context, r core.Ref, n int) ([]core.AuditEntry, error)
	Actions(ctx context.Context, id core.CaseID, state core.ActionState) ([]core.Action, error)
}

// Options say how to read the store.
type Options struct {
	// Mappings translate native statuses to canonical ones (the store keeps
	// native ones). Nil: a native status that is a canonical name counts.
	Mappings *core.Mappings
	// Location bounds the week (default UTC).
	Location *time.Location
	// Now stamps Generated (default the wall clock).
	Now time.Time
}

// OrgField is the customer ticket field that names the organisation.
const OrgField = "org"

// SameOrg reports whether a ticket's org field names org (case and
// surrounding space do not matter).
func SameOrg(field, org string) bool {
	return field != "" && strings.EqualFold(strings.TrimSpace(field), strings.TrimSpace(org))
}

// Build reads the store once and returns one report per organisation in
// orgs, in that order, for week w.
func Build(ctx context.Context, src Source, w Week, orgs []string, o Options) ([]*Report, error) {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	from, to := w.Start(o.Location), w.End(o.Location)
	// Every customer ticket: an open ticket untouched for months is still
	// scheduled work.
	tickets, err := src.Records(ctx, core.Selector{Kind: core.CustomerTicket}, time.Time{}, 0)
	if err != nil {
		return nil, fmt.Errorf("digest: reading customer tickets: %w", err)
	}
	changes, err := src.Records(ctx, core.Selector{Kind: core.ChangeTicket}, time.Time{}, 0)
	if err != nil {
		return nil, fmt.Errorf("digest: reading change tickets: %w", err)
	}
	b := &builder{src: src, o: o, from: from, to: to, cases: map[core.CaseID]*core.Case{}, acts: map[core.CaseID]map[string]core.Action{}}
	var out []*Report
	for _, org := range orgs {
		r := &Report{Org: org, Week: w, From: from, To: to, Last: to.AddDate(0, 0, -1), Location: o.Location, Generated: o.Now,
			Raised: []Ticket{}, Done: []Ticket{}, Scheduled: []Ticket{}, Maintenance: []Change{}, Planned: []Change{},
			NextTo: w.Next().End(o.Location)}
		var own []*core.Item
		for i := range tickets {
			it := &tickets[i]
			if it.Deleted || !SameOrg(it.Field(OrgField), org) || !it.CreatedAt.Before(to) {
				continue
			}
			own = append(own, it)
			if err := b.add(ctx, r, it); err != nil {
				return nil, err
			}
		}
		if err := b.changes(ctx, r, own, changes); err != nil {
			return nil, err
		}
		slices.SortStableFunc(r.Raised, func(a, b Ticket) int {
			return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Ref.String(), b.Ref.String()))
		})
		slices.SortStableFunc(r.Done, func(a, b Ticket) int {
			return cmp.Or(a.DoneAt.Compare(b.DoneAt), strings.Compare(a.Ref.String(), b.Ref.String()))
		})
		slices.SortStableFunc(r.Scheduled, func(a, b Ticket) int {
			return cmp.Or(b.rank-a.rank, a.Created.Compare(b.Created), strings.Compare(a.Ref.String(), b.Ref.String()))
		})
		out = append(out, r)
	}
	return out, nil
}

type builder struct {
	src      Source
	o        Options
	from, to time.Time
	cases    map[core.CaseID]*core.Case
	acts     map[core.CaseID]map[string]core.Action
}

// add sorts one of the organisation's tickets into the report's sections.
func (b *builder) add(ctx context.Context, r *Report, it *core.Item) error {
	h, err := b.history(ctx, it)
	if err != nil {
		return err
	}
	st := h.at(b.to)
	t := Ticket{Ref: it.Ref, ID: it.Ref.ID, Title: it.Title, URL: it.URL, Priority: it.Priority, Assignee: it.Assignee,
		Status: st.status, Native: st.native, Created: it.CreatedAt.In(b.o.Location)}
	t.rank = slices.Index(core.Priorities, b.priority(it))
	t.Answered = b.answered(it)
	if !it.CreatedAt.Before(b.from) {
		// Raised with the developer tickets behind it: what the customer's
		// report became.
		raised := t
		if raised.Linked, err = b.linked(ctx, it); err != nil {
			return err
		}
		r.Raised = append(r.Raised, raised)
	}
	if closes(it.Ref.Kind, st.status) {
		if done := h.closedAt(it.Ref.Kind, b.to); !done.IsZero() && !done.Before(b.from) {
			t.DoneAt = done.In(b.o.Location)
			if t.Linked, err = b.linked(ctx, it); err != nil {
				return err
			}
			r.Done = append(r.Done, t)
		}
		return nil
	}
	if t.Linked, err = b.linked(ctx, it); err != nil {
		return err
	}
	r.Scheduled = append(r.Scheduled, t)
	return nil
}

// answered is the ticket's first response time by the first sla that
// times first responses of its kind.
func (b *builder) answered(it *core.Item) string {
	if b.o.Mappings == nil {
		return ""
	}
	for _, s := range b.o.Mappings.SLAs {
		if s.Measure == core.FirstResponse && s.When.Matches(it.Ref) {
			return s.ResponseTime(b.o.Mappings, it)
		}
	}
	return ""
}

func (b *builder) priority(it *core.Item) string {
	if p := b.o.Mappings.Kind(it.Ref.System, it.Ref.Kind).CanonicalPriority(it.Priority); p != "" {
		return p
	}
	return strings.ToLower(it.Priority)
}

// linked returns the developer and change tickets in it's case, with their
// status at the end of the week.
func (b *builder) linked(ctx context.Context, it *core.Item) ([]Linked, error) {
	c, err := b.caseOf(ctx, it.Ref)
	if err != nil || c == nil {
		return nil, err
	}
	out := []Linked{}
	for i := range c.Items {
		x := &c.Items[i]
		if x.Deleted || (x.Ref.Kind != core.DevTicket && x.Ref.Kind != core.ChangeTicket) || !x.Known() {
			continue
		}
		h, err := b.history(ctx, x)
		if err != nil {
			return nil, err
		}
		if !h.createdBy(b.to) {
			continue // linked only after the week
		}
		st := h.at(b.to)
		out = append(out, linkedOf(x, st))
	}
	return out, nil
}

func (b *builder) caseOf(ctx context.Context, r core.Ref) (*core.Case, error) {
	id, err := b.src.CaseOf(ctx, r)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("digest: case of %q: %w", r, err)
	}
	if c, ok := b.cases[id]; ok {
		return c, nil
	}
	c, err := b.src.LoadCase(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	b.cases[id] = c
	return c, nil
}

// actions returns the done actions of a case by key, for the canonical
// status of the gateway's own transitions.
func (b *builder) actions(ctx context.Context, id core.CaseID) (map[string]core.Action, error) {
	if m, ok := b.acts[id]; ok {
		return m, nil
	}
	as, err := b.src.Actions(ctx, id, core.Done)
	if err != nil {
		return nil, fmt.Errorf("digest: actions of case %d: %w", id, err)
	}
	m := make(map[string]core.Action, len(as))
	for _, a := range as {
		m[a.Key] = a
	}
	b.acts[id] = m
	return m, nil
}

// state is a record's status from some moment on.
type state struct {
	at     time.Time
	status core.Status
	native string
}

// history is a record's known statuses in time order: every snapshot the
// inbox holds, every transition the gateway made, and the current snapshot.
type history struct {
	created time.Time
	states  []state
	current state
}

func (b *builder) history(ctx context.Context, it *core.Item) (*history, error) {
	h := &history{created: it.CreatedAt}
	canon := func(r core.Ref, x *core.Item) state {
		return state{at: x.UpdatedAt, status: b.canonical(r, x.Status, x.Native), native: x.Native}
	}
	h.current = canon(it.Ref, it)
	evs, err := b.src.Events(ctx, it.Ref, 0)
	if err != nil {
		return nil, fmt.Errorf("digest: history of %q: %w", it.Ref, err)
	}
	for i := range evs {
		x := &evs[i].Item
		if x.Native == "" && x.Status == "" {
			continue // a comment-only event says nothing of the status
		}
		s := canon(it.Ref, x)
		if s.at.IsZero() {
			s.at = evs[i].At
		}
		h.states = append(h.states, s)
	}
	audit, err := b.src.Audit(ctx, it.Ref, 0)
	if err != nil {
		return nil, fmt.Errorf("digest: audit of %q: %w", it.Ref, err)
	}
	for _, e := range audit {
		if e.Kind != core.Transition {
			continue
		}
		acts, err := b.actions(ctx, e.Case)
		if err != nil {
			return nil, err
		}
		s := state{at: e.At}
		if a, ok := acts[e.Key]; ok {
			s.status, s.native = a.Status, a.Native
		} else if n, ok := strings.CutPrefix(e.Detail, "status → "); ok {
			// The action left the outbox (its case was joined into another);
			// the audit's own words still say where it went.
			n, _, _ = strings.Cut(n, " (")
			s.native, s.status = n, b.canonical(it.Ref, "", n)
		} else {
			continue
		}
		h.states = append(h.states, s)
	}
	if !h.current.at.IsZero() {
		h.states = append(h.states, h.current)
	}
	slices.SortStableFunc(h.states, func(a, b state) int { return a.at.Compare(b.at) })
	return h, nil
}

// canonical maps a native status by the mappings; without a mapping, a
// native name that is itself canonical counts.
func (b *builder) canonical(r core.Ref, status core.Status, native string) core.Status {
	if status != "" {
		return status
	}
	if s := b.o.Mappings.Kind(r.System, r.Kind).Canonical(native); s != "" {
		return s
	}
	if s := core.Status(strings.ToLower(strings.ReplaceAll(native, " ", "_"))); s.Known() {
		return s
	}
	return ""
}

// at is the status as it stood just before t; a record whose history
// starts later than t is taken at its first known status.
func (h *history) at(t time.Time) state {
	var out state
	found := false
	for _, s := range h.states {
		if !s.at.Before(t) {
			break
		}
		out, found = s, true
	}
	if !found {
		if len(h.states) > 0 {
			return h.states[0]
		}
		return h.current
	}
	return out
}

// closedAt is when the record last became solved or closed before t (zero
// when it never did): the first state of the closing run that t ends.
func (h *history) closedAt(k core.Kind, t time.Time) time.Time {
	var since time.Time
	for _, s := range h.states {
		if !s.at.Before(t) {
			break
		}
		switch {
		case !closes(k, s.status):
			since = time.Time{}
		case since.IsZero():
			since = s.at
		}
	}
	return since
}

func (h *history) createdBy(t time.Time) bool {
	if !h.created.IsZero() {
		return h.created.Before(t)
	}
	return len(h.states) > 0 && h.states[0].at.Before(t)
}

// closes reports whether s ends work on a record of kind k: solved or
// closed for a customer ticket; done as well for the others.
func closes(k core.Kind, s core.Status) bool {
	switch s {
	case core.StatusSolved, core.StatusClosed:
		return true
	case core.StatusDone:
		return k != core.CustomerTicket
	}
	return false
}

package digest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Change is a DevOps change ticket as the weekly status mail shows it:
// maintenance done in the week, or work planned for the next one.
type Change struct {
	Linked
	// DoneAt is when it was completed (Maintenance only).
	DoneAt time.Time
	// TargetDate is the day it is planned for (zero when it has none).
	TargetDate time.Time
	// Window is the scheduled downtime as the ticket states it (its
	// downtime field), empty when the change needs none.
	Window string
	// For are the customer tickets it serves, by ID.
	For []string
}

// Downtime reports whether the change announces a downtime window.
func (c Change) Downtime() bool { return c.Window != "" }

// The change ticket fields the status mail reads, by their canonical
// names: a kind's fields map gives the native name (target_date: Target
// date); an unmapped name is read as it is.
const (
	TargetDateField = "target_date"
	DowntimeField   = "downtime"
)

// changes fills r's Maintenance and Planned from the change tickets of
// the organisation: those linked to its customer tickets, and those whose
// own org field names it.
func (b *builder) changes(ctx context.Context, r *Report, tickets []*core.Item, own []core.Item) error {
	found := map[core.Ref]*Change{}
	var order []core.Ref
	note := func(x *core.Item, served string) error {
		ch, ok := found[x.Ref]
		if !ok {
			c, err := b.change(ctx, r, x)
			if err != nil || c == nil {
				return err
			}
			ch = c
			found[x.Ref] = ch
			order = append(order, x.Ref)
		}
		if served != "" && !slices.Contains(ch.For, served) {
			ch.For = append(ch.For, served)
		}
		return nil
	}
	for _, it := range tickets {
		c, err := b.caseOf(ctx, it.Ref)
		if err != nil {
			return err
		}
		if c == nil {
			continue
		}
		for i := range c.Items {
			if x := &c.Items[i]; x.Ref.Kind == core.ChangeTicket && x.Known() && !x.Deleted {
				if err := note(x, it.Ref.ID); err != nil {
					return err
				}
			}
		}
	}
	for i := range own {
		if x := &own[i]; SameOrg(x.Field(OrgField), r.Org) && !x.Deleted {
			if err := note(x, ""); err != nil {
				return err
			}
		}
	}
	for _, ref := range order {
		ch := found[ref]
		slices.Sort(ch.For)
		switch {
		case !ch.DoneAt.IsZero():
			r.Maintenance = append(r.Maintenance, *ch)
		case !ch.TargetDate.IsZero() && !ch.TargetDate.Before(r.To) && ch.TargetDate.Before(r.NextTo):
			r.Planned = append(r.Planned, *ch)
		}
	}
	slices.SortStableFunc(r.Maintenance, func(a, b Change) int {
		return cmp.Or(a.DoneAt.Compare(b.DoneAt), strings.Compare(a.ID, b.ID))
	})
	slices.SortStableFunc(r.Planned, func(a, b Change) int {
		return cmp.Or(a.TargetDate.Compare(b.TargetDate), strings.Compare(a.ID, b.ID))
	})
	return nil
}

// change reads one change ticket as it stood at the end of the week: done
// in the week (DoneAt set), or open with its target date; nil when it did
// not exist yet or was done before.
func (b *builder) change(ctx context.Context, r *Report, x *core.Item) (*Change, error) {
	h, err := b.history(ctx, x)
	if err != nil {
		return nil, err
	}
	if !h.createdBy(b.to) {
		return nil, nil
	}
	st := h.at(b.to)
	ch := &Change{Linked: linkedOf(x, st)}
	if closes(x.Ref.Kind, st.status) {
		done := h.closedAt(x.Ref.Kind, b.to)
		if done.IsZero() || done.Before(b.from) {
			return nil, nil // done before the week: last week's news
		}
		ch.DoneAt = done.In(b.o.Location)
		return ch, nil
	}
	km := b.o.Mappings.Kind(x.Ref.System, x.Ref.Kind)
	ch.Window = strings.TrimSpace(x.Fields[nativeField(km, DowntimeField)])
	// A target date that does not read as a date plans nothing: the
	// change is still in the customer ticket's section with its status.
	ch.TargetDate, _ = parseDate(strings.TrimSpace(x.Fields[nativeField(km, TargetDateField)]), b.o.Location)
	return ch, nil
}

// nativeField is the native name of a canonical field of km (the name
// itself when km does not map it).
func nativeField(km *core.KindMap, name string) string {
	if km != nil {
		if n, ok := km.Fields[name]; ok {
			return n
		}
	}
	return name
}

// parseDate reads a date field as trackers write it: 2026-11-26 (Jira's
// date fields), or a full RFC 3339 time.
func parseDate(v string, loc *time.Location) (time.Time, error) {
	if d, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date: want YYYY-MM-DD", v)
	}
	return t.In(loc), nil
}

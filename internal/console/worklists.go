package console

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// atRiskWithin is how close a response-time deadline may come before the
// record is listed as at risk.
const atRiskWithin = 2 * time.Hour

// targetsScan bounds the records read per response-time target: the
// newest updated, by the kind index. The store keeps no deadlines (the
// engine computes them per case), so an older record that no event has
// touched is not listed.
const targetsScan = 2000

// targetRow is one record whose response-time target is at risk or
// missed.
type targetRow struct {
	Item     core.Item
	SLA      string
	Target   string
	Due      time.Time
	Waited   string
	Breached bool
}

type targetsPage struct {
	Rows    []targetRow
	Within  time.Duration
	Scanned int
}

// targetsPage lists the records whose response-time target is missed or
// falls due within atRiskWithin, missed first, the most overdue first.
func (c *Console) targetsPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := targetsPage{Within: atRiskWithin, Scanned: targetsScan}
	var m *core.Mappings
	if c.o.Mappings != nil {
		m = c.o.Mappings()
	}
	now := c.o.Clock.Now()
	// Targets mostly time the same records (first response and
	// resolution of customer tickets): each selector's are read once.
	read := map[core.Selector][]core.Item{}
	for _, sla := range slasOf(m) {
		items, ok := read[sla.When]
		if !ok {
			var err error
			if items, err = c.o.Records.Records(r.Context(), sla.When, time.Time{}, targetsScan); err != nil {
				c.internal(w, r, s, err)
				return
			}
			read[sla.When] = items
		}
		for i := range items {
			it := &items[i]
			if it.Deleted {
				continue
			}
			st := sla.Standing(m, it, now)
			if !st.Timed || st.Met || st.Paused || st.Due.Sub(now) > atRiskWithin {
				continue
			}
			p.Rows = append(p.Rows, targetRow{Item: *it, SLA: sla.Name, Target: st.Target.String(), Due: st.Due,
				Waited: st.Waited, Breached: !now.Before(st.Due)})
		}
	}
	slices.SortStableFunc(p.Rows, func(a, b targetRow) int { return a.Due.Compare(b.Due) })
	c.render(w, r, http.StatusOK, "targets", s, p)
}

func slasOf(m *core.Mappings) []*core.SLA {
	if m == nil {
		return nil
	}
	return m.SLAs
}

// unreadRow is a mail thread of which a mail was not read in full.
type unreadRow struct {
	Item core.Item
	// Why is what the notice says stopped the reading, and Files the
	// attachments left out for their size.
	Why, Files string
}

// unreadLen bounds the unread mail listed.
const unreadLen = 200

func (c *Console) unreadPage(w http.ResponseWriter, r *http.Request, s *session) {
	items, err := c.o.Records.UnreadMail(r.Context(), unreadLen)
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	rows := make([]unreadRow, 0, len(items))
	for _, it := range items {
		row := unreadRow{Item: it, Files: it.Fields["attachments_over_limit"]}
		for _, cm := range it.Comments {
			if _, rest, ok := strings.Cut(cm.Body, store.UnreadNotice); ok {
				why, _, _ := strings.Cut(rest, ").")
				row.Why = cmp.Or(row.Why, why)
			}
		}
		rows = append(rows, row)
	}
	c.render(w, r, http.StatusOK, "unread", s, rows)
}

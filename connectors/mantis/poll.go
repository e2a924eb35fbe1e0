package mantis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/pollseen"
)

// cursorVersion is the version of the stored cursor's form.
const cursorVersion = 1

// cursor is the poller's stored position: the newest update time of a
// finished scan, the issues seen near it (so that an issue re-read in the
// overlap and not changed since is not reported again), and the scan in
// progress. Mantis lists issues newest first, so a scan's pages go back in
// time: Since moves only when a scan has reached its floor, never in the
// middle, or a crash between pages would skip the older pages.
type cursor struct {
	V     int           `json:"v"`
	Since time.Time     `json:"since"`
	Seen  pollseen.Seen `json:"seen,omitempty"` // issue id → updated_at
	Scan  *scan         `json:"scan,omitempty"`
}

// scan is a walk down the issue list, newest first.
type scan struct {
	Floor time.Time `json:"floor"` // stop once issues are older than this
	Top   time.Time `json:"top"`   // newest update seen so far; Since when the scan ends
	Page  int       `json:"page"`  // next page to read (1-based)
}

func (c *Connector) parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{V: cursorVersion, Since: c.clock.Now().UTC()}, nil
	}
	var cur cursor
	if err := json.Unmarshal([]byte(s), &cur); err != nil {
		return cursor{}, fmt.Errorf("mantis %q: stored cursor: %v", c.name, safeJSONError(err))
	}
	if cur.V != cursorVersion {
		return cursor{}, fmt.Errorf("mantis %q: stored cursor has version %d; this build reads version %d", c.name, cur.V, cursorVersion)
	}
	if cur.Scan != nil && cur.Scan.Page < 1 {
		return cursor{}, fmt.Errorf("mantis %q: stored cursor: page %d", c.name, cur.Scan.Page)
	}
	return cur, nil
}

func encodeCursor(cur cursor) string {
	b, _ := json.Marshal(cur)
	return string(b)
}

func (c *Connector) overlap() time.Duration { return c.cfg.PollOverlap }

// CursorAt returns a cursor from which Poll reads every change since t
// (`liaison backfill --since`).
func (c *Connector) CursorAt(t time.Time) string {
	return encodeCursor(cursor{V: cursorVersion, Since: t.UTC().Add(c.overlap())})
}

// Poll reads one page of the issue list (GET /api/rest/issues, every
// project the API user sees, newest update first) and turns the issues of
// the configured projects updated since the cursor, less poll_overlap,
// into events. It stops at the first issue older than that floor: the
// rest of the list is older still. An issue re-read with the update time
// the cursor remembers is skipped; every other one becomes an event whose
// DeliveryID is "<ref>@<updated>", so the inbox drops a state it already
// has. more is true when the next page may still hold newer issues than
// the floor; the returned cursor continues the scan there.
func (c *Connector) Poll(ctx context.Context, s string) ([]core.Event, string, bool, error) {
	cur, err := c.parseCursor(s)
	if err != nil {
		return nil, s, false, err
	}
	sc := scan{Floor: cur.Since.Add(-c.overlap()), Top: cur.Since, Page: 1}
	if cur.Scan != nil {
		sc = *cur.Scan
	}
	page, err := c.listPage(ctx, "", sc.Page, c.cfg.PageSize)
	if err != nil {
		return nil, s, false, wrap(c.name, "polling", err)
	}
	next := cursor{V: cursorVersion, Since: cur.Since, Seen: cur.Seen.Clone()}
	var events []core.Event
	past, now := false, c.clock.Now().UTC()
	for i := range page.Issues {
		iss := &page.Issues[i]
		updated, err := parseTime(iss.UpdatedAt)
		if err != nil {
			c.log.Warn("mantis poll: skipping an issue without a readable update time", "instance", c.name, "issue", iss.ID)
			continue
		}
		if updated.Before(sc.Floor) {
			past = true
			break
		}
		// The cursor never moves past our own clock: an issue stamped
		// ahead of it (a Mantis server whose clock runs fast) would
		// otherwise lift the floor over changes not yet made.
		top := updated
		if top.After(now) {
			top = now
		}
		if top.After(sc.Top) {
			sc.Top = top
		}
		ref, ok := c.refOfIssue(iss)
		if !ok {
			continue
		}
		ev, err := c.pollEvent(iss, ref, sc.Floor)
		if err != nil {
			// One issue we cannot read must not stop the others.
			c.log.Warn("mantis poll: skipping an issue that could not be read", "instance", c.name, "issue", iss.ID, "error", err.Error())
			continue
		}
		stamp, fresh := next.Seen.Mark(ref.ID, ev.Item.UpdatedAt)
		if !fresh {
			continue
		}
		ev.DeliveryID = ref.String() + "@" + stamp
		events = append(events, ev)
	}
	more := !past && len(page.Issues) >= c.cfg.PageSize
	if more {
		sc.Page++
		next.Scan = &sc
	} else {
		next.Since = sc.Top
	}
	next.Seen.Prune(next.Since.Add(-c.overlap()))
	c.metrics.polled.Add(float64(len(events)))
	return events, encodeCursor(next), more, nil
}

// pollEvent makes the event of one issue read by a poll that covered the
// changes since from: status changed (from its history), commented, or
// created in that window, else updated.
func (c *Connector) pollEvent(iss *wireIssue, ref core.Ref, from time.Time) (core.Event, error) {
	n, err := c.normalize(iss, ref)
	if err != nil {
		return core.Event{}, err
	}
	ev := core.Event{Source: c.name, Via: core.ViaPoll, Item: n.item, Links: n.links, At: n.item.UpdatedAt}
	for _, h := range iss.History {
		at, err := parseTime(h.CreatedAt)
		if err != nil || at.Before(from) || h.Field == nil || h.Field.Name != "status" {
			continue
		}
		ev.Changes = append(ev.Changes, core.Change{Field: "status", From: enumName(h.OldValue), To: enumName(h.NewValue)})
	}
	pollseen.Classify(&ev, from, n.created, len(ev.Changes) > 0)
	return ev, nil
}

// listPage reads one page of GET /issues. filter is "" (any issue) or a
// standard filter name such as "reported".
func (c *Connector) listPage(ctx context.Context, filter string, page, size int) (*wireIssues, error) {
	q := url.Values{"page": {strconv.Itoa(page)}, "page_size": {strconv.Itoa(size)}}
	if filter != "" {
		q.Set("filter_id", filter)
	}
	var res *wireIssues
	err := c.do(ctx, http.MethodGet, "issues", q, nil, func(b []byte) (err error) {
		res, err = decodeIssues(b)
		return err
	})
	return res, err
}

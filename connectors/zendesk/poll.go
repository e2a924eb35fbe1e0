package zendesk

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Cursor forms. The stored cursor carries a version so that a later
// format can still read it.
const (
	cursorStart = "v1:start:"  // Unix seconds for start_time
	cursorAfter = "v1:cursor:" // Zendesk's after_cursor
)

// CursorAt implements core.PollSince: a cursor that starts the export at t.
func (c *Connector) CursorAt(t time.Time) string {
	return cursorStart + strconv.FormatInt(t.Unix(), 10)
}

// Poll implements core.Poller over the cursor-based incremental ticket
// export (GET /incremental/tickets/cursor.json). With no cursor it starts
// poll_lookback ago. Each page costs one export request, paced to
// export_requests_per_minute, plus one comments request per ticket whose
// comment count changed since this process last read it. A failure
// returns no events and no cursor, so the engine re-reads the same page.
// more is true while Zendesk says the stream has not ended.
func (c *Connector) Poll(ctx context.Context, cursor string) ([]core.Event, string, bool, error) {
	q, err := c.exportQuery(cursor)
	if err != nil {
		return nil, "", false, err
	}
	if err := c.pace.wait(ctx, c.metrics.exportWait); err != nil {
		return nil, "", false, err
	}
	var page exportPage
	err = c.get(ctx, "/incremental/tickets/cursor.json?"+q, &page)
	c.pace.done(err)
	if err != nil {
		return nil, "", false, fmt.Errorf("zendesk %q: incremental export: %w", c.name, err)
	}
	tickets := make([]*apiTicket, len(page.Tickets))
	for i := range page.Tickets {
		tickets[i] = &page.Tickets[i]
	}
	k, err := c.catalogFor(ctx, tickets...)
	if err != nil {
		return nil, "", false, fmt.Errorf("zendesk %q: %w", c.name, err)
	}
	sl := c.sideload(page.Users, page.Organizations)
	events := make([]core.Event, 0, len(tickets))
	for _, t := range tickets {
		it := c.item(t, k, sl)
		if !it.Deleted {
			count := -1
			if t.CommentCount != nil {
				count = *t.CommentCount
			}
			cs, err := c.ticketComments(ctx, t.ID, count)
			switch {
			case statusOf(err) == 404:
				// Deleted since the export was written: its deletion comes
				// later in the stream; failing here would stick on this page.
			case err != nil:
				return nil, "", false, fmt.Errorf("zendesk %q: comments of ticket %d: %w", c.name, t.ID, err)
			}
			it.Comments = cs
		}
		typ := guessType(t.CreatedAt, t.UpdatedAt, it.Deleted, it.Comments)
		events = append(events, c.event(it, typ, core.ViaPoll, deliveryID(it.Ref, it.UpdatedAt), it.UpdatedAt))
	}
	next := cursor
	if page.AfterCursor != "" {
		next = cursorAfter + page.AfterCursor
	}
	more := !page.EndOfStream && len(page.Tickets) > 0 && next != cursor
	return events, next, more, nil
}

// exportQuery turns a stored cursor into the export's query string.
func (c *Connector) exportQuery(cursor string) (string, error) {
	v := url.Values{}
	switch {
	case cursor == "":
		start := c.clock.Now().Add(-c.lookback)
		v.Set("start_time", strconv.FormatInt(c.clampStart(start), 10))
	case strings.HasPrefix(cursor, cursorStart):
		n, err := strconv.ParseInt(strings.TrimPrefix(cursor, cursorStart), 10, 64)
		if err != nil || n < 0 {
			return "", core.Malformed("zendesk %q: cursor %q: bad start time", c.name, cursor)
		}
		v.Set("start_time", strconv.FormatInt(c.clampStart(time.Unix(n, 0)), 10))
	case strings.HasPrefix(cursor, cursorAfter):
		v.Set("cursor", strings.TrimPrefix(cursor, cursorAfter))
	default:
		return "", core.Malformed("zendesk %q: cursor %q is not one this connector wrote", c.name, cursor)
	}
	v.Set("include", "users,organizations,comment_count")
	v.Set("per_page", strconv.Itoa(c.pageSize))
	// Sorted keys, unescaped commas: a stable, readable request line.
	return strings.ReplaceAll(v.Encode(), "%2C", ","), nil
}

// clampStart keeps start_time at least a minute in the past, as the
// export requires.
func (c *Connector) clampStart(t time.Time) int64 {
	if latest := c.clock.Now().Add(-time.Minute); t.After(latest) {
		t = latest
	}
	return t.Unix()
}

// pacer spaces export requests to the endpoint's own limit and sits out a
// Retry-After the export answered with. It measures real time (the limit
// is Zendesk's clock, not the engine's) and sleeps through sleep, which
// tests replace.
type pacer struct {
	mu        sync.Mutex
	interval  time.Duration
	last      time.Time
	notBefore time.Time
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
}

func newPacer(interval time.Duration) *pacer {
	return &pacer{interval: interval, now: time.Now, sleep: sleepCtx}
}

// wait blocks until the next export request may go, or ctx ends. It holds
// the lock while waiting so that concurrent polls queue up in order.
func (p *pacer) wait(ctx context.Context, waited interface{ Add(float64) }) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := p.notBefore
	if !p.last.IsZero() {
		at = later(at, p.last.Add(p.interval))
	}
	if d := at.Sub(p.now()); d > 0 {
		if waited != nil {
			waited.Add(d.Seconds())
		}
		if err := p.sleep(ctx, d); err != nil {
			return err
		}
	}
	p.last = p.now()
	return nil
}

// done records the outcome: a rate-limited answer pushes the next request
// back by the wait Zendesk asked for.
func (p *pacer) done(err error) {
	if _, wait := core.Classify(err); err != nil && wait > 0 {
		p.mu.Lock()
		p.notBefore = later(p.notBefore, p.now().Add(wait))
		p.mu.Unlock()
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

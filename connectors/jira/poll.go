package jira

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/pollseen"
)

// cursorVersion is the version of the stored cursor's form.
const cursorVersion = 1

// cursor is the poller's stored position: the newest update time seen, the
// records seen near it (so that a record re-read in the overlap and not
// changed since is not reported again), and the page of a scan in progress.
type cursor struct {
	V     int           `json:"v"`
	Since time.Time     `json:"since"`
	Seen  pollseen.Seen `json:"seen,omitempty"` // issue key → updated
	Scan  *scan         `json:"scan,omitempty"`
}

// scan is a search being paged through: its lower bound stays fixed while
// the pages are read.
type scan struct {
	From time.Time `json:"from"`
	Page string    `json:"page"` // nextPageToken on Cloud, startAt on Data Center
}

func (c *Connector) parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{V: cursorVersion, Since: c.clock.Now().Add(-c.overlap())}, nil
	}
	var cur cursor
	if err := json.Unmarshal([]byte(s), &cur); err != nil {
		return cursor{}, fmt.Errorf("jira %q: stored cursor: %v", c.name, safeJSONError(err))
	}
	if cur.V != cursorVersion {
		return cursor{}, fmt.Errorf("jira %q: stored cursor has version %d; this build reads version %d", c.name, cur.V, cursorVersion)
	}
	return cur, nil
}

func encodeCursor(cur cursor) string {
	b, _ := json.Marshal(cur)
	return string(b)
}

func (c *Connector) overlap() time.Duration { return time.Duration(c.cfg.PollOverlap) }

// CursorAt returns a cursor from which Poll reads every change since t
// (`liaison backfill --since`).
func (c *Connector) CursorAt(t time.Time) string {
	return encodeCursor(cursor{V: cursorVersion, Since: t.UTC()})
}

// jqlTime writes a time as JQL compares it: to the minute, in the time zone
// of the user the API acts as.
const jqlTime = "2006/01/02 15:04"

// Poll reads one page of issues of the configured projects updated since the
// cursor, less poll_overlap (JQL dates have minute precision, and Cloud's
// search is eventually consistent), oldest first. An issue re-read with the
// update time the cursor remembers is skipped; every other one becomes an
// event whose DeliveryID is "<ref>@<updated>", so that the inbox drops it
// if a webhook or an earlier poll brought the same state. more is true when
// another page is waiting; the returned cursor continues that scan. Cloud
// uses the enhanced search (GET /rest/api/2/search/jql, by nextPageToken:
// the request go-jira's SearchV2JQL sends), Data Center /rest/api/2/search
// (by startAt).
func (c *Connector) Poll(ctx context.Context, s string) ([]core.Event, string, bool, error) {
	cur, err := c.parseCursor(s)
	if err != nil {
		return nil, s, false, err
	}
	loc, err := c.timezone(ctx)
	if err != nil {
		return nil, s, false, err
	}
	from, page := cur.Since.Add(-c.overlap()), ""
	if cur.Scan != nil {
		from, page = cur.Scan.From, cur.Scan.Page
	}
	jql := fmt.Sprintf(`project in (%s) AND updated >= "%s" ORDER BY updated ASC`,
		strings.Join(c.allProjects(), ", "), from.In(loc).Format(jqlTime))
	res, err := c.search(ctx, jql, page, c.cfg.PageSize, "*all", "changelog")
	if err != nil && page != "" && isStatus(err, http.StatusBadRequest) {
		// A page token from before a restart may have expired: read the
		// scan again from its start; the seen keys drop what was read.
		c.log.Info("jira poll: page token refused, restarting the scan", "instance", c.name)
		page = ""
		res, err = c.search(ctx, jql, page, c.cfg.PageSize, "*all", "changelog")
	}
	if err != nil {
		return nil, s, false, wrap(c.name, "polling", err)
	}
	next := cursor{V: cursorVersion, Since: cur.Since, Seen: cur.Seen.Clone()}
	var events []core.Event
	for _, iss := range res.Issues {
		if iss == nil {
			continue
		}
		ref, ok := c.refOf(iss.Key)
		if !ok {
			continue
		}
		c.keys.remember(iss.ID, iss.Key)
		ev, err := c.pollEvent(iss, ref, from)
		if err != nil {
			// One issue Jira describes in a way we cannot read must not
			// stop the others; it is reported and skipped.
			c.log.Warn("jira poll: skipping an issue that could not be read", "instance", c.name, "issue", iss.Key, "error", err.Error())
			continue
		}
		if ev.Item.UpdatedAt.After(next.Since) {
			next.Since = ev.Item.UpdatedAt.UTC()
		}
		stamp, fresh := next.Seen.Mark(iss.Key, ev.Item.UpdatedAt)
		if !fresh {
			continue
		}
		ev.DeliveryID = ref.String() + "@" + stamp
		events = append(events, ev)
	}
	more := false
	if c.cloud {
		more = res.NextPageToken != "" && (res.IsLast == nil || !*res.IsLast) && len(res.Issues) > 0
		if more {
			next.Scan = &scan{From: from, Page: res.NextPageToken}
		}
	} else {
		at := res.StartAt + len(res.Issues)
		more = len(res.Issues) > 0 && at < res.Total
		if more {
			next.Scan = &scan{From: from, Page: strconv.Itoa(at)}
		}
	}
	next.Seen.Prune(next.Since.Add(-c.overlap()))
	c.metrics.polled.Add(float64(len(events)))
	return events, encodeCursor(next), more, nil
}

// pollEvent makes the event of one issue read by a poll that covered the
// changes since from: created, status changed (from the changelog) or
// commented in that window, else updated.
func (c *Connector) pollEvent(iss *wireIssue, ref core.Ref, from time.Time) (core.Event, error) {
	n, err := c.normalize(iss, ref)
	if err != nil {
		return core.Event{}, err
	}
	ev := core.Event{Source: c.name, Via: core.ViaPoll, Item: n.item, Links: n.links, At: n.item.UpdatedAt}
	statusChanged := false
	if iss.Changelog != nil {
		for _, h := range iss.Changelog.Histories {
			at, err := parseTime(h.Created)
			if err != nil || at.Before(from) {
				continue
			}
			for _, ci := range h.Items {
				ch := changeOf(ci)
				ev.Changes = append(ev.Changes, ch)
				if ch.Field == "status" {
					c.flows.learn(n.project, n.issueType, ci.FromString, ci.ToString)
					statusChanged = true
				}
			}
		}
	}
	pollseen.Classify(&ev, from, n.created, statusChanged)
	return ev, nil
}

// search runs one page of a JQL search.
func (c *Connector) search(ctx context.Context, jql, page string, max int, fields, expand string) (*wireSearch, error) {
	q := url.Values{"jql": {jql}, "maxResults": {strconv.Itoa(max)}}
	if fields != "" {
		q.Set("fields", fields)
	}
	if expand != "" {
		q.Set("expand", expand)
	}
	path := "rest/api/2/search"
	if c.cloud {
		// Cloud removed /search (410 Gone): the enhanced search pages by token.
		path = "rest/api/2/search/jql"
		if page != "" {
			q.Set("nextPageToken", page)
		}
	} else if page != "" {
		q.Set("startAt", page)
	}
	var res wireSearch
	if err := c.do(ctx, http.MethodGet, path, q, nil, &res, ""); err != nil {
		return nil, err
	}
	return &res, nil
}

// timezone returns the time zone JQL dates are read in: the API user's, from
// the config or asked once from /rest/api/2/myself.
func (c *Connector) timezone(ctx context.Context) (*time.Location, error) {
	if loc := c.tz.Load(); loc != nil {
		return loc, nil
	}
	var me wireUser
	if err := c.do(ctx, http.MethodGet, "rest/api/2/myself", nil, nil, &me, ""); err != nil {
		return nil, wrap(c.name, "reading the API user's time zone", err)
	}
	loc, err := time.LoadLocation(me.TimeZone)
	if err != nil || me.TimeZone == "" {
		c.log.Warn("jira: the API user has no usable time zone; reading JQL dates as UTC (set timezone in the config)", "instance", c.name)
		loc = time.UTC
	}
	c.tz.Store(loc)
	return loc, nil
}

package jira

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
)

// pollAll polls until no page is left, as the engine does, storing the
// cursor after each page.
func pollAll(t *testing.T, c *Connector, cursor string) ([]core.Event, string, int) {
	t.Helper()
	var all []core.Event
	pages := 0
	for {
		evs, next, more, err := c.Poll(context.Background(), cursor)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		pages++
		all = append(all, evs...)
		cursor = next
		if !more {
			return all, cursor, pages
		}
		if pages > 50 {
			t.Fatal("poll does not end")
		}
	}
}

func keysOf(evs []core.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Item.Ref.ID)
	}
	return out
}

func TestPoll_PagesDeduplicatesAndCatchesChanges(t *testing.T) {
	for _, dc := range []bool{false, true} {
		t.Run(map[bool]string{false: "cloud", true: "datacenter"}[dc], func(t *testing.T) {
			e := newEnv(t, envOpts{datacenter: dc, cfg: func(c *Config) { c.PageSize = 2 }})
			start := e.conn.CursorAt(e.clock.Now().Add(-time.Minute))
			for i := range 5 {
				e.clock.Add(10 * time.Second)
				e.mustCreate(fake.IssueSpec{Project: []string{"KBOT", "DO"}[i%2], Type: "Task", Summary: "issue"})
			}
			evs, cur, pages := pollAll(t, e.conn, start)
			if got := keysOf(evs); !slices.Equal(got, []string{"KBOT-1", "DO-1", "KBOT-2", "DO-2", "KBOT-3"}) || pages != 3 {
				t.Fatalf("first poll: %v in %d pages; want 5 issues oldest first in 3 pages", got, pages)
			}
			for _, ev := range evs {
				stamp := ev.Item.UpdatedAt.UTC().Format(time.RFC3339Nano)
				if ev.Via != core.ViaPoll || ev.Type != core.Created || ev.DeliveryID != ev.Item.Ref.String()+"@"+stamp {
					t.Fatalf("event %s: via %s type %s delivery %q", ev.Item.Ref, ev.Via, ev.Type, ev.DeliveryID)
				}
			}
			if DO := evs[1].Item.Ref; DO.Kind != core.ChangeTicket {
				t.Fatalf("DO-1 is a %s; want change_ticket", DO.Kind)
			}
			// Nothing changed: the overlap re-reads, the cursor's seen keys drop.
			e.clock.Add(30 * time.Second)
			evs, cur, _ = pollAll(t, e.conn, cur)
			if len(evs) != 0 {
				t.Fatalf("re-poll without changes: %v", keysOf(evs))
			}
			// A transition and a comment: the two issues come back, with what happened.
			e.clock.Add(time.Minute)
			if err := e.fake.Transition("KBOT-1", "In Progress"); err != nil {
				t.Fatal(err)
			}
			e.clock.Add(time.Second)
			if _, err := e.fake.Comment("DO-2", "approved", true); err != nil {
				t.Fatal(err)
			}
			e.fake.ResetCalls()
			evs, _, _ = pollAll(t, e.conn, cur)
			if got := keysOf(evs); !slices.Equal(got, []string{"KBOT-1", "DO-2"}) {
				t.Fatalf("after changes: %v; want [KBOT-1 DO-2]", got)
			}
			if ev := evs[0]; ev.Type != core.StatusChange || ev.Item.Native != "In Progress" || !slices.Contains(ev.Changes, core.Change{Field: "status", From: "To Do", To: "In Progress"}) {
				t.Fatalf("KBOT-1: type %s native %q changes %v", ev.Type, ev.Item.Native, ev.Changes)
			}
			if ev := evs[1]; ev.Type != core.Commented || len(ev.Item.Comments) != 1 || ev.Item.Comments[0].Public {
				t.Fatalf("DO-2: type %s comments %+v", ev.Type, ev.Item.Comments)
			}
			for _, c := range e.fake.Calls() {
				if dc && c.Path != "/rest/api/2/search" || !dc && c.Path != "/rest/api/2/search/jql" {
					t.Fatalf("call %s: the %s poller must use %s", c, map[bool]string{true: "datacenter", false: "cloud"}[dc],
						map[bool]string{true: "/rest/api/2/search", false: "/rest/api/2/search/jql"}[dc])
				}
			}
		})
	}
}

func TestPoll_JQLAndCursor(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.Timezone = ""; c.PollOverlap = Duration(3 * time.Minute) }, fakeOpts: []fake.Option{fake.WithTimezone("America/Los_Angeles")}})
	since := time.Date(2026, 3, 2, 9, 30, 45, 0, time.UTC)
	_, next, more, err := e.conn.Poll(context.Background(), e.conn.CursorAt(since))
	if err != nil || more {
		t.Fatal(err, more)
	}
	// JQL compares to the minute, in the API user's time zone: 09:27:45 UTC
	// is 01:27 in Los Angeles.
	want := []string{
		"GET /rest/api/2/myself",
		`GET /rest/api/2/search/jql?expand=changelog&fields=*all&jql=project in (KBOT, DO) AND updated >= "2026/03/02 01:27" ORDER BY updated ASC&maxResults=50`,
	}
	if got := e.calls(); !slices.Equal(got, want) {
		t.Fatalf("calls:\n %q\nwant\n %q", got, want)
	}
	var cur cursor
	if err := json.Unmarshal([]byte(next), &cur); err != nil || cur.V != 1 || !cur.Since.Equal(since) {
		t.Fatalf("next cursor %s (%v)", next, err)
	}
	// The time zone is asked once.
	if _, _, _, err := e.conn.Poll(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if calls := e.calls(); len(calls) != 1 || !strings.Contains(calls[0], "/search/jql") {
		t.Fatalf("calls %q", calls)
	}
	for _, bad := range []string{`{"v":2,"since":"2026-01-01T00:00:00Z"}`, `not json`} {
		if _, got, _, err := e.conn.Poll(context.Background(), bad); err == nil || got != bad {
			t.Errorf("cursor %q: err %v, next %q; want an error and the cursor unchanged", bad, err, got)
		}
	}
}

// TestPoll_EmptyCursorStartsNow: a new source reads what changes from now
// on (backfill uses CursorAt), not the whole history.
func TestPoll_EmptyCursorStartsNow(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mustCreate(fake.IssueSpec{Summary: "old"})
	e.clock.Add(time.Hour)
	evs, cur, _ := pollAll(t, e.conn, "")
	if len(evs) != 0 {
		t.Fatalf("first poll reported %v", keysOf(evs))
	}
	e.clock.Add(time.Minute)
	e.mustCreate(fake.IssueSpec{Summary: "new"})
	if evs, _, _ = pollAll(t, e.conn, cur); !slices.Equal(keysOf(evs), []string{"KBOT-2"}) {
		t.Fatalf("second poll: %v", keysOf(evs))
	}
}

// TestPoll_CloudNeverUsesTheRemovedSearch: the fake answers 410 Gone on
// Cloud's old /rest/api/2/search, so a regression fails the poll.
func TestPoll_CloudNeverUsesTheRemovedSearch(t *testing.T) {
	e := newEnv(t, envOpts{})
	if _, _, _, err := e.conn.Poll(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range e.fake.Calls() {
		if c.Path != "/rest/api/2/search/jql" {
			t.Fatalf("Cloud poll called %s", c)
		}
	}
	// What a regression to the old endpoint would meet.
	err := e.conn.do(context.Background(), "GET", "rest/api/2/search", nil, nil, &wireSearch{}, "")
	if perm, _ := classify(t, err); !perm || !strings.Contains(err.Error(), "410 Gone") {
		t.Fatalf("old search on Cloud: %v; want a permanent 410", err)
	}
}

// TestDroppedWebhookIsCaughtUpByPoll: Jira loses a webhook; the next poll
// brings the same change, and a webhook-seen change is not reported twice
// with a different identity.
func TestDroppedWebhookIsCaughtUpByPoll(t *testing.T) {
	e := newEnv(t, envOpts{})
	key := e.mustCreate(fake.IssueSpec{Summary: "Payment page 500"})
	cur := e.conn.CursorAt(e.clock.Now())
	e.hooks.take()
	e.clock.Add(time.Minute)
	e.fake.DropWebhooks(1)
	if err := e.fake.Transition(key, "In Progress"); err != nil {
		t.Fatal(err)
	}
	if evs := e.hooks.take(); len(evs) != 0 {
		t.Fatalf("the dropped webhook arrived: %v", evs)
	}
	if d := e.fake.Deliveries(); !d[len(d)-1].Dropped {
		t.Fatalf("deliveries %+v", d)
	}
	evs, cur, _ := pollAll(t, e.conn, cur)
	if len(evs) != 1 || evs[0].Item.Ref != devRef(key) || evs[0].Type != core.StatusChange || evs[0].Item.Native != "In Progress" ||
		!evs[0].Item.HasSeen(core.StatusChange) {
		t.Fatalf("poll after a dropped webhook: %+v", evs)
	}
	// The next change arrives by webhook and by poll: same record state,
	// both reported (the inbox keys differ), with the same snapshot.
	e.clock.Add(time.Minute)
	if err := e.fake.Transition(key, "In Review"); err != nil {
		t.Fatal(err)
	}
	hooked := e.hooks.take()
	polled, _, _ := pollAll(t, e.conn, cur)
	if len(hooked) != 1 || len(polled) != 1 || !hooked[0].Item.UpdatedAt.Equal(polled[0].Item.UpdatedAt) || hooked[0].Item.Native != polled[0].Item.Native {
		t.Fatalf("webhook %+v\npoll %+v", hooked, polled)
	}
}

// TestPoll_ExpiredPageTokenRestartsTheScan: a scan resumed after a restart
// with a token Jira no longer honours is read again from its start.
func TestPoll_ExpiredPageTokenRestartsTheScan(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mustCreate(fake.IssueSpec{Summary: "a"})
	since := e.clock.Now().Add(-time.Minute)
	stale := encodeCursor(cursor{V: cursorVersion, Since: since, Scan: &scan{From: since.Add(-2 * time.Minute), Page: "expired"}})
	e.fake.ResetCalls()
	evs, _, more, err := e.conn.Poll(context.Background(), stale)
	if err != nil || more || len(evs) != 1 {
		t.Fatalf("Poll = %d events, more %v, %v", len(evs), more, err)
	}
	calls := e.calls()
	if len(calls) != 2 || !strings.Contains(calls[0], "nextPageToken=expired") || strings.Contains(calls[1], "nextPageToken") {
		t.Fatalf("calls %q", calls)
	}
}

// TestPoll_StatusPathFromTheChangelog: a poll that finds an issue moved
// twice since it last looked reports both statuses, in order, from the
// changelog, so that a validation chain passed between two polls counts.
func TestPoll_StatusPathFromTheChangelog(t *testing.T) {
	e := newEnv(t, envOpts{})
	key := e.mustCreate(fake.IssueSpec{Summary: "Payment page 500"})
	cur := e.conn.CursorAt(e.clock.Now())
	for _, st := range []string{"In Progress", "In Review", "Ready for QA", "QA Validated", "Preprod Validated"} {
		e.clock.Add(time.Minute)
		if err := e.fake.Transition(key, st); err != nil {
			t.Fatal(err)
		}
	}
	evs, _, _ := pollAll(t, e.conn, cur)
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	var got []string
	for _, st := range core.Merge(nil, evs[0].Item).Path {
		got = append(got, st.Native)
	}
	want := []string{"To Do", "In Progress", "In Review", "Ready for QA", "QA Validated", "Preprod Validated"}
	if !slices.Equal(got, want) {
		t.Fatalf("path %q, want %q", got, want)
	}
}

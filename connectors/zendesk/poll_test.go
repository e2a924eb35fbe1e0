package zendesk

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/core"
)

// TestPollResumesAfterRestart: the export is read page by page; a new
// connector instance given the stored cursor continues where the old one
// stopped, so every ticket is seen exactly once, and later changes are
// picked up from the last cursor.
func TestPollResumesAfterRestart(t *testing.T) {
	e := newEnv(t, nil, fake.WithExportPageSize(2))
	e.zd.SetWebhook("", "")
	var ids []int64
	for i := 0; i < 5; i++ {
		id, err := e.zd.CreateTicket("ada@example.com", "Ticket "+itoa(int64(i)), "body", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		e.clock.Add(time.Second)
	}
	ctx := context.Background()
	seen := map[string]int{}
	deliveries := map[string]bool{}
	collect := func(evs []core.Event) {
		for _, ev := range evs {
			seen[ev.Item.Ref.ID]++
			if deliveries[ev.DeliveryID] {
				t.Errorf("delivery id %q repeated", ev.DeliveryID)
			}
			deliveries[ev.DeliveryID] = true
			if ev.Via != core.ViaPoll || ev.Item.Reporter != "ada@example.com" || len(ev.Item.Comments) != 1 {
				t.Errorf("event %+v", ev)
			}
		}
	}

	// First instance: one page, then it "crashes" (is dropped).
	cursor := e.c.CursorAt(t0.Add(-time.Hour))
	evs, next, more, err := e.c.Poll(ctx, cursor)
	if err != nil || len(evs) != 2 || !more || !strings.HasPrefix(next, cursorAfter) {
		t.Fatalf("page 1: %d events, more %v, next %q, %v", len(evs), more, next, err)
	}
	collect(evs)
	// Reading the same page again (the engine crashed before storing
	// next) gives the same delivery ids, which the inbox de-duplicates.
	again, next2, _, _ := e.c.Poll(ctx, cursor)
	if next2 != next || again[0].DeliveryID != evs[0].DeliveryID || again[1].DeliveryID != evs[1].DeliveryID {
		t.Fatal("re-reading a page is not idempotent")
	}

	// A new instance, given only the stored cursor.
	c2 := e.connector(nil)
	e.calls()
	for more {
		evs, next, more, err = c2.Poll(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		collect(evs)
	}
	for _, id := range ids {
		if seen[itoa(id)] != 1 {
			t.Errorf("ticket %d seen %d times; want once", id, seen[itoa(id)])
		}
	}
	if len(seen) != 5 {
		t.Errorf("saw %d tickets; want 5", len(seen))
	}
	calls := e.calls()
	if !strings.HasPrefix(calls[0], "GET /api/v2/incremental/tickets/cursor.json?cursor=") ||
		!strings.HasSuffix(calls[0], "&include=users,organizations,comment_count&per_page=100") {
		t.Fatalf("export call %q", calls[0])
	}

	// Later: one ticket gets a reply, one is new, one is deleted.
	e.clock.Add(time.Minute)
	if _, err := e.zd.Reply(ids[1], "ada@example.com", "still broken", true); err != nil {
		t.Fatal(err)
	}
	newID, _ := e.zd.CreateTicket("bob@example.com", "New one", "body", nil, nil)
	if err := e.zd.DeleteTicket(ids[3]); err != nil {
		t.Fatal(err)
	}
	var later []core.Event
	for first := true; first || more; first = false {
		evs, next, more, err = c2.Poll(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		later = append(later, evs...)
	}
	var got []string
	for _, ev := range later {
		got = append(got, ev.Item.Ref.ID+":"+string(ev.Type))
	}
	want := []string{itoa(ids[1]) + ":commented", itoa(newID) + ":created", itoa(ids[3]) + ":deleted"}
	sameLines(t, "changes after the last cursor", got, want)
	if len(later[0].Item.Comments) != 2 || !later[2].Item.Deleted {
		t.Fatalf("later events = %+v", later)
	}
	// Nothing new: no events, same cursor, no more.
	evs, next3, more, err := c2.Poll(ctx, next)
	if err != nil || len(evs) != 0 || more || next3 != next {
		t.Fatalf("idle poll: %d events, more %v, cursor moved %v, %v", len(evs), more, next3 != next, err)
	}
}

// TestPollCallsAndCommentCache: a page costs one export request plus one
// comments request per ticket whose comment count changed.
func TestPollCallsAndCommentCache(t *testing.T) {
	e := newEnv(t, nil)
	e.zd.SetWebhook("", "")
	a, _ := e.zd.CreateTicket("ada@example.com", "A", "body", nil, nil)
	b, _ := e.zd.CreateTicket("bob@example.com", "B", "body", nil, nil)
	ctx := context.Background()
	e.calls()
	cursor := e.c.CursorAt(t0.Add(-time.Hour))
	_, next, _, err := e.c.Poll(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	start := t0.Add(-time.Hour).Unix()
	sameLines(t, "first poll", e.calls(), concat(
		[]string{"GET /api/v2/incremental/tickets/cursor.json?include=users,organizations,comment_count&per_page=100&start_time=" + itoa(start)},
		catalogCalls,
		[]string{
			"GET /api/v2/tickets/" + itoa(a) + "/comments.json?include=users&page[size]=100",
			"GET /api/v2/tickets/" + itoa(b) + "/comments.json?include=users&page[size]=100",
		}))
	// A status change on a (no new comment) and a reply on b.
	_ = e.zd.SetStatus(a, "open")
	_, _ = e.zd.Reply(b, "bob@example.com", "hello?", true)
	evs, _, _, err := e.c.Poll(ctx, next)
	if err != nil || len(evs) != 2 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	sameLines(t, "second poll", e.calls(), []string{
		"GET /api/v2/incremental/tickets/cursor.json?cursor=" + strings.TrimPrefix(next, cursorAfter) + "&include=users,organizations,comment_count&per_page=100",
		"GET /api/v2/tickets/" + itoa(b) + "/comments.json?include=users&page[size]=100",
	})
	if evs[0].Item.Native != "open" || len(evs[0].Item.Comments) != 1 || len(evs[1].Item.Comments) != 2 {
		t.Fatalf("events %+v", evs)
	}
}

// TestPollPacing: export requests are spaced to 10 a minute, and a 429's
// Retry-After holds the next one back.
func TestPollPacing(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cursor := e.c.CursorAt(t0.Add(-time.Hour))
	for i := 0; i < 3; i++ {
		if _, _, _, err := e.c.Poll(ctx, cursor); err != nil {
			t.Fatal(err)
		}
	}
	e.mu.Lock()
	waits := slices.Clone(e.waits)
	e.waits = nil
	e.mu.Unlock()
	if len(waits) != 2 || waits[0] < 5*time.Second || waits[0] > 6*time.Second || waits[1] < 5*time.Second {
		t.Fatalf("pacer waits %v; want two of about 6s", waits)
	}

	// A long Retry-After is not sat out in place: the poll fails with it,
	// classified temporary, and the next poll waits it out first.
	e.zd.FailNext(1, http.StatusTooManyRequests, 90*time.Second)
	_, _, _, err := e.c.Poll(ctx, cursor)
	perm, wait := core.Classify(err)
	if err == nil || perm || wait != 90*time.Second {
		t.Fatalf("rate-limited poll: err %v, permanent %v, wait %v", err, perm, wait)
	}
	if _, _, _, err := e.c.Poll(ctx, cursor); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.waits) != 2 || e.waits[1] < 89*time.Second {
		t.Fatalf("waits after a 429 %v; want the 90s Retry-After", e.waits)
	}
}

// TestPollBadCursor: a cursor this connector did not write is bad input.
func TestPollBadCursor(t *testing.T) {
	e := newEnv(t, nil)
	_, _, _, err := e.c.Poll(context.Background(), "v9:whatever")
	var bad *core.BadInput
	if !errors.As(err, &bad) {
		t.Fatalf("err %v; want *core.BadInput", err)
	}
	// No cursor: starts poll_lookback ago.
	e.calls()
	if _, _, _, err := e.c.Poll(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if c := e.calls()[0]; !strings.HasSuffix(c, "start_time="+itoa(t0.Add(-time.Hour).Unix())) {
		t.Fatalf("first call %q", c)
	}
}

// TestPollSurvivesTicketDeletedMidPage: a ticket deleted between the export
// and the comments read does not stop the poller on that page.
func TestPollSurvivesTicketDeletedMidPage(t *testing.T) {
	e := newEnv(t, nil)
	e.zd.SetWebhook("", "")
	a, _ := e.zd.CreateTicket("ada@example.com", "A", "body", nil, nil)
	b, _ := e.zd.CreateTicket("bob@example.com", "B", "body", nil, nil)
	_, _ = e.c.catalog(context.Background(), false)
	e.calls()
	// The export answers, then ticket a's comments answer 404.
	srv := e.srv.Config.Handler
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/tickets/"+itoa(a)+"/comments.json" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error": "RecordNotFound", "description": "Not found"}`))
			return
		}
		srv.ServeHTTP(w, r)
	})
	defer func() { e.srv.Config.Handler = srv }()
	evs, next, _, err := e.c.Poll(context.Background(), e.c.CursorAt(t0.Add(-time.Hour)))
	if err != nil || len(evs) != 2 || next == "" {
		t.Fatalf("%d events, next %q, %v", len(evs), next, err)
	}
	if len(evs[0].Item.Comments) != 0 || len(evs[1].Item.Comments) != 1 || evs[1].Item.Ref.ID != itoa(b) {
		t.Fatalf("events %+v", evs)
	}
}

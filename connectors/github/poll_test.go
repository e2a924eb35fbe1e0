package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liaisonhq/liaison/core"
)

func tenRepos() (string, []string) {
	var repos []string
	for i := range 10 {
		repos = append(repos, fmt.Sprintf("acme/svc%d", i))
	}
	return "repos: [" + strings.Join(repos, ", ") + "]\n", repos
}

// TestPoll_IdlePollOfTenReposCostsNothing: once read, ten unchanged
// repositories are answered 304 each, which spends no rate limit.
func TestPoll_IdlePollOfTenReposCostsNothing(t *testing.T) {
	cfg, repos := tenRepos()
	h := newHarness(t, cfg)
	h.gh.SetWebhook("", "") // polling alone
	for _, r := range repos {
		if _, err := h.gh.OpenPR(r, "KBOT-7 tidy "+r, "", "kbot-7"); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Add(time.Minute)
	evs, cur, more, err := h.c.Poll(ctx(t), "")
	if err != nil || more || len(evs) != 10 {
		t.Fatalf("first poll: %d events, more %v, %v", len(evs), more, err)
	}
	used, nm := h.gh.RateUsed(), h.gh.NotModified()
	h.gh.ResetCalls()

	evs, cur2, more, err := h.c.Poll(ctx(t), cur)
	if err != nil || more || len(evs) != 0 {
		t.Fatalf("idle poll: %d events, more %v, %v", len(evs), more, err)
	}
	if got := h.gh.RateUsed() - used; got != 0 {
		t.Fatalf("idle poll of 10 repositories cost %d rate-limit units; want 0", got)
	}
	if got := h.gh.NotModified() - nm; got != 10 {
		t.Fatalf("%d answers 304; want 10", got)
	}
	for _, c := range h.gh.Calls() {
		if c.Status != http.StatusNotModified || c.Method != http.MethodGet || !strings.HasSuffix(c.Path, "/pulls") {
			t.Fatalf("idle poll call %s answered %d", c, c.Status)
		}
	}
	if len(h.gh.Calls()) != 10 || cur2 != cur {
		t.Fatalf("%d calls, cursor changed %v", len(h.gh.Calls()), cur2 != cur)
	}
	// The gauge follows X-RateLimit-Remaining.
	if got := testutil.ToFloat64(rateRemaining.WithLabelValues("github")); got != float64(5000-h.gh.RateUsed()) {
		t.Fatalf("rate gauge %v; want %d", got, 5000-h.gh.RateUsed())
	}
}

// TestPoll_CursorAdvancesAndDeduplicates: a poll reads what changed since
// the cursor; a record seen again unchanged has the same DeliveryID.
func TestPoll_CursorAdvancesAndDeduplicates(t *testing.T) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	h.gh.SetWebhook("", "")
	for i := range 3 {
		if _, err := h.gh.OpenPR("acme/kbot", fmt.Sprintf("change %d", i), "", fmt.Sprintf("b%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	evs, cur, _, err := h.c.Poll(ctx(t), "")
	if err != nil || len(evs) != 3 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	// Oldest first; Seen says every pull request was opened.
	if evs[0].Item.Ref.ID != "acme/kbot#1" || evs[2].Item.Ref.ID != "acme/kbot#3" || !evs[0].Item.HasSeen(core.Opened) || evs[0].Via != core.ViaPoll {
		t.Fatalf("order or envelope: %s .. %s %+v", evs[0].Item.Ref, evs[2].Item.Ref, evs[0])
	}
	first := evs[2].DeliveryID
	if !strings.HasPrefix(first, "github/pull_request/acme/kbot#3@"+h.pr("acme/kbot", 3).UpdatedAt.Format(time.RFC3339Nano)+"/") {
		t.Fatalf("DeliveryID %q; want <ref>@<updated_at>/<digest>", first)
	}
	var c pollCursor
	if err := json.Unmarshal([]byte(cur), &c); err != nil || c.V != 1 || c.Repos["acme/kbot"].ETag == "" || c.Repos["acme/kbot"].Scan != nil {
		t.Fatalf("cursor %s: %v", cur, err)
	}

	if err := h.gh.MergePR("acme/kbot", 2); err != nil {
		t.Fatal(err)
	}
	evs, cur, _, err = h.c.Poll(ctx(t), cur)
	if err != nil {
		t.Fatal(err)
	}
	// The merged one, and #3 again (updated_at equal to the cursor) with the
	// same DeliveryID, which the store de-duplicates.
	if len(evs) != 2 || evs[0].Item.Ref.ID != "acme/kbot#3" || evs[0].DeliveryID != first ||
		evs[1].Item.Ref.ID != "acme/kbot#2" || evs[1].Type != core.Merged || !evs[1].Item.HasSeen(core.Merged) || evs[1].Item.Native != "merged" {
		t.Fatalf("second poll %+v", evs)
	}
	if err := h.gh.ClosePR("acme/kbot", 1); err != nil {
		t.Fatal(err)
	}
	evs, _, _, err = h.c.Poll(ctx(t), cur)
	if err != nil || len(evs) != 2 || evs[1].Type != core.ClosedUnmerged {
		t.Fatalf("third poll %v %+v", err, evs)
	}
}

// TestPoll_LongCatchUpSpansCalls: a catch-up longer than the pages one
// call reads continues in the next call (more), without skipping any pull
// request: one updated meanwhile moves to the top of the list, past the
// scan, and is read by the next poll.
func TestPoll_LongCatchUpSpansCalls(t *testing.T) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	h.gh.SetWebhook("", "")
	h.c.pollPageSize, h.c.pollPages = 2, 2
	for i := range 9 {
		if _, err := h.gh.OpenPR("acme/kbot", fmt.Sprintf("pr %d", i), "", fmt.Sprintf("b%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cur := h.c.CursorAt(h.clock.Now().Add(-time.Hour))
	calls := 0
	for more := true; more; calls++ {
		if calls == 1 {
			// Updated mid-scan: it moves to the top of the list.
			if err := h.gh.EditPR("acme/kbot", 1, "pr 0 edited", ""); err != nil {
				t.Fatal(err)
			}
		}
		var evs []core.Event
		var err error
		evs, cur, more, err = h.c.Poll(ctx(t), cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			seen[e.Item.Ref.ID] = true
		}
		if calls > 10 {
			t.Fatal("catch-up does not end")
		}
	}
	if len(seen) != 8 || seen["acme/kbot#1"] || calls != 3 {
		t.Fatalf("read %d pull requests in %d calls; want the 8 not moved, in 3", len(seen), calls)
	}
	evs, _, _, err := h.c.Poll(ctx(t), cur)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Item.Ref.ID == "acme/kbot#1" && e.Item.Title == "pr 0 edited" {
			return
		}
	}
	t.Fatalf("the edit made mid-scan was not read: %d events", len(evs))
}

// TestPoll_FailingRepoKeepsItsCursor: a repository that fails does not
// stop the others; when all fail, Poll fails and the cursor stays.
func TestPoll_FailingRepoKeepsItsCursor(t *testing.T) {
	h := newHarness(t, "repos: [acme/a, acme/b]\n")
	h.gh.SetWebhook("", "")
	for _, r := range []string{"acme/a", "acme/b"} {
		if _, err := h.gh.OpenPR(r, "x", "", "x"); err != nil {
			t.Fatal(err)
		}
	}
	h.gh.FailNext(3, http.StatusBadGateway, 0) // acme/a's list, retried twice in place
	evs, cur, _, err := h.c.Poll(ctx(t), "")
	if err != nil || len(evs) != 1 || evs[0].Item.Ref.ID != "acme/b#1" {
		t.Fatalf("%v %+v", err, evs)
	}
	var c pollCursor
	_ = json.Unmarshal([]byte(cur), &c)
	if c.Repos["acme/a"] != nil || c.Repos["acme/b"] == nil {
		t.Fatalf("cursor %s", cur)
	}
	h.gh.FailNext(6, http.StatusBadGateway, 0)
	if _, next, _, err := h.c.Poll(ctx(t), cur); err == nil || next != cur {
		t.Fatalf("all failing: err %v, cursor moved %v", err, next != cur)
	}
	if _, _, _, err := h.c.Poll(ctx(t), `{"v":9}`); err == nil {
		t.Fatal("a cursor of another version was accepted")
	}
}

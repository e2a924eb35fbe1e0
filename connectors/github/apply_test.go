package github

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// applyHarness is a harness with one open pull request acme/kbot#1, and
// its calls reset.
func applyHarness(t *testing.T) (*harness, core.Ref) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	h.gh.SetWebhook("", "")
	if _, err := h.gh.OpenPR("acme/kbot", "KBOT-88 fix login", "", "kbot-88"); err != nil {
		t.Fatal(err)
	}
	if err := h.gh.Label("acme/kbot", 1, "bug"); err != nil {
		t.Fatal(err)
	}
	h.gh.ResetCalls()
	return h, h.c.prRef("acme/kbot", 1)
}

// TestApply_CallLists: each action makes exactly these requests, and
// applying it again writes nothing.
func TestApply_CallLists(t *testing.T) {
	jira := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}
	cases := []struct {
		name   string
		action core.Action
		first  []string
		again  []string
		check  func(t *testing.T, h *harness, res core.Result)
	}{
		{
			name:   "comment",
			action: core.Action{Key: "rule|c1", Kind: core.AddComment, Body: "Ticket KBOT-88 is now **In Review**.", Public: true},
			first:  []string{"GET /repos/acme/kbot/issues/1/comments?per_page=100&page=1", "POST /repos/acme/kbot/issues/1/comments"},
			again:  []string{"GET /repos/acme/kbot/issues/1/comments?per_page=100&page=1"},
			check: func(t *testing.T, h *harness, res core.Result) {
				c := h.pr("acme/kbot", 1).Comments
				want := "Ticket KBOT-88 is now **In Review**.\n\n<!-- " + core.MarkerFor("rule|c1") + " -->"
				if len(c) != 1 || c[0] != want || res.CommentID == "" {
					t.Fatalf("comments %q, result %+v", c, res)
				}
			},
		},
		{
			name:   "link",
			action: core.Action{Key: "rule|l1", Kind: core.AddLink, Other: jira, OtherURL: "https://jira.example.com/browse/KBOT-88"},
			first:  []string{"GET /repos/acme/kbot/issues/1/comments?per_page=100&page=1", "POST /repos/acme/kbot/issues/1/comments"},
			again:  []string{"GET /repos/acme/kbot/issues/1/comments?per_page=100&page=1"},
			check: func(t *testing.T, h *harness, res core.Result) {
				c := h.pr("acme/kbot", 1).Comments
				if len(c) != 1 || !strings.HasPrefix(c[0], "Linked to [jira/dev_ticket/KBOT-88](https://jira.example.com/browse/KBOT-88)") {
					t.Fatalf("comments %q", c)
				}
			},
		},
		{
			name:   "labels",
			action: core.Action{Key: "rule|s1", Kind: core.SetFields, Labels: []string{"in-review"}, Fields: map[string]string{"labels+": "KBOT-88, bug", "labels-": "bug,wontfix"}},
			first:  []string{"GET /repos/acme/kbot/pulls/1", "POST /repos/acme/kbot/issues/1/labels", "DELETE /repos/acme/kbot/issues/1/labels/bug"},
			again:  []string{"GET /repos/acme/kbot/pulls/1"},
			check: func(t *testing.T, h *harness, res core.Result) {
				if l := h.pr("acme/kbot", 1).Labels; !slices.Equal(l, []string{"in-review", "KBOT-88"}) {
					t.Fatalf("labels %v", l)
				}
				if c := h.gh.Calls(); c[1].Body != `{"labels":["in-review","KBOT-88"]}`+"\n" {
					t.Fatalf("label body %q", c[1].Body)
				}
			},
		},
		{
			name: "commit status",
			action: core.Action{Key: "rule|st", Kind: core.SetFields, Fields: map[string]string{
				"commit_status": "success", "commit_status_description": "KBOT-88 is Ready for QA", "commit_status_url": "https://jira.example.com/browse/KBOT-88",
			}},
			first: []string{"GET /repos/acme/kbot/pulls/1", "POST /repos/acme/kbot/statuses/{sha}"},
			// A status is a log on the commit: writing the same one again
			// changes nothing anyone sees.
			again: []string{"GET /repos/acme/kbot/pulls/1", "POST /repos/acme/kbot/statuses/{sha}"},
			check: func(t *testing.T, h *harness, res core.Result) {
				st := h.pr("acme/kbot", 1).Statuses
				if len(st) != 1 || st[0].State != "success" || st[0].Context != "liaison" || st[0].Description != "KBOT-88 is Ready for QA" {
					t.Fatalf("statuses %+v", st)
				}
			},
		},
		{
			name:   "close",
			action: core.Action{Key: "rule|t1", Kind: core.Transition, Native: "closed", Status: core.StatusClosed},
			first:  []string{"GET /repos/acme/kbot/pulls/1", "PATCH /repos/acme/kbot/pulls/1", "GET /repos/acme/kbot/pulls/1/commits?per_page=100&page=1"},
			again:  []string{"GET /repos/acme/kbot/pulls/1"},
			check: func(t *testing.T, h *harness, res core.Result) {
				if p := h.pr("acme/kbot", 1); p.State != "closed" || res.Item == nil || res.Item.Native != "closed" || res.Item.Fields["commits"] == "" {
					t.Fatalf("state %q, result %+v", p.State, res)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, ref := applyHarness(t)
			sha := h.pr("acme/kbot", 1).HeadSHA
			c.action.Target = ref
			res, err := h.c.Apply(ctx(t), c.action)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			c.check(t, h, res)
			want := replaceAll(c.first, "{sha}", sha)
			if got := h.calls(); !slices.Equal(got, want) {
				t.Fatalf("calls\n%q\nwant\n%q", got, want)
			}
			res2, err := h.c.Apply(ctx(t), c.action)
			if err != nil {
				t.Fatalf("Apply again: %v", err)
			}
			if got, want := h.calls(), replaceAll(c.again, "{sha}", sha); !slices.Equal(got, want) {
				t.Fatalf("again: calls\n%q\nwant\n%q", got, want)
			}
			if res.CommentID != res2.CommentID {
				t.Fatalf("comment ids %q then %q", res.CommentID, res2.CommentID)
			}
		})
	}
}

func replaceAll(list []string, old, new string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.ReplaceAll(s, old, new)
	}
	return out
}

// TestApply_OurCommentsComeBackMarked: a comment we wrote is recognised by
// its marker when it comes back by webhook or fetch.
func TestApply_OurCommentsComeBackMarked(t *testing.T) {
	h, ref := applyHarness(t)
	a := core.Action{Key: "case-1|rule|x", Kind: core.AddComment, Target: ref, Body: "Hello"}
	if _, err := h.c.Apply(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	if _, err := h.gh.Comment("acme/kbot", 1, "a person's reply"); err != nil {
		t.Fatal(err)
	}
	it, err := h.c.Fetch(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(it.Comments) != 2 || it.Comments[0].Marker != a.Marker() || it.Comments[1].Marker != "" || it.Fields["commits"] != "KBOT-88 fix login" {
		t.Fatalf("fetched %+v", it)
	}
	if _, err := h.c.Fetch(ctx(t), h.c.prRef("acme/kbot", 99)); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing pull request: %v; want ErrNotFound", err)
	}
}

// TestApply_Classification: rate limits, primary or secondary, 403 or 429,
// are temporary with the wait GitHub asked; a missing record or a refused
// request is permanent.
func TestApply_Classification(t *testing.T) {
	cases := []struct {
		name      string
		arrange   func(h *harness)
		action    func(ref core.Ref) core.Action
		permanent bool
		wait      time.Duration
		calls     int // requests made (in-place retries included)
	}{
		{
			name:    "secondary limit 403 with Retry-After",
			arrange: func(h *harness) { h.gh.FailNext(1, http.StatusForbidden, 30*time.Second) },
			wait:    30 * time.Second, calls: 1,
		},
		{
			name:    "secondary limit 403 without Retry-After waits a minute",
			arrange: func(h *harness) { h.gh.FailNext(1, http.StatusForbidden, 0) },
			wait:    time.Minute, calls: 1,
		},
		{
			name:    "secondary limit 429 longer than waited in place",
			arrange: func(h *harness) { h.gh.FailNext(1, http.StatusTooManyRequests, 45*time.Second) },
			wait:    45 * time.Second, calls: 1,
		},
		{
			name:    "5xx retried in place then temporary",
			arrange: func(h *harness) { h.gh.FailNext(3, http.StatusBadGateway, 0) },
			calls:   3,
		},
		{
			name:    "5xx once is retried and succeeds",
			arrange: func(h *harness) { h.gh.FailNext(1, http.StatusServiceUnavailable, 0) },
			calls:   3, wait: -1, // GET fails, GET again, POST
		},
		{
			name: "missing pull request",
			action: func(ref core.Ref) core.Action {
				ref.ID = "acme/kbot#404"
				return core.Action{Key: "k", Kind: core.AddComment, Target: ref, Body: "x"}
			},
			permanent: true, calls: 1,
		},
		{
			name: "unknown field",
			action: func(ref core.Ref) core.Action {
				return core.Action{Key: "k", Kind: core.SetFields, Target: ref, Fields: map[string]string{"priority": "high"}}
			},
			permanent: true,
		},
		{
			name: "bad status state",
			action: func(ref core.Ref) core.Action {
				return core.Action{Key: "k", Kind: core.SetFields, Target: ref, Fields: map[string]string{"commit_status": "green"}}
			},
			permanent: true,
		},
		{
			name: "merged is not writable",
			action: func(ref core.Ref) core.Action {
				return core.Action{Key: "k", Kind: core.Transition, Target: ref, Native: "merged"}
			},
			permanent: true,
		},
		{
			name: "create",
			action: func(ref core.Ref) core.Action {
				return core.Action{Key: "k", Kind: core.Create, Target: core.Ref{System: "github", Kind: core.PullRequest}}
			},
			permanent: true,
		},
		{
			name: "another system's record",
			action: func(ref core.Ref) core.Action {
				return core.Action{Key: "k", Kind: core.AddComment, Target: core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-1"}}
			},
			permanent: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, ref := applyHarness(t)
			if c.arrange != nil {
				c.arrange(h)
			}
			a := core.Action{Key: "k", Kind: core.AddComment, Target: ref, Body: "x"}
			if c.action != nil {
				a = c.action(ref)
			}
			_, err := h.c.Apply(ctx(t), a)
			if got := len(h.gh.Calls()); got != c.calls {
				t.Fatalf("%d requests; want %d (%v)", got, c.calls, h.gh.Calls())
			}
			if c.wait < 0 {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			perm, wait := core.Classify(err)
			if perm != c.permanent {
				t.Fatalf("permanent %v; want %v (%v)", perm, c.permanent, err)
			}
			// Retry-After is whole seconds; a wait from go-github's own
			// clock may have ticked a little.
			if wait > c.wait || wait < c.wait-2*time.Second {
				t.Fatalf("wait %v; want %v (%v)", wait, c.wait, err)
			}
		})
	}
}

// TestApply_PrimaryRateLimitIsTemporary: an exhausted rate limit (403 with
// X-RateLimit-Remaining: 0) waits for the reset, and go-github then stops
// asking until the reset without spending a request.
func TestApply_PrimaryRateLimitIsTemporary(t *testing.T) {
	h, ref := applyHarness(t)
	h.clock.Set(time.Now()) // go-github and Retry-After read the wall clock
	h.gh.ExhaustRateLimit()
	for i := range 2 {
		_, err := h.c.Apply(ctx(t), core.Action{Key: "k", Kind: core.AddComment, Target: ref, Body: "x"})
		perm, wait := core.Classify(err)
		if err == nil || perm || wait <= 0 || wait > time.Hour {
			t.Fatalf("attempt %d: %v permanent %v wait %v", i, err, perm, wait)
		}
	}
	if n := len(h.gh.Calls()); n != 1 {
		t.Fatalf("%d requests; want 1 (the second refused locally until the reset)", n)
	}
}

package jira

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
)

// TestRetryAfter2sIsWaitedOut: Jira answers 429 with Retry-After: 2; the
// client sits it out in place (measured, with the production client) and
// the comment is made once.
func TestRetryAfter2sIsWaitedOut(t *testing.T) {
	e := newEnv(t, envOpts{realRetry: true})
	key := e.mustCreate(fake.IssueSpec{Summary: "s"})
	e.fake.ResetCalls()
	e.fake.FailNext(1, http.StatusTooManyRequests, 2*time.Second)
	start := time.Now()
	res, err := e.conn.Apply(context.Background(), core.Action{Key: "c", Kind: core.AddComment, Target: devRef(key), Body: "b", Public: true})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed < 2*time.Second {
		t.Fatalf("succeeded after %v, before the 2s Jira asked for", elapsed)
	}
	calls := e.calls()
	if len(calls) != 2 || calls[0] != calls[1] {
		t.Fatalf("calls %q; want the same POST twice", calls)
	}
	if iss, _ := e.fake.Issue(key); len(iss.Comments) != 1 || iss.Comments[0].ID != res.CommentID {
		t.Fatalf("comments %+v", iss.Comments)
	}
}

// TestFailuresAreClassified: what still fails after the client's retries
// is classified once, for the outbox: 5xx and 429 are retried later (a run
// of them ends in the dead-letter list, which the engine decides), other
// 4xx never.
func TestFailuresAreClassified(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		after     time.Duration
		calls     int // RetryMax is 2 in tests
		permanent bool
		wait      time.Duration
	}{
		{"503 run", http.StatusServiceUnavailable, 0, 3, false, 0},
		// A POST answered 500 or 502 may have landed: retryhttp does not
		// repeat it in place; the outbox retries it later.
		{"500 on a POST", http.StatusInternalServerError, 0, 1, false, 0},
		{"502 on a POST", http.StatusBadGateway, 0, 1, false, 0},
		{"429 with a wait too long to sit out", http.StatusTooManyRequests, 90 * time.Second, 1, false, 90 * time.Second},
		{"400", http.StatusBadRequest, 0, 1, true, 0},
		{"403", http.StatusForbidden, 0, 1, true, 0},
		{"404", http.StatusNotFound, 0, 1, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			key := e.mustCreate(fake.IssueSpec{Summary: "s"})
			e.fake.ResetCalls()
			e.fake.FailNext(100, c.status, c.after)
			_, err := e.conn.Apply(context.Background(), core.Action{Key: "c", Kind: core.AddComment, Target: devRef(key), Body: "b"})
			perm, wait := classify(t, err)
			if perm != c.permanent || wait != c.wait {
				t.Fatalf("%v: permanent %v wait %v; want %v %v", err, perm, wait, c.permanent, c.wait)
			}
			if n := len(e.calls()); n != c.calls {
				t.Fatalf("%d calls; want %d", n, c.calls)
			}
			if !strings.Contains(err.Error(), "injected failure") || !strings.Contains(err.Error(), key) {
				t.Fatalf("error %q lacks Jira's message or the issue", err)
			}
			// The fake recovers: the same action now goes through.
			e.fake.FailNext(0, 0, 0)
			if _, err := e.conn.Apply(context.Background(), core.Action{Key: "c", Kind: core.AddComment, Target: devRef(key), Body: "b"}); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
		})
	}
}

// TestPerIssueRateLimitPausesOnlyThatIssue: a 429 with RateLimit-Reason:
// jira-per-issue-on-write sends the action back to the outbox with Jira's
// wait, makes later actions on that issue wait without a request, and lets
// other issues' work go on.
func TestPerIssueRateLimitPausesOnlyThatIssue(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	hot := e.mustCreate(fake.IssueSpec{Summary: "busy"})
	other := e.mustCreate(fake.IssueSpec{Summary: "quiet"})
	// A short wait, which the client would otherwise sit out in place.
	e.fake.RateLimitIssue(hot, 5, 3*time.Second)
	e.fake.ResetCalls()

	_, err := e.conn.Apply(ctx, core.Action{Key: "c1", Kind: core.AddComment, Target: devRef(hot), Body: "one"})
	perm, wait := classify(t, err)
	if perm || wait != 3*time.Second {
		t.Fatalf("limited write: %v (permanent %v, wait %v); want retry after 3s", err, perm, wait)
	}
	if calls := e.calls(); len(calls) != 1 {
		t.Fatalf("calls %q; want the one refused POST, not retried in place", calls)
	}

	e.clock.Add(time.Second)
	_, err = e.conn.Apply(ctx, core.Action{Key: "t1", Kind: core.Transition, Target: devRef(hot), Native: "In Progress"})
	if perm, wait := classify(t, err); perm || wait != 2*time.Second {
		t.Fatalf("paused issue: %v (permanent %v, wait %v); want retry after the remaining 2s", err, perm, wait)
	}
	_, err = e.conn.Apply(ctx, core.Action{Key: "l1", Kind: core.AddLink, Target: devRef(other), Other: devRef(hot)})
	if perm, _ := classify(t, err); perm {
		t.Fatalf("link to the paused issue: %v; want retry", err)
	}
	if calls := e.calls(); len(calls) != 0 {
		t.Fatalf("paused issue was called: %q", calls)
	}

	if _, err := e.conn.Apply(ctx, core.Action{Key: "c2", Kind: core.AddComment, Target: devRef(other), Body: "two"}); err != nil {
		t.Fatalf("other issue: %v", err)
	}
	if _, err := e.conn.Fetch(ctx, devRef(hot)); err != nil {
		t.Fatalf("reads of the paused issue go on: %v", err)
	}

	e.clock.Add(2 * time.Second)
	e.fake.RateLimitIssue(hot, 0, 0)
	if _, err := e.conn.Apply(ctx, core.Action{Key: "c1", Kind: core.AddComment, Target: devRef(hot), Body: "one"}); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
}

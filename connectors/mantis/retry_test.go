package mantis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/mantis/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// TestRetries: what the client retries in place, and how what still fails
// is classified for the outbox. A POST answered 502 is not re-sent here
// (it may have landed; the outbox asks Applied first); 429 and 503 mean
// turned away, so a POST is re-sent.
func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		failures  int
		comment   bool // a POST; else a GET (Fetch)
		wantCalls int
		wantErr   string // "" (success), "retry" or "permanent"
	}{
		{"get 503 then ok", http.StatusServiceUnavailable, 2, false, 3, ""},
		{"get 500 exhausts", http.StatusInternalServerError, 3, false, 3, "retry"},
		{"post 429 then ok", http.StatusTooManyRequests, 1, true, 2, ""},
		{"post 503 then ok", http.StatusServiceUnavailable, 1, true, 2, ""},
		{"post 502 not re-sent", http.StatusBadGateway, 1, true, 1, "retry"},
		{"get 403 permanent", http.StatusForbidden, 1, false, 1, "permanent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{}).checked()
			id := strconv.Itoa(e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "s"}))
			e.fake.FailNext(tc.failures, tc.status, 0)
			var err error
			if tc.comment {
				_, err = e.conn.Apply(context.Background(), core.Action{Key: "c", Kind: core.AddComment, Target: devRef(id), Body: "b"})
			} else {
				_, err = e.conn.Fetch(context.Background(), devRef(id))
			}
			if calls := e.calls(); len(calls) != tc.wantCalls {
				t.Fatalf("calls %v; want %d", calls, tc.wantCalls)
			}
			var ae *core.ApplyError
			switch tc.wantErr {
			case "":
				if err != nil {
					t.Fatal(err)
				}
			case "retry":
				if !errors.As(err, &ae) || ae.Permanent {
					t.Fatalf("err %v; want a retryable error", err)
				}
			case "permanent":
				if !errors.As(err, &ae) || !ae.Permanent {
					t.Fatalf("err %v; want a permanent error", err)
				}
			}
			n, _ := strconv.Atoi(id)
			iss, _ := e.fake.Issue(n)
			if tc.comment && tc.wantErr == "" && len(iss.Notes) != 1 {
				t.Fatalf("%d notes; want exactly one", len(iss.Notes))
			}
		})
	}
}

// TestLongRetryAfterGoesBackToTheOutbox: a Retry-After longer than the
// client sits out is returned at once, with the wait, for the outbox.
func TestLongRetryAfterGoesBackToTheOutbox(t *testing.T) {
	e := newEnv(t, envOpts{retry: retryhttp.Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, MaxHonoured: time.Second}}).checked()
	id := strconv.Itoa(e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "s"}))
	e.fake.FailNext(1, http.StatusTooManyRequests, 60*time.Second)
	_, err := e.conn.Apply(context.Background(), core.Action{Key: "c", Kind: core.AddComment, Target: devRef(id), Body: "b"})
	var ae *core.ApplyError
	if !errors.As(err, &ae) || ae.Permanent || ae.RetryAfter < 59*time.Second {
		t.Fatalf("err %v; want retry after about 60s", err)
	}
	if calls := e.calls(); len(calls) != 1 {
		t.Fatalf("calls %v", calls)
	}
}

// TestTokenNeverShows: the token is sent in the Authorization header, and
// appears in no error, log line or printed connector, even when Mantis
// refuses it.
func TestTokenNeverShows(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.fake.FailNext(1, http.StatusUnauthorized, 0)
	_, err := e.conn.Fetch(context.Background(), devRef("1"))
	if err == nil {
		t.Fatal("want an error")
	}
	_, _, _, perr := e.conn.Poll(context.Background(), "")
	for _, s := range []string{err.Error(), e.logs.String(), e.conn.String(), strings.Join([]string{toString(e.conn), toString(perr)}, " ")} {
		if strings.Contains(s, testToken) {
			t.Fatalf("token shown in %q", s)
		}
	}
	if perr != nil {
		t.Fatalf("poll with a valid token: %v", perr)
	}
}

func toString(v any) string { return strings.TrimSpace(strings.ReplaceAll(fmtV(v), "\n", " ")) }

func fmtV(v any) string { return fmt.Sprintf("%+v %#v", v, v) }

package jira

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// TestSlowSuccess_UncertainThenFoundOnlyOnceLanded: Jira makes an issue or
// a comment after the connector stopped waiting for the answer. The write
// fails as uncertain (so the engine looks it up before writing again), is
// not sent twice by the client, and the look-up the engine makes finds it
// exactly when it has landed: not before (the engine then waits and looks
// again), and always after, whichever comes first.
func TestSlowSuccess_UncertainThenFoundOnlyOnceLanded(t *testing.T) {
	kinds := []struct {
		name string
		path string
		// action is the write, on issue key (comment).
		action func(key string) core.Action
		// effects counts what the write made.
		effects func(e *env, key string) int
	}{
		{"create", `^/rest/api/2/issue$`,
			func(string) core.Action {
				return core.Action{Key: "create|jira/dev_ticket|escalate|zendesk/customer_ticket/4521", Kind: core.Create,
					Target: core.Ref{System: "jira", Kind: core.DevTicket}, Title: "Checkout fails", Body: "A 500 on checkout.",
					Fields: map[string]string{"project": "KBOT", "issue_type": "Bug"}}
			},
			func(e *env, _ string) int { return len(e.fake.Issues()) - 1 }},
		{"comment", `/comment$`,
			func(key string) core.Action {
				return core.Action{Key: "comment|fixed", Kind: core.AddComment, Target: devRef(key), Body: "Fixed in PR 341.", Public: true}
			},
			func(e *env, key string) int { iss, _ := e.fake.Issue(key); return len(iss.Comments) }},
	}
	for _, k := range kinds {
		for _, race := range []struct {
			name         string
			lookUpBefore bool
		}{{"lands as the client gives up", false}, {"lands after the first look-up", true}} {
			t.Run(k.name+"/"+race.name, func(t *testing.T) {
				// The connector's own timeout, short: the fake holds the
				// answer until the client gives up, however long that is.
				e := newEnv(t, envOpts{retry: retryhttp.Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond,
					Timeout: 200 * time.Millisecond}})
				key := e.mustCreate(fake.IssueSpec{Summary: "already there"})
				a := k.action(key)
				land := make(chan struct{})
				landNow := sync.OnceFunc(func() { close(land) })
				t.Cleanup(landNow) // before the server's Close, which waits for the held write
				if !race.lookUpBefore {
					landNow()
				}
				e.fake.HoldWrites(1, regexp.MustCompile(k.path), land)
				e.fake.ResetCalls()
				_, err := e.conn.Apply(context.Background(), a)
				if !core.IsUncertain(err) {
					t.Fatalf("held write: %v; want an error of unknown outcome", err)
				}
				writes := 0
				for _, c := range e.calls() {
					if !strings.HasPrefix(c, "GET ") {
						writes++
					}
				}
				if writes != 1 {
					t.Fatalf("%d writes; want the one, not sent again in place", writes)
				}
				if race.lookUpBefore {
					if found, err := lookUp(e, a); err != nil || found {
						t.Fatalf("look-up before the write landed: found %v, %v; want not found", found, err)
					}
					landNow()
				}
				deadline := time.Now().Add(10 * time.Second)
				for k.effects(e, key) == 0 {
					if time.Now().After(deadline) {
						t.Fatal("the held write never landed")
					}
					time.Sleep(5 * time.Millisecond)
				}
				if found, err := lookUp(e, a); err != nil || !found {
					t.Fatalf("look-up after the write landed: found %v, %v", found, err)
				}
				if n := k.effects(e, key); n != 1 {
					t.Fatalf("%d effects, want 1", n)
				}
			})
		}
	}
}

// lookUp asks as the engine does whether a's write took effect.
func lookUp(e *env, a core.Action) (bool, error) {
	ctx := context.Background()
	if a.Kind == core.Create {
		_, err := e.conn.FindByMarker(ctx, a.Target.Kind, a.Marker())
		if errors.Is(err, core.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	_, done, err := e.conn.Applied(ctx, a)
	return done, err
}

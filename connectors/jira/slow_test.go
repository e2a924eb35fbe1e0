package jira

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/connectortest"
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
		name    string
		path    string
		action  func(key string) core.Action
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
		for _, race := range connectortest.Races {
			t.Run(k.name+"/"+race.Name, func(t *testing.T) {
				// The connector's own timeout, short: the fake holds the
				// answer until the client gives up, however long that is.
				e := newEnv(t, envOpts{retry: retryhttp.Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond,
					Timeout: 200 * time.Millisecond}})
				key := e.mustCreate(fake.IssueSpec{Summary: "already there"})
				a := k.action(key)
				land, landNow := connectortest.Landing(t)
				e.fake.HoldWrites(1, regexp.MustCompile(k.path), land)
				e.fake.ResetCalls()
				connectortest.CheckSlowSuccess(t, connectortest.SlowWrite{
					Apply: func() error { _, err := e.conn.Apply(context.Background(), a); return err },
					Writes: func() int {
						n := 0
						for _, c := range e.calls() {
							if !strings.HasPrefix(c, "GET ") {
								n++
							}
						}
						return n
					},
					LookUp:       func() (bool, error) { return connectortest.LookUp(e.conn, a) },
					Effects:      func() int { return k.effects(e, key) },
					Land:         landNow,
					LookUpBefore: race.LookUpBefore,
				})
			})
		}
	}
}

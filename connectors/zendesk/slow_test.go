package zendesk

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/connectortest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// TestSlowSuccess_UncertainThenFoundOnlyOnceLanded: the ticket create and
// the public "corrected" comment, made by Zendesk after the connector
// gave up waiting, meet the contract of connectortest.CheckSlowSuccess.
func TestSlowSuccess_UncertainThenFoundOnlyOnceLanded(t *testing.T) {
	kinds := []struct {
		name    string
		path    string
		action  func(id string) core.Action
		effects func(e *env, id int64) int
	}{
		{"create", `^/api/v2/tickets\.json$`,
			func(string) core.Action { return createAction() },
			func(e *env, _ int64) int { return len(e.zd.Tickets()) - 1 }},
		{"public comment", `^/api/v2/tickets/\d+\.json$`,
			func(id string) core.Action {
				return core.Action{Key: "comment|corrected", Kind: core.AddComment, Public: true,
					Target: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: id}, Body: "Our developers have corrected the problem."}
			},
			func(e *env, id int64) int { tk, _ := e.zd.Ticket(id); return len(tk.Comments) - 1 }},
	}
	for _, k := range kinds {
		for _, race := range connectortest.Races {
			t.Run(k.name+"/"+race.Name, func(t *testing.T) {
				e := newEnv(t, nil)
				e.zd.SetWebhook("", "")
				// The connector's own timeout, short: the fake holds the
				// answer until the client gives up, however long that is.
				e.retry = retryhttp.Options{RetryMax: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, Timeout: 200 * time.Millisecond}
				e.c = e.connector(nil)
				id, err := e.zd.CreateTicket("ada@example.com", "Export fails", "Export fails on large files.", nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				a := k.action(itoa(id))
				land, landNow := connectortest.Landing(t)
				e.zd.HoldWrites(1, regexp.MustCompile(k.path), land)
				e.calls()
				connectortest.CheckSlowSuccess(t, connectortest.SlowWrite{
					Apply: func() error { _, err := e.c.Apply(context.Background(), a); return err },
					Writes: func() int {
						n := 0
						for _, c := range e.calls() {
							if strings.HasPrefix(c, "POST /api/v2/tickets") || strings.HasPrefix(c, "PUT ") {
								n++
							}
						}
						return n
					},
					LookUp:       func() (bool, error) { return connectortest.LookUp(e.c, a) },
					Effects:      func() int { return k.effects(e, id) },
					Land:         landNow,
					LookUpBefore: race.LookUpBefore,
				})
				// A resend with the same Idempotency-Key (the engine's, after
				// a look-up that missed) makes no second ticket either.
				if a.Kind == core.Create {
					if _, err := e.c.Apply(context.Background(), a); err != nil {
						t.Fatal(err)
					}
					if n := k.effects(e, id); n != 1 {
						t.Fatalf("%d tickets after a resend with the same key, want 1", n)
					}
				}
			})
		}
	}
}

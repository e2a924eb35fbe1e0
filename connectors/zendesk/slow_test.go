package zendesk

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// TestSlowSuccess_UncertainThenFoundOnlyOnceLanded: Zendesk makes a ticket,
// or adds the public "corrected" comment, after the connector stopped
// waiting for the answer. The write fails as uncertain (so the engine looks
// it up before writing again), is not sent twice by the client, and the
// look-up the engine makes finds it exactly when it has landed: not before
// (the engine then waits and looks again), and always after.
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
		for _, race := range []struct {
			name         string
			lookUpBefore bool
		}{{"lands as the client gives up", false}, {"lands after the first look-up", true}} {
			t.Run(k.name+"/"+race.name, func(t *testing.T) {
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
				land := make(chan struct{})
				landNow := sync.OnceFunc(func() { close(land) })
				t.Cleanup(landNow) // before the server's Close, which waits for the held write
				if !race.lookUpBefore {
					landNow()
				}
				e.zd.HoldWrites(1, regexp.MustCompile(k.path), land)
				e.calls()
				_, err = e.c.Apply(context.Background(), a)
				if !core.IsUncertain(err) {
					t.Fatalf("held write: %v; want an error of unknown outcome", err)
				}
				writes := 0
				for _, c := range e.calls() {
					if strings.HasPrefix(c, "POST /api/v2/tickets") || strings.HasPrefix(c, "PUT ") {
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
				for k.effects(e, id) == 0 {
					if time.Now().After(deadline) {
						t.Fatal("the held write never landed")
					}
					time.Sleep(5 * time.Millisecond)
				}
				if found, err := lookUp(e, a); err != nil || !found {
					t.Fatalf("look-up after the write landed: found %v, %v", found, err)
				}
				// A resend with the same Idempotency-Key (the engine's, after
				// a look-up that missed) makes nothing new either.
				if a.Kind == core.Create {
					if _, err := e.c.Apply(context.Background(), a); err != nil {
						t.Fatal(err)
					}
				}
				if n := k.effects(e, id); n != 1 {
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
		_, err := e.c.FindByMarker(ctx, a.Target.Kind, a.Marker())
		if errors.Is(err, core.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	_, done, err := e.c.Applied(ctx, a)
	return done, err
}

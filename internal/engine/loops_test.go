package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
)

// trippingSource panics in its first poll and in its first run, as a
// connector might over something a tracker or a mailbox sent, then
// works: its next poll and its next run each bring one ticket.
type trippingSource struct {
	*sandbox.Connector
	polls, runs atomic.Int32
}

func (s *trippingSource) PollInterval() time.Duration { return 5 * time.Millisecond }

func (s *trippingSource) Poll(context.Context, string) ([]core.Event, string, bool, error) {
	if s.polls.Add(1) == 1 {
		panic("poll fault")
	}
	return []core.Event{trippedTicket("polled")}, "after", false, nil
}

func (s *trippingSource) Run(ctx context.Context, sink core.Sink) error {
	if s.runs.Add(1) == 1 {
		panic("run fault")
	}
	if err := sink.Ingest(ctx, []core.Event{trippedTicket("ran")}); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

func trippedTicket(id string) core.Event {
	return core.Event{Source: "zendesk", Via: core.ViaPoll, Type: core.Created, DeliveryID: "tripped-" + id,
		Item: core.Item{Ref: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: id}, Title: "Printer on fire", Native: "new"}}
}

// TestLoops_AConnectorThatPanicsFailsItsLoopNotTheGateway: a panic in a
// connector's poll or run loop is that loop's failure: the poll is tried
// again at its next interval and the runner restarted, and the rest of
// the gateway runs on.
func TestLoops_AConnectorThatPanicsFailsItsLoopNotTheGateway(t *testing.T) {
	var src *trippingSource
	w := newWorld(t, defaults(t), func(name string, c core.Connector) core.Connector {
		if name != "zendesk" {
			return c
		}
		src = &trippingSource{Connector: c.(*sandbox.Connector)}
		return src
	})
	run(t, w.eng)
	ctx := context.Background()
	for _, id := range []string{"polled", "ran"} {
		ref := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: id}
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if c, err := w.st.CaseOf(ctx, ref); err == nil && c != 0 {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("%s never arrived (polls %d, runs %d)", ref, src.polls.Load(), src.runs.Load())
			}
		}
	}
}

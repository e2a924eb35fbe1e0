package engine

import (
	"context"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// writeResult is the snapshot of a write's target that the store keeps, so
// that the next reconcile sees the write at once. It is the snapshot the
// API returned, unless that snapshot shows a change the write does not
// explain: then someone else changed the record meanwhile (a reporter's
// reply reopened the ticket), and the API's answer carries that change
// but not its comments (an update's response has none). Kept, it would
// make the record's fields newer than its comments, and rules would read
// a mix that never existed: "reopened, but the reply says nothing". The
// write alone is kept then, on the last snapshot the gateway knew, whose
// update time lets the person's own event replace it whole.
//
// The last snapshot known is the case's, or what an earlier write of the
// same pass returned for the target (done).
func writeResult(got *core.Item, c *core.Case, done []core.Completion, a core.Action) *core.Item {
	known := c.Item(a.Target)
	for i := len(done) - 1; i >= 0; i-- {
		if it := done[i].Result.Item; it != nil && it.Ref == a.Target && it.Native != "" {
			known = it
			break
		}
	}
	switch {
	case known == nil:
		return got
	case got == nil:
		return afterWrite(*known, a)
	case got.Native == "" || !changedByOthers(known, got, a):
		return got
	}
	return afterWrite(*known, a)
}

// changedByOthers reports whether snapshot got, returned by write a, differs
// from known in a field a person changes along with a comment (status,
// priority, assignee) that a does not write. Fields a writes may come back
// normalized by the API, so they are not compared.
func changedByOthers(known, got *core.Item, a core.Action) bool {
	writes := func(name string) bool {
		_, ok := a.Fields[name]
		return a.Kind == core.SetFields && ok
	}
	switch {
	case a.Kind != core.Transition && !writes("status") && !strings.EqualFold(got.Native, known.Native):
		return true
	case !writes("priority") && !strings.EqualFold(got.Priority, known.Priority):
		return true
	case !writes("assignee") && !strings.EqualFold(got.Assignee, known.Assignee):
		return true
	}
	return false
}

// refetch reads ref whole from its connector (fields and comments, as they
// are after the write), for a write whose returned snapshot showed someone
// else's change. Unlike the write alone on the last snapshot known, it
// cannot lose that change to a snapshot of the same update time stored
// meanwhile (Zendesk's times are in seconds). Nil when the connector
// cannot fetch or the read fails: the write alone is kept then.
func (e *Engine) refetch(ctx context.Context, ref core.Ref) *core.Item {
	f, ok := e.conns[ref.System].(core.Fetcher)
	if !ok {
		return nil
	}
	select {
	case e.calls <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	defer func() { <-e.calls }()
	fctx, cancel := context.WithTimeout(ctx, e.o.ApplyTimeout)
	defer cancel()
	it, err := f.Fetch(fctx, ref)
	if err != nil || it == nil || it.Ref != ref {
		e.log.Warn("reading a record changed as it was written failed; the write alone is kept", "ref", ref.String(), "err", err)
		return nil
	}
	return it
}

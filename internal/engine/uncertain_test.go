package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
)

// slowDesk is a help desk whose ticket creates time out on our side. Each
// create either lands at once (the service finished after our timeout),
// lands later when the test says (the service is still working while we
// look), or never lands. Every attempt's time is kept.
type slowDesk struct {
	*sandbox.Connector
	clock interface{ Now() time.Time }
	// land says what becomes of the n-th create (from 0).
	land func(n int) landing
	// cancel, when set, ends the reconcile's context as the write times
	// out, as the claim's deadline does when the write took all of it.
	cancel func()

	mu    sync.Mutex
	sends []time.Time
	late  []core.Action
}

type landing int

const (
	landsNow landing = iota
	landsLater
	neverLands
)

func (d *slowDesk) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Kind != core.Create {
		return d.Connector.Apply(ctx, a)
	}
	d.mu.Lock()
	n := len(d.sends)
	d.sends = append(d.sends, d.clock.Now())
	d.mu.Unlock()
	switch d.land(n) {
	case landsNow:
		if _, err := d.Connector.Apply(ctx, a); err != nil {
			return core.Result{}, err
		}
	case landsLater:
		d.mu.Lock()
		d.late = append(d.late, a)
		d.mu.Unlock()
	}
	if d.cancel != nil {
		d.cancel()
	}
	return core.Result{}, context.DeadlineExceeded
}

// finish lets the creates still at the service land.
func (d *slowDesk) finish(t *testing.T) {
	d.mu.Lock()
	late := d.late
	d.late = nil
	d.mu.Unlock()
	for _, a := range late {
		if _, err := d.Connector.Apply(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

func (d *slowDesk) sent() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.sends...)
}

func (w *world) slowDesk(t *testing.T, land func(int) landing, o Options) *slowDesk {
	d := &slowDesk{Connector: w.sys["zendesk"], clock: w.clock, land: land}
	o.Connectors = []core.Connector{w.sys["imap"], d, w.sys["jira"], w.sys["github"]}
	w.newEngine(t, o)
	return d
}

// drainAt moves the clock by d and reconciles what is due.
func (w *world) drainAt(t *testing.T, d time.Duration) {
	t.Helper()
	w.clock.Add(d)
	if _, err := w.eng.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestUncertainCreate_ExactlyOneTicket: a ticket create that times out on
// our side may still be made by the service. Whichever way the race with
// our look-up falls, one ticket results: it is not looked up while the
// first request may still be at work, its marker is searched again while
// the search may lag, and it is created anew only when the window passed
// with nothing found.
func TestUncertainCreate_ExactlyOneTicket(t *testing.T) {
	const (
		grace  = 10 * time.Second
		window = 40 * time.Second
	)
	tests := []struct {
		name string
		land landing
		// finishAt is when, after the first attempt, the late create
		// lands (landsLater).
		finishAt  time.Duration
		wantSends int
	}{
		{"landed before the look-up", landsNow, 0, 1},
		{"lands after the timeout and grace, while the search is repeated", landsLater, 55 * time.Second, 1},
		{"lands just after the first request's time ran out", landsLater, 31 * time.Second, 1},
		{"never lands: made once, after the window", neverLands, 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, defaults(t))
			d := w.slowDesk(t, func(n int) landing {
				if n == 0 {
					return tc.land
				}
				return landsNow
			}, Options{UncertainGrace: grace, LookupWindow: window})
			w.submit(t, mails(t, w, 1)...)
			w.drain(t) // the first attempt: times out
			if n := len(d.sent()); n != 1 {
				t.Fatalf("%d creates sent, want 1", n)
			}
			first := d.sent()[0]
			finished := false
			for step := 0; step < 60; step++ {
				w.drainAt(t, 5*time.Second)
				if tc.land == landsLater && !finished && w.clock.Now().Sub(first) >= tc.finishAt {
					d.finish(t)
					finished = true
				}
				if step == 2 && len(d.sent()) > 1 {
					t.Fatalf("resent %v after the first attempt, while it could still be at work", d.sent()[1].Sub(first))
				}
			}
			if got := len(w.sys["zendesk"].Records(core.CustomerTicket)); got != 1 {
				t.Fatalf("%d tickets at the help desk, want 1 (creates sent at %v)", got, d.sent())
			}
			if got := len(d.sent()); got != tc.wantSends {
				t.Fatalf("%d creates sent, want %d", got, tc.wantSends)
			}
			if tc.wantSends > 1 {
				// inFlight is the lease (30s) here: the apply timeout is longer.
				if gap := d.sent()[1].Sub(first); gap < 30*time.Second+grace+window {
					t.Fatalf("created anew %v after the first attempt, before the look-up window ended", gap)
				}
			}
			if _, actions, err := w.st.QueueDepth(context.Background()); err != nil || actions != 0 {
				t.Fatalf("%d actions still pending (err %v)", actions, err)
			}
		})
	}
}

// TestTimeouts_ReachTheDeadLetterList: a write that always times out, and
// whose reconcile's context runs out with it, is still recorded as an
// attempt each time: the waits between attempts grow as the backoff says,
// and after MaxAttempts it is in the dead-letter list.
func TestTimeouts_ReachTheDeadLetterList(t *testing.T) {
	const base = 2 * time.Minute
	w := newWorld(t, defaults(t))
	d := w.slowDesk(t, func(int) landing { return neverLands },
		Options{MaxAttempts: 5, BackoffBase: base, BackoffMax: time.Hour, UncertainGrace: time.Second, LookupWindow: time.Second})
	w.submit(t, mails(t, w, 1)...)
	ctx := context.Background()
	for step := 0; step < 200; step++ {
		dead, err := w.st.DeadLetters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) > 0 {
			break
		}
		w.clock.Add(time.Second)
		if c, err := w.st.CaseOf(ctx, mailRef(0)); err == nil {
			if p, err := w.st.Actions(ctx, c, core.Pending); err == nil && len(p) > 0 && p[0].NextAttempt.After(w.clock.Now()) {
				w.clock.Set(p[0].NextAttempt)
			}
		}
		dctx, cancel := context.WithCancel(ctx)
		d.cancel = cancel
		_, _ = w.eng.Drain(dctx)
		cancel()
	}
	dead, err := w.st.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sends := d.sent()
	if len(dead) != 1 || dead[0].Attempts != 5 {
		t.Fatalf("dead letters %v after %d sends; want the create, after 5 attempts", dead, len(sends))
	}
	if len(sends) != 5 {
		t.Fatalf("%d sends, want 5", len(sends))
	}
	var prev time.Duration
	for i := 1; i < len(sends); i++ {
		gap := sends[i].Sub(sends[i-1])
		step := base << (i - 1)
		// Half to all of the step (jitter), and a second of the test's
		// clock steps on top.
		if gap < step/2 || gap > step+2*time.Second {
			t.Errorf("wait before attempt %d: %v, want %v to %v", i+1, gap, step/2, step)
		}
		if gap < prev {
			t.Errorf("wait before attempt %d: %v, shorter than the one before (%v)", i+1, gap, prev)
		}
		prev = gap
	}
}

// refusingDesk answers every ticket create with a 429 asking for a wait
// of ten years.
type refusingDesk struct{ *sandbox.Connector }

func (d refusingDesk) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Kind == core.Create {
		return core.Result{}, core.RetryAfter(errors.New("POST /api/v2/tickets: 429 Too Many Requests"), 10*365*24*time.Hour)
	}
	return d.Connector.Apply(ctx, a)
}

// TestRetryAfter_IsCappedAndCounts: a service asking for a wait of years
// gets RetryAfterMax, and the attempt counts towards MaxAttempts.
func TestRetryAfter_IsCappedAndCounts(t *testing.T) {
	w := newWorld(t, defaults(t))
	w.newEngine(t, Options{RetryAfterMax: time.Hour, MaxAttempts: 3,
		Connectors: []core.Connector{w.sys["imap"], refusingDesk{w.sys["zendesk"]}, w.sys["jira"], w.sys["github"]}})
	w.submit(t, mails(t, w, 1)...)
	ctx := context.Background()
	for attempt := 1; attempt <= 3; attempt++ {
		before := w.clock.Now()
		w.drainAt(t, time.Second)
		if attempt == 3 {
			break
		}
		c, err := w.st.CaseOf(ctx, mailRef(0))
		if err != nil {
			t.Fatal(err)
		}
		pending, err := w.st.Actions(ctx, c, core.Pending)
		if err != nil || len(pending) != 1 {
			t.Fatalf("pending %v (err %v), want the create", pending, err)
		}
		a := pending[0]
		if a.Attempts != attempt {
			t.Fatalf("after attempt %d the outbox counts %d", attempt, a.Attempts)
		}
		if wait := a.NextAttempt.Sub(before); wait > time.Hour+2*time.Second || wait < time.Hour {
			t.Fatalf("next attempt in %v, want the cap of 1h", wait)
		}
		w.clock.Set(a.NextAttempt)
	}
	if dead, err := w.st.DeadLetters(ctx); err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %v (err %v) after 3 attempts, want the create", dead, err)
	}
}

// mailRef is the thread of the i-th mail that mails puts.
func mailRef(i int) core.Ref {
	return core.Ref{System: "imap", Kind: core.EmailThread, ID: fmt.Sprintf("<m%d@customer.example>", i)}
}

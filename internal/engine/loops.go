package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
)

// PollIntervaler is implemented by pollers that want their own interval.
type PollIntervaler interface{ PollInterval() time.Duration }

func (e *Engine) pollLoop(ctx context.Context, name string, p core.Poller) {
	every := e.o.PollInterval
	if pi, ok := p.(PollIntervaler); ok && pi.PollInterval() > 0 {
		every = pi.PollInterval()
	}
	// The lease outlives one interval so that the holder keeps it between
	// polls, and lapses soon after a holder dies.
	lease := max(3*every, e.o.Lease)
	for {
		held, err := e.o.Store.Lease(ctx, "poll:"+name, e.o.Owner, e.o.Clock.Now(), lease)
		if err != nil && ctx.Err() == nil {
			e.log.Error("taking poll lease failed", "source", name, "err", err)
		}
		if held {
			err := e.contained("polling "+name, func() error { _, err := e.PollOnce(ctx, name, p); return err })
			if err != nil && ctx.Err() == nil {
				e.log.Warn("poll failed; will try again", "source", name, "err", err)
			}
		}
		if !clock.Sleep(ctx, every) {
			return
		}
	}
}

// PollOnce reads every page the source has since its stored cursor, making
// each page durable before its cursor is stored, and returns how many
// events were new.
func (e *Engine) PollOnce(ctx context.Context, name string, p core.Poller) (int, error) {
	fresh := 0
	for ctx.Err() == nil {
		cur, err := e.o.Store.Cursor(ctx, name)
		if err != nil {
			return fresh, err
		}
		evs, next, more, err := p.Poll(ctx, cur)
		if err != nil {
			return fresh, err
		}
		ok, err := e.Submit(ctx, evs)
		if err != nil {
			return fresh, err
		}
		for _, b := range ok {
			if b {
				fresh++
			}
		}
		if next != cur {
			if err := e.o.Store.SetCursor(ctx, name, next); err != nil {
				return fresh, err
			}
		}
		if !more {
			break
		}
	}
	if fresh > 0 {
		e.log.Info("poll found changes", "source", name, "new", fresh)
	}
	return fresh, ctx.Err()
}

func (e *Engine) runLoop(ctx context.Context, name string, r core.Runner) {
	wait := time.Second
	for ctx.Err() == nil {
		err := e.contained("connector "+name, func() error { return r.Run(ctx, sink{e}) })
		if ctx.Err() != nil {
			return
		}
		e.log.Warn("connector stopped; restarting", "connector", name, "in", wait.String(), "err", err)
		if !clock.Sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, 5*time.Minute)
	}
}

func (e *Engine) retentionLoop(ctx context.Context) {
	for {
		now := e.o.Clock.Now()
		n, err := e.o.Store.Prune(ctx, now.Add(-e.o.RawRetention), now.Add(-e.o.AuditRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			e.log.Error("pruning failed", "err", err)
		case n > 0:
			e.log.Info("pruned old raw bodies and audit entries", "rows", n)
		}
		if !clock.Sleep(ctx, time.Hour) {
			return
		}
	}
}

// contained runs a connector's code outside any reconcile's recover (a
// poll, a run loop, a read of a linked record), turning a panic into its
// error: a connector that trips over what a tracker or a mailbox sent
// must fail that poll or read, or stop its own loop to be restarted, not
// stop the gateway for every other system.
func (e *Engine) contained(what string, fn func() error) error {
	err := core.Contain(fn)
	var p *core.Panic
	if errors.As(err, &p) {
		e.log.Error(what+" panicked", "panic", p.Text, "stack", string(p.Stack))
		return fmt.Errorf("%s %w", what, err)
	}
	return err
}

package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/liaisonhq/liaison/core"
)

const (
	// deliveryWindow is how long GitHub keeps a hook's deliveries.
	deliveryWindow = 72 * time.Hour
	// maxAttempts bounds the deliveries of one event (the first included):
	// an endpoint that keeps failing is not hammered for three days.
	maxAttempts = 5
	// maxDeliveryPages bounds one sweep's listing of a hook's deliveries.
	maxDeliveryPages = 20
)

// Start begins the redelivery of failed webhook deliveries when hook_id is
// configured: one sweep now, then one every redeliver_interval, until ctx
// ends. It returns at once.
func (c *Connector) Start(ctx context.Context) error {
	if len(c.set.hooks) == 0 || !c.set.webhooks {
		return nil
	}
	go func() {
		t := time.NewTicker(c.set.redeliverInterval)
		defer t.Stop()
		for {
			if _, err := c.Redeliver(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("github: redelivery sweep failed", "instance", c.name, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Redeliver makes one sweep over the configured hooks: it lists each hook's
// deliveries of the last three days and asks GitHub to redeliver every event
// none of whose deliveries succeeded and whose last one failed in a way
// that may pass (no answer, 429 or 5xx: a 400 or 401 would fail again),
// unless it was tried maxAttempts times or asked for in this interval
// already. It returns how many redeliveries were asked for.
func (c *Connector) Redeliver(ctx context.Context) (int, error) {
	var errs []error
	total := 0
	for _, h := range c.set.hooks {
		n, err := c.redeliverHook(ctx, h)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h, err))
		}
	}
	if total > 0 {
		redeliveries.WithLabelValues(c.name).Add(float64(total))
	}
	return total, errors.Join(errs...)
}

// attempts is what the listing says about one event (one guid).
type attempts struct {
	count     int
	succeeded bool
	last      *gh.HookDelivery
}

func (c *Connector) redeliverHook(ctx context.Context, h hook) (int, error) {
	now := c.now()
	horizon := now.Add(-deliveryWindow)
	byGUID := map[string]*attempts{}
	var order []string
	opts := &gh.ListCursorOptions{PerPage: 100}
	for page := 0; page < maxDeliveryPages; page++ {
		var (
			ds   []*gh.HookDelivery
			resp *gh.Response
			err  error
		)
		if h.repo != "" {
			ds, resp, err = c.gh.Repositories.ListHookDeliveries(ctx, h.owner, h.repo, h.id, opts)
		} else {
			ds, resp, err = c.gh.Organizations.ListHookDeliveries(ctx, h.owner, h.id, opts)
		}
		if err != nil {
			return 0, fmt.Errorf("listing deliveries: %w", classify(resp, err))
		}
		old := false
		for _, d := range ds {
			if d.GetDeliveredAt().Time.Before(horizon) {
				old = true // newest first: the rest is older still
				break
			}
			a := byGUID[d.GetGUID()]
			if a == nil {
				a = &attempts{}
				byGUID[d.GetGUID()] = a
				order = append(order, d.GetGUID())
			}
			a.count++
			code := d.GetStatusCode()
			if code >= 200 && code < 300 {
				a.succeeded = true
			}
			if a.last == nil || d.GetDeliveredAt().Time.After(a.last.GetDeliveredAt().Time) {
				a.last = d
			}
		}
		if old || resp.Cursor == "" {
			break
		}
		opts.Cursor = resp.Cursor
	}

	asked := 0
	var errs []error
	for _, guid := range order {
		a := byGUID[guid]
		if a.succeeded || a.count >= maxAttempts || !transient(a.last.GetStatusCode()) {
			continue
		}
		c.mu.Lock()
		at, dup := c.asked[guid]
		if dup && now.Sub(at) < c.set.redeliverInterval {
			c.mu.Unlock()
			continue // asked already; GitHub may not list the new attempt yet
		}
		c.asked[guid] = now
		for g, t := range c.asked {
			if now.Sub(t) > deliveryWindow {
				delete(c.asked, g)
			}
		}
		c.mu.Unlock()
		var (
			resp *gh.Response
			err  error
		)
		if h.repo != "" {
			_, resp, err = c.gh.Repositories.RedeliverHookDelivery(ctx, h.owner, h.repo, h.id, a.last.GetID())
		} else {
			_, resp, err = c.gh.Organizations.RedeliverHookDelivery(ctx, h.owner, h.id, a.last.GetID())
		}
		var accepted *gh.AcceptedError
		if err != nil && !errors.As(err, &accepted) {
			c.mu.Lock()
			delete(c.asked, guid)
			c.mu.Unlock()
			errs = append(errs, fmt.Errorf("redelivering delivery %d: %w", a.last.GetID(), classify(resp, err)))
			continue
		}
		asked++
		c.log.Info("github: asked for redelivery", "instance", c.name, "hook", h.String(), "delivery", a.last.GetID(), "event", a.last.GetEvent())
	}
	return asked, errors.Join(errs...)
}

// transient reports whether a failed delivery's answer may change: no
// answer at all (timeout, refused connection), a rate limit, or a 5xx.
func transient(code int) bool {
	return code == 0 || code == http.StatusTooManyRequests || code >= 500
}

// CheckMappings checks what the mappings say about this instance: only
// pull_request records exist, and their native statuses are open, draft,
// merged and closed.
func (c *Connector) CheckMappings(_ context.Context, m *core.Mappings) error {
	pats := m.Patterns
	c.patterns.Store(&pats)
	sys := m.Systems[c.name]
	if sys == nil {
		return nil
	}
	var errs []error
	for k, km := range sys.Kinds {
		if k != core.PullRequest {
			errs = append(errs, fmt.Errorf("%s: github %q holds only %s records, not %q", sys.Pos, c.name, core.PullRequest, k))
			continue
		}
		for native := range km.Statuses {
			if !isNative(native) {
				errs = append(errs, fmt.Errorf("%s: github %q: unknown pull request status %q (known: open, draft, merged, closed)", sys.Pos, c.name, native))
			}
		}
		if len(km.Create) > 0 {
			errs = append(errs, fmt.Errorf("%s: github %q: pull requests cannot be created; remove create", sys.Pos, c.name))
		}
	}
	return errors.Join(errs...)
}

func isNative(s string) bool {
	for _, n := range NativeStatuses {
		if n == s {
			return true
		}
	}
	return false
}

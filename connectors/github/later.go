package github

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/liaisonhq/liaison/core"
)

// laterQueue bounds the reads waiting for the connector's Run; a delivery
// that finds it full is answered 5xx, and GitHub redelivers it.
const laterQueue = 4096

// laterTries is how often a deferred read is tried before it is left to
// the poll, which reads the same pull requests with their commits.
const laterTries = 3

// laterRead is API work a delivery needs that is done after its
// acknowledgement, so that a webhook's answer never waits on GitHub:
// a pull request's commits (only when a key could be in them and is in no
// other part of it), or the pull requests a push touched.
type laterRead struct {
	id   string // the delivery id
	repo string
	// A pull request delivery: the event as acknowledged, without commits.
	pr *gh.PullRequest
	ev core.Event
	// A push: the branch and the commits pushed, with the raw body (the
	// delivery's own answer stored no event).
	branch string
	pushed []*gh.HeadCommit
	raw    []byte
}

// deferRead queues r for Run. A full queue fails the delivery (temporary),
// so that GitHub sends it again rather than the read being lost.
func (c *Connector) deferRead(r laterRead) error {
	select {
	case c.later <- r:
		return nil
	default:
		return fmt.Errorf("github %q: %d reads already wait for the API; delivery refused for now", c.name, laterQueue)
	}
}

// commitsMayLink reports whether a pull request's commits are worth reading:
// some link pattern searches commit messages, and no pattern finds a key
// in the title, body or branch already. Without mappings (not checked yet)
// it says yes.
func (c *Connector) commitsMayLink(it *core.Item) bool {
	pats := c.patterns.Load()
	if pats == nil {
		return true
	}
	searches := false
	for _, p := range *pats {
		if !p.From.Matches(it.Ref) {
			continue
		}
		if len(p.Find(it)) > 0 {
			return false
		}
		searches = searches || slices.Contains(p.In, "commits")
	}
	return searches
}

// knownCommits returns the commits last read for a pull request, if any,
// and whether they were read at head (then they are its commits now).
func (c *Connector) knownCommits(id, head string) (cl commitList, ok, atHead bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok = c.commits[id]
	return cl, ok, ok && head != "" && cl.head == head
}

// Run does the reads deliveries deferred (see laterRead) and hands what
// they find to the engine as further events of the same delivery. A read
// that keeps failing is logged and left to the poll.
func (c *Connector) Run(ctx context.Context, sink core.Sink) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-c.later:
			c.readLater(ctx, sink, r)
		}
	}
}

// drainLater does the deferred reads queued now, in order (tests).
func (c *Connector) drainLater(ctx context.Context, sink core.Sink) {
	for {
		select {
		case r := <-c.later:
			c.readLater(ctx, sink, r)
		default:
			return
		}
	}
}

func (c *Connector) readLater(ctx context.Context, sink core.Sink, r laterRead) {
	wait := c.laterWait
	var (
		evs  []core.Event
		read bool // evs holds what the API gave: a retry ingests them again, without reading again
	)
	for try := 1; ; try++ {
		var err error
		if !read {
			evs, err = c.later1(ctx, r)
			read = err == nil
		}
		if err == nil && len(evs) > 0 {
			err = sink.Ingest(ctx, evs)
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		if perm, _ := core.Classify(err); perm || try >= laterTries {
			c.log.Warn("github: deferred read given up; the poll reads it", "instance", c.name, "repository", r.repo, "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// later1 reads what r needs and returns the events it makes.
func (c *Connector) later1(ctx context.Context, r laterRead) ([]core.Event, error) {
	if r.pr != nil {
		ev := r.ev
		it, err := c.tolerantSnapshot(ctx, r.repo, r.pr)
		if err != nil {
			return nil, err
		}
		if it.Fields["commits"] == ev.Item.Fields["commits"] {
			return nil, nil // nothing the acknowledged event lacked
		}
		it.Seen = ev.Item.Seen
		ev.Item, ev.DeliveryID, ev.Raw = it, r.id+"/commits", nil
		return []core.Event{ev}, nil
	}
	var out []core.Event
	for _, num := range c.openOn(r.repo, r.branch) {
		n, _ := strconv.Atoi(num)
		pr, err := c.getPR(ctx, r.repo, n)
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		it, err := c.tolerantSnapshot(ctx, r.repo, pr)
		if err != nil {
			return nil, err
		}
		appendPushed(&it, c.commitsKnown(it.Ref.ID), r.pushed)
		it.Seen = []core.EventType{core.Pushed}
		// One delivery may touch several pull requests: one event each.
		out = append(out, core.Event{Source: c.name, DeliveryID: r.id + "/" + it.Ref.ID, Via: core.ViaWebhook,
			Type: core.Pushed, Item: it, At: c.now(), Raw: r.raw})
	}
	return out, nil
}

package engine

import (
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// webhookGrace is how long a change that polling found first may wait for
// its webhook before it counts as missed: a poll runs beside the webhooks
// and may see a change a few moments before its delivery arrives.
const webhookGrace = time.Minute

// maxPendingFinds bounds pollFinds; beyond it a find counts at once.
const maxPendingFinds = 10000

// pollFinds decides which changes polling found were missed by the
// webhooks (liaison_poll_found_missed_total). A change the store held
// already, at that version or a newer one, was brought by something else
// and is not counted at all; one the poll found first counts once
// webhookGrace has passed without a webhook bringing that version of the
// record or a later one.
type pollFinds struct {
	mu      sync.Mutex
	pending map[core.Ref]pollFind
	// oldest is no later than the earliest find pending, so that due,
	// which runs for every ingested batch, scans only when one can be due.
	oldest time.Time
}

type pollFind struct {
	source  string
	version core.Item // UpdatedAt and Version of what the poll found
	at      time.Time
}

// found records a change a poll found that the store did not hold; it
// reports true when the find must count at once (too many wait).
func (p *pollFinds) found(source string, it *core.Item, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[core.Ref]pollFind{}
	}
	if prev, ok := p.pending[it.Ref]; ok {
		if prev.source == source {
			// One record waiting is one missed webhook at most: keep
			// the newer version, from the first find's time.
			prev.version = core.Item{UpdatedAt: it.UpdatedAt, Version: it.Version}
			p.pending[it.Ref] = prev
			return false
		}
	}
	if len(p.pending) >= maxPendingFinds {
		return true
	}
	p.pending[it.Ref] = pollFind{source: source, version: core.Item{UpdatedAt: it.UpdatedAt, Version: it.Version}, at: now}
	if len(p.pending) == 1 || now.Before(p.oldest) {
		p.oldest = now
	}
	return false
}

// brought records a version of a record that a webhook or a push brought:
// a poll that found it, or an older one, first did not find a missed
// webhook.
func (p *pollFinds) brought(it *core.Item) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.pending[it.Ref]; ok && core.Newer(it, &f.version) {
		delete(p.pending, it.Ref)
	}
}

// due returns the sources of the finds whose grace is over, forgetting them.
func (p *pollFinds) due(now time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 || now.Sub(p.oldest) < webhookGrace {
		return nil
	}
	var out []string
	oldest := now
	for r, f := range p.pending {
		if now.Sub(f.at) >= webhookGrace {
			out = append(out, f.source)
			delete(p.pending, r)
		} else if f.at.Before(oldest) {
			oldest = f.at
		}
	}
	p.oldest = oldest
	return out
}

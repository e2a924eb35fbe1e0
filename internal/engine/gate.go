package engine

import (
	"sync"
	"time"
)

// actionGate lets one worker of this process at a time apply an action
// key, and none apply it again soon after it was recorded done. Claims keep
// two workers off one case, but when two cases are joined while both are
// being reconciled (a record the gateway just created arrives by webhook
// before the create is recorded), two workers can hold the same pending
// action for a moment; the gate makes the second one leave it alone.
// Across replicas the claims and the check at the target (AppliedChecker)
// do the same job.
type actionGate struct {
	mu       sync.Mutex
	inflight map[string]bool
	done     map[string]time.Time
	// order holds the done keys oldest first, so that forgetting them
	// costs nothing per key however many there are.
	order []doneKey
}

type doneKey struct {
	key string
	at  time.Time
}

// doneMemory is how long a done key is remembered: longer than a worker
// holds a stale list of pending actions (one pass of a claim, which ends
// before its lease).
const doneMemory = 2 * time.Minute

func newActionGate() *actionGate {
	return &actionGate{inflight: map[string]bool{}, done: map[string]time.Time{}}
}

// enter reports whether the caller may apply key now; it must then call
// leave. It refuses a key another worker is applying or recently applied.
func (g *actionGate) enter(key string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight[key] {
		return false
	}
	if at, ok := g.done[key]; ok && now.Sub(at) < doneMemory {
		return false
	}
	g.inflight[key] = true
	return true
}

// leave ends the caller's turn; done records that the action was applied.
func (g *actionGate) leave(key string, done bool, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.inflight, key)
	if !done {
		return
	}
	n := 0
	for ; n < len(g.order) && now.Sub(g.order[n].at) >= doneMemory; n++ {
		if g.done[g.order[n].key] == g.order[n].at {
			delete(g.done, g.order[n].key)
		}
	}
	g.order = append(g.order[n:], doneKey{key, now})
	g.done[key] = now
}

package server

import "sync"

// storedKeys is how many stored deliveries the server remembers, per
// server, to recognise their replays: about 1.5 MiB at most.
const storedKeys = 16384

// replays remembers the verified deliveries this process stored, by
// instance and the key their receiver gave (core.WebhookVerifier), the
// oldest forgotten first. Only a delivery that was stored is remembered:
// one refused with 503 must be taken when its sender retries it.
type replays struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int
}

func newReplays() *replays {
	return &replays{seen: make(map[string]struct{}, storedKeys), ring: make([]string, storedKeys)}
}

func replayKey(instance, key string) string { return instance + "\x00" + key }

// stored reports whether the delivery of instance with key was stored.
func (r *replays) stored(instance, key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.seen[replayKey(instance, key)]
	return ok
}

// remember notes that the delivery of instance with key was stored.
func (r *replays) remember(instance, key string) {
	k := replayKey(instance, key)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[k]; ok {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.seen, old)
	}
	r.ring[r.next] = k
	r.seen[k] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}

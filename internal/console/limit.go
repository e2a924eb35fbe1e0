package console

import (
	"net"
	"sync"
	"time"
)

// signInLimit slows down password guessing on the local sign-in form:
// after too many refused sign-ins within a window, by one name or from
// one address, further tries are refused without a bcrypt comparison
// until the window has passed. Each replica counts on its own, so a
// guesser behind a load balancer gets replicas × the allowance.
type signInLimit struct {
	window         time.Duration
	perName, perIP int
	mu             sync.Mutex
	refused        map[string]*refusals
	maxTracked     int
}

type refusals struct {
	n     int
	first time.Time
}

func newSignInLimit() *signInLimit {
	return &signInLimit{window: 15 * time.Minute, perName: 10, perIP: 30, refused: map[string]*refusals{}, maxTracked: 10000}
}

// addrOf is the host of a request's remote address (the proxy's, behind
// one: forwarded headers are not trusted).
func addrOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// allowed says whether name may try to sign in from addr now.
func (l *signInLimit) allowed(now time.Time, name, addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.under(now, "n:"+name, l.perName) && l.under(now, "a:"+addr, l.perIP)
}

func (l *signInLimit) under(now time.Time, key string, max int) bool {
	r, ok := l.refused[key]
	if !ok {
		return true
	}
	if now.Sub(r.first) >= l.window {
		delete(l.refused, key)
		return true
	}
	return r.n < max
}

// refuse counts a refused sign-in of name from addr.
func (l *signInLimit) refuse(now time.Time, name, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.refused) >= l.maxTracked {
		// Keep the memory bounded: forget windows that have passed,
		// and if that is not enough, start over.
		for k, r := range l.refused {
			if now.Sub(r.first) >= l.window {
				delete(l.refused, k)
			}
		}
		if len(l.refused) >= l.maxTracked {
			clear(l.refused)
		}
	}
	for _, key := range []string{"n:" + name, "a:" + addr} {
		r, ok := l.refused[key]
		if !ok || now.Sub(r.first) >= l.window {
			r = &refusals{first: now}
			l.refused[key] = r
		}
		r.n++
	}
}

// forget clears a name's refusals after it signed in.
func (l *signInLimit) forget(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.refused, "n:"+name)
}

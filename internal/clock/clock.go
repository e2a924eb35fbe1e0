// Package clock holds clocks for tests and fakes, and Sleep, the wait of
// the loops that run on the wall clock.
//
// Manual is a core.Clock that moves only when told, so a test decides
// exactly when a deadline, a pause or a replay window passes, without
// sleeping. Fakes that take a func() time.Time are given its Now method.
package clock

import (
	"context"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Manual is a clock that shows the time it was last set to and moves only
// through Add and Set. It is safe for concurrent use: a connector's
// goroutines may read it while the test moves it. The zero value shows the
// zero time.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// NewManual returns a clock showing t.
func NewManual(t time.Time) *Manual { return &Manual{now: t} }

// Now returns the time the clock shows. It implements core.Clock.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Add moves the clock by d (backwards when d is negative).
func (m *Manual) Add(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
}

// Set makes the clock show t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t
}

var _ core.Clock = (*Manual)(nil)

// Sleep waits for d or until ctx ends, and reports whether ctx is still
// alive.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

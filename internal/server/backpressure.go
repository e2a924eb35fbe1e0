package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/liaisonhq/liaison/internal/clock"
)

// maxSlowdown is the longest an acknowledgement is held back while the
// workers are behind but within the bound: well inside the second Jira
// and GitHub allow an answer, so that slowing never turns into a failed
// delivery.
const maxSlowdown = 200 * time.Millisecond

// pressure says what to do with a delivery given how far the workers are
// behind: nothing while lag is under half of bound; from there, hold the
// answer back, longer the nearer lag gets to bound (senders that deliver
// one at a time, as GitHub does per hook, slow down with it); past bound,
// refuse with 503 and a Retry-After of the excess, so that senders back
// off and the delay from event to write stays bounded. bound 0 disables it.
func pressure(lag, bound time.Duration) (slow time.Duration, refuse bool, retryAfter int) {
	if bound <= 0 || lag <= bound/2 {
		return 0, false, 0
	}
	if lag > bound {
		return 0, true, max(1, int((lag-bound+time.Second-1)/time.Second))
	}
	return time.Duration(float64(maxSlowdown) * float64(lag-bound/2) / float64(bound/2)), false, 0
}

// backpressure applies pressure to one delivery: it holds the answer back
// or answers 503 itself, and reports whether the delivery may go on.
func (s *Server) backpressure(ctx context.Context, w http.ResponseWriter, name string) bool {
	if s.o.Lag == nil {
		return true
	}
	lag := s.o.Lag()
	slow, refuse, retry := pressure(lag, s.o.MaxLag)
	if refuse {
		if s.o.Rejected != nil {
			s.o.Rejected.WithLabelValues(name, "behind").Inc()
		}
		s.o.Log.Warn("webhook refused: the workers are behind; sender will retry", "source", name, "lag", lag.Round(time.Millisecond).String(), "max_lag", s.o.MaxLag.String())
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		http.Error(w, "behind, try again later", http.StatusServiceUnavailable)
		return false
	}
	if slow > 0 {
		return clock.Sleep(ctx, slow)
	}
	return true
}

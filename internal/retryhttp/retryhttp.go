// Package retryhttp is the HTTP client under every connector's API client:
// go-retryablehttp with a backoff that waits as long as the service asked
// (Retry-After, rate-limit reset headers), retries 429 and 5xx, and never
// retries a 4xx that would fail again. What is still failing after the
// client's few retries is classified once (Classify) for the outbox, which
// retries on a longer scale.
package retryhttp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/liaisonhq/liaison/core"
)

// Options tune a client. Zero values pick production defaults.
type Options struct {
	// RetryMax is how many times one request is retried in place (default 3).
	RetryMax int
	// MinWait and MaxWait bound the exponential backoff (default 200ms, 5s).
	MinWait, MaxWait time.Duration
	// MaxHonoured is the longest server-requested wait the client sits out
	// in place (default 10s). A longer Retry-After is not waited for here:
	// the response goes back to the caller, whose Classify turns it into a
	// core.RetryAfter so the outbox retries later and the worker moves on.
	MaxHonoured time.Duration
	// Timeout bounds one attempt, headers and body (default 30s).
	Timeout time.Duration
	// Transport is the underlying round tripper (default NewTransport()).
	Transport http.RoundTripper
	// Refuse, when set, names answers that go back to the caller at once
	// instead of being retried in place (Jira's per-issue write limit).
	Refuse func(*http.Response) bool
	// Sleep, when set, replaces the wait between attempts (tests).
	OnRetry func(attempt int, wait time.Duration, resp *http.Response)
	// NoRedirect hands a redirect back as the answer it is, never
	// following it: for a client whose requests carry a credential in
	// their body, which a 307 would re-send to wherever it points.
	NoRedirect bool
}

// MaxIdlePerHost is how many idle connections a connector keeps to its
// service: at least the calls it makes at once (the engine's workers, 16
// by default, up to 64), so that a call never waits for a connection
// while another closes one. net/http's default is 2, which under load
// opens a new connection (a TLS handshake, against a cloud service) for
// most requests.
const MaxIdlePerHost = 64

// NewTransport returns the transport one connector instance keeps for its
// life: connections reused (MaxIdlePerHost), HTTP/2 where the service
// offers it, proxies from the environment as net/http's default does.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * MaxIdlePerHost
	t.MaxIdleConnsPerHost = MaxIdlePerHost
	t.IdleConnTimeout = 90 * time.Second
	t.ForceAttemptHTTP2 = true
	return t
}

// New returns an *http.Client that retries as described in the package doc.
func New(o Options) *http.Client {
	if o.RetryMax == 0 {
		o.RetryMax = 3
	}
	if o.RetryMax < 0 {
		o.RetryMax = 0
	}
	if o.MinWait == 0 {
		o.MinWait = 200 * time.Millisecond
	}
	if o.MaxWait == 0 {
		o.MaxWait = 5 * time.Second
	}
	if o.MaxHonoured == 0 {
		o.MaxHonoured = 10 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	c := retryablehttp.NewClient()
	c.Logger = nil // its logger prints URLs, which may carry tokens
	c.RetryMax = o.RetryMax
	c.RetryWaitMin = o.MinWait
	c.RetryWaitMax = o.MaxWait
	c.HTTPClient.Timeout = o.Timeout
	c.HTTPClient.Transport = o.Transport
	if o.Transport == nil {
		c.HTTPClient.Transport = NewTransport()
	}
	c.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err != nil {
			// A write whose connection broke or timed out after
			// it may have been sent may still take effect at the
			// service: sending it again here could write twice. It goes
			// back to the outbox as uncertain (core.IsUncertain), which
			// looks it up before writing again.
			if !idempotentMethod(ctx) && core.IsUncertain(err) {
				return false, nil
			}
			return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
		}
		if !Retryable(resp.StatusCode) || (o.Refuse != nil && o.Refuse(resp)) {
			return false, nil
		}
		// A write answered 5xx may have been applied before the
		// failure (a comment posted, then a 502 from a proxy). Retrying it
		// here could write twice; the outbox retries it instead, after
		// asking the connector whether it landed (core.AppliedChecker).
		// 429 and 503 mean the request was turned away, so they are safe.
		if !idempotent(resp.Request) && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
			return false, nil
		}
		// A wait longer than we sit out in place goes back to the outbox.
		if w, ok := ServerWait(resp, time.Now()); ok && w > o.MaxHonoured {
			return false, nil
		}
		return true, nil
	}
	c.Backoff = func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
		wait := exp(min, max, attempt)
		if resp != nil {
			if w, ok := ServerWait(resp, time.Now()); ok {
				wait = w
			}
		}
		if o.OnRetry != nil {
			o.OnRetry(attempt, wait, resp)
		}
		return wait
	}
	// Give the caller the last response rather than a generic error, so
	// that it can read the status and Classify it.
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	// CheckRetry sees the request's context but not the request: the
	// method rides in the context.
	rt := &retryablehttp.RoundTripper{Client: c}
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return rt.RoundTrip(r.WithContext(context.WithValue(r.Context(), methodKey{}, r.Method)))
	})}
	if o.NoRedirect {
		// Both clients: the inner one, which sends each attempt, and the
		// outer one, which would follow the 3xx the inner one returns.
		keep := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c.HTTPClient.CheckRedirect, hc.CheckRedirect = keep, keep
	}
	return hc
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type methodKey struct{}

// idempotentMethod reports whether the request that ctx belongs to may be
// sent twice with no second effect (see safe).
func idempotentMethod(ctx context.Context) bool {
	m, _ := ctx.Value(methodKey{}).(string)
	return safe(m)
}

func idempotent(r *http.Request) bool {
	return r == nil || safe(r.Method)
}

// safe reports whether a method reads only. Every write counts as one
// that may add something when sent twice: a PUT is idempotent by the
// book, but Zendesk adds a ticket's comments with one.
func safe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "":
		return true
	}
	return false
}

func exp(min, max time.Duration, attempt int) time.Duration {
	w := time.Duration(float64(min) * math.Pow(2, float64(attempt)))
	if w > max || w <= 0 {
		return max
	}
	return w
}

// Retryable reports whether an HTTP status is worth retrying: 429 and the
// 5xx that mean "not now" (501 Not Implemented will not change).
func Retryable(status int) bool {
	return status == http.StatusTooManyRequests || (status >= 500 && status != http.StatusNotImplemented)
}

// ServerWait reads how long the service asked us to wait: Retry-After
// (seconds or an HTTP date), then the rate-limit reset headers GitHub
// (X-RateLimit-Reset, epoch seconds, when X-RateLimit-Remaining is 0),
// Jira (X-RateLimit-Reset, an ISO 8601 time) and Zendesk (ratelimit-reset,
// seconds) send.
func ServerWait(resp *http.Response, now time.Time) (time.Duration, bool) {
	h := resp.Header
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return nonNeg(t.Sub(now)), true
		}
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" && (h.Get("X-RateLimit-Remaining") == "0" || resp.StatusCode == http.StatusTooManyRequests) {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			return nonNeg(time.Unix(s, 0).Sub(now)), true
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return nonNeg(t.Sub(now)), true
		}
	}
	if v := h.Get("Ratelimit-Reset"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
	}
	return 0, false
}

func nonNeg(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// StatusError is a non-2xx answer, without the body (which may echo what we
// sent, secrets included). Connectors wrap it with what they were doing.
type StatusError struct {
	Method, Path string
	Status       int
	// Detail is a short, safe summary the connector extracted (Jira's
	// errorMessages), never the raw body.
	Detail string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Classify turns the outcome of a request into the error the outbox
// understands: nil for 2xx; core.RetryAfter for 429, 5xx and transport
// errors (with the server's requested wait); core.Permanent for other
// statuses. detail is a short safe summary for the message (may be "").
func Classify(resp *http.Response, err error, detail string) error {
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		// Left as it is, a timeout or a lost connection stays uncertain
		// for the engine (core.IsUncertain).
		return core.RetryAfter(fmt.Errorf("request failed: %w", scrub(err)), 0)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	se := &StatusError{Status: resp.StatusCode, Detail: detail}
	if resp.Request != nil {
		se.Method, se.Path = resp.Request.Method, resp.Request.URL.Path
	}
	if Retryable(resp.StatusCode) {
		w, _ := ServerWait(resp, time.Now())
		// A proxy's 502 or 504 says nothing of whether the service behind
		// it went on to make the write.
		if (resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout) && !idempotent(resp.Request) {
			return &core.ApplyError{Err: se, RetryAfter: w, Uncertain: true}
		}
		return core.RetryAfter(se, w)
	}
	return core.Permanent(se)
}

// scrub drops the URL (which may carry a token in its query) from a
// transport error, keeping the operation and the cause.
func scrub(err error) error {
	var ue interface {
		Unwrap() error
	}
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil && strings.Contains(err.Error(), "?") {
			return inner
		}
	}
	return err
}

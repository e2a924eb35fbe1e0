// Package httpfake holds what the stateful fakes of outside systems
// (connectors/*/fake) have in common: the record of what they received, the
// faults a test injects into their API, and the sending of their webhooks.
//
// Each fake keeps its own exported methods, documented for its system
// (github's FailNext answers with GitHub's secondary-rate-limit body,
// Zendesk's with its own); they delegate the bookkeeping to these types.
// Everything here is safe for concurrent use, and nothing takes a lock of
// the fake that holds it, so a fake may call in while holding its own.
package httpfake

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Recorder keeps what a fake received or sent (API calls, webhook
// deliveries, mails), oldest first. The zero value is empty and ready.
type Recorder[T any] struct {
	mu    sync.Mutex
	items []T
}

// Record appends v and returns its index, for Update once the outcome is
// known.
func (r *Recorder[T]) Record(v T) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, v)
	return len(r.items) - 1
}

// Update changes the record at index i in place (say, to add the status
// answered). It does nothing when the records were Reset since and i is
// past the end.
func (r *Recorder[T]) Update(i int, change func(*T)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= 0 && i < len(r.items) {
		change(&r.items[i])
	}
}

// All returns a copy of the records, oldest first; nil when there are none.
func (r *Recorder[T]) All() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

// Reset forgets the records.
func (r *Recorder[T]) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = nil
}

// Failure is one injected failure of an API request: the status to answer
// and, when positive, the Retry-After to send with it.
type Failure struct {
	Status     int
	RetryAfter time.Duration
}

// Faults are the faults a test injects into a fake: failures for the next
// API requests, a delay before every answer, writes that succeed only after
// their client gave up, and webhooks to lose. The zero value injects none.
type Faults struct {
	mu    sync.Mutex
	runs  []run // failures due, in order
	slow  time.Duration
	drops int
	holds []hold
}

// hold is n writes to paths that path matches, to be held (HoldWrites).
type hold struct {
	n    int
	path *regexp.Regexp
	land <-chan struct{}
}

// run is n failures in a row; FailNext(1_000_000, ...) costs one.
type run struct {
	n int
	Failure
}

// FailNext queues n failures after those still due. n <= 0 queues none.
func (f *Faults) FailNext(n, status int, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > 0 {
		f.runs = append(f.runs, run{n, Failure{status, retryAfter}})
	}
}

// ReplaceFailures drops the failures still due and queues n new ones;
// ReplaceFailures(0, 0, 0) ends an outage.
func (f *Faults) ReplaceFailures(n, status int, retryAfter time.Duration) {
	f.mu.Lock()
	f.runs = nil
	f.mu.Unlock()
	f.FailNext(n, status, retryAfter)
}

// NextFailure takes the failure due for this request, if any.
func (f *Faults) NextFailure() (Failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.runs) == 0 {
		return Failure{}, false
	}
	r := &f.runs[0]
	r.n--
	fail := r.Failure
	if r.n == 0 {
		f.runs = f.runs[1:]
	}
	return fail, true
}

// Slow delays every later answer by d; 0 turns it off.
func (f *Faults) Slow(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slow = d
}

// Delay waits out the Slow delay. It returns false when ctx (the request's)
// ended first: the client gave up, and the fake should not answer.
func (f *Faults) Delay(ctx context.Context) bool {
	f.mu.Lock()
	d := f.slow
	f.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// HoldWrites makes the next n writes (any method but GET and HEAD) whose
// path matches path (any, when nil) slow successes, as a service under load
// has them: each is answered only after its client gave up waiting, and
// takes effect then, or, when land is not nil, once land is closed (so a
// test decides whether the client's look-up comes before or after it).
func (f *Faults) HoldWrites(n int, path *regexp.Regexp, land <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > 0 {
		f.holds = append(f.holds, hold{n, path, land})
	}
}

// HoldWrite is called by a fake before it acts on a request. For a write
// that HoldWrites holds, it returns once the client has given up and the
// write may land; the fake then acts on it, and its answer goes to no one.
// It returns at once for any other request.
func (f *Faults) HoldWrite(r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return
	}
	f.mu.Lock()
	var land <-chan struct{}
	held := false
	for i := range f.holds {
		h := &f.holds[i]
		if h.path != nil && !h.path.MatchString(r.URL.Path) {
			continue
		}
		held, land = true, h.land
		if h.n--; h.n == 0 {
			f.holds = slices.Delete(f.holds, i, i+1)
		}
		break
	}
	f.mu.Unlock()
	if !held {
		return
	}
	<-r.Context().Done()
	if land != nil {
		<-land
	}
}

// DropWebhooks makes n more webhooks, after those already due to be
// dropped, get lost.
func (f *Faults) DropWebhooks(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drops += n
}

// ReplaceDrops makes exactly the next n webhooks get lost, whatever was due
// before; 0 stops dropping.
func (f *Faults) ReplaceDrops(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drops = n
}

// DropWebhook reports whether the webhook about to be sent is to be lost,
// and counts it if so. A fake calls it once per webhook.
func (f *Faults) DropWebhook() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drops <= 0 {
		return false
	}
	f.drops--
	return true
}

// Receiver is where a fake sends its webhooks: the receiver's url and the
// secret they are signed with. The zero value sends none.
type Receiver struct {
	mu     sync.Mutex
	url    string
	secret string
}

// Set points later webhooks at url, signed with secret; an empty url stops
// them.
func (r *Receiver) Set(url, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.url, r.secret = url, secret
}

// Target returns the url and secret set last; url is "" when webhooks are
// not to be sent.
func (r *Receiver) Target() (url, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.url, r.secret
}

// Snapshot returns copies of the records *ps points to, read under mu
// (the slice too: the fake appends to it): what a fake's state accessor
// hands a test, which must not share the records the fake goes on
// changing.
func Snapshot[T any](mu *sync.Mutex, ps *[]*T) []T {
	mu.Lock()
	defer mu.Unlock()
	out := make([]T, len(*ps))
	for i, p := range *ps {
		out[i] = *p
	}
	return out
}

// JSON answers with status and v as an application/json body, and returns
// status, for the fake's record of the call.
func JSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

// SetRetryAfter sets h's Retry-After to d in whole seconds, rounded up, as
// servers send it; nothing when d is not positive.
func SetRetryAfter(h http.Header, d time.Duration) {
	if d > 0 {
		h.Set("Retry-After", RetryAfter(d))
	}
}

// RetryAfter is d as a Retry-After value: whole seconds, rounded up.
func RetryAfter(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// Post sends one webhook: body POSTed to url with a copy of header. It
// returns the receiver's status, whatever it is; err is set only when no
// answer came (a bad url, an unreachable receiver), and is the client's
// error, which names the url but never the body or headers. The answer's
// body is read to the end, so the connection is reused.
func Post(client *http.Client, url string, header http.Header, body []byte) (status int, err error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

package server

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/liaisonhq/liaison/core"
)

// DefaultBodyBudget is how many bytes of webhook bodies the server holds in
// memory at once unless Options.BodyBudget says otherwise.
const DefaultBodyBudget = 64 << 20

// largeBody is the size from which a body counts as large: large bodies
// together may take at most half the budget, so that senders of large
// bodies (or someone posting 5 MiB of noise on many connections) cannot
// take the room the ordinary deliveries of a few kilobytes need.
const largeBody = 1 << 20

// errBusy is why a body was not read: the budget is spent.
var errBusy = errors.New("webhook bodies in flight are at their memory budget")

// bodyBudget bounds the memory that webhook bodies in flight take. A body
// is counted from before its first byte is read (by its declared length,
// or step by step as a body of unknown length grows) until its handler
// returns, and past the budget the request is refused (503) without
// reading it.
type bodyBudget struct {
	mu        sync.Mutex
	limit     int64
	used      int64
	largeUsed int64 // at most limit/2
}

func newBodyBudget(limit int64) *bodyBudget {
	return &bodyBudget{limit: limit}
}

// take reserves n bytes, or reports that they are not available.
func (b *bodyBudget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit || (n >= largeBody && b.largeUsed+n > b.limit/2) {
		return false
	}
	b.used += n
	if n >= largeBody {
		b.largeUsed += n
	}
	return true
}

// give returns n bytes that take reserved.
func (b *bodyBudget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if n >= largeBody {
		b.largeUsed -= n
	}
}

// inUse is the bytes reserved now.
func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Body buffers come from pools by size class, powers of two from 16 KiB,
// the last class exactly core.MaxWebhookBody, so a burst of bodies reuses
// memory instead of growing the heap, and a body is read into one buffer
// sized from its declared length (io.ReadAll would allocate about twice
// the body on the way).
const minBodyClass = 16 << 10

var bodyClasses = func() []int {
	var cs []int
	for n := minBodyClass; n < core.MaxWebhookBody; n *= 2 {
		cs = append(cs, n)
	}
	return append(cs, core.MaxWebhookBody)
}()

var bodyPools = make([]sync.Pool, len(bodyClasses))

// classFor is the smallest class that holds n bytes.
func classFor(n int64) int {
	for i, c := range bodyClasses {
		if int64(c) >= n {
			return i
		}
	}
	return len(bodyClasses) - 1
}

// body is a request body held in a pooled buffer, reserved in the budget
// until free.
type body struct {
	budget *bodyBudget
	class  int // -1: none held
	buf    *[]byte
	data   []byte
}

// hold takes the buffer and the budget of class, or reports the budget
// spent.
func (b *body) hold(class int) bool {
	if !b.budget.take(int64(bodyClasses[class])) {
		return false
	}
	p, _ := bodyPools[class].Get().(*[]byte)
	if p == nil {
		buf := make([]byte, bodyClasses[class])
		p = &buf
	}
	b.class, b.buf = class, p
	return true
}

// free returns the buffer to its pool and its bytes to the budget. The
// body's bytes must not be used after.
func (b *body) free() {
	if b.class < 0 {
		return
	}
	bodyPools[b.class].Put(b.buf)
	b.budget.give(int64(bodyClasses[b.class]))
	b.class, b.buf, b.data = -1, nil, nil
}

// readBody reads r's body within the budget: at once into a buffer of its
// declared length, or, when the length is not declared, into buffers that
// grow a class at a time. It returns errBusy when the budget is spent and a
// *http.MaxBytesError past core.MaxWebhookBody. The caller frees the body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (*body, error) {
	b := &body{budget: s.bodies, class: -1}
	rd := http.MaxBytesReader(w, r.Body, core.MaxWebhookBody)
	if r.ContentLength >= 0 {
		if !b.hold(classFor(r.ContentLength)) {
			return b, errBusy
		}
		n, err := io.ReadFull(rd, (*b.buf)[:r.ContentLength])
		b.data = (*b.buf)[:n]
		return b, err
	}
	if !b.hold(0) {
		return b, errBusy
	}
	n := 0
	for {
		k, err := rd.Read((*b.buf)[n:])
		n += k
		b.data = (*b.buf)[:n]
		switch {
		case err == io.EOF:
			return b, nil
		case err != nil:
			return b, err
		case n < len(*b.buf):
			continue
		case b.class == len(bodyClasses)-1:
			// Full at the limit: one more byte is over it.
			var one [1]byte
			if _, err := rd.Read(one[:]); err != io.EOF {
				return b, &http.MaxBytesError{Limit: core.MaxWebhookBody}
			}
			return b, nil
		}
		bigger := &body{budget: s.bodies, class: -1}
		if !bigger.hold(b.class + 1) {
			return b, errBusy
		}
		copy(*bigger.buf, (*b.buf)[:n])
		b.free()
		*b = *bigger
	}
}

package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

// ErrForged is returned by a webhook receiver when a request's signature is
// missing, wrong or stale. The server answers 401 and stores nothing.
var ErrForged = errors.New("webhook signature missing or invalid")

// ErrNotFound is returned when a record does not exist at its source.
var ErrNotFound = errors.New("not found")

// BadInput wraps an error about a request or message that can never be
// processed as sent (malformed JSON, a mail with no headers). The server
// answers 400; a poller or mailbox reader dead-letters the message.
type BadInput struct{ Err error }

func (e *BadInput) Error() string { return "bad input: " + e.Err.Error() }
func (e *BadInput) Unwrap() error { return e.Err }

// Malformed wraps err as BadInput.
func Malformed(format string, args ...any) error {
	return &BadInput{Err: fmt.Errorf(format, args...)}
}

// ApplyError classifies a failed write once, where the connector knows the
// HTTP status, so the engine need not guess: Permanent errors go straight to
// the dead-letter list; others are retried with backoff, no sooner than
// RetryAfter when the service said when (Retry-After, rate-limit reset).
// Uncertain says the write may have taken effect all the same (a 502 or
// 504 from a proxy in front of a service that went on working).
type ApplyError struct {
	Err        error
	Permanent  bool
	RetryAfter time.Duration
	Uncertain  bool
}

func (e *ApplyError) Error() string { return e.Err.Error() }
func (e *ApplyError) Unwrap() error { return e.Err }

// Permanent marks err as one that retrying will not fix (a 400, 403, 404,
// an unreachable status).
func Permanent(err error) error { return &ApplyError{Err: err, Permanent: true} }

// RetryAfter marks err as temporary, to be retried no sooner than d.
func RetryAfter(err error, d time.Duration) error { return &ApplyError{Err: err, RetryAfter: d} }

// Uncertain marks err as the failure of a write whose outcome is unknown:
// the request was sent and may have taken effect (see IsUncertain).
func Uncertain(err error) error { return &ApplyError{Err: err, Uncertain: true} }

// IsUncertain reports whether a failed write may have taken effect all the
// same: it was marked Uncertain, or it ran out of time (context deadline,
// client timeout), or its connection was lost after it was sent (reset,
// broken pipe, an answer cut short). A connection that was never made (a
// dial error) and an answer the service gave are certain. The engine asks
// before re-sending a write, because a slow service may still complete the
// first one.
func IsUncertain(err error) bool {
	if err == nil {
		return false
	}
	var ae *ApplyError
	if errors.As(err, &ae) && ae.Uncertain {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Classify returns whether err is permanent and how long the source asked
// to wait. Unclassified errors are temporary.
func Classify(err error) (permanent bool, wait time.Duration) {
	var ae *ApplyError
	if errors.As(err, &ae) {
		return ae.Permanent, ae.RetryAfter
	}
	return false, 0
}

// ErrOverBudget is wrapped by the error of a rule's condition or template
// that took more steps or time than its evaluation budget allows (an
// unbounded loop written by mistake). That rule fails for that case; the
// others go on.
var ErrOverBudget = errors.New("over its evaluation budget")

// Panic is a panic Contain recovered: what a log may say of it
// (PanicText) and where it happened.
type Panic struct {
	Text  string
	Stack []byte
}

func (p *Panic) Error() string { return "panicked: " + p.Text }

// Contain runs fn and returns a panic in it as a *Panic: for connector
// code fed what trackers, mailboxes and webhook senders sent, where a
// panic must fail that one call, not the gateway.
func Contain(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Panic{Text: PanicText(p), Stack: debug.Stack()}
		}
	}()
	return fn()
}

// PanicText is what a log line may say of a recovered panic: the runtime's
// own message (an index out of range, a nil map), or else only the type of
// the value panicked with, which may quote a ticket, a mail or a webhook.
func PanicText(p any) string {
	if re, ok := p.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("a value of type %T", p)
}

package core

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Connector is one configured instance of a tracker integration. Name is
// the instance name from the configuration (usually the connector's kind,
// such as "jira"); it is the System of every Ref the instance produces.
//
// A connector offers what it can through the optional interfaces below,
// which the engine detects by type assertion. It never writes state itself:
// it hands events to the engine and applies the actions it is given.
type Connector interface {
	Name() string
}

// WebhookReceiver verifies and decodes a webhook delivery. It returns
// ErrForged (wrapped or not) when the signature is missing, wrong or stale,
// a *BadInput when the body cannot be understood, and no events for a
// delivery it acknowledges without acting on (a ping, an event type it does
// not handle). It must not log or return any part of the body or headers.
// The server reads at most MaxWebhookBody bytes.
type WebhookReceiver interface {
	ReceiveWebhook(ctx context.Context, req WebhookRequest) ([]Event, error)
}

// WebhookVerifier is implemented by a WebhookReceiver that can check a
// delivery's signature (and, where the signature covers one, its time)
// without decoding it. VerifyWebhook returns an error wrapping ErrForged
// when ReceiveWebhook would, and otherwise a key of what the signature
// covers: the same for a delivery and every replay of it, whatever the
// headers the signature leaves out (a delivery id) say. The server verifies
// first and answers a replay of a delivery it has stored without calling
// ReceiveWebhook, so that a replay costs no decoding, fetch or API call.
// The key is compared, never logged.
type WebhookVerifier interface {
	VerifyWebhook(req WebhookRequest) (key string, err error)
}

// MaxWebhookBody bounds a webhook body; a larger one is refused with 413.
const MaxWebhookBody = 5 << 20

// WebhookRequest is what the server passes to a receiver. Body's buffer is
// reused once the request is answered: a receiver keeps it only as the
// Raw of the events it returns (the server copies those).
type WebhookRequest struct {
	Header http.Header
	Body   []byte
	Query  map[string][]string
	// Verified is set by the server once the receiver's VerifyWebhook
	// accepted this very request, so that ReceiveWebhook need not compute
	// the signature again. A receiver checks the signature itself when it
	// is false.
	Verified bool
}

// Poller reads what changed at the source since a cursor: the fallback for
// lost webhooks and the catch-up after downtime. The engine stores next
// only after the returned events are durable, so a crash re-reads, never
// skips. more says another page is ready at once.
type Poller interface {
	Poll(ctx context.Context, cursor string) (events []Event, next string, more bool, err error)
}

// PollSince is implemented by pollers that can start from a date, for
// `liaison backfill SOURCE --since DATE`.
type PollSince interface {
	CursorAt(t time.Time) string
}

// Runner is implemented by connectors that hold a connection open (IMAP
// IDLE) and push events as they come. Run blocks until ctx ends.
type Runner interface {
	Run(ctx context.Context, sink Sink) error
}

// Sink is how a Runner hands events over durably and keeps its own cursors.
type Sink interface {
	// Ingest returns once the events are durable (or with an error, in
	// which case the runner must not advance its cursor).
	Ingest(ctx context.Context, events []Event) error
	Cursor(ctx context.Context, key string) (string, error)
	SetCursor(ctx context.Context, key, value string) error
}

// Fetcher reads one record's current snapshot, for a record known only by a
// discovered key, or a webhook that carried too little.
type Fetcher interface {
	Fetch(ctx context.Context, r Ref) (*Item, error)
}

// Applier performs an action on the connector's system. It should be
// idempotent for the action's Key (a transition to the current status
// succeeds without a write) and classify failures with Permanent or
// RetryAfter.
type Applier interface {
	Apply(ctx context.Context, a Action) (Result, error)
}

// MarkerFinder looks up a record the gateway created, by the marker Create
// put on it, so that a lost database cannot produce a duplicate ticket. It
// returns ErrNotFound when there is none.
type MarkerFinder interface {
	FindByMarker(ctx context.Context, kind Kind, marker string) (Ref, error)
}

// AppliedChecker finds out whether an action was already applied, by the
// marker its write carries. The engine asks before re-applying an action
// whose earlier attempt may have reached the target (the process died, or a
// request timed out), so that a crash never duplicates a visible comment.
type AppliedChecker interface {
	Applied(ctx context.Context, a Action) (Result, bool, error)
}

// MappingChecker is implemented by connectors that can check, at start and
// on every mapping reload, that the statuses, fields and other names the
// mappings use for their system exist there; errors name what is missing.
type MappingChecker interface {
	CheckMappings(ctx context.Context, m *Mappings) error
}

// Starter is implemented by connectors with background work of their own
// (GitHub's redelivery of failed hooks). Start returns at once.
type Starter interface {
	Start(ctx context.Context) error
}

// Setup is what a connector factory gets.
type Setup struct {
	// Name is the instance name.
	Name string
	// Decode decodes the instance's config section strictly (unknown keys
	// are errors) into the connector's own config struct.
	Decode func(v any) error
	Log    *slog.Logger
	Clock  Clock
	// Env reads an environment variable; configs name secrets by variable
	// or file, never inline.
	Env func(string) string
}

// Factory builds a connector instance from its configuration.
type Factory func(Setup) (Connector, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a connector kind available by name. Connector packages
// call it from init; the binary opts in with a blank import.
func Register(kind string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic(fmt.Sprintf("core: connector %q registered twice", kind))
	}
	registry[kind] = f
}

// Lookup returns the factory registered for kind.
func Lookup(kind string) (Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := registry[kind]
	return f, ok
}

// Registered lists the registered connector kinds, sorted.
func Registered() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Package server is the daemon's HTTP face: webhook intake for every
// connector instance, health and readiness, and Prometheus metrics. A
// webhook is acknowledged only after its events are durable; a request that
// cannot be made durable in time is refused with 503 so the sender retries,
// never accepted and lost.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/liaisonhq/liaison/core"
)

// Intake is what the server needs of the engine.
type Intake interface {
	// Accept returns once the events are durable.
	Accept(ctx context.Context, events []core.Event) error
	Connector(name string) (core.Connector, bool)
	Store() core.Store
}

// Options configure a Server.
type Options struct {
	Intake Intake
	// Kinds maps instance name to connector kind, to route
	// /webhooks/<kind>/<instance>.
	Kinds    map[string]string
	Gatherer prometheus.Gatherer
	// MetricsApart leaves /metrics out of Handler: MetricsHandler serves
	// it on a listener of its own.
	MetricsApart bool
	// Rejected counts refused webhooks by source and reason (may be nil).
	Rejected *prometheus.CounterVec
	// Replayed counts, by source, deliveries answered as replays of one
	// stored before (may be nil).
	Replayed *prometheus.CounterVec
	Log      *slog.Logger
	// AckTimeout bounds the time to make a delivery durable before
	// answering 503 (default 900ms: Jira counts answers slower than a
	// second as failures).
	AckTimeout time.Duration
	// BodyBudget bounds the bytes of webhook bodies held in memory at
	// once (default DefaultBodyBudget); a request past it is answered 503
	// with Retry-After before its body is read.
	BodyBudget int64
	// Lag reports how far the workers are behind the intake (nil: never),
	// and MaxLag bounds it: past half of it acknowledgements are held
	// back, past it deliveries are refused with 503 and Retry-After (0:
	// never), before the body is read.
	Lag    func() time.Duration
	MaxLag time.Duration
	// Pprof serves /debug/pprof beside /metrics.
	Pprof bool
}

// Server serves the daemon's HTTP endpoints.
type Server struct {
	o       Options
	bodies  *bodyBudget
	replays *replays
}

// unknownSource labels what is refused for naming no configured instance:
// label values come from the configuration or a closed set, never from
// the request, so that made-up names cannot grow the metrics.
const unknownSource = "unknown"

// New returns a server.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.AckTimeout == 0 {
		o.AckTimeout = 900 * time.Millisecond
	}
	if o.Gatherer == nil {
		o.Gatherer = prometheus.DefaultGatherer
	}
	if o.BodyBudget <= 0 {
		o.BodyBudget = DefaultBodyBudget
	}
	return &Server{o: o, bodies: newBodyBudget(o.BodyBudget), replays: newReplays()}
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/{kind}/{instance}", s.webhook)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.ready)
	if !s.o.MetricsApart {
		s.metricsRoutes(mux)
	}
	return mux
}

// MetricsHandler serves /metrics (and /debug/pprof when on) alone, for a
// listener of its own.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	s.metricsRoutes(mux)
	return mux
}

// metricsRoutes adds /metrics and, when Pprof is on, the profiles of
// net/http/pprof, so that production can be profiled like the bench.
func (s *Server) metricsRoutes(mux *http.ServeMux) {
	mux.Handle("GET /metrics", s.metrics())
	if s.o.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}

func (s *Server) metrics() http.Handler {
	return promhttp.HandlerFor(s.o.Gatherer, promhttp.HandlerOpts{})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.o.Intake.Store().Ping(ctx); err != nil {
		s.o.Log.Warn("not ready: database unreachable", "err", err)
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) reject(w http.ResponseWriter, source, reason string, status int, msg string) {
	if s.o.Rejected != nil {
		s.o.Rejected.WithLabelValues(source, reason).Inc()
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "5")
	}
	http.Error(w, msg, status)
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	name, recv, ok := s.receiver(r.PathValue("kind"), r.PathValue("instance"))
	if !ok {
		s.reject(w, unknownSource, "unknown", http.StatusNotFound, "no such webhook endpoint")
		return
	}
	// What can be checked before reading is checked first: every source
	// sends JSON, and a declared length over the limit is refused unread.
	if !jsonContent(r.Header.Get("Content-Type")) {
		s.reject(w, name, "content_type", http.StatusUnsupportedMediaType, "want a JSON body")
		return
	}
	if r.ContentLength > core.MaxWebhookBody {
		s.tooLarge(w, name)
		return
	}
	// Past the workers' bound a delivery is refused unread: under
	// overload the bodies of refused deliveries would take the memory
	// and the CPU the workers need to catch up.
	if !s.backpressure(r.Context(), w, name) {
		return
	}
	b, err := s.readBody(w, r)
	defer b.free()
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, errBusy):
			s.o.Log.Warn("webhook refused: bodies in flight at their memory budget; sender will retry", "source", name, "budget", s.o.BodyBudget)
			s.reject(w, name, "busy", http.StatusServiceUnavailable, "busy, try again later")
		case errors.As(err, &tooBig):
			s.tooLarge(w, name)
		default:
			s.reject(w, name, "read", http.StatusBadRequest, "could not read body")
		}
		return
	}
	req := core.WebhookRequest{Header: r.Header, Body: b.data, Query: r.URL.Query()}
	var key string
	if v, ok := recv.(core.WebhookVerifier); ok {
		// A replay of a delivery stored before is answered here: a
		// receiver that completes deliveries from its API would fetch
		// again for every copy.
		err = core.Contain(func() (err error) { key, err = v.VerifyWebhook(req); return err })
		req.Verified = err == nil
		if err == nil && s.replays.stored(name, key) {
			if s.o.Replayed != nil {
				s.o.Replayed.WithLabelValues(name).Inc()
			}
			answer(w, 0)
			return
		}
	}
	var events []core.Event
	if err == nil {
		// A panic in the connector's decoding, over whatever a sender put
		// in the body, refuses that delivery (below), instead of dropping
		// the connection unanswered with the panic on stderr.
		err = core.Contain(func() (err error) { events, err = recv.ReceiveWebhook(r.Context(), req); return err })
	}
	// The body's buffer goes back to the pool when this returns; events
	// that keep the body as received get a copy of their own.
	ownRaw(events, req.Body)
	var bad *core.BadInput
	var crash *core.Panic
	switch {
	case errors.As(err, &crash):
		s.o.Log.Error("webhook refused: the connector failed on it (a bug to report); nothing was stored", "source", name, "panic", crash.Text, "stack", string(crash.Stack))
		s.reject(w, name, "panic", http.StatusInternalServerError, "internal error")
		return
	case errors.Is(err, core.ErrForged):
		// Say so in the log without echoing anything that was received.
		s.o.Log.Warn("webhook refused: signature missing, invalid or stale", "source", name, "remote", r.RemoteAddr)
		s.reject(w, name, "signature", http.StatusUnauthorized, "signature missing, invalid or stale")
		return
	case errors.As(err, &bad):
		s.o.Log.Warn("webhook refused: malformed payload", "source", name, "err", err)
		s.reject(w, name, "malformed", http.StatusBadRequest, "malformed payload")
		return
	case err != nil:
		s.o.Log.Error("webhook could not be processed; sender will retry", "source", name, "err", err)
		s.reject(w, name, "error", http.StatusServiceUnavailable, "temporarily unable to process")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.AckTimeout)
	defer cancel()
	if err := s.o.Intake.Accept(ctx, events); err != nil {
		s.o.Log.Error("webhook not stored; refused so the sender retries", "source", name, "err", err)
		s.reject(w, name, "store", http.StatusServiceUnavailable, "temporarily unable to store")
		return
	}
	if key != "" {
		s.replays.remember(name, key)
	}
	// Re-deliveries are counted as the store takes the events in
	// (liaison_events_duplicate_total), which may be after this answer.
	answer(w, len(events))
}

// tooLarge refuses a body over core.MaxWebhookBody, declared or read.
func (s *Server) tooLarge(w http.ResponseWriter, name string) {
	s.o.Log.Warn("webhook refused: body too large", "source", name, "limit", core.MaxWebhookBody)
	s.reject(w, name, "too_large", http.StatusRequestEntityTooLarge, "body too large")
}

// answer acknowledges a delivery of which n events were made durable.
func answer(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]int{"accepted": n})
}

// receiver returns the configured instance of kind named name, if it
// receives webhooks.
func (s *Server) receiver(kind, name string) (string, core.WebhookReceiver, bool) {
	if s.o.Kinds[name] != kind {
		return "", nil, false
	}
	c, ok := s.o.Intake.Connector(name)
	if !ok {
		return "", nil, false
	}
	recv, ok := c.(core.WebhookReceiver)
	return name, recv, ok
}

// jsonContent reports whether a Content-Type names JSON. A request without
// one is let through: the receiver's decoding decides.
func jsonContent(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// ownRaw gives events' Raw bytes of their own: the body's buffer goes back
// to its pool once the request is answered, while the events live on in
// the engine until the store has them. Events that keep the whole body, as
// connectors do, share one copy.
func ownRaw(events []core.Event, body []byte) {
	var own []byte
	for i := range events {
		raw := events[i].Raw
		switch {
		case len(raw) == 0:
		case len(raw) == len(body) && &raw[0] == &body[0]:
			if own == nil {
				own = bytes.Clone(body)
			}
			events[i].Raw = own
		default:
			events[i].Raw = bytes.Clone(raw)
		}
	}
}

// Package fake is an in-memory PagerDuty Events API v2 for tests and the
// sandbox: POST /v2/enqueue with trigger, acknowledge and resolve events,
// answering as the API documents (202 {"status":"success","message":"Event
// processed","dedup_key":...}; 400 "invalid event" with the errors found)
// over the alerts the events make. A trigger whose dedup key names an
// alert that is not resolved is folded into it, as PagerDuty does.
//
// The routing key travels in the body; an event for another key is
// refused as PagerDuty refuses an unknown integration key. Faults (429,
// 5xx, slow writes) are queued through Faults.
package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/internal/httpfake"
)

// Alert is one alert as the fake keeps it.
type Alert struct {
	DedupKey      string
	Summary       string
	Source        string
	Severity      string
	Component     string
	Group         string
	Class         string
	CustomDetails map[string]string
	Links         []Link
	Status        string // triggered, acknowledged or resolved
	Events        int    // trigger events folded into it
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Link is a link sent with a trigger.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Call is one request the fake received.
type Call struct {
	Method, Path string
	Body         []byte
	Status       int
}

// Server is the fake API.
type Server struct {
	Faults httpfake.Faults
	Calls  httpfake.Recorder[Call]

	key string
	now func() time.Time

	mu     sync.Mutex
	alerts []*Alert
}

// New returns a fake that accepts events for the routing key key. now,
// when nil, is time.Now.
func New(key string, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{key: key, now: now}
}

// Alerts returns a copy of every alert, oldest first.
func (s *Server) Alerts() []Alert { return httpfake.Snapshot(&s.mu, &s.alerts) }

const maxBody = 512 << 10 // the Events API refuses larger events

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	i := s.Calls.Record(Call{Method: r.Method, Path: r.URL.Path, Body: body})
	status := s.serve(w, r, body)
	s.Calls.Update(i, func(c *Call) { c.Status = status })
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte) int {
	if !s.Faults.Delay(r.Context()) {
		return 0
	}
	if f, ok := s.Faults.NextFailure(); ok {
		httpfake.SetRetryAfter(w.Header(), f.RetryAfter)
		if f.Status == http.StatusTooManyRequests {
			return httpfake.JSON(w, f.Status, map[string]any{"status": "throttle exceeded", "message": "Requests for this service are arriving too quickly.  Please retry later."})
		}
		return httpfake.JSON(w, f.Status, map[string]any{"status": "error", "message": http.StatusText(f.Status)})
	}
	if r.URL.Path != "/v2/enqueue" || r.Method != http.MethodPost {
		return httpfake.JSON(w, http.StatusNotFound, map[string]any{"status": "not found", "message": "Not found"})
	}
	if len(body) > maxBody {
		return httpfake.JSON(w, http.StatusRequestEntityTooLarge, map[string]any{"status": "invalid event", "message": "Request too large"})
	}
	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     *struct {
			Summary       string            `json:"summary"`
			Source        string            `json:"source"`
			Severity      string            `json:"severity"`
			Component     string            `json:"component"`
			Group         string            `json:"group"`
			Class         string            `json:"class"`
			CustomDetails map[string]string `json:"custom_details"`
		} `json:"payload"`
		Links []Link `json:"links"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return invalid(w, "Could not parse the event: malformed JSON")
	}
	var errs []string
	if ev.RoutingKey == "" {
		errs = append(errs, "'routing_key' is missing or blank")
	} else if ev.RoutingKey != s.key {
		errs = append(errs, "Invalid routing key")
	}
	if !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, ev.EventAction) {
		errs = append(errs, "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
	}
	if ev.EventAction != "trigger" && ev.DedupKey == "" {
		errs = append(errs, "'dedup_key' is missing or blank")
	}
	if len(ev.DedupKey) > 255 {
		errs = append(errs, "'dedup_key' is too long (maximum is 255 characters)")
	}
	if ev.EventAction == "trigger" {
		switch p := ev.Payload; {
		case p == nil:
			errs = append(errs, "'payload' is missing or blank")
		default:
			if p.Summary == "" || len([]rune(p.Summary)) > 1024 {
				errs = append(errs, "'payload.summary' is missing, blank or longer than 1024 characters")
			}
			if p.Source == "" {
				errs = append(errs, "'payload.source' is missing or blank")
			}
			if !slices.Contains([]string{"critical", "error", "warning", "info"}, p.Severity) {
				errs = append(errs, "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
			}
		}
	}
	if len(errs) > 0 {
		return invalid(w, errs...)
	}
	now := s.now().UTC()
	s.mu.Lock()
	var cur *Alert
	for _, a := range slices.Backward(s.alerts) {
		if a.DedupKey == ev.DedupKey {
			cur = a
			break
		}
	}
	switch ev.EventAction {
	case "trigger":
		if ev.DedupKey == "" {
			ev.DedupKey = fmt.Sprintf("%x", now.UnixNano())
		}
		if cur != nil && cur.Status != "resolved" {
			cur.Events++
			cur.UpdatedAt = now
			break
		}
		p := ev.Payload
		s.alerts = append(s.alerts, &Alert{DedupKey: ev.DedupKey, Summary: p.Summary, Source: p.Source, Severity: p.Severity,
			Component: p.Component, Group: p.Group, Class: p.Class, CustomDetails: p.CustomDetails, Links: ev.Links,
			Status: "triggered", Events: 1, CreatedAt: now, UpdatedAt: now})
	case "acknowledge":
		if cur != nil && cur.Status == "triggered" {
			cur.Status, cur.UpdatedAt = "acknowledged", now
		}
	case "resolve":
		if cur != nil {
			cur.Status, cur.UpdatedAt = "resolved", now
		}
	}
	s.mu.Unlock()
	return httpfake.JSON(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

func invalid(w http.ResponseWriter, errs ...string) int {
	return httpfake.JSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
}

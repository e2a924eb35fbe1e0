// Package fake is an in-memory OpsGenie Alert API v2 for tests and the
// sandbox: create, get by alias, acknowledge and close, answering as the
// API documents (202 with a request id for the asynchronous writes, the
// alert under "data" for a read, 404 with a message for an unknown alias)
// over state the requests change. A create whose alias names an open
// alert only counts it up, as OpsGenie de-duplicates.
//
// Requests need "Authorization: GenieKey <key>". Faults (429 with
// Retry-After, 5xx, slow writes) are queued through Faults.
package fake

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/internal/httpfake"
)

// Alert is one alert as the fake keeps it.
type Alert struct {
	ID           string
	TinyID       string
	Alias        string
	Message      string
	Description  string
	Priority     string
	Status       string // open or closed
	Acknowledged bool
	Count        int
	Responders   []Responder
	Tags         []string
	Details      map[string]string
	Entity       string
	Source       string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Responder is a team or user an alert notifies.
type Responder struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
	Type string `json:"type"`
}

// Call is one request the fake received: its method, path and query, and
// its body as sent.
type Call struct {
	Method, Path, Query string
	Body                []byte
	Status              int
}

// Server is the fake API.
type Server struct {
	// Faults are injected into the next requests.
	Faults httpfake.Faults
	// Calls records every request, oldest first.
	Calls httpfake.Recorder[Call]

	key string
	now func() time.Time

	mu     sync.Mutex
	alerts []*Alert // every alert, oldest first; an alias names the newest
	seq    int
}

// New returns a fake that accepts key. now, when nil, is time.Now.
func New(key string, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{key: key, now: now}
}

// Alerts returns a copy of every alert, oldest first.
func (s *Server) Alerts() []Alert { return httpfake.Snapshot(&s.mu, &s.alerts) }

// Close changes an alert as a person would in OpsGenie's UI.
func (s *Server) Close(alias string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byAlias(alias)
	if a == nil {
		return false
	}
	a.Status, a.UpdatedAt = "closed", s.now().UTC()
	return true
}

func (s *Server) byAlias(alias string) *Alert {
	for i := len(s.alerts) - 1; i >= 0; i-- {
		if s.alerts[i].Alias == alias {
			return s.alerts[i]
		}
	}
	return nil
}

// maxBody bounds a request body, as OpsGenie does with its own limits.
const maxBody = 1 << 20

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	i := s.Calls.Record(Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body})
	status := s.serve(w, r, body)
	s.Calls.Update(i, func(c *Call) { c.Status = status })
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte) int {
	if !s.Faults.Delay(r.Context()) {
		return 0
	}
	if f, ok := s.Faults.NextFailure(); ok {
		httpfake.SetRetryAfter(w.Header(), f.RetryAfter)
		return httpfake.JSON(w, f.Status, map[string]any{"message": http.StatusText(f.Status), "took": 0.001, "requestId": s.requestID()})
	}
	if r.Header.Get("Authorization") != "GenieKey "+s.key {
		return httpfake.JSON(w, http.StatusUnauthorized, map[string]any{"message": "Could not authenticate", "took": 0.001, "requestId": s.requestID()})
	}
	s.Faults.HoldWrite(r)
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/alerts")
	if !ok {
		return httpfake.JSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
	}
	switch {
	case rest == "" && r.Method == http.MethodPost:
		return s.create(w, body)
	case rest == "" && r.Method == http.MethodGet:
		return s.list(w)
	case rest != "" && r.Method == http.MethodGet:
		return s.get(w, r, strings.TrimPrefix(rest, "/"))
	case r.Method == http.MethodPost:
		id, verb, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		return s.change(w, r, id, verb)
	}
	return httpfake.JSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "Method not allowed"})
}

// create is POST /v2/alerts.
func (s *Server) create(w http.ResponseWriter, body []byte) int {
	var in struct {
		Message     string            `json:"message"`
		Alias       string            `json:"alias"`
		Description string            `json:"description"`
		Responders  []Responder       `json:"responders"`
		Tags        []string          `json:"tags"`
		Details     map[string]string `json:"details"`
		Entity      string            `json:"entity"`
		Source      string            `json:"source"`
		Priority    string            `json:"priority"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return httpfake.JSON(w, http.StatusBadRequest, map[string]any{"message": "Could not parse request", "took": 0.001, "requestId": s.requestID()})
	}
	var bad []string
	switch {
	case in.Message == "":
		bad = append(bad, "Message can not be empty.")
	case len([]rune(in.Message)) > 130:
		bad = append(bad, "Message can not be longer than 130 characters.")
	}
	if len(in.Alias) > 512 {
		bad = append(bad, "Alias can not be longer than 512 characters.")
	}
	if in.Priority != "" && !slices.Contains([]string{"P1", "P2", "P3", "P4", "P5"}, in.Priority) {
		bad = append(bad, "Priority should be one of [P1, P2, P3, P4, P5]")
	}
	if len(bad) > 0 {
		return httpfake.JSON(w, http.StatusUnprocessableEntity, map[string]any{"message": strings.Join(bad, " "), "took": 0.001, "requestId": s.requestID()})
	}
	now := s.now().UTC()
	s.mu.Lock()
	if in.Alias == "" {
		in.Alias = in.Message
	}
	if a := s.byAlias(in.Alias); a != nil && a.Status == "open" {
		a.Count++
		a.UpdatedAt = now
	} else {
		s.seq++
		s.alerts = append(s.alerts, &Alert{ID: fmt.Sprintf("70413a06-38d6-4c85-92b8-5ebc900d%04d", s.seq), TinyID: fmt.Sprint(s.seq),
			Alias: in.Alias, Message: in.Message, Description: in.Description, Priority: cmp.Or(in.Priority, "P3"), Status: "open",
			Count: 1, Responders: in.Responders, Tags: in.Tags, Details: in.Details, Entity: in.Entity, Source: in.Source,
			CreatedAt: now, UpdatedAt: now})
	}
	s.mu.Unlock()
	return s.accepted(w)
}

// get is GET /v2/alerts/{identifier}.
func (s *Server) get(w http.ResponseWriter, r *http.Request, id string) int {
	s.mu.Lock()
	a := s.find(r, id)
	var data map[string]any
	if a != nil {
		data = map[string]any{"id": a.ID, "tinyId": a.TinyID, "alias": a.Alias, "message": a.Message, "status": a.Status,
			"acknowledged": a.Acknowledged, "isSeen": false, "tags": nonNil(a.Tags), "snoozed": false, "count": a.Count,
			"lastOccurredAt": a.UpdatedAt, "createdAt": a.CreatedAt, "updatedAt": a.UpdatedAt, "source": a.Source,
			"owner": "", "priority": a.Priority, "responders": nonNil(a.Responders), "integration": map[string]string{
				"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "name": "Liaison", "type": "API"},
			"report": map[string]any{"ackTime": 0, "closeTime": 0}, "actions": []string{}, "entity": a.Entity,
			"description": a.Description, "details": nonNilMap(a.Details)}
	}
	s.mu.Unlock()
	if data == nil {
		return httpfake.JSON(w, http.StatusNotFound, map[string]any{"message": "Alert does not exist", "took": 0.002, "requestId": s.requestID()})
	}
	return httpfake.JSON(w, http.StatusOK, map[string]any{"data": data, "took": 0.003, "requestId": s.requestID()})
}

// list is GET /v2/alerts: the alerts, newest first, in the list's short
// form (no description or details).
func (s *Server) list(w http.ResponseWriter) int {
	s.mu.Lock()
	data := []map[string]any{}
	for _, a := range slices.Backward(s.alerts) {
		data = append(data, map[string]any{"id": a.ID, "tinyId": a.TinyID, "alias": a.Alias, "message": a.Message,
			"status": a.Status, "acknowledged": a.Acknowledged, "count": a.Count, "priority": a.Priority,
			"createdAt": a.CreatedAt, "updatedAt": a.UpdatedAt, "tags": nonNil(a.Tags)})
	}
	s.mu.Unlock()
	return httpfake.JSON(w, http.StatusOK, map[string]any{"data": data, "took": 0.605, "requestId": s.requestID()})
}

// change is POST /v2/alerts/{identifier}/close and /acknowledge. Like
// OpsGenie, it accepts a request for an alert it does not have (the
// asynchronous request fails later, out of the caller's sight).
func (s *Server) change(w http.ResponseWriter, r *http.Request, id, verb string) int {
	if verb != "close" && verb != "acknowledge" {
		return httpfake.JSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
	}
	s.mu.Lock()
	if a := s.find(r, id); a != nil {
		if verb == "close" {
			a.Status = "closed"
		} else {
			a.Acknowledged = true
		}
		a.UpdatedAt = s.now().UTC()
	}
	s.mu.Unlock()
	return s.accepted(w)
}

// find reads the identifier as the identifierType query says: id (the
// default), tiny or alias. Called with s.mu held.
func (s *Server) find(r *http.Request, id string) *Alert {
	id, err := url.PathUnescape(id)
	if err != nil {
		return nil
	}
	typ := r.URL.Query().Get("identifierType")
	for _, a := range slices.Backward(s.alerts) {
		switch typ {
		case "alias":
			if a.Alias == id {
				return a
			}
		case "tiny":
			if a.TinyID == id {
				return a
			}
		case "", "id":
			if a.ID == id {
				return a
			}
		}
	}
	return nil
}

func (s *Server) accepted(w http.ResponseWriter) int {
	return httpfake.JSON(w, http.StatusAccepted, map[string]any{"result": "Request will be processed", "took": 0.107, "requestId": s.requestID()})
}

func (s *Server) requestID() string {
	return fmt.Sprintf("9ae63dd7-ed00-4c81-86f0-c4ffd33%05d", s.now().Nanosecond()%100000)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Package fake is an in-memory Zendesk Support for tests and the sandbox:
// an http.Handler that answers the REST subset the zendesk connector uses,
// keeps state between calls, records every call, injects faults, and —
// acting as a person in Zendesk — sends signed webhooks the way a trigger
// or an event subscription would.
//
// Endpoints (under /api/v2): GET/PUT tickets/{id}.json (include=users,
// organizations, comment_count), POST tickets.json (Idempotency-Key
// honoured), GET tickets/{id}/comments.json (cursor pages, include=users),
// GET users/search.json, POST users/create_or_update.json, GET
// users/{id}.json, GET ticket_fields.json, ticket_forms.json, groups.json,
// GET users/me.json, GET webhooks and triggers.json (to admins; the
// webhook SetWebhook registers, with its trigger in TriggerForm),
// POST uploads.json, GET search.json (type:, tags:, status: and words), and
// GET incremental/tickets/cursor.json (start_time or cursor, per_page,
// include). Unlike Zendesk, the export does not hold back the last minute.
//
// Response shapes are built from real Zendesk responses (testdata/, see
// testdata/SOURCES.md): each object starts from a recorded one and the
// fake overwrites the values it keeps.
//
// Using it:
//
//	zd := fake.New(fake.WithExportPageSize(2))       // options: WithClock, WithCredentials,
//	srv := httptest.NewServer(zd)                    // WithWebhookForm, WithEchoWebhooks, WithBaseURL
//	zd.SetWebhook(gatewayURL+"/webhooks/zendesk/zendesk", "secret")
//	id, err := zd.CreateTicket("ada@example.com", "Export fails", "Steps: ...", []string{"vip"},
//		map[string]string{"Product area": "export", "priority": "high"})
//	cid, err := zd.Reply(id, fake.Agent, "Looking into it", false) // internal note
//	err = zd.SetStatus(id, "pending")                              // also SetFields, DeleteTicket
//	zd.FailNext(1, 429, 2*time.Second); zd.Slow(time.Second); zd.DropWebhooks(1)
//	tk, ok := zd.Ticket(id)                                        // state, comments, attachments
//	lines := zd.CallLines()                                        // "PUT /api/v2/tickets/1001.json", ...
//
// Person actions send their webhook synchronously and return once the
// receiver answered (an error when it did not answer 2xx); webhooks echoing
// API writes (WithEchoWebhooks) go in the background until Flush.
package fake

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/internal/httpfake"
)

//go:embed testdata/*.json
var recorded embed.FS

// template returns a fresh copy of a recorded object: file, then the path
// of keys (and "0" for a first element) to the object.
func template(file string, path ...string) map[string]any {
	b, err := recorded.ReadFile("testdata/" + file)
	if err != nil {
		panic("fake: missing recorded payload " + file)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		panic("fake: unreadable recorded payload " + file)
	}
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			v = x[0]
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		panic("fake: recorded payload " + file + " has no object at " + strings.Join(path, "."))
	}
	return m
}

// Call is one request the fake received.
type Call struct {
	Method string
	Path   string // URL path, e.g. /api/v2/tickets/1.json
	Query  string // raw query as sent
	Body   []byte
	Status int // the status answered
	At     time.Time
}

// String is "METHOD /path?query" with the query unescaped, the form tests
// compare call lists in.
func (c Call) String() string {
	s := c.Method + " " + c.Path
	if c.Query != "" {
		q, err := url.QueryUnescape(c.Query)
		if err != nil {
			q = c.Query
		}
		s += "?" + q
	}
	return s
}

// WebhookForm is the shape of the webhooks the fake sends.
type WebhookForm int

// Webhook forms.
const (
	// TriggerForm sends the body documented in the connector's README
	// (TriggerBody), as a trigger with a webhook action would.
	TriggerForm WebhookForm = iota
	// EventForm sends ticket events (type "zen:event-type:ticket.*"), as
	// a webhook subscribed to ticket events would.
	EventForm
)

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock that stamps tickets and webhook timestamps
// (default time.Now). Ticket times are whole seconds and strictly
// increasing, as two updates of one ticket never share a second.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithExportPageSize caps the tickets per incremental export page, so a
// test can stop between pages (default: the request's per_page).
func WithExportPageSize(n int) Option { return func(s *Server) { s.pageSize = n } }

// WithCredentials makes the fake require this agent's API token (Basic
// "email/token:token") or, with an empty email, this OAuth bearer token.
// Without it any Authorization header is accepted.
func WithCredentials(email, token string) Option {
	return func(s *Server) { s.credEmail, s.credToken = strings.ToLower(email), token }
}

// WithWebhookForm chooses the webhook shape (default TriggerForm).
func WithWebhookForm(f WebhookForm) Option { return func(s *Server) { s.form = f } }

// WithSubscriptions makes the webhook SetWebhook registers, listed by
// GET /api/v2/webhooks, subscribed to these event types rather than to
// every ticket event the fake sends (EventForm), and notified by no
// trigger: "conditional_ticket_events" alone is a webhook whose trigger
// is missing.
func WithSubscriptions(types ...string) Option {
	return func(s *Server) { s.form, s.subscriptions = EventForm, types }
}

// WithEchoWebhooks makes writes through the API send webhooks too, as
// Zendesk's triggers fire on API updates. They are sent in the background;
// Flush waits for them.
func WithEchoWebhooks() Option { return func(s *Server) { s.echo = true } }

// WithoutTicketForms makes the account one whose plan has no ticket forms:
// GET ticket_forms.json answers 403 as Zendesk does there.
func WithoutTicketForms() Option { return func(s *Server) { s.noForms = true } }

// WithRole sets the role of the gateway's account ("agent", "end-user";
// default "admin"). Only admins may list webhooks and triggers.
func WithRole(role string) Option { return func(s *Server) { s.role = role } }

// WithBaseURL sets the URL the fake believes it is served at, used in
// "url" attributes and ticket links (default: the Host of the first request).
func WithBaseURL(u string) Option { return func(s *Server) { s.base = strings.TrimSuffix(u, "/") } }

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	mu  sync.Mutex
	now func() time.Time

	base      string
	credEmail string
	credToken string
	pageSize  int
	form      WebhookForm
	// subscriptions are the listed webhook's event types (EventForm);
	// nil: TicketEvents.
	subscriptions []string
	echo          bool
	noForms       bool
	role          string // the gateway account's role (default admin)

	stamp   time.Time // last ticket timestamp handed out
	seq     int64     // export order: bumped on every ticket change
	ids     map[string]int64
	tickets map[int64]*ticket
	users   map[int64]*user
	orgs    map[int64]string
	fields  []*field
	forms   []named
	groups  []named
	uploads map[string][]*attachment
	idem    map[string]idemEntry

	calls   httpfake.Recorder[Call]
	faults  httpfake.Faults
	hook    httpfake.Receiver
	hooks   httpfake.Recorder[Delivery]
	client  *http.Client
	pending sync.WaitGroup
}

type idemEntry struct {
	body   string
	status int
	resp   []byte
}

// Delivery is one webhook the fake sent (or dropped).
type Delivery struct {
	Body    []byte
	Header  http.Header
	Status  int  // the receiver's answer; 0 when dropped or unreachable
	Dropped bool // DropWebhooks swallowed it
}

// Agent is the e-mail of the fake's default agent, the account the
// gateway's API token belongs to unless WithCredentials names another.
const Agent = "agent@liaison.example"

// New returns a fake with the recorded ticket fields, two users from the
// recorded user list, the agent, custom fields "Developer ticket" (text),
// "Steps to reproduce" (textarea), "Reproducible" (drop-down: yes, no, as
// the default mappings declare it) and "Product area" (drop-down:
// billing, export, login), groups "Support" and
// "Escalations", and forms "Default Ticket Form" and "Bug report".
func New(opts ...Option) *Server {
	s := &Server{
		now: time.Now, tickets: map[int64]*ticket{}, users: map[int64]*user{},
		orgs: map[int64]string{360363695492: "Acme"}, uploads: map[string][]*attachment{},
		idem: map[string]idemEntry{},
		ids: map[string]int64{
			"ticket": 1000, "comment": 20000, "user": 900000, "audit": 50000,
			"attachment": 70000, "field": 360100000000, "event": 0, "ticket_event": 0, "upload": 0,
		},
		client: &http.Client{Timeout: 30 * time.Second},
	}
	for _, o := range opts {
		o(s)
	}
	list := template("api-ticket-fields-list.json")["ticket_fields"].([]any)
	for _, f := range list {
		s.fields = append(s.fields, fieldFrom(f.(map[string]any)))
	}
	s.addFieldLocked("Developer ticket", "text")
	s.addFieldLocked("Steps to reproduce", "textarea")
	s.addFieldLocked("Reproducible", "tagger", "yes", "no")
	s.addFieldLocked("Product area", "tagger", "billing", "export", "login")
	s.groups = []named{{360004077472, "Support"}, {360004077473, "Escalations"}}
	s.forms = []named{{360000389592, "Default Ticket Form"}, {360000389593, "Bug report"}}
	for _, u := range template("api-users-list.json")["users"].([]any) {
		m := u.(map[string]any)
		id := int64(m["id"].(float64))
		s.users[id] = &user{ID: id, Name: m["name"].(string), Email: m["email"].(string), Role: m["role"].(string)}
	}
	agent := Agent
	if s.credEmail != "" {
		agent = s.credEmail
	}
	s.addUserLocked(agent, "Liaison gateway", cmp.Or(s.role, "admin"))
	return s
}

// next hands out ids.
func (s *Server) next(kind string) int64 {
	s.ids[kind]++
	return s.ids[kind]
}

// tick returns the next ticket timestamp: the clock in whole seconds, but
// always after the previous one.
func (s *Server) tick() time.Time {
	t := s.now().UTC().Truncate(time.Second)
	if !t.After(s.stamp) {
		t = s.stamp.Add(time.Second)
	}
	s.stamp = t
	s.seq++
	return t
}

func (s *Server) baseURL() string {
	if s.base == "" {
		return "https://liaison-fake.zendesk.com"
	}
	return s.base
}

// Calls returns the API calls received so far (webhooks excluded).
func (s *Server) Calls() []Call { return s.calls.All() }

// CallLines returns Calls as "METHOD /path?query" lines.
func (s *Server) CallLines() []string {
	var out []string
	for _, c := range s.Calls() {
		out = append(out, c.String())
	}
	return out
}

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() { s.calls.Reset() }

// SetWebhook sets where person actions send their signed webhooks; an
// empty url sends none.
func (s *Server) SetWebhook(url, secret string) { s.hook.Set(url, secret) }

// SetWebhookForm switches the shape of later webhooks.
func (s *Server) SetWebhookForm(f WebhookForm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.form = f
}

// SetExportPageSize changes WithExportPageSize.
func (s *Server) SetExportPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// FailNext makes the next n API requests answer status, with a
// Retry-After header of retryAfter (whole seconds, rounded up) when it is
// positive. Failures queue after those still due.
func (s *Server) FailNext(n int, status int, retryAfter time.Duration) {
	s.faults.FailNext(n, status, retryAfter)
}

// Slow delays every API answer by d (0 turns it off).
func (s *Server) Slow(d time.Duration) { s.faults.Slow(d) }

// HoldWrites makes the next n writes to paths that path matches succeed
// slowly: answered after the client gave up, taking effect then, or once
// land is closed when it is not nil (httpfake.Faults.HoldWrites).
func (s *Server) HoldWrites(n int, path *regexp.Regexp, land <-chan struct{}) {
	s.faults.HoldWrites(n, path, land)
}

// DropWebhooks makes the next n webhooks vanish, as a delivery Zendesk
// gave up on would.
func (s *Server) DropWebhooks(n int) { s.faults.DropWebhooks(n) }

// Deliveries returns the webhooks sent (and dropped) so far.
func (s *Server) Deliveries() []Delivery { return s.hooks.All() }

// Flush waits for webhooks sent in the background (WithEchoWebhooks).
func (s *Server) Flush() { s.pending.Wait() }

// named is a group or a ticket form.
type named struct {
	ID   int64
	Name string
}

// field is a ticket field definition, kept as the recorded JSON object.
type field struct {
	ID    int64
	Type  string
	Title string
	obj   map[string]any
}

func fieldFrom(m map[string]any) *field {
	return &field{ID: int64(m["id"].(float64)), Type: m["type"].(string), Title: m["title"].(string), obj: m}
}

func (s *Server) addFieldLocked(title, typ string, options ...string) int64 {
	// Start from the recorded field of the same type (the text one for
	// types the recording lacks).
	var base map[string]any
	for _, f := range template("api-ticket-fields-list.json")["ticket_fields"].([]any) {
		m := f.(map[string]any)
		if m["type"] == typ || (base == nil && m["type"] == "text") {
			base = m
		}
	}
	id := s.next("field")
	base["id"] = float64(id)
	base["url"] = fmt.Sprintf("%s/api/v2/ticket_fields/%d.json", s.baseURL(), id)
	base["type"], base["title"], base["raw_title"] = typ, title, title
	base["title_in_portal"], base["raw_title_in_portal"] = title, title
	base["removable"], base["active"] = true, true
	if len(options) > 0 {
		var opts []any
		for i, o := range options {
			opts = append(opts, map[string]any{
				"id": float64(id*10 + int64(i)), "name": strings.ToUpper(o[:1]) + o[1:],
				"raw_name": o, "value": o, "default": false,
			})
		}
		base["custom_field_options"] = opts
	}
	s.fields = append(s.fields, &field{ID: id, Type: typ, Title: title, obj: base})
	return id
}

// AddField adds a custom ticket field (text, textarea, checkbox, tagger
// with option values, ...) and returns its id.
func (s *Server) AddField(title, typ string, options ...string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addFieldLocked(title, typ, options...)
}

// FieldID returns the id of a field by title (case-insensitive), or 0.
func (s *Server) FieldID(title string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fieldByTitle(title); f != nil {
		return f.ID
	}
	return 0
}

// CustomFieldIDs lists the custom fields' ids, in creation order.
func (s *Server) CustomFieldIDs() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int64
	for _, f := range s.fields {
		if f.custom() {
			out = append(out, f.ID)
		}
	}
	return out
}

func (f *field) custom() bool {
	switch f.Type {
	case "subject", "description", "status", "tickettype", "priority", "group", "assignee", "custom_status":
		return false
	}
	return true
}

func (s *Server) fieldByTitle(title string) *field {
	for _, f := range s.fields {
		if strings.EqualFold(f.Title, title) && f.custom() {
			return f
		}
	}
	return nil
}

func (s *Server) fieldByID(id int64) *field {
	for _, f := range s.fields {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// AddGroup adds a group and returns its id.
func (s *Server) AddGroup(name string) int64 { return s.addNamed(&s.groups, name) }

// AddForm adds a ticket form and returns its id.
func (s *Server) AddForm(name string) int64 { return s.addNamed(&s.forms, name) }

// addNamed adds a group or form to list and returns its new id.
func (s *Server) addNamed(list *[]named, name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next("field")
	*list = append(*list, named{id, name})
	return id
}

func groupName(list []named, id int64) string {
	for _, n := range list {
		if n.ID == id {
			return n.Name
		}
	}
	return ""
}

func groupID(list []named, name string) int64 {
	for _, n := range list {
		if strings.EqualFold(n.Name, name) {
			return n.ID
		}
	}
	return 0
}

// jsonOut writes v as a Zendesk answer.
func jsonOut(w http.ResponseWriter, status int, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return buf.Bytes()
}

func apiError(w http.ResponseWriter, status int, code, description string) {
	jsonOut(w, status, map[string]any{"error": code, "description": description})
}

func sortedIDs[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Package fake is an httptest-ready, stateful Jira that speaks exactly the
// REST subset Liaison's Jira connector uses, with answers and webhooks
// shaped after real Jira payloads (testdata/, see SOURCES.md):
//
//	GET  /rest/api/2/myself
//	GET  /rest/api/2/field, /rest/api/2/priority, /rest/api/2/resolution, /rest/api/2/project/{key}/statuses
//	POST /rest/api/2/issue                      GET|PUT /rest/api/2/issue/{key}
//	GET|POST /rest/api/2/issue/{key}/transitions
//	GET|POST /rest/api/2/issue/{key}/comment
//	GET|POST /rest/api/2/issue/{key}/remotelink
//	POST /rest/api/2/issueLink
//	GET|POST /rest/api/2/search/jql (Cloud; nextPageToken)
//	GET|POST /rest/api/2/search     (Data Center; startAt — 410 Gone on Cloud)
//	GET  /rest/api/2/mypermissions  (projectKey, permissions; WithoutPermissions)
//	GET  /rest/api/2/workflow/search (Cloud; expand=transitions,statuses — 404 on Data Center)
//	GET  /rest/webhooks/1.0/webhook (the webhook SetWebhook registers, if any)
//
// JQL is understood for the queries the connector sends: clauses joined by
// AND among project in (...), project = X, key = X, updated >= "date",
// labels = "x", and ORDER BY updated|created ASC|DESC.
//
// It records every call (Calls), injects faults (FailNext, RateLimitIssue,
// Slow, DropWebhooks), and acts as a person in Jira (CreateIssue,
// Transition, Comment, EditIssue, DeleteIssue), each of which sends the
// webhook Jira would send, signed like Jira does, to the URL given to
// SetWebhook, and returns once it is delivered. Use it with
// httptest.NewServer(fake.New()) and point the connector's base_url at it.
package fake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/internal/httpfake"
)

// Server is the fake Jira. It implements http.Handler; all methods are
// safe for concurrent use.
type Server struct {
	// mu guards the fake's state. Reads (GET) share it: a gateway under
	// load reads issues beside its writes, and one lock for every request
	// would make a benchmark measure the fake.
	mu         sync.RWMutex
	cloud      bool
	email      string
	token      string
	base       string
	now        func() time.Time
	loc        *time.Location
	tzName     string
	projects   []string
	types      []issueType
	workflow   Workflow
	fields     []Field
	person     string
	personName string
	bot        string
	apiHooks   bool
	denied     []string // permission keys the account lacks

	nextID     int
	nextSeq    map[string]int
	issues     map[string]*issue
	order      []string // issue keys in creation order
	links      []*IssueLink
	nextLinkID int

	calls  httpfake.Recorder[Call]
	faults httpfake.Faults
	limits map[string]*issueLimit

	hook       httpfake.Receiver
	hookSeq    int
	deliveries httpfake.Recorder[Delivery]
	pending    sync.WaitGroup
	client     *http.Client
}

type issueLimit struct {
	n     int
	after time.Duration
}

// Option configures a Server.
type Option func(*Server)

// DataCenter makes the fake a Jira Data Center server: bearer-token auth,
// user names instead of account ids, /rest/api/2/search by startAt, and
// comment webhooks that name the issue by id only. The default is Cloud.
func DataCenter() Option { return func(s *Server) { s.cloud = false } }

// WithAuth makes the fake require credentials: on Cloud basic auth with
// email and API token, on Data Center "Authorization: Bearer <token>".
// Without it any request is accepted.
func WithAuth(email, token string) Option {
	return func(s *Server) { s.email, s.token = email, token }
}

// WithProjects sets the projects (default KBOT and DO).
func WithProjects(keys ...string) Option { return func(s *Server) { s.projects = keys } }

// WithWorkflow sets the workflow every issue follows (default DefaultWorkflow).
func WithWorkflow(w Workflow) Option { return func(s *Server) { s.workflow = w } }

// WithField adds a custom field to the field list.
func WithField(f Field) Option { return func(s *Server) { s.fields = append(s.fields, f) } }

// WithClock sets the clock that stamps created and updated times.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithTimezone sets the API user's time zone (default UTC): /myself reports
// it, and JQL dates are read in it, as Jira does.
func WithTimezone(name string) Option {
	return func(s *Server) {
		if loc, err := time.LoadLocation(name); err == nil {
			s.loc, s.tzName = loc, name
		}
	}
}

// WithPerson sets who the person actions act as (an account id on Cloud, a
// user name on Data Center) and their display name.
func WithPerson(id, displayName string) Option {
	return func(s *Server) { s.person, s.personName = id, displayName }
}

// WithAPIWebhooks makes writes through the API send webhooks too, as real
// Jira does (the gateway then sees its own writes come back). They are sent
// after the answer; Flush waits for them.
func WithAPIWebhooks() Option { return func(s *Server) { s.apiHooks = true } }

// WithoutPermissions makes GET /rest/api/2/mypermissions answer that the
// account lacks the permissions named (EDIT_ISSUES, ...), in every project.
func WithoutPermissions(keys ...string) Option {
	return func(s *Server) { s.denied = append(s.denied, keys...) }
}

// Workflow is the statuses an issue can be in and the transitions between
// them. The first status is the one new issues start in.
type Workflow struct {
	Statuses    []string
	Transitions []Transition
}

// Transition is one workflow transition; an empty From means from any
// status (a global transition).
type Transition struct {
	ID, Name string
	From     []string
	To       string
}

// DefaultWorkflow is a developer-ticket workflow where most statuses are
// reachable only step by step:
//
//	To Do → In Progress → In Review → Ready for QA → QA Validated → Preprod Validated → Done
//
// with Stop progress (In Progress → To Do), Back to work (In Review, Ready
// for QA → In Progress) and Reopen (Done → To Do).
func DefaultWorkflow() Workflow {
	return Workflow{
		Statuses: []string{"To Do", "In Progress", "In Review", "Ready for QA", "QA Validated", "Preprod Validated", "Done"},
		Transitions: []Transition{
			{ID: "11", Name: "Start progress", From: []string{"To Do"}, To: "In Progress"},
			{ID: "21", Name: "Submit for review", From: []string{"In Progress"}, To: "In Review"},
			{ID: "31", Name: "Review passed", From: []string{"In Review"}, To: "Ready for QA"},
			{ID: "41", Name: "QA passed", From: []string{"Ready for QA"}, To: "QA Validated"},
			{ID: "51", Name: "Preprod passed", From: []string{"QA Validated"}, To: "Preprod Validated"},
			{ID: "61", Name: "Release", From: []string{"Preprod Validated"}, To: "Done"},
			{ID: "71", Name: "Back to work", From: []string{"In Review", "Ready for QA"}, To: "In Progress"},
			{ID: "81", Name: "Reopen", From: []string{"Done"}, To: "To Do"},
			{ID: "91", Name: "Stop progress", From: []string{"In Progress"}, To: "To Do"},
		},
	}
}

// Field is a field of the field list. Type and Items follow the schema of
// /rest/api/2/field: "string", "number", "date", "datetime", "option",
// "user", or "array" with Items "option", "user", "string". Kind is the
// custom field type's key after "customfieldtypes:" ("textarea",
// "textfield", ...); Type stands for it when empty.
type Field struct {
	ID, Name, Type, Items, Kind string
}

// DefaultFields are the custom fields a support team's projects carry.
func DefaultFields() []Field {
	return []Field{
		{ID: "customfield_10100", Name: "Target resources", Type: "string", Kind: "textarea"},
		{ID: "customfield_10101", Name: "Approvers", Type: "array", Items: "user"},
		{ID: "customfield_10102", Name: "Target date", Type: "date"},
		{ID: "customfield_10103", Name: "Steps to reproduce", Type: "string", Kind: "textarea"},
		{ID: "customfield_10104", Name: "Reproducible", Type: "option"},
		{ID: "customfield_10105", Name: "Help desk ticket", Type: "string", Kind: "textfield"},
	}
}

type issueType struct{ id, name string }

// Priorities are the fake's priorities, highest first (ids 1 to 5).
var Priorities = []string{"Highest", "High", "Medium", "Low", "Lowest"}

// Resolutions are the fake's resolutions (ids 1 to 7): Jira Data
// Center's defaults, then Jira Cloud's.
var Resolutions = []string{"Fixed", "Won't Fix", "Duplicate", "Incomplete", "Cannot Reproduce", "Done", "Won't Do"}

// IssueTypes are the fake's issue types, in every project.
var IssueTypes = []string{"Bug", "Task", "Story", "Change"}

// LinkTypes are the issue link types the fake knows.
var LinkTypes = []string{"Relates", "Blocks", "Duplicate", "Cloners"}

// New returns a fake Jira Cloud with projects KBOT and DO, the default
// workflow and fields, and no issues.
func New(opts ...Option) *Server {
	s := &Server{
		cloud:      true,
		now:        time.Now,
		loc:        time.UTC,
		tzName:     "UTC",
		projects:   []string{"KBOT", "DO"},
		workflow:   DefaultWorkflow(),
		fields:     DefaultFields(),
		nextID:     10000,
		nextSeq:    map[string]int{},
		issues:     map[string]*issue{},
		limits:     map[string]*issueLimit{},
		nextLinkID: 10000,
		client:     &http.Client{Timeout: 10 * time.Second},
	}
	for i, n := range IssueTypes {
		s.types = append(s.types, issueType{id: fmt.Sprint(10001 + i), name: n})
	}
	for _, o := range opts {
		o(s)
	}
	if s.person == "" {
		if s.cloud {
			s.person, s.personName = "5b10a2844c20165700ede21g", "Ada Lovelace"
		} else {
			s.person, s.personName = "ada", "Ada Lovelace"
		}
	}
	if s.cloud {
		s.bot = "557058:liaison-gateway"
	} else {
		s.bot = "liaison"
	}
	return s
}

// SetBaseURL sets the address the fake puts in self links and webhook
// bodies. Without it the fake uses the address of the first request.
func (s *Server) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = strings.TrimRight(u, "/")
}

// Call is one request the fake received.
type Call struct {
	Method string
	Path   string
	Query  string // decoded, for reading: jql=project in (KBOT) AND ...
	Body   []byte
}

// String returns "METHOD /path" or "METHOD /path?query".
func (c Call) String() string {
	if c.Query == "" {
		return c.Method + " " + c.Path
	}
	return c.Method + " " + c.Path + "?" + c.Query
}

// Calls returns the requests received so far, oldest first.
func (s *Server) Calls() []Call { return s.calls.All() }

// ResetCalls forgets the recorded requests.
func (s *Server) ResetCalls() { s.calls.Reset() }

// SetWebhook sets where person actions send webhooks and the secret they
// are signed with (X-Hub-Signature: sha256=<hex>); an empty secret sends
// them unsigned, as a webhook registered without one.
func (s *Server) SetWebhook(url, secret string) { s.hook.Set(url, secret) }

// FailNext makes the next n API requests fail with status (429, 503, ...),
// with a Retry-After header when retryAfter > 0. It replaces failures still
// due: FailNext(0, 0, 0) ends an outage.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.faults.ReplaceFailures(n, status, retryAfter)
}

// RateLimitIssue makes the next n writes to issue key answer 429 with
// RateLimit-Reason: jira-per-issue-on-write and Retry-After, as Jira Cloud
// does when one issue is written too often. Reads are not limited.
func (s *Server) RateLimitIssue(key string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[key] = &issueLimit{n: n, after: retryAfter}
}

// Slow delays every API answer by d (0 turns it off).
func (s *Server) Slow(d time.Duration) { s.faults.Slow(d) }

// HoldWrites makes the next n writes to paths that path matches succeed
// slowly: answered after the client gave up, taking effect then, or once
// land is closed when it is not nil (httpfake.Faults.HoldWrites).
func (s *Server) HoldWrites(n int, path *regexp.Regexp, land <-chan struct{}) {
	s.faults.HoldWrites(n, path, land)
}

// DropWebhooks makes the next n webhooks get lost: recorded as dropped,
// never sent. It replaces drops still due: DropWebhooks(0) stops dropping.
func (s *Server) DropWebhooks(n int) { s.faults.ReplaceDrops(n) }

// ServeHTTP answers the REST API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	q, _ := url.QueryUnescape(r.URL.RawQuery)
	s.mu.RLock()
	noBase := s.base == ""
	s.mu.RUnlock()
	if noBase {
		s.mu.Lock()
		if s.base == "" {
			s.base = "http://" + r.Host
		}
		s.mu.Unlock()
	}
	s.calls.Record(Call{Method: r.Method, Path: r.URL.Path, Query: q, Body: body})
	if !s.faults.Delay(r.Context()) {
		return
	}
	s.faults.HoldWrite(r)
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "Client must be authenticated to access this resource.")
		return
	}
	if s.fault(w, r, body) {
		return
	}
	var hooks []hook
	lock, unlock := s.mu.Lock, s.mu.Unlock
	if r.Method == http.MethodGet {
		// No GET changes the state (route's reads).
		lock, unlock = s.mu.RLock, s.mu.RUnlock
	}
	lock()
	status, out := s.route(r, body, s.hookSink(&hooks, true))
	apiHooks := s.apiHooks
	unlock()
	writeJSON(w, status, out)
	if apiHooks && len(hooks) > 0 {
		s.pending.Go(func() {
			for _, h := range hooks {
				_ = s.deliver(h)
			}
		})
	}
}

// Flush waits until the webhooks of API writes (WithAPIWebhooks) are sent.
func (s *Server) Flush() { s.pending.Wait() }

func (s *Server) authorized(r *http.Request) bool {
	if s.token == "" {
		return true
	}
	if s.cloud {
		u, p, ok := r.BasicAuth()
		return ok && u == s.email && p == s.token
	}
	return r.Header.Get("Authorization") == "Bearer "+s.token
}

// fault answers with an injected failure, if one is due.
func (s *Server) fault(w http.ResponseWriter, r *http.Request, body []byte) bool {
	if f, ok := s.faults.NextFailure(); ok {
		httpfake.SetRetryAfter(w.Header(), f.RetryAfter)
		writeError(w, f.Status, "injected failure")
		return true
	}
	if r.Method == http.MethodGet {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range writeTargets(r.URL.Path, body) {
		l := s.limits[key]
		if l == nil || l.n == 0 {
			continue
		}
		l.n--
		w.Header().Set("Retry-After", httpfake.RetryAfter(l.after))
		w.Header().Set("RateLimit-Reason", "jira-per-issue-on-write")
		writeError(w, http.StatusTooManyRequests, "Too many writes to this issue.")
		return true
	}
	return false
}

// writeTargets names the issues a write touches.
func writeTargets(path string, body []byte) []string {
	if rest, ok := strings.CutPrefix(path, "/rest/api/2/issue/"); ok {
		key, _, _ := strings.Cut(rest, "/")
		return []string{key}
	}
	if path == "/rest/api/2/issueLink" {
		var l struct {
			InwardIssue, OutwardIssue struct{ Key string }
		}
		if jsonDecode(body, &l) == nil {
			return []string{l.InwardIssue.Key, l.OutwardIssue.Key}
		}
	}
	return nil
}

// Delivery is one webhook the fake sent (or dropped).
type Delivery struct {
	Event   string // webhookEvent
	ID      string // X-Atlassian-Webhook-Identifier
	Key     string // the issue
	Status  int    // the receiver's answer; 0 when dropped or unreachable
	Dropped bool
	Err     string
}

// Deliveries returns the webhooks sent so far, oldest first.
func (s *Server) Deliveries() []Delivery { return s.deliveries.All() }

// hook is a webhook waiting to be sent.
type hook struct {
	event, key string
	body       []byte
}

// hookSink is where a write's webhooks go: h, or nil when none would be
// sent (no URL set; for the API's writes, WithAPIWebhooks not given), so
// that a write nobody hears about costs no rendering.
func (s *Server) hookSink(h *[]hook, api bool) *[]hook {
	if url, _ := s.hook.Target(); url == "" || (api && !s.apiHooks) {
		return nil
	}
	return h
}

// emit adds a webhook to hooks, rendered only when hooks is not nil.
func (s *Server) emit(hooks *[]hook, event, key string, render func() []byte) {
	if hooks != nil {
		*hooks = append(*hooks, hook{event: event, key: key, body: render()})
	}
}

// deliver sends a webhook the way Jira does and returns once it is
// answered. Without a configured URL nothing is sent.
func (s *Server) deliver(h hook) error {
	url, secret := s.hook.Target()
	s.mu.Lock()
	s.hookSeq++
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	id := fmt.Sprintf("%d-%s", s.hookSeq, hex.EncodeToString(rnd[:]))
	d := Delivery{Event: h.event, ID: id, Key: h.key}
	s.mu.Unlock()
	if url == "" {
		return nil
	}
	if s.faults.DropWebhook() {
		d.Dropped = true
		s.deliveries.Record(d)
		return nil
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json; charset=UTF-8")
	hdr.Set("User-Agent", "Atlassian Webhook HTTP Client")
	hdr.Set("X-Atlassian-Webhook-Identifier", id)
	hdr.Set("X-Atlassian-Webhook-Flow", "Primary")
	if secret != "" {
		hdr.Set("X-Hub-Signature", Sign(secret, h.body))
	}
	status, err := httpfake.Post(s.client, url, hdr, h.body)
	d.Status = status
	if err == nil && status/100 != 2 {
		err = fmt.Errorf("webhook %s to %s: answered %d", h.event, url, status)
	}
	if err != nil {
		d.Err = err.Error()
	}
	s.deliveries.Record(d)
	return err
}

// pageToken and parsePageToken make the enhanced search's opaque tokens.
func pageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "offset:%d", offset))
}

func parsePageToken(t string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return 0, false
	}
	var n int
	if _, err := fmt.Sscanf(string(b), "offset:%d", &n); err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

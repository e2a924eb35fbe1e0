// Package fake is an in-memory MantisBT 2.x REST API for tests and the
// sandbox: the endpoints the mantis connector calls, answering with the
// shapes MantisBT documents (api/rest/mantisbt_openapi.yaml) and its REST
// code builds (issues newest-updated first, one-based pages, enumerations as
// {id, name, label}, ISO 8601 times with an offset), over state that
// requests change: issues, notes, relationships, custom field values,
// projects and their categories and custom fields.
//
// Requests need the API token in the Authorization header, bare or after
// "Bearer ". Faults (429 with Retry-After, 5xx) can be queued.
package fake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/internal/httpfake"
)

// Enum is an enumeration value, as Mantis's default configuration has them.
type Enum struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Mantis's default enumerations (config_defaults_inc.php).
var (
	Statuses    = []Enum{{10, "new"}, {20, "feedback"}, {30, "acknowledged"}, {40, "confirmed"}, {50, "assigned"}, {80, "resolved"}, {90, "closed"}}
	Resolutions = []Enum{{10, "open"}, {20, "fixed"}, {30, "reopened"}, {40, "unable to reproduce"}, {50, "not fixable"},
		{60, "duplicate"}, {70, "no change required"}, {80, "suspended"}, {90, "won't fix"}}
	Priorities      = []Enum{{10, "none"}, {20, "low"}, {30, "normal"}, {40, "high"}, {50, "urgent"}, {60, "immediate"}}
	Severities      = []Enum{{10, "feature"}, {20, "trivial"}, {30, "text"}, {40, "tweak"}, {50, "minor"}, {60, "major"}, {70, "crash"}, {80, "block"}}
	Reproducibility = []Enum{{10, "always"}, {30, "sometimes"}, {50, "random"}, {70, "have not tried"}, {90, "unable to reproduce"}, {100, "N/A"}}
	viewStates      = []Enum{{10, "public"}, {50, "private"}}
)

// relationTypes are Mantis's relationship API names by id.
var relationTypes = []Enum{{0, "duplicate-of"}, {1, "related-to"}, {2, "parent-of"}, {3, "child-of"}, {4, "has-duplicate"}}

// Project is a Mantis project.
type Project struct {
	ID           int
	Name         string
	Categories   []string
	CustomFields []string // names of the custom fields linked to it
}

// User is a Mantis account.
type User struct {
	ID       int
	Name     string
	RealName string
	Email    string
}

// Note is an issue note.
type Note struct {
	ID        int
	Reporter  int
	Text      string
	Private   bool
	CreatedAt time.Time
}

// Relationship joins two issues; Type is an API name such as "related-to".
type Relationship struct {
	ID     int
	Type   string
	Target int
}

// StatusChange is a history entry.
type StatusChange struct {
	At       time.Time
	From, To string
}

// Issue is the state of one issue.
type Issue struct {
	ID              int
	Project         int
	Category        string
	Summary         string
	Description     string
	Steps           string
	Additional      string
	Status          string
	Resolution      string
	Priority        string
	Severity        string
	Reproducibility string
	ViewState       string
	Reporter        int
	Handler         int
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Notes           []Note
	Custom          map[string]string // custom field name → value
	Tags            []string
	Relations       []Relationship
	History         []StatusChange
}

// Server is the fake. Its zero value is not usable: call New.
type Server struct {
	mu       sync.Mutex
	now      func() time.Time
	token    string
	me       int
	users    map[int]*User
	projects []*Project
	fields   map[string]int // custom field name → id
	issues   map[int]*Issue
	nextID   int
	nextNote int
	nextRel  int
	statuses []Enum

	calls  httpfake.Recorder[string]
	faults httpfake.Faults
}

// Option configures a Server.
type Option func(*Server)

// WithClock makes the server read time from now (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithStatuses replaces the status list, as an installation's
// $g_status_enum_string does.
func WithStatuses(es []Enum) Option { return func(s *Server) { s.statuses = es } }

// New returns a fake whose API token is token, acting as a user "liaison"
// (id 1), with no projects.
func New(token string, opts ...Option) *Server {
	s := &Server{
		now:      time.Now,
		token:    token,
		me:       1,
		users:    map[int]*User{1: {ID: 1, Name: "liaison", RealName: "Liaison gateway", Email: "liaison@acme.example"}},
		fields:   map[string]int{},
		issues:   map[int]*Issue{},
		nextID:   1,
		statuses: Statuses,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// AddUser adds an account and returns its id.
func (s *Server) AddUser(name, email string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := len(s.users) + 1
	s.users[id] = &User{ID: id, Name: name, RealName: name, Email: email}
	return id
}

// AddProject adds a project with its categories and linked custom fields
// (made on first use) and returns its id.
func (s *Server) AddProject(name string, categories []string, customFields ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &Project{ID: len(s.projects) + 1, Name: name, Categories: categories, CustomFields: customFields}
	for _, f := range customFields {
		if _, ok := s.fields[f]; !ok {
			s.fields[f] = len(s.fields) + 1
		}
	}
	s.projects = append(s.projects, p)
	return p.ID
}

// IssueSpec is an issue a test makes as a person, not through the API.
type IssueSpec struct {
	Project     string
	Summary     string
	Description string
	Status      string
	Priority    string
	Reporter    int
	Custom      map[string]string
}

// AddIssue makes an issue now and returns its id.
func (s *Server) AddIssue(sp IssueSpec) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByName(sp.Project)
	if p == nil {
		panic("fake mantis: no project " + sp.Project)
	}
	now := s.now().UTC().Truncate(time.Second)
	iss := &Issue{
		ID: s.nextID, Project: p.ID, Summary: sp.Summary, Description: sp.Description,
		Status: or(sp.Status, "new"), Resolution: "open", Priority: or(sp.Priority, "normal"),
		Severity: "minor", Reproducibility: "have not tried", ViewState: "public",
		Reporter: or(sp.Reporter, 1), CreatedAt: now, UpdatedAt: now, Custom: map[string]string{},
	}
	if len(p.Categories) > 0 {
		iss.Category = p.Categories[0]
	}
	for k, v := range sp.Custom {
		iss.Custom[k] = v
	}
	s.nextID++
	s.issues[iss.ID] = iss
	return iss.ID
}

// Update changes an issue as a person would, now: set may change any
// field; a status change is recorded in the history.
func (s *Server) Update(id int, set func(*Issue)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.issues[id]
	before := iss.Status
	set(iss)
	iss.UpdatedAt = s.now().UTC().Truncate(time.Second)
	if iss.Status != before {
		iss.History = append(iss.History, StatusChange{At: iss.UpdatedAt, From: before, To: iss.Status})
	}
}

// AddNote adds a note as user by, now.
func (s *Server) AddNote(id, by int, text string, private bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addNote(s.issues[id], by, text, private)
}

func (s *Server) addNote(iss *Issue, by int, text string, private bool) int {
	s.nextNote++
	now := s.now().UTC().Truncate(time.Second)
	iss.Notes = append(iss.Notes, Note{ID: s.nextNote, Reporter: by, Text: text, Private: private, CreatedAt: now})
	iss.UpdatedAt = now
	return s.nextNote
}

// Issue returns a copy of an issue's state.
func (s *Server) Issue(id int) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss, ok := s.issues[id]
	if !ok {
		return Issue{}, false
	}
	cp := *iss
	cp.Notes = slices.Clone(iss.Notes)
	cp.Relations = slices.Clone(iss.Relations)
	cp.Custom = map[string]string{}
	for k, v := range iss.Custom {
		cp.Custom[k] = v
	}
	return cp, true
}

// Count returns how many issues exist.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.issues)
}

// FailNext makes the next n requests fail with status, and a Retry-After
// header when wait is not zero.
func (s *Server) FailNext(n, status int, wait time.Duration) { s.faults.FailNext(n, status, wait) }

// Calls returns "METHOD /path" of every request received, faults included.
func (s *Server) Calls() []string { return s.calls.All() }

// ResetCalls forgets the requests received so far.
func (s *Server) ResetCalls() { s.calls.Reset() }

func (s *Server) projectByName(name string) *Project {
	for _, p := range s.projects {
		if strings.EqualFold(p.Name, name) {
			return p
		}
	}
	return nil
}

func (s *Server) projectByID(id int) *Project {
	for _, p := range s.projects {
		if p.ID == id {
			return p
		}
	}
	return nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/rest"), "/")
	s.calls.Record(r.Method + " " + path)
	if f, ok := s.faults.NextFailure(); ok {
		httpfake.SetRetryAfter(w.Header(), f.RetryAfter)
		fail(w, f.Status, "fault injected by the test")
		return
	}
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		auth = strings.TrimSpace(auth[7:])
	}
	if auth == "" || auth != s.token {
		fail(w, http.StatusUnauthorized, "API token not found")
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && path == "/projects":
		s.getProjects(w)
	case r.Method == http.MethodGet && path == "/config":
		s.getConfig(w, r)
	case r.Method == http.MethodGet && path == "/users/me":
		writeJSON(w, http.StatusOK, s.user(s.me))
	case parts[0] == "issues":
		s.serveIssues(w, r, parts[1:])
	default:
		fail(w, http.StatusNotFound, "no such endpoint")
	}
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"message": msg, "code": status, "localized": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

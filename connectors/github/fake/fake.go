// Package fake is a stateful in-memory GitHub: the REST subset Liaison's
// GitHub connector uses, and people who open, push to, comment on, review,
// merge and close pull requests, each action sending the signed webhook
// GitHub would send. Serve it with httptest.NewServer(fake.New()) and point
// the connector's base_url at the server's URL.
//
// REST subset (also under /api/v3, as GitHub Enterprise Server serves it):
//
//	GET    /rate_limit                                    (free, like GitHub's)
//	POST   /app/installations/{id}/access_tokens          (GitHub App installation tokens)
//	GET    /repos/{o}/{r}                                 permissions as WithRepoAccess sets them (X-OAuth-Scopes: WithScopes)
//	GET    /repos/{o}/{r}/hooks, /orgs/{org}/hooks        (admin access; the hook SetWebhook registers)
//	GET    /repos/{o}/{r}/pulls                           state, sort, direction, per_page, page, head
//	GET    /repos/{o}/{r}/pulls/{n}
//	PATCH  /repos/{o}/{r}/pulls/{n}                       state, title, body
//	GET    /repos/{o}/{r}/pulls/{n}/commits
//	GET    /repos/{o}/{r}/issues/{n}/comments             per_page, page, since
//	POST   /repos/{o}/{r}/issues/{n}/comments
//	GET    /repos/{o}/{r}/issues/{n}/labels
//	POST   /repos/{o}/{r}/issues/{n}/labels
//	DELETE /repos/{o}/{r}/issues/{n}/labels/{name}
//	POST   /repos/{o}/{r}/statuses/{sha}
//	GET    /repos/{o}/{r}/commits/{sha}/statuses
//	GET    /repos/{o}/{r}/hooks/{id}/deliveries           per_page, cursor
//	POST   /repos/{o}/{r}/hooks/{id}/deliveries/{did}/attempts
//	GET    /orgs/{org}/hooks/{id}/deliveries
//	POST   /orgs/{org}/hooks/{id}/deliveries/{did}/attempts
//
// Like GitHub, every GET answers with an ETag and answers a matching
// If-None-Match with 304 Not Modified, which costs no rate limit; every other
// request costs one unit of the primary rate limit (5000 by default), and
// once it is spent requests are refused with 403 and X-RateLimit-Remaining: 0
// until ResetRateLimit. Faults are injected with FailNext (403 and 429 come
// with GitHub's secondary-rate-limit body), Slow, DropWebhooks and
// FailNextDeliveries.
//
// Webhooks are sent synchronously: a person action returns once the
// receiver answered, so tests need no sleeps.
package fake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/internal/httpfake"
)

// Call is one API request the fake received.
type Call struct {
	Method string
	Path   string // without the /api/v3 prefix
	Query  string // raw query, "" when none
	Body   string
	Status int // what the fake answered
}

// String renders the call as "METHOD /path?query".
func (c Call) String() string {
	if c.Query == "" {
		return c.Method + " " + c.Path
	}
	return c.Method + " " + c.Path + "?" + c.Query
}

// Delivery is one webhook delivery, as the hook deliveries API lists it.
type Delivery struct {
	ID         int64
	GUID       string // the X-GitHub-Delivery header; kept by redeliveries
	Event      string
	Action     string
	At         time.Time
	StatusCode int    // the receiver's answer; 0 when it could not be reached
	Status     string // "OK", "Invalid HTTP Response: 500", "failed to connect to host"
	Redelivery bool
	HookID     int64
	Repo       string

	repoID  int64
	payload []byte
}

// Status is a commit status set on a commit.
type Status struct {
	State, Description, TargetURL, Context, Creator string
	At                                              time.Time

	id int64
}

type statusState = Status

// PR is a snapshot of a pull request's state, for assertions.
type PR struct {
	Number        int
	Title, Body   string
	State         string // open or closed
	Draft, Merged bool
	Head, Base    string
	HeadSHA       string
	User          string
	Labels        []string
	Commits       []string // messages, oldest first
	Comments      []string // bodies, oldest first
	Statuses      []Status // on the head commit, oldest first
	UpdatedAt     time.Time
}

type repoState struct {
	full, owner, name string
	id                int64
	hookID            int64
	prs               map[int]*prState
	nextNumber        int
	branches          map[string][]commitState // pushed commits not yet in a pull request
	statuses          map[string][]statusState // by sha
}

type prState struct {
	number      int
	title, body string
	state       string
	draft       bool
	merged      bool
	mergedBy    string
	head, base  string
	user        string
	labels      []string
	commits     []commitState
	comments    []*commentState
	created     time.Time
	updated     time.Time
	closed      time.Time
	mergedAt    time.Time
}

func (p *prState) headSHA() string {
	if len(p.commits) == 0 {
		return ""
	}
	return p.commits[len(p.commits)-1].sha
}

type commitState struct {
	sha, message, author string
	at                   time.Time
}

type commentState struct {
	id         int64
	user, body string
	created    time.Time
	updated    time.Time
}

// Server is the fake GitHub. It implements http.Handler. All methods are
// safe for concurrent use.
type Server struct {
	tpl     *templates
	now     func() time.Time
	apiURL  string
	htmlURL string
	actor   string

	mu          sync.Mutex
	repos       map[string]*repoState // by lower-case owner/name
	orgHooks    map[string]int64      // org → hook id
	calls       httpfake.Recorder[Call]
	tokens      map[string]bool // accepted tokens; empty accepts any
	limit       int
	remaining   int
	reset       time.Time
	used        int
	notModified int
	faults      httpfake.Faults
	hook        httpfake.Receiver
	failDeliv   int
	deliveries  []*Delivery
	nextID      int64
	last        time.Time
	installs    int
	access      string   // the token's access to every repository: admin, write or read
	scopes      []string // a classic token's scopes, sent as X-OAuth-Scopes; nil for other tokens
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock that stamps created_at and updated_at (default
// the wall clock). Stamps have GitHub's one-second resolution and each
// change gets a later stamp than the one before.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithToken makes the API accept only these tokens (as "Bearer" or
// "token"), plus the installation tokens it issues. Without it any
// request is accepted.
func WithToken(tokens ...string) Option {
	return func(s *Server) {
		for _, t := range tokens {
			s.tokens[t] = true
		}
	}
}

// WithRepoAccess sets the token's access to every repository: "admin"
// (the default: it may list the webhooks), "write" or "read". GET
// /repos/{o}/{r} reports it in permissions; without admin, listing the
// webhooks answers 404 as GitHub does.
func WithRepoAccess(access string) Option { return func(s *Server) { s.access = access } }

// WithScopes makes the tokens classic personal access tokens with these
// scopes: every answer carries them in X-OAuth-Scopes, as GitHub's do.
func WithScopes(scopes ...string) Option {
	return func(s *Server) { s.scopes = append([]string{}, scopes...) }
}

// WithRateLimit sets the primary rate limit per window (default 5000).
func WithRateLimit(n int) Option { return func(s *Server) { s.limit, s.remaining = n, n } }

// WithURLs sets the API root and web root that URLs in payloads point to
// (defaults https://api.github.com and https://github.com).
func WithURLs(api, html string) Option {
	return func(s *Server) {
		s.apiURL, s.htmlURL = strings.TrimRight(api, "/"), strings.TrimRight(html, "/")
	}
}

// WithActor sets the login of the person whose actions send webhooks
// (default "octocat").
func WithActor(login string) Option { return func(s *Server) { s.actor = login } }

// New returns an empty fake GitHub.
func New(opts ...Option) *Server {
	s := &Server{
		tpl:      loadTemplates(),
		now:      time.Now,
		apiURL:   "https://api.github.com",
		htmlURL:  "https://github.com",
		actor:    "octocat",
		repos:    map[string]*repoState{},
		orgHooks: map[string]int64{},
		access:   "admin",
		tokens:   map[string]bool{},
		limit:    5000,
		nextID:   1000,
	}
	s.remaining = s.limit
	for _, o := range opts {
		o(s)
	}
	s.reset = s.now().Add(time.Hour).Truncate(time.Second)
	return s
}

// tick returns the stamp of a change: now at one-second resolution, and
// later than every stamp before it. Call with mu held.
func (s *Server) tick() time.Time {
	t := s.now().UTC().Truncate(time.Second)
	if !t.After(s.last) {
		t = s.last.Add(time.Second)
	}
	s.last = t
	return t
}

func (s *Server) newID() int64 { s.nextID++; return s.nextID }

// AddRepo creates a repository (owner/name) with a webhook, if it does not
// exist. Person actions create the repositories they name.
func (s *Server) AddRepo(full string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.repo(full, true)
	return err
}

// repo finds (or, with create, makes) a repository. Call with mu held.
func (s *Server) repo(full string, create bool) (*repoState, error) {
	if r, ok := s.repos[strings.ToLower(full)]; ok {
		return r, nil
	}
	owner, name, ok := strings.Cut(full, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("fake: repository %q: want owner/name", full)
	}
	if !create {
		return nil, fmt.Errorf("fake: no repository %q", full)
	}
	r := &repoState{
		full: full, owner: owner, name: name,
		id:         id("repo/" + full),
		hookID:     id("hook/"+full) % 1000000,
		prs:        map[int]*prState{},
		nextNumber: 1,
		branches:   map[string][]commitState{},
		statuses:   map[string][]statusState{},
	}
	s.repos[strings.ToLower(full)] = r
	if _, ok := s.orgHooks[strings.ToLower(owner)]; !ok {
		s.orgHooks[strings.ToLower(owner)] = id("orghook/"+owner) % 1000000
	}
	return r, nil
}

// HookID returns the id of a repository's webhook, as hook_id wants it.
func (s *Server) HookID(repo string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(repo, false)
	if err != nil {
		return 0
	}
	return r.hookID
}

// OrgHookID returns the id of an organization's webhook. The fake sends one
// delivery per event; an organization hook lists the deliveries of all the
// organization's repositories.
func (s *Server) OrgHookID(org string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orgHooks[strings.ToLower(org)]
}

// Calls returns the API requests received so far, oldest first.
func (s *Server) Calls() []Call { return s.calls.All() }

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() { s.calls.Reset() }

// SetWebhook sets where person actions send their webhooks and the secret
// they are signed with (X-Hub-Signature-256). An empty url sends none.
func (s *Server) SetWebhook(url, secret string) { s.hook.Set(url, secret) }

// FailNext makes the next n API requests fail with status. 403 and 429 are
// GitHub's secondary rate limit (its message and documentation_url), with
// Retry-After when retryAfter is positive; 5xx answer a server error.
// Failures queue after those still due.
func (s *Server) FailNext(n int, status int, retryAfter time.Duration) {
	s.faults.FailNext(n, status, retryAfter)
}

// Slow delays every API answer by d (0 to stop).
func (s *Server) Slow(d time.Duration) { s.faults.Slow(d) }

// HoldWrites makes the next n writes to paths that path matches succeed
// slowly: answered after the client gave up, taking effect then, or once
// land is closed when it is not nil (httpfake.Faults.HoldWrites).
func (s *Server) HoldWrites(n int, path *regexp.Regexp, land <-chan struct{}) {
	s.faults.HoldWrites(n, path, land)
}

// DropWebhooks makes the next n webhooks vanish: not sent, not listed as
// deliveries (what only polling recovers).
func (s *Server) DropWebhooks(n int) { s.faults.DropWebhooks(n) }

// FailNextDeliveries makes the next n webhooks fail to deliver as GitHub
// records it when the receiver cannot be reached: not sent, listed as a
// delivery with status_code 0, so that a redelivery can send it later.
func (s *Server) FailNextDeliveries(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failDeliv += n
}

// ExhaustRateLimit spends the primary rate limit: costed requests are
// refused with 403 and X-RateLimit-Remaining: 0 (X-RateLimit-Reset an hour
// from the fake's clock) until ResetRateLimit.
func (s *Server) ExhaustRateLimit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used += s.remaining
	s.remaining = 0
	s.reset = s.now().Add(time.Hour).Truncate(time.Second)
}

// ResetRateLimit starts a new rate-limit window.
func (s *Server) ResetRateLimit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remaining = s.limit
	s.reset = s.now().Add(time.Hour).Truncate(time.Second)
}

// RateUsed returns the rate-limit units spent so far (304s cost none).
func (s *Server) RateUsed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// NotModified returns how many requests were answered 304.
func (s *Server) NotModified() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notModified
}

// Deliveries returns the webhook deliveries of a repository ("" for all),
// oldest first.
func (s *Server) Deliveries(repo string) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, d := range s.deliveries {
		if repo == "" || strings.EqualFold(d.Repo, repo) {
			out = append(out, *d)
		}
	}
	return out
}

// PR returns a pull request's state.
func (s *Server) PR(repo string, n int) (PR, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, p, err := s.pr(repo, n)
	if err != nil {
		return PR{}, false
	}
	out := PR{
		Number: p.number, Title: p.title, Body: p.body, State: p.state, Draft: p.draft, Merged: p.merged,
		Head: p.head, Base: p.base, HeadSHA: p.headSHA(), User: p.user, Labels: slices.Clone(p.labels),
		UpdatedAt: p.updated,
	}
	for _, c := range p.commits {
		out.Commits = append(out.Commits, c.message)
	}
	for _, c := range p.comments {
		out.Comments = append(out.Comments, c.body)
	}
	out.Statuses = slices.Clone(r.statuses[p.headSHA()])
	return out, true
}

// ServeHTTP serves the REST subset.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	if !s.faults.Delay(r.Context()) {
		return
	}
	s.faults.HoldWrite(r)

	s.mu.Lock()
	res := s.serve(r, path, body)
	s.calls.Record(Call{Method: r.Method, Path: path, Query: r.URL.RawQuery, Body: string(body), Status: res.status})
	s.writeRateHeaders(w.Header())
	if s.scopes != nil {
		w.Header().Set("X-OAuth-Scopes", strings.Join(s.scopes, ", "))
	}
	s.mu.Unlock()
	if res.after != nil {
		res.after()
	}

	for k, v := range res.header {
		w.Header()[k] = v
	}
	if res.status == http.StatusNotModified || res.status == http.StatusNoContent {
		w.WriteHeader(res.status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body)
}

// result is an answer being built.
type result struct {
	status int
	header http.Header
	body   []byte
	after  func() // run once the lock is released, before answering
}

func jsonResult(status int, v any) result {
	b, _ := json.Marshal(v)
	return result{status: status, header: http.Header{}, body: b}
}

func errResult(status int, msg, doc string) result {
	return jsonResult(status, map[string]any{"message": msg, "documentation_url": doc})
}

func notFound() result {
	return errResult(http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
}

func (s *Server) writeRateHeaders(h http.Header) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.reset.Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.limit-s.remaining))
	h.Set("X-RateLimit-Resource", "core")
}

// serve answers one request. Call with mu held.
func (s *Server) serve(r *http.Request, path string, body []byte) result {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) == 1 && seg[0] == "rate_limit" && r.Method == http.MethodGet {
		core := map[string]any{"limit": s.limit, "remaining": s.remaining, "reset": s.reset.Unix(), "used": s.limit - s.remaining, "resource": "core"}
		return jsonResult(http.StatusOK, map[string]any{"resources": map[string]any{"core": core}, "rate": core})
	}
	if len(seg) == 4 && seg[0] == "app" && seg[1] == "installations" && seg[3] == "access_tokens" && r.Method == http.MethodPost {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			return errResult(http.StatusUnauthorized, "A JSON web token could not be decoded", "https://docs.github.com/rest")
		}
		s.installs++
		tok := fmt.Sprintf("ghs_fake%d", s.installs)
		s.tokens[tok] = true
		return jsonResult(http.StatusCreated, map[string]any{
			"token": tok, "expires_at": stamp(s.now().Add(time.Hour)),
			"permissions": map[string]any{"pull_requests": "write", "issues": "write", "statuses": "write"}, "repository_selection": "all",
		})
	}
	if len(s.tokens) > 0 && !s.authorized(r) {
		return errResult(http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest")
	}
	if f, ok := s.faults.NextFailure(); ok {
		return s.faultResult(f.Status, f.RetryAfter)
	}
	res := s.route(r, seg, body)
	if r.Method == http.MethodGet && res.status == http.StatusOK {
		sum := sha256.Sum256(res.body)
		etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
		res.header.Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
			// A conditional request answered from the client's cache costs
			// no rate limit.
			s.notModified++
			return result{status: http.StatusNotModified, header: res.header}
		}
	}
	if s.remaining <= 0 {
		h := http.Header{}
		res := errResult(http.StatusForbidden, "API rate limit exceeded for user ID 1.", "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting")
		res.header = h
		return res
	}
	s.remaining--
	s.used++
	return res
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

func (s *Server) authorized(r *http.Request) bool {
	a := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "token "} {
		if t, ok := strings.CutPrefix(a, p); ok && s.tokens[t] {
			return true
		}
	}
	return false
}

func (s *Server) faultResult(status int, wait time.Duration) result {
	var res result
	switch {
	case status == http.StatusForbidden || status == http.StatusTooManyRequests:
		res = errResult(status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000:0000.",
			"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits")
	case status >= 500:
		res = errResult(status, "Server Error", "")
	default:
		res = errResult(status, http.StatusText(status), "https://docs.github.com/rest")
	}
	httpfake.SetRetryAfter(res.header, wait)
	return res
}

// route dispatches an authorized request. Call with mu held.
func (s *Server) route(r *http.Request, seg []string, body []byte) result {
	q := r.URL.Query()
	m := r.Method
	if len(seg) == 3 && seg[0] == "orgs" && seg[2] == "hooks" && m == http.MethodGet {
		return s.listHooks(r, "Organization", "orgs/"+seg[1], s.orgHooks[strings.ToLower(seg[1])], q)
	}
	if len(seg) == 3 && seg[0] == "repos" && m == http.MethodGet {
		repo, err := s.repo(seg[1]+"/"+seg[2], false)
		if err != nil {
			return notFound()
		}
		out := s.repoJSON(repo)
		out["permissions"] = map[string]bool{"admin": s.access == "admin", "maintain": s.access == "admin", "push": s.access != "read", "triage": true, "pull": true}
		return jsonResult(http.StatusOK, out)
	}
	if len(seg) >= 5 && seg[0] == "orgs" && seg[2] == "hooks" && seg[4] == "deliveries" {
		hid, _ := strconv.ParseInt(seg[3], 10, 64)
		if s.orgHooks[strings.ToLower(seg[1])] != hid || hid == 0 {
			return notFound()
		}
		return s.hookDeliveries(r, seg[5:], func(d *Delivery) bool {
			owner, _, _ := strings.Cut(d.Repo, "/")
			return strings.EqualFold(owner, seg[1])
		}, hid)
	}
	if len(seg) < 4 || seg[0] != "repos" {
		return notFound()
	}
	repo, err := s.repo(seg[1]+"/"+seg[2], false)
	if err != nil {
		return notFound()
	}
	rest := seg[3:]
	switch {
	case rest[0] == "pulls" && len(rest) == 1 && m == http.MethodGet:
		return s.listPulls(r, repo, q)
	case rest[0] == "pulls" && len(rest) >= 2:
		p := repo.prs[atoi(rest[1])]
		if p == nil {
			return notFound()
		}
		switch {
		case len(rest) == 2 && m == http.MethodGet:
			return jsonResult(http.StatusOK, s.prJSON(repo, p))
		case len(rest) == 2 && m == http.MethodPatch:
			return s.editPull(repo, p, body)
		case len(rest) == 3 && rest[2] == "commits" && m == http.MethodGet:
			items := make([]any, len(p.commits))
			for i, c := range p.commits {
				parent := ""
				if i > 0 {
					parent = p.commits[i-1].sha
				}
				items[i] = s.commitJSON(repo, c, parent)
			}
			return s.page(r, items, q)
		}
	case rest[0] == "issues" && len(rest) >= 3:
		p := repo.prs[atoi(rest[1])]
		if p == nil {
			return notFound()
		}
		switch {
		case rest[2] == "comments" && len(rest) == 3 && m == http.MethodGet:
			var items []any
			since, _ := time.Parse(time.RFC3339, q.Get("since"))
			for _, c := range p.comments {
				if !c.updated.Before(since) {
					items = append(items, s.commentJSON(repo, p, c))
				}
			}
			return s.page(r, items, q)
		case rest[2] == "comments" && len(rest) == 3 && m == http.MethodPost:
			var in struct {
				Body string `json:"body"`
			}
			if json.Unmarshal(body, &in) != nil || in.Body == "" {
				return errResult(http.StatusUnprocessableEntity, "Validation Failed", "https://docs.github.com/rest/issues/comments#create-an-issue-comment")
			}
			c := s.addComment(p, "liaison-bot", in.Body)
			return jsonResult(http.StatusCreated, s.commentJSON(repo, p, c))
		case rest[2] == "labels" && len(rest) == 3 && m == http.MethodGet:
			return jsonResult(http.StatusOK, s.labelsJSON(repo, p))
		case rest[2] == "labels" && len(rest) == 3 && m == http.MethodPost:
			var in struct {
				Labels []string `json:"labels"`
			}
			if json.Unmarshal(body, &in) != nil {
				return errResult(http.StatusUnprocessableEntity, "Validation Failed", "https://docs.github.com/rest/issues/labels")
			}
			for _, l := range in.Labels {
				if !containsFold(p.labels, l) {
					p.labels = append(p.labels, l)
				}
			}
			p.updated = s.tick()
			return jsonResult(http.StatusOK, s.labelsJSON(repo, p))
		case rest[2] == "labels" && len(rest) == 4 && m == http.MethodDelete:
			name, _ := url.PathUnescape(rest[3])
			i := slices.IndexFunc(p.labels, func(l string) bool { return strings.EqualFold(l, name) })
			if i < 0 {
				return errResult(http.StatusNotFound, "Label does not exist", "https://docs.github.com/rest/issues/labels")
			}
			p.labels = slices.Delete(p.labels, i, i+1)
			p.updated = s.tick()
			return jsonResult(http.StatusOK, s.labelsJSON(repo, p))
		}
	case rest[0] == "statuses" && len(rest) == 2 && m == http.MethodPost:
		var in struct {
			State       string `json:"state"`
			TargetURL   string `json:"target_url"`
			Description string `json:"description"`
			Context     string `json:"context"`
		}
		if json.Unmarshal(body, &in) != nil || !slices.Contains([]string{"error", "failure", "pending", "success"}, in.State) {
			return errResult(http.StatusUnprocessableEntity, "Validation Failed", "https://docs.github.com/rest/commits/statuses#create-a-commit-status")
		}
		if in.Context == "" {
			in.Context = "default"
		}
		st := statusState{id: s.newID(), State: in.State, Description: in.Description, TargetURL: in.TargetURL, Context: in.Context, Creator: "liaison-bot", At: s.tick()}
		repo.statuses[rest[1]] = append(repo.statuses[rest[1]], st)
		return jsonResult(http.StatusCreated, s.statusJSON(repo, rest[1], st))
	case rest[0] == "commits" && len(rest) == 3 && rest[2] == "statuses" && m == http.MethodGet:
		sts := repo.statuses[rest[1]]
		items := make([]any, 0, len(sts))
		for i := len(sts) - 1; i >= 0; i-- { // newest first, as GitHub lists them
			items = append(items, s.statusJSON(repo, rest[1], sts[i]))
		}
		return s.page(r, items, q)
	case rest[0] == "hooks" && len(rest) == 1 && m == http.MethodGet:
		return s.listHooks(r, "Repository", "repos/"+repo.full, repo.hookID, q)
	case rest[0] == "hooks" && len(rest) >= 3 && rest[2] == "deliveries":
		hid, _ := strconv.ParseInt(rest[1], 10, 64)
		if hid != repo.hookID {
			return notFound()
		}
		return s.hookDeliveries(r, rest[3:], func(d *Delivery) bool { return strings.EqualFold(d.Repo, repo.full) }, hid)
	}
	return notFound()
}

// listHooks lists the one webhook of a repository or organization: the
// receiver SetWebhook named (none when it named none). It needs admin
// access, as on GitHub.
func (s *Server) listHooks(r *http.Request, kind, path string, hookID int64, q url.Values) result {
	if s.access != "admin" || hookID == 0 {
		return notFound()
	}
	items := []any{}
	if url, _ := s.hook.Target(); url != "" {
		items = append(items, s.hookJSON(kind, path, hookID, url))
	}
	return s.page(r, items, q)
}

func (s *Server) listPulls(r *http.Request, repo *repoState, q url.Values) result {
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var prs []*prState
	for _, p := range repo.prs {
		if state != "all" && p.state != state {
			continue
		}
		if h := q.Get("head"); h != "" && h != repo.owner+":"+p.head {
			continue
		}
		prs = append(prs, p)
	}
	by := func(p *prState) time.Time { return p.created }
	if q.Get("sort") == "updated" {
		by = func(p *prState) time.Time { return p.updated }
	}
	desc := q.Get("direction") != "asc"
	if q.Get("direction") == "" && q.Get("sort") == "" {
		desc = true
	}
	sort.Slice(prs, func(i, j int) bool {
		a, b := by(prs[i]), by(prs[j])
		if a.Equal(b) {
			a, b = time.Unix(int64(prs[i].number), 0), time.Unix(int64(prs[j].number), 0)
		}
		if desc {
			return a.After(b)
		}
		return a.Before(b)
	})
	items := make([]any, len(prs))
	for i, p := range prs {
		items[i] = s.prJSON(repo, p)
	}
	return s.page(r, items, q)
}

// page answers one page of a list, with GitHub's Link header.
func (s *Server) page(r *http.Request, items []any, q url.Values) result {
	per := atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	if per > 100 {
		per = 100
	}
	pg := atoi(q.Get("page"))
	if pg <= 0 {
		pg = 1
	}
	lo := min((pg-1)*per, len(items))
	hi := min(lo+per, len(items))
	res := jsonResult(http.StatusOK, append([]any{}, items[lo:hi]...))
	last := (len(items) + per - 1) / per
	if last > 1 {
		link := func(p int, rel string) string {
			qq := url.Values{}
			for k, v := range q {
				qq[k] = v
			}
			qq.Set("page", strconv.Itoa(p))
			u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: qq.Encode()}
			if r.TLS != nil {
				u.Scheme = "https"
			}
			return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
		}
		var links []string
		if pg < last {
			links = append(links, link(pg+1, "next"), link(last, "last"))
		}
		if pg > 1 {
			links = append(links, link(1, "first"), link(pg-1, "prev"))
		}
		if len(links) > 0 {
			res.header.Set("Link", strings.Join(links, ", "))
		}
	}
	return res
}

func (s *Server) editPull(repo *repoState, p *prState, body []byte) result {
	var in struct {
		State *string `json:"state"`
		Title *string `json:"title"`
		Body  *string `json:"body"`
	}
	if json.Unmarshal(body, &in) != nil {
		return errResult(http.StatusBadRequest, "Problems parsing JSON", "https://docs.github.com/rest/pulls/pulls#update-a-pull-request")
	}
	if in.State != nil {
		switch {
		case *in.State != "open" && *in.State != "closed":
			return errResult(http.StatusUnprocessableEntity, "Validation Failed", "https://docs.github.com/rest/pulls/pulls#update-a-pull-request")
		case p.merged:
			return errResult(http.StatusUnprocessableEntity, "Validation Failed", "https://docs.github.com/rest/pulls/pulls#update-a-pull-request")
		}
		p.state = *in.State
		if p.state == "closed" {
			p.closed = s.tick()
		} else {
			p.closed = time.Time{}
		}
	}
	if in.Title != nil {
		p.title = *in.Title
	}
	if in.Body != nil {
		p.body = *in.Body
	}
	p.updated = s.tick()
	return jsonResult(http.StatusOK, s.prJSON(repo, p))
}

// hookDeliveries serves a hook's deliveries: the list (newest first, with
// cursor paging), one delivery, or a redelivery attempt.
func (s *Server) hookDeliveries(r *http.Request, rest []string, mine func(*Delivery) bool, hookID int64) result {
	var ds []*Delivery
	for i := len(s.deliveries) - 1; i >= 0; i-- {
		if mine(s.deliveries[i]) {
			ds = append(ds, s.deliveries[i])
		}
	}
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		q := r.URL.Query()
		per := atoi(q.Get("per_page"))
		if per <= 0 || per > 100 {
			per = 30
		}
		start := 0
		if c := q.Get("cursor"); c != "" {
			start = atoi(c)
		}
		start = min(start, len(ds))
		end := min(start+per, len(ds))
		items := []any{}
		for _, d := range ds[start:end] {
			items = append(items, s.deliveryJSON(d))
		}
		res := jsonResult(http.StatusOK, items)
		if end < len(ds) {
			qq := url.Values{"per_page": {strconv.Itoa(per)}, "cursor": {strconv.Itoa(end)}}
			u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: qq.Encode()}
			res.header.Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.String()))
		}
		return res
	case len(rest) >= 1:
		did, _ := strconv.ParseInt(rest[0], 10, 64)
		i := slices.IndexFunc(ds, func(d *Delivery) bool { return d.ID == did })
		if i < 0 {
			return notFound()
		}
		d := ds[i]
		if len(rest) == 1 && r.Method == http.MethodGet {
			return jsonResult(http.StatusOK, s.deliveryJSON(d))
		}
		if len(rest) == 2 && rest[1] == "attempts" && r.Method == http.MethodPost {
			// GitHub redelivers in the background; the fake does it before
			// answering, so that a test sees the outcome without waiting.
			res := jsonResult(http.StatusAccepted, map[string]any{})
			res.after = func() { _ = s.deliver(d.Event, d.Action, d.Repo, d.payload, d.GUID, true) }
			return res
		}
	}
	return notFound()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// addComment appends a comment. Call with mu held.
func (s *Server) addComment(p *prState, user, body string) *commentState {
	t := s.tick()
	c := &commentState{id: s.newID(), user: user, body: body, created: t, updated: t}
	p.comments = append(p.comments, c)
	p.updated = t
	return c
}

var _ http.Handler = (*Server)(nil)

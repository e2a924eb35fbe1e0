package fake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/internal/httpfake"
)

type ticket struct {
	ID             int64
	Subject        string
	Description    string
	Status         string
	Priority       string
	Type           string
	RequesterID    int64
	SubmitterID    int64
	AssigneeID     int64
	GroupID        int64
	OrganizationID int64
	FormID         int64
	Collaborators  []int64
	Tags           []string
	Custom         map[int64]any
	Channel        string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Comments       []*comment
	seq            int64
}

type comment struct {
	ID          int64
	Body        string
	HTML        string // html_body as written, cleaned; "" when written as plain text
	Public      bool
	AuthorID    int64
	Attachments []*attachment
	CreatedAt   time.Time
}

type attachment struct {
	ID          int64
	Name        string
	ContentType string
	Size        int64
	Content     []byte
}

type user struct {
	ID    int64
	Name  string
	Email string
	Role  string
}

func (s *Server) addUserLocked(email, name, role string) *user {
	u := &user{ID: s.next("user"), Name: name, Email: strings.ToLower(email), Role: role}
	s.users[u.ID] = u
	return u
}

func (s *Server) userByEmail(email string) *user {
	for _, id := range sortedIDs(s.users) {
		if u := s.users[id]; strings.EqualFold(u.Email, email) {
			return u
		}
	}
	return nil
}

// ensureUser finds or creates an end user by e-mail.
func (s *Server) ensureUser(email, name string) *user {
	if u := s.userByEmail(email); u != nil {
		return u
	}
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	return s.addUserLocked(email, name, "end-user")
}

// ---- rendering, starting from recorded objects ----

func (s *Server) renderTicket(t *ticket, withCount bool) map[string]any {
	m := template("api-ticket-show-with-custom-fields.json", "ticket")
	m["url"] = fmt.Sprintf("%s/api/v2/tickets/%d.json", s.baseURL(), t.ID)
	m["id"] = t.ID
	m["subject"], m["raw_subject"], m["description"] = t.Subject, t.Subject, t.Description
	m["status"] = t.Status
	m["priority"], m["type"] = nullable(t.Priority), nullable(t.Type)
	m["requester_id"], m["submitter_id"] = t.RequesterID, t.SubmitterID
	m["assignee_id"], m["group_id"] = nullID(t.AssigneeID), nullID(t.GroupID)
	m["organization_id"], m["ticket_form_id"] = nullID(t.OrganizationID), nullID(t.FormID)
	m["collaborator_ids"], m["follower_ids"], m["email_cc_ids"] = ids(t.Collaborators), []int64{}, ids(t.Collaborators)
	m["tags"] = append([]string{}, t.Tags...)
	var cfs []any
	for _, f := range s.fields {
		if f.custom() {
			cfs = append(cfs, map[string]any{"id": f.ID, "value": t.Custom[f.ID]})
		}
	}
	m["custom_fields"], m["fields"] = cfs, cfs
	m["created_at"], m["updated_at"] = stamp(t.CreatedAt), stamp(t.UpdatedAt)
	if via, ok := m["via"].(map[string]any); ok {
		via["channel"] = t.Channel
	}
	if withCount {
		m["comment_count"] = len(t.Comments)
	}
	return m
}

func (s *Server) renderUser(u *user) map[string]any {
	m := template("api-user-show.json", "user")
	m["id"], m["name"], m["email"], m["role"] = u.ID, u.Name, u.Email, u.Role
	m["url"] = fmt.Sprintf("%s/api/v2/users/%d.json", s.baseURL(), u.ID)
	m["photo"] = nil
	return m
}

func (s *Server) renderComment(c *comment) map[string]any {
	m := template("api-ticket-comments-cursor-pagination.json", "comments", "0")
	m["id"], m["body"], m["plain_body"] = c.ID, c.Body, c.Body
	m["html_body"] = c.htmlBody()
	m["public"], m["author_id"], m["created_at"] = c.Public, c.AuthorID, stamp(c.CreatedAt)
	atts := []any{}
	for _, a := range c.Attachments {
		atts = append(atts, s.renderAttachment(a))
	}
	m["attachments"] = atts
	return m
}

func (s *Server) renderAttachment(a *attachment) map[string]any {
	m := template("api-attachment-show.json", "attachment")
	m["id"], m["name"], m["file_name"] = a.ID, a.Name, a.Name
	m["content_type"], m["size"] = a.ContentType, a.Size
	m["content_url"] = fmt.Sprintf("%s/attachments/token/%d/?name=%s", s.baseURL(), a.ID, a.Name)
	m["url"] = fmt.Sprintf("%s/api/v2/attachments/%d.json", s.baseURL(), a.ID)
	return m
}

// renderAudit is the audit of one write: the comment (if any) and one
// Create or Change event per field written.
func (s *Server) renderAudit(t *ticket, authorID int64, c *comment, changes [][3]string, created bool) map[string]any {
	m := template("api-ticket-create-response-with-audit.json", "audit")
	commentEvent := template("api-ticket-create-response-with-audit.json", "audit", "events", "0")
	auditID := s.next("audit")
	m["id"], m["ticket_id"], m["author_id"], m["created_at"] = auditID, t.ID, authorID, stamp(t.UpdatedAt)
	events := []any{}
	if c != nil {
		ev := commentEvent
		ev["id"], ev["author_id"], ev["body"], ev["plain_body"] = c.ID, c.AuthorID, c.Body, c.Body
		ev["html_body"] = c.htmlBody()
		ev["public"], ev["audit_id"] = c.Public, auditID
		atts := []any{}
		for _, a := range c.Attachments {
			atts = append(atts, s.renderAttachment(a))
		}
		ev["attachments"] = atts
		events = append(events, ev)
	}
	for _, ch := range changes {
		ev := map[string]any{"id": s.next("audit"), "field_name": ch[0], "value": ch[2]}
		if created {
			ev["type"] = "Create"
		} else {
			ev["type"], ev["previous_value"] = "Change", ch[1]
		}
		events = append(events, ev)
	}
	m["events"] = events
	return m
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func ids(s []int64) []int64 { return append([]int64{}, s...) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ---- the HTTP API ----

var (
	reTicket   = regexp.MustCompile(`^/api/v2/tickets/(\d+)\.json$`)
	reComments = regexp.MustCompile(`^/api/v2/tickets/(\d+)/comments\.json$`)
	reUser     = regexp.MustCompile(`^/api/v2/users/(\d+)\.json$`)
)

// ServeHTTP answers the Zendesk API under /api/v2.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	s.mu.Lock()
	if s.base == "" && r.Host != "" {
		s.base = "http://" + r.Host
	}
	idx := s.calls.Record(Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body, At: time.Now()})
	// The failure is taken as the request arrives, so that requests sent
	// together fail in the order they were made, Slow or not.
	f, failed := s.faults.NextFailure()
	s.mu.Unlock()

	rec := &statusRecorder{ResponseWriter: w, status: 200}
	defer s.calls.Update(idx, func(c *Call) { c.Status = rec.status })
	if !s.faults.Delay(r.Context()) {
		return
	}
	s.faults.HoldWrite(r)
	if failed {
		httpfake.SetRetryAfter(rec.Header(), f.RetryAfter)
		if f.Status == http.StatusTooManyRequests {
			apiError(rec, f.Status, "APIRateLimitExceeded", "Number of allowed API requests per minute exceeded")
		} else {
			apiError(rec, f.Status, "ServerError", http.StatusText(f.Status))
		}
		return
	}
	agent, ok := s.authenticate(r)
	if !ok {
		jsonOut(rec, http.StatusUnauthorized, map[string]any{"error": "Couldn't authenticate you"})
		return
	}
	rec.Header().Set("X-Rate-Limit-Remaining", "699")
	s.route(rec, r, body, agent)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// authenticate checks the Authorization header and returns the acting agent.
func (s *Server) authenticate(r *http.Request) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := r.Header.Get("Authorization")
	agent := s.userByEmail(Agent)
	if s.credEmail != "" {
		agent = s.userByEmail(s.credEmail)
	}
	switch {
	case strings.HasPrefix(h, "Basic "):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
		if err != nil {
			return 0, false
		}
		name, pass, _ := strings.Cut(string(raw), ":")
		email := strings.ToLower(strings.TrimSuffix(name, "/token"))
		if s.credToken != "" && (email != s.credEmail || pass != s.credToken) {
			return 0, false
		}
		if u := s.userByEmail(email); u != nil {
			agent = u
		}
	case strings.HasPrefix(h, "Bearer "):
		if s.credToken != "" && (s.credEmail != "" || strings.TrimPrefix(h, "Bearer ") != s.credToken) {
			return 0, false
		}
	default:
		return 0, false
	}
	if agent == nil {
		return 0, false
	}
	return agent.ID, true
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte, agent int64) {
	p := r.URL.Path
	q := r.URL.Query()
	switch {
	case r.Method == "GET" && p == "/api/v2/incremental/tickets/cursor.json":
		s.export(w, q)
	case r.Method == "GET" && p == "/api/v2/ticket_fields.json":
		catalogOut(s, w, "ticket_fields", &s.fields, func(_ int, f *field) any { return f.obj })
	case r.Method == "GET" && p == "/api/v2/ticket_forms.json" && s.noForms:
		jsonOut(w, http.StatusForbidden, map[string]any{"error": "Forbidden", "description": "You do not have access to this page. Please contact the account owner of this help desk for further help."})
	case r.Method == "GET" && p == "/api/v2/ticket_forms.json":
		catalogOut(s, w, "ticket_forms", &s.forms, s.formJSON)
	case r.Method == "GET" && p == "/api/v2/groups.json":
		catalogOut(s, w, "groups", &s.groups, s.groupJSON)
	case r.Method == "GET" && p == "/api/v2/users/me.json":
		s.mu.Lock()
		out := s.renderUser(s.users[agent])
		s.mu.Unlock()
		jsonOut(w, 200, map[string]any{"user": out})
	case r.Method == "GET" && (p == "/api/v2/webhooks" || p == "/api/v2/triggers.json" || p == "/api/v2/triggers"):
		s.mu.Lock()
		admin := s.users[agent].Role == "admin"
		hooks, triggers := s.webhooksLocked()
		s.mu.Unlock()
		switch {
		case !admin:
			jsonOut(w, http.StatusForbidden, map[string]any{"error": "Forbidden", "description": "You do not have access to this page. Please contact the account owner of this help desk for further help."})
		case p == "/api/v2/webhooks":
			jsonOut(w, 200, map[string]any{"webhooks": hooks, "meta": map[string]any{"has_more": false, "after_cursor": nil, "before_cursor": nil},
				"links": map[string]any{"next": nil, "prev": nil}})
		default:
			jsonOut(w, 200, map[string]any{"triggers": triggers, "next_page": nil, "previous_page": nil, "count": len(triggers)})
		}
	case r.Method == "GET" && p == "/api/v2/users/search.json":
		s.searchUsers(w, q.Get("query"))
	case r.Method == "POST" && p == "/api/v2/users/create_or_update.json":
		s.createOrUpdateUser(w, body)
	case r.Method == "GET" && reUser.MatchString(p):
		id, _ := strconv.ParseInt(reUser.FindStringSubmatch(p)[1], 10, 64)
		s.mu.Lock()
		u := s.users[id]
		var out map[string]any
		if u != nil {
			out = s.renderUser(u)
		}
		s.mu.Unlock()
		if u == nil {
			apiError(w, 404, "RecordNotFound", "Not found")
			return
		}
		jsonOut(w, 200, map[string]any{"user": out})
	case r.Method == "POST" && p == "/api/v2/uploads.json":
		s.upload(w, q.Get("filename"), q.Get("token"), r.Header.Get("Content-Type"), body)
	case r.Method == "GET" && p == "/api/v2/search.json":
		s.search(w, q.Get("query"))
	case r.Method == "POST" && p == "/api/v2/tickets.json":
		s.createTicket(w, r.Header.Get("Idempotency-Key"), body, agent)
	case r.Method == "GET" && reTicket.MatchString(p):
		id, _ := strconv.ParseInt(reTicket.FindStringSubmatch(p)[1], 10, 64)
		s.showTicket(w, id, q.Get("include"))
	case r.Method == "PUT" && reTicket.MatchString(p):
		id, _ := strconv.ParseInt(reTicket.FindStringSubmatch(p)[1], 10, 64)
		s.updateTicket(w, id, body, agent)
	case r.Method == "GET" && reComments.MatchString(p):
		id, _ := strconv.ParseInt(reComments.FindStringSubmatch(p)[1], 10, 64)
		s.listComments(w, id, q.Get("include"), q.Get("page[size]"), q.Get("page[after]"))
	default:
		apiError(w, 404, "InvalidEndpoint", "Not found")
	}
}

// listOut answers a list endpoint in one page, with both pagination styles'
// attributes (offset: next_page/count; cursor: meta).
// catalogOut answers a catalog list (fields, forms, groups) under key, each
// item rendered by render (given its position). items points into the
// Server: it is read, and rendered, under mu.
func catalogOut[T any](s *Server, w http.ResponseWriter, key string, items *[]T, render func(i int, v T) any) {
	s.mu.Lock()
	var list []any
	for i, v := range *items {
		list = append(list, render(i, v))
	}
	s.mu.Unlock()
	s.listOut(w, key, list)
}

// formJSON renders a ticket form as /api/v2/ticket_forms.json lists it
// (the first is the default). Call with mu held.
func (s *Server) formJSON(i int, f named) any {
	return map[string]any{
		"id": f.ID, "url": fmt.Sprintf("%s/api/v2/ticket_forms/%d.json", s.baseURL(), f.ID),
		"name": f.Name, "raw_name": f.Name, "display_name": f.Name, "raw_display_name": f.Name,
		"position": i, "active": true, "end_user_visible": true, "default": i == 0,
		"ticket_field_ids": []int64{}, "in_all_brands": true, "restricted_brand_ids": []int64{},
		"created_at": "2018-11-23T16:05:12Z", "updated_at": "2018-11-23T16:05:12Z",
	}
}

// groupJSON renders a group as /api/v2/groups.json lists it (the first is
// the default). Call with mu held.
func (s *Server) groupJSON(i int, g named) any {
	return map[string]any{
		"id": g.ID, "url": fmt.Sprintf("%s/api/v2/groups/%d.json", s.baseURL(), g.ID),
		"name": g.Name, "description": "", "default": i == 0, "deleted": false,
		"created_at": "2018-11-23T16:05:12Z", "updated_at": "2018-11-23T16:05:12Z",
	}
}

func (s *Server) listOut(w http.ResponseWriter, key string, list []any) {
	if list == nil {
		list = []any{}
	}
	jsonOut(w, 200, map[string]any{
		key: list, "next_page": nil, "previous_page": nil, "count": len(list),
		"meta": map[string]any{"has_more": false, "after_cursor": nil, "before_cursor": nil},
	})
}

func (s *Server) searchUsers(w http.ResponseWriter, query string) {
	q := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(query, "email:")))
	s.mu.Lock()
	env := template("api-users-list.json")
	var list []any
	for _, id := range sortedIDs(s.users) {
		u := s.users[id]
		if q != "" && (u.Email == q || (!strings.Contains(q, "@") && strings.Contains(strings.ToLower(u.Name), q))) {
			list = append(list, s.renderUser(u))
		}
	}
	s.mu.Unlock()
	if list == nil {
		list = []any{}
	}
	env["users"], env["count"], env["next_page"], env["previous_page"] = list, len(list), nil, nil
	jsonOut(w, 200, env)
}

func (s *Server) createOrUpdateUser(w http.ResponseWriter, body []byte) {
	var in struct {
		User struct {
			Name  string `json:"name"`
			Email string `json:"email"`
			Role  string `json:"role"`
		} `json:"user"`
	}
	if json.Unmarshal(body, &in) != nil || !strings.Contains(in.User.Email, "@") {
		apiError(w, 422, "RecordInvalid", "Record validation errors")
		return
	}
	s.mu.Lock()
	status := 200
	u := s.userByEmail(in.User.Email)
	if u == nil {
		status = 201
		role := in.User.Role
		if role == "" {
			role = "end-user"
		}
		u = s.addUserLocked(in.User.Email, in.User.Name, role)
	} else if in.User.Name != "" {
		u.Name = in.User.Name
	}
	out := s.renderUser(u)
	s.mu.Unlock()
	jsonOut(w, status, map[string]any{"user": out})
}

func (s *Server) upload(w http.ResponseWriter, name, token, ctype string, body []byte) {
	if name == "" {
		apiError(w, 400, "InvalidAttachment", "filename is required")
		return
	}
	s.mu.Lock()
	if token == "" {
		token = fmt.Sprintf("upload-token-%04d", s.next("upload"))
	} else if _, ok := s.uploads[token]; !ok {
		s.mu.Unlock()
		apiError(w, 422, "RecordInvalid", "Upload token not found")
		return
	}
	a := &attachment{ID: s.next("attachment"), Name: name, ContentType: ctype, Size: int64(len(body)), Content: body}
	s.uploads[token] = append(s.uploads[token], a)
	var atts []any
	for _, x := range s.uploads[token] {
		atts = append(atts, s.renderAttachment(x))
	}
	out := map[string]any{"upload": map[string]any{
		"token": token, "expires_at": stamp(s.now().Add(72 * time.Hour)),
		"attachment": s.renderAttachment(a), "attachments": atts,
	}}
	s.mu.Unlock()
	jsonOut(w, 201, out)
}

// search understands "type:ticket", "tags:x", "status:x" and free words
// matched against subject and description.
func (s *Server) search(w http.ResponseWriter, query string) {
	s.mu.Lock()
	env := template("api-search-tickets.json")
	var results []any
	for _, id := range sortedIDs(s.tickets) {
		t := s.tickets[id]
		if t.Status == "deleted" || !matches(t, query) {
			continue
		}
		m := s.renderTicket(t, false)
		m["result_type"] = "ticket"
		results = append(results, m)
	}
	s.mu.Unlock()
	if results == nil {
		results = []any{}
	}
	env["results"], env["count"] = results, len(results)
	jsonOut(w, 200, env)
}

func matches(t *ticket, query string) bool {
	for _, term := range strings.Fields(query) {
		k, v, ok := strings.Cut(term, ":")
		switch {
		case ok && k == "type":
			if v != "ticket" {
				return false
			}
		case ok && (k == "tags" || k == "tag"):
			if !slices.Contains(t.Tags, v) {
				return false
			}
		case ok && k == "status":
			if t.Status != v {
				return false
			}
		default:
			text := strings.ToLower(t.Subject + " " + t.Description)
			if !strings.Contains(text, strings.ToLower(term)) {
				return false
			}
		}
	}
	return true
}

func (s *Server) showTicket(w http.ResponseWriter, id int64, include string) {
	s.mu.Lock()
	t := s.tickets[id]
	if t == nil || t.Status == "deleted" {
		s.mu.Unlock()
		apiError(w, 404, "RecordNotFound", "Not found")
		return
	}
	inc := includes(include)
	out := map[string]any{"ticket": s.renderTicket(t, inc["comment_count"])}
	s.sideloadLocked(out, inc, []*ticket{t})
	s.mu.Unlock()
	jsonOut(w, 200, out)
}

func includes(s string) map[string]bool {
	out := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out[p] = true
		}
	}
	return out
}

// sideloadLocked adds users and organizations referenced by the tickets.
func (s *Server) sideloadLocked(out map[string]any, inc map[string]bool, ts []*ticket) {
	if inc["users"] {
		seen := map[int64]bool{}
		users := []any{}
		add := func(id int64) {
			if u := s.users[id]; u != nil && !seen[id] {
				seen[id] = true
				users = append(users, s.renderUser(u))
			}
		}
		for _, t := range ts {
			add(t.RequesterID)
			add(t.SubmitterID)
			add(t.AssigneeID)
			for _, c := range t.Collaborators {
				add(c)
			}
		}
		out["users"] = users
	}
	if inc["organizations"] {
		orgs := []any{}
		seen := map[int64]bool{}
		for _, t := range ts {
			if name, ok := s.orgs[t.OrganizationID]; ok && !seen[t.OrganizationID] {
				seen[t.OrganizationID] = true
				orgs = append(orgs, map[string]any{"id": t.OrganizationID, "name": name})
			}
		}
		out["organizations"] = orgs
	}
}

func (s *Server) listComments(w http.ResponseWriter, id int64, include, size, after string) {
	s.mu.Lock()
	t := s.tickets[id]
	if t == nil || t.Status == "deleted" {
		s.mu.Unlock()
		apiError(w, 404, "RecordNotFound", "Not found")
		return
	}
	n, _ := strconv.Atoi(size)
	if n <= 0 || n > 100 {
		n = 100
	}
	start := 0
	if after != "" {
		b, err := base64.RawURLEncoding.DecodeString(after)
		if err != nil {
			s.mu.Unlock()
			apiError(w, 400, "InvalidPaginationParameter", "bad cursor")
			return
		}
		start, _ = strconv.Atoi(string(b))
	}
	end := min(start+n, len(t.Comments))
	start = min(start, end)
	list := []any{}
	users := []any{}
	seen := map[int64]bool{}
	for _, c := range t.Comments[start:end] {
		list = append(list, s.renderComment(c))
		if u := s.users[c.AuthorID]; u != nil && !seen[u.ID] {
			seen[u.ID] = true
			users = append(users, s.renderUser(u))
		}
	}
	env := template("api-ticket-comments-cursor-pagination.json")
	env["comments"] = list
	meta := env["meta"].(map[string]any)
	meta["has_more"] = end < len(t.Comments)
	meta["after_cursor"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	meta["before_cursor"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(start)))
	if includes(include)["users"] {
		env["users"] = users
	}
	s.mu.Unlock()
	jsonOut(w, 200, env)
}

// export is the cursor-based incremental ticket export. Every ticket change
// moves the ticket to the end of the stream; a cursor is the stream
// position of the last ticket returned.
func (s *Server) export(w http.ResponseWriter, q map[string][]string) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var from int64
	var since time.Time
	switch {
	case get("cursor") != "":
		b, err := base64.RawURLEncoding.DecodeString(get("cursor"))
		n, err2 := strconv.ParseInt(strings.TrimPrefix(string(b), "seq:"), 10, 64)
		if err != nil || err2 != nil {
			apiError(w, 422, "InvalidPaginationParameter", "cursor is invalid")
			return
		}
		from = n
	case get("start_time") != "":
		n, err := strconv.ParseInt(get("start_time"), 10, 64)
		if err != nil {
			apiError(w, 400, "InvalidValue", "start_time is invalid")
			return
		}
		since = time.Unix(n, 0)
	default:
		apiError(w, 400, "InvalidValue", "start_time or cursor is required")
		return
	}
	limit, _ := strconv.Atoi(get("per_page"))
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if s.pageSize > 0 && s.pageSize < limit {
		limit = s.pageSize
	}
	var stream []*ticket
	for _, t := range s.tickets {
		if t.seq > from && !t.UpdatedAt.Before(since) {
			stream = append(stream, t)
		}
	}
	slices.SortFunc(stream, func(a, b *ticket) int { return int(a.seq - b.seq) })
	page := stream[:min(limit, len(stream))]
	pos := from
	if since.IsZero() == false && len(page) == 0 {
		pos = s.seq // nothing since then: the stream's present
	}
	if len(page) > 0 {
		pos = page[len(page)-1].seq
	}
	inc := includes(get("include"))
	tickets := []any{}
	for _, t := range page {
		tickets = append(tickets, s.renderTicket(t, inc["comment_count"]))
	}
	cur := base64.RawURLEncoding.EncodeToString([]byte("seq:" + strconv.FormatInt(pos, 10)))
	out := map[string]any{
		"tickets":       tickets,
		"after_url":     fmt.Sprintf("%s/api/v2/incremental/tickets/cursor.json?cursor=%s", s.baseURL(), cur),
		"after_cursor":  cur,
		"before_url":    nil,
		"before_cursor": nil,
		"end_of_stream": len(page) == len(stream),
	}
	s.sideloadLocked(out, inc, page)
	jsonOut(w, 200, out)
}

// commentIn is the comment of a ticket create or update.
type commentIn struct {
	Body     string   `json:"body"`
	HTMLBody string   `json:"html_body"`
	Public   *bool    `json:"public"` // nil is public
	AuthorID int64    `json:"author_id"`
	Uploads  []string `json:"uploads"`
}

// newComment makes the comment in asks for, by its author when that is a known
// user and by agent otherwise, taking its uploads. Call with mu held.
func (s *Server) newComment(in *commentIn, agent int64) *comment {
	author := agent
	if in.AuthorID != 0 && s.users[in.AuthorID] != nil {
		author = in.AuthorID
	}
	body, htmlBody := in.Body, ""
	if body == "" && in.HTMLBody != "" {
		htmlBody = cleanHTML(in.HTMLBody)
		body = plainOf(htmlBody)
	}
	return &comment{ID: s.next("comment"), Body: body, HTML: htmlBody, Public: in.Public == nil || *in.Public,
		AuthorID: author, Attachments: s.takeUploads(in.Uploads)}
}

// readTicket reads the ticket of a create or update body, and answers 400
// when it is not JSON.
func readTicket(w http.ResponseWriter, body []byte) (ticketIn, bool) {
	var in struct {
		Ticket ticketIn `json:"ticket"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		apiError(w, 400, "InvalidJSON", "request body is not JSON")
		return ticketIn{}, false
	}
	return in.Ticket, true
}

// ticketIn is what the fake reads from a create or update body.
type ticketIn struct {
	Subject     string     `json:"subject"`
	Comment     *commentIn `json:"comment"`
	RequesterID *int64     `json:"requester_id"`
	Requester   *struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"requester"`
	Collaborators           []json.RawMessage `json:"collaborators"`
	AdditionalCollaborators []json.RawMessage `json:"additional_collaborators"`
	Status                  *string           `json:"status"`
	Priority                *string           `json:"priority"`
	Type                    *string           `json:"type"`
	GroupID                 *int64            `json:"group_id"`
	TicketFormID            *int64            `json:"ticket_form_id"`
	AssigneeID              *int64            `json:"assignee_id"`
	Tags                    []string          `json:"tags"`
	AdditionalTags          []string          `json:"additional_tags"`
	RemoveTags              []string          `json:"remove_tags"`
	CustomFields            []struct {
		ID    int64 `json:"id"`
		Value any   `json:"value"`
	} `json:"custom_fields"`
}

var validStatus = []string{"new", "open", "pending", "hold", "solved", "closed"}

func (s *Server) createTicket(w http.ResponseWriter, key string, body []byte, agent int64) {
	s.mu.Lock()
	if key != "" {
		if e, ok := s.idem[key]; ok {
			s.mu.Unlock()
			if e.body != string(body) {
				apiError(w, 400, "IdempotentRequestError", "Idempotency-Key reused with a different request")
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("X-Idempotency-Lookup", "hit")
			w.WriteHeader(e.status)
			_, _ = w.Write(e.resp)
			return
		}
	}
	s.mu.Unlock()
	in, ok := readTicket(w, body)
	if !ok {
		return
	}
	s.mu.Lock()
	out, status, perr := s.createLocked(in, agent, "api")
	if perr != "" {
		s.mu.Unlock()
		apiError(w, status, "RecordInvalid", perr)
		return
	}
	resp := jsonOut(w, status, out)
	if key != "" {
		s.idem[key] = idemEntry{body: string(body), status: status, resp: resp}
	}
	id := s.ids["ticket"]
	s.mu.Unlock()
	if s.echo {
		s.sendAsync(id, "created", nil)
	}
}

// createLocked creates a ticket from an API body. It returns the answer,
// its status, and a validation problem ("" when none).
func (s *Server) createLocked(in ticketIn, agent int64, channel string) (map[string]any, int, string) {
	if in.Comment == nil || (in.Comment.Body == "" && in.Comment.HTMLBody == "") {
		return nil, 422, "Description: cannot be blank"
	}
	t := &ticket{Subject: in.Subject, Status: "new", SubmitterID: agent, Channel: channel, Custom: map[int64]any{}}
	switch {
	case in.RequesterID != nil:
		if s.users[*in.RequesterID] == nil {
			return nil, 422, "Requester: is invalid"
		}
		t.RequesterID = *in.RequesterID
	case in.Requester != nil && in.Requester.Email != "":
		t.RequesterID = s.ensureUser(in.Requester.Email, in.Requester.Name).ID
	default:
		t.RequesterID = agent
	}
	if u := s.users[t.RequesterID]; u != nil && u.Role == "end-user" {
		t.OrganizationID = 360363695492
	}
	for _, raw := range in.Collaborators {
		if id := s.collaborator(raw); id != 0 && !slices.Contains(t.Collaborators, id) {
			t.Collaborators = append(t.Collaborators, id)
		}
	}
	changes, problem := s.applyLocked(t, in, true)
	if problem != "" {
		return nil, 422, problem
	}
	t.ID = s.next("ticket")
	now := s.tick()
	t.CreatedAt, t.UpdatedAt, t.seq = now, now, s.seq
	c := s.newComment(in.Comment, agent)
	c.CreatedAt = now
	t.Description = c.Body
	t.Comments = append(t.Comments, c)
	s.tickets[t.ID] = t
	changes = append([][3]string{{"subject", "", t.Subject}, {"requester_id", "", strconv.FormatInt(t.RequesterID, 10)}, {"status", "", t.Status}}, changes...)
	return map[string]any{"ticket": s.renderTicket(t, false), "audit": s.renderAudit(t, agent, c, changes, true)}, 201, ""
}

func (s *Server) collaborator(raw json.RawMessage) int64 {
	var id int64
	if json.Unmarshal(raw, &id) == nil && s.users[id] != nil {
		return id
	}
	var email string
	if json.Unmarshal(raw, &email) == nil && strings.Contains(email, "@") {
		return s.ensureUser(email, "").ID
	}
	var obj struct{ Name, Email string }
	if json.Unmarshal(raw, &obj) == nil && strings.Contains(obj.Email, "@") {
		return s.ensureUser(obj.Email, obj.Name).ID
	}
	return 0
}

func (s *Server) takeUploads(tokens []string) []*attachment {
	var out []*attachment
	for _, tok := range tokens {
		out = append(out, s.uploads[tok]...)
		delete(s.uploads, tok)
	}
	return out
}

// applyLocked applies the writable attributes of in to t and returns the
// changes made (field, from, to) or a validation problem.
func (s *Server) applyLocked(t *ticket, in ticketIn, creating bool) ([][3]string, string) {
	var changes [][3]string
	set := func(name string, cur *string, v string) {
		if *cur != v {
			changes = append(changes, [3]string{name, *cur, v})
			*cur = v
		}
	}
	setID := func(name string, cur *int64, v int64) {
		if *cur != v {
			changes = append(changes, [3]string{name, strconv.FormatInt(*cur, 10), strconv.FormatInt(v, 10)})
			*cur = v
		}
	}
	if in.Status != nil {
		if !slices.Contains(validStatus, *in.Status) {
			return nil, "Status: is invalid"
		}
		set("status", &t.Status, *in.Status)
	}
	if in.Priority != nil {
		set("priority", &t.Priority, *in.Priority)
	}
	if in.Type != nil {
		set("type", &t.Type, *in.Type)
	}
	if in.GroupID != nil {
		if *in.GroupID != 0 && groupName(s.groups, *in.GroupID) == "" {
			return nil, "Group: is invalid"
		}
		setID("group_id", &t.GroupID, *in.GroupID)
	}
	if in.TicketFormID != nil {
		if groupName(s.forms, *in.TicketFormID) == "" {
			return nil, "Ticket form: is invalid"
		}
		setID("ticket_form_id", &t.FormID, *in.TicketFormID)
	}
	if in.AssigneeID != nil {
		if u := s.users[*in.AssigneeID]; *in.AssigneeID != 0 && (u == nil || u.Role == "end-user") {
			return nil, "Assignee: is invalid"
		}
		setID("assignee_id", &t.AssigneeID, *in.AssigneeID)
	}
	if !creating && in.RequesterID != nil {
		if s.users[*in.RequesterID] == nil {
			return nil, "Requester: is invalid"
		}
		setID("requester_id", &t.RequesterID, *in.RequesterID)
	}
	before := strings.Join(t.Tags, " ")
	if in.Tags != nil {
		t.Tags = nil
		for _, tag := range in.Tags {
			if tag = normTag(tag); tag != "" && !slices.Contains(t.Tags, tag) {
				t.Tags = append(t.Tags, tag)
			}
		}
	}
	for _, tag := range in.AdditionalTags {
		if tag = normTag(tag); tag != "" && !slices.Contains(t.Tags, tag) {
			t.Tags = append(t.Tags, tag)
		}
	}
	for _, tag := range in.RemoveTags {
		t.Tags = slices.DeleteFunc(t.Tags, func(x string) bool { return x == normTag(tag) })
	}
	if after := strings.Join(t.Tags, " "); after != before {
		changes = append(changes, [3]string{"tags", before, after})
	}
	for _, raw := range in.AdditionalCollaborators {
		if id := s.collaborator(raw); id != 0 && !slices.Contains(t.Collaborators, id) {
			t.Collaborators = append(t.Collaborators, id)
			changes = append(changes, [3]string{"collaborator_ids", "", strconv.FormatInt(id, 10)})
		}
	}
	for _, cf := range in.CustomFields {
		f := s.fieldByID(cf.ID)
		if f == nil || !f.custom() {
			return nil, fmt.Sprintf("Custom field %d: is invalid", cf.ID)
		}
		v := cf.Value
		if f.Type == "tagger" && v != nil {
			sv, _ := v.(string)
			if !hasOption(f, sv) {
				return nil, fmt.Sprintf("%s: is invalid", f.Title)
			}
		}
		if fmt.Sprint(t.Custom[f.ID]) != fmt.Sprint(v) {
			changes = append(changes, [3]string{strconv.FormatInt(f.ID, 10), fmt.Sprint(t.Custom[f.ID]), fmt.Sprint(v)})
			t.Custom[f.ID] = v
		}
	}
	return changes, ""
}

func hasOption(f *field, v string) bool {
	opts, _ := f.obj["custom_field_options"].([]any)
	for _, o := range opts {
		if m, ok := o.(map[string]any); ok && m["value"] == v {
			return true
		}
	}
	return false
}

// normTag lowers a tag and joins its words, as Zendesk does.
func normTag(t string) string {
	return strings.ToLower(strings.Join(strings.Fields(t), "_"))
}

func (s *Server) updateTicket(w http.ResponseWriter, id int64, body []byte, agent int64) {
	in, ok := readTicket(w, body)
	if !ok {
		return
	}
	s.mu.Lock()
	out, status, problem, event := s.updateLocked(id, in, agent)
	s.mu.Unlock()
	if problem != "" {
		code := "RecordInvalid"
		if status == 404 {
			code = "RecordNotFound"
		}
		apiError(w, status, code, problem)
		return
	}
	jsonOut(w, status, out)
	if s.echo && event != "" {
		s.sendAsync(id, event, nil)
	}
}

// updateLocked applies an update; event names what happened for webhooks
// ("" when nothing changed).
func (s *Server) updateLocked(id int64, in ticketIn, agent int64) (map[string]any, int, string, string) {
	t := s.tickets[id]
	if t == nil || t.Status == "deleted" {
		return nil, 404, "Not found", ""
	}
	if t.Status == "closed" {
		return nil, 422, "Status: closed prevents ticket update", ""
	}
	// Validate on a copy so a rejected update changes nothing.
	cp := *t
	cp.Tags = slices.Clone(t.Tags)
	cp.Collaborators = slices.Clone(t.Collaborators)
	cp.Custom = map[int64]any{}
	for k, v := range t.Custom {
		cp.Custom[k] = v
	}
	prevStatus := t.Status
	changes, problem := s.applyLocked(&cp, in, false)
	if problem != "" {
		return nil, 422, problem, ""
	}
	var c *comment
	if in.Comment != nil && (in.Comment.Body != "" || in.Comment.HTMLBody != "" || len(in.Comment.Uploads) > 0) {
		c = s.newComment(in.Comment, agent)
	}
	*t = cp
	event := ""
	if len(changes) > 0 || c != nil {
		now := s.tick()
		t.UpdatedAt, t.seq = now, s.seq
		if c != nil {
			c.CreatedAt = now
			t.Comments = append(t.Comments, c)
			event = "comment_added"
		} else if t.Status != prevStatus {
			event = "status_changed"
		} else {
			event = "custom_field_changed"
		}
	}
	return map[string]any{"ticket": s.renderTicket(t, false), "audit": s.renderAudit(t, agent, c, changes, false)}, 200, "", event
}

// htmlBody is the comment's html_body as Zendesk serves it: a plain-text
// comment's text escaped into a paragraph, or the HTML it was written with.
func (c *comment) htmlBody() string {
	if c.HTML != "" {
		return c.HTML
	}
	return "<div class=\"zd-comment\"><p>" + html.EscapeString(c.Body) + "</p></div>"
}

var (
	htmlCommentRE = regexp.MustCompile(`(?s)<!--.*?-->`)
	scriptRE      = regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)\s*>`)
	tagRE         = regexp.MustCompile(`(?s)<[^>]*>`)
	breakRE       = regexp.MustCompile(`(?i)<br\s*/?>|</p>`)
)

// cleanHTML stands for Zendesk's cleaning of a written html_body, which
// keeps an allow-list of formatting elements: comments, scripts and
// styles do not survive it.
func cleanHTML(s string) string {
	return scriptRE.ReplaceAllString(htmlCommentRE.ReplaceAllString(s, ""), "")
}

// plainOf is the text of cleaned HTML, as Zendesk fills body from html_body.
func plainOf(s string) string {
	s = breakRE.ReplaceAllString(s, "\n")
	return strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(s, "")))
}

// TicketEvents are the ticket event types the fake's webhook subscribes
// to in EventForm: every kind of change person actions make.
var TicketEvents = []string{"zen:event-type:ticket.created", "zen:event-type:ticket.status_changed", "zen:event-type:ticket.priority_changed",
	"zen:event-type:ticket.comment_added", "zen:event-type:ticket.custom_field_changed", "zen:event-type:ticket.tags_changed"}

// hookID is the id of the webhook SetWebhook registers (its deliveries
// carry it in X-Zendesk-Webhook-Id).
const hookID = "01EJFTSCC78X5V07NPY2MHR00M"

// webhooksLocked renders the account's webhooks and triggers: the
// recorded default triggers and, once SetWebhook named a receiver, its
// webhook (subscribed to ticket events in EventForm) and, in TriggerForm,
// the trigger that notifies it on every ticket created or updated.
func (s *Server) webhooksLocked() (hooks, triggers []any) {
	hooks = []any{}
	triggers = template("api-triggers-list.json")["triggers"].([]any)
	url, _ := s.hook.Target()
	if url == "" {
		return hooks, triggers
	}
	h := template("api-webhook-show.json", "webhook")
	h["id"], h["name"], h["endpoint"] = hookID, "Liaison", url
	h["authentication"] = nil // signed, not authenticated
	if s.form == EventForm {
		h["subscriptions"] = TicketEvents
		if s.subscriptions != nil {
			h["subscriptions"] = s.subscriptions
		}
		return append(hooks, h), triggers
	}
	t := template("api-triggers-list.json", "triggers", "0")
	t["id"], t["title"], t["raw_title"], t["position"] = 360056299999, "Liaison", "Liaison", 10000
	t["url"] = fmt.Sprintf("%s/api/v2/triggers/360056299999.json", s.base)
	t["actions"] = []any{map[string]any{"field": "notification_webhook", "value": []any{hookID, `{"ticket": {"id": "{{ticket.id}}"}}`}}}
	t["conditions"] = map[string]any{"all": []any{}, "any": []any{
		map[string]any{"field": "update_type", "operator": "is", "value": "Create"},
		map[string]any{"field": "update_type", "operator": "is", "value": "Change"},
	}}
	return append(hooks, h), append(triggers, t)
}

package fake

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// apiErr is Jira's error body.
type apiErr struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

func errBody(msg string) apiErr {
	return apiErr{ErrorMessages: []string{msg}, Errors: map[string]string{}}
}

func fieldErr(field, msg string) apiErr {
	return apiErr{ErrorMessages: []string{}, Errors: map[string]string{field: msg}}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errBody(msg))
}

// noBody marks an answer without a body (204, or 201 of issueLink).
type noBody struct{}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if _, ok := v.(noBody); ok {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// route answers one API request; it runs under s.mu (shared for a GET,
// which must then change nothing) and appends the webhooks the write
// would make Jira send to hooks.
func (s *Server) route(r *http.Request, body []byte, hooks *[]hook) (int, any) {
	p, m := r.URL.Path, r.Method
	q := r.URL.Query()
	const api = "/rest/api/2/"
	switch {
	case p == api+"myself" && m == http.MethodGet:
		u := s.renderUser(s.bot)
		u["timeZone"] = s.tzName
		return http.StatusOK, u
	case p == api+"field" && m == http.MethodGet:
		return http.StatusOK, s.fieldList()
	case p == api+"priority" && m == http.MethodGet:
		var out []any
		for _, n := range Priorities {
			pr := s.renderPriority(n)
			pr["description"], pr["statusColor"] = n+" priority", "#cccccc"
			out = append(out, pr)
		}
		return http.StatusOK, out
	case p == api+"resolution" && m == http.MethodGet:
		out := []any{}
		for i, n := range Resolutions {
			id := strconv.Itoa(i + 1)
			out = append(out, map[string]any{"self": s.base + "/rest/api/2/resolution/" + id, "id": id, "name": n, "description": n + "."})
		}
		return http.StatusOK, out
	case p == api+"issuetype" && m == http.MethodGet:
		var out []any
		for _, t := range s.types {
			out = append(out, s.renderIssueType(t.name))
		}
		return http.StatusOK, out
	case strings.HasPrefix(p, api+"project/") && strings.HasSuffix(p, "/statuses") && m == http.MethodGet:
		key := strings.TrimSuffix(strings.TrimPrefix(p, api+"project/"), "/statuses")
		if !slices.Contains(s.projects, key) {
			return http.StatusNotFound, errBody(fmt.Sprintf("No project could be found with key '%s'.", key))
		}
		var out []any
		for _, t := range s.types {
			var sts []any
			for _, st := range s.workflow.Statuses {
				sts = append(sts, s.renderStatus(st))
			}
			out = append(out, map[string]any{"self": s.base + "/rest/api/2/issuetype/" + t.id, "id": t.id, "name": t.name, "subtask": false, "statuses": sts})
		}
		return http.StatusOK, out
	case p == api+"mypermissions" && m == http.MethodGet:
		return s.myPermissions(q.Get("projectKey"), q.Get("permissions"))
	case p == api+"workflow/search" && m == http.MethodGet:
		if !s.cloud {
			return http.StatusNotFound, errBody("null for uri: " + p)
		}
		return http.StatusOK, s.workflowSearch()
	case p == "/rest/webhooks/1.0/webhook" && m == http.MethodGet:
		return http.StatusOK, s.webhookList()
	case p == api+"issue" && m == http.MethodPost:
		return s.createIssue(body, hooks)
	case p == api+"issueLink" && m == http.MethodPost:
		return s.linkIssues(body, hooks)
	case p == api+"search/jql" && (m == http.MethodGet || m == http.MethodPost):
		if !s.cloud {
			return http.StatusNotFound, errBody("null for uri: " + p)
		}
		return s.search(r, body)
	case p == api+"search" && (m == http.MethodGet || m == http.MethodPost):
		if s.cloud {
			return http.StatusGone, errBody("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
		}
		return s.search(r, body)
	case strings.HasPrefix(p, api+"issue/"):
		rest := strings.TrimPrefix(p, api+"issue/")
		key, sub, _ := strings.Cut(rest, "/")
		iss := s.lookup(key)
		if iss == nil {
			return http.StatusNotFound, errBody("Issue does not exist or you do not have permission to see it.")
		}
		switch {
		case sub == "" && m == http.MethodGet:
			return http.StatusOK, s.renderIssue(iss, parseFields(q.Get("fields"), fieldSet{all: true}), q.Get("expand"))
		case sub == "" && m == http.MethodPut:
			return s.editIssue(iss, body, s.bot, hooks)
		case sub == "transitions" && m == http.MethodGet:
			return http.StatusOK, map[string]any{"expand": "transitions", "transitions": s.renderTransitions(iss)}
		case sub == "transitions" && m == http.MethodPost:
			return s.doTransition(iss, body, s.bot, hooks)
		case sub == "comment" && m == http.MethodGet:
			return s.listComments(iss, q.Get("orderBy"), q.Get("maxResults"), q.Get("startAt"))
		case sub == "comment" && m == http.MethodPost:
			return s.addComment(iss, body, s.bot, hooks)
		case sub == "remotelink" && m == http.MethodGet:
			var out []any
			for _, l := range iss.remote {
				if g := q.Get("globalId"); g != "" && g != l.GlobalID {
					continue
				}
				out = append(out, s.renderRemoteLink(iss, l))
			}
			if out == nil {
				out = []any{}
			}
			return http.StatusOK, out
		case sub == "remotelink" && m == http.MethodPost:
			return s.addRemoteLink(iss, body)
		case sub == "attachments" && m == http.MethodPost:
			return s.addAttachments(iss, r, body)
		}
	}
	return http.StatusNotFound, errBody("null for uri: " + p)
}

func (s *Server) fieldList() []any {
	system := []struct{ id, name, typ, items string }{
		{"summary", "Summary", "string", ""}, {"description", "Description", "string", ""},
		{"issuetype", "Issue Type", "issuetype", ""}, {"project", "Project", "project", ""},
		{"status", "Status", "status", ""}, {"priority", "Priority", "priority", ""},
		{"labels", "Labels", "array", "string"}, {"components", "Component/s", "array", "component"},
		{"assignee", "Assignee", "user", ""}, {"reporter", "Reporter", "user", ""},
		{"duedate", "Due date", "date", ""}, {"resolution", "Resolution", "resolution", ""},
		{"issuelinks", "Linked Issues", "array", "issuelinks"}, {"comment", "Comment", "comments-page", ""},
		{"created", "Created", "datetime", ""}, {"updated", "Updated", "datetime", ""},
		{"environment", "Environment", "string", ""}, {"fixVersions", "Fix Version/s", "array", "version"},
	}
	var out []any
	for _, f := range system {
		schema := map[string]any{"type": f.typ, "system": f.id}
		if f.items != "" {
			schema["items"] = f.items
		}
		out = append(out, map[string]any{"id": f.id, "key": f.id, "name": f.name, "custom": false, "orderable": true, "navigable": true, "searchable": true, "clauseNames": []string{f.id}, "schema": schema})
	}
	for _, f := range s.fields {
		num := strings.TrimPrefix(f.ID, "customfield_")
		n, _ := strconv.Atoi(num)
		schema := map[string]any{"type": f.Type, "custom": "com.atlassian.jira.plugin.system.customfieldtypes:" + cmp.Or(f.Kind, f.Type), "customId": n}
		if f.Items != "" {
			schema["items"] = f.Items
		}
		out = append(out, map[string]any{"id": f.ID, "key": f.ID, "name": f.Name, "custom": true, "orderable": true, "navigable": true, "searchable": true, "clauseNames": []string{"cf[" + num + "]", f.Name}, "schema": schema})
	}
	return out
}

// createIssue handles POST /rest/api/2/issue.
func (s *Server) createIssue(body []byte, hooks *[]hook) (int, any) {
	var req struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Fields == nil {
		return http.StatusBadRequest, errBody("Unexpected character in the request body: not a JSON object with fields.")
	}
	var pr struct{ Key, ID string }
	_ = json.Unmarshal(req.Fields["project"], &pr)
	project := pr.Key
	if project == "" && pr.ID != "" {
		if i, err := strconv.Atoi(pr.ID); err == nil && i-10000 >= 0 && i-10000 < len(s.projects) {
			project = s.projects[i-10000]
		}
	}
	if !slices.Contains(s.projects, project) {
		return http.StatusBadRequest, fieldErr("project", "valid project is required")
	}
	var it struct{ ID, Name string }
	_ = json.Unmarshal(req.Fields["issuetype"], &it)
	t, ok := s.issueType(it.ID)
	if !ok {
		t, ok = s.issueType(it.Name)
	}
	if !ok {
		return http.StatusBadRequest, fieldErr("issuetype", "valid issue type is required")
	}
	now := s.now().Truncate(time.Millisecond)
	s.nextID++
	s.nextSeq[project]++
	iss := &issue{
		id: s.nextID, key: fmt.Sprintf("%s-%d", project, s.nextSeq[project]), project: project, typ: t.name,
		status: s.workflow.Statuses[0], priority: "Medium", reporter: s.bot, custom: map[string]any{},
		created: now, updated: now,
	}
	delete(req.Fields, "project")
	delete(req.Fields, "issuetype")
	if _, err := s.applyFields(iss, req.Fields, nil); err != nil {
		s.nextID--
		s.nextSeq[project]--
		return http.StatusBadRequest, *err
	}
	if strings.TrimSpace(iss.summary) == "" {
		s.nextID--
		s.nextSeq[project]--
		return http.StatusBadRequest, fieldErr("summary", "You must specify a summary of the issue.")
	}
	s.issues[iss.key] = iss
	s.order = append(s.order, iss.key)
	s.emit(hooks, "jira:issue_created", iss.key, func() []byte { return s.renderIssueEvent("jira:issue_created", "issue_created", s.bot, iss, nil, nil) })
	return http.StatusCreated, map[string]any{"id": itoa(iss.id), "key": iss.key, "self": s.base + "/rest/api/2/issue/" + itoa(iss.id)}
}

// applyFields sets fields from a request; it returns the changelog items
// (for edits) or Jira's error for the first field it refuses.
func (s *Server) applyFields(iss *issue, fields map[string]json.RawMessage, update map[string][]map[string]json.RawMessage) ([]changeItem, *apiErr) {
	var items []changeItem
	str := func(raw json.RawMessage) (string, bool) {
		var v *string
		if json.Unmarshal(raw, &v) != nil {
			return "", false
		}
		if v == nil {
			return "", true
		}
		return *v, true
	}
	bad := func(k, msg string) *apiErr { e := fieldErr(k, msg); return &e }
	for _, k := range sortedKeys(fields) {
		raw := fields[k]
		switch k {
		case "summary":
			v, ok := str(raw)
			if !ok {
				return nil, bad(k, "Operation value must be a string")
			}
			if strings.ContainsAny(v, "\r\n") || len([]rune(v)) > 255 {
				return nil, bad(k, "Summary must be less than 255 characters and on one line.")
			}
			items = append(items, change("summary", iss.summary, v, false))
			iss.summary = v
		case "description", "environment":
			v, ok := str(raw)
			if !ok {
				return nil, bad(k, "Operation value must be a string")
			}
			if k == "description" {
				items = append(items, change("description", iss.description, v, false))
				iss.description = v
			}
		case "priority":
			var p struct{ ID, Name string }
			if json.Unmarshal(raw, &p) != nil {
				return nil, bad(k, "Could not find valid 'id' or 'name' in priority object.")
			}
			_, name, ok := s.priorityID(p.ID)
			if !ok {
				_, name, ok = s.priorityID(p.Name)
			}
			if !ok {
				return nil, bad(k, "Specify the Priority (id or name) in the proper format")
			}
			items = append(items, change("priority", iss.priority, name, false))
			iss.priority = name
		case "labels":
			var ls []string
			if json.Unmarshal(raw, &ls) != nil {
				return nil, bad(k, "Operation value must be an array of strings")
			}
			for _, l := range ls {
				if strings.ContainsAny(l, " \t\r\n") {
					return nil, bad(k, "The label '"+l+"' contains spaces which is invalid.")
				}
			}
			items = append(items, change("labels", strings.Join(iss.labels, " "), strings.Join(ls, " "), false))
			iss.labels = ls
		case "components":
			var cs []struct{ Name string }
			if json.Unmarshal(raw, &cs) != nil {
				return nil, bad(k, "Operation value must be an array of component objects")
			}
			iss.components = nil
			for _, c := range cs {
				iss.components = append(iss.components, c.Name)
			}
		case "assignee":
			u, err := s.userOf(raw)
			if err != "" {
				return nil, bad(k, err)
			}
			items = append(items, change("assignee", iss.assignee, u, false))
			iss.assignee = u
		case "duedate":
			v, ok := str(raw)
			if _, err := time.Parse("2006-01-02", v); v != "" && (!ok || err != nil) {
				return nil, bad(k, "Error parsing date string: "+v)
			}
			iss.dueDate = v
		default:
			f, ok := s.field(k)
			if !ok || f.ID != k {
				return nil, bad(k, fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k))
			}
			v, msg := s.customValue(f, raw)
			if msg != "" {
				return nil, bad(k, msg)
			}
			old, _ := json.Marshal(iss.custom[k])
			iss.custom[k] = v
			nw, _ := json.Marshal(v)
			items = append(items, change(f.Name, string(old), string(nw), true))
		}
	}
	for _, op := range update["labels"] {
		for verb, raw := range op {
			var l string
			if json.Unmarshal(raw, &l) != nil || strings.ContainsAny(l, " \t\r\n") {
				return nil, bad("labels", "Invalid label operation")
			}
			before := strings.Join(iss.labels, " ")
			switch verb {
			case "add":
				if !slices.Contains(iss.labels, l) {
					iss.labels = append(iss.labels, l)
				}
			case "remove":
				iss.labels = slices.DeleteFunc(iss.labels, func(x string) bool { return x == l })
			default:
				return nil, bad("labels", "Unsupported operation '"+verb+"'")
			}
			items = append(items, change("labels", before, strings.Join(iss.labels, " "), false))
		}
	}
	var out []changeItem
	for _, it := range items {
		if it.fromString != it.toString {
			out = append(out, it)
		}
	}
	return out, nil
}

func change(field, from, to string, custom bool) changeItem {
	ci := changeItem{field: field, fieldType: "jira", fieldID: field, fromString: from, toString: to}
	if custom {
		ci.fieldType, ci.fieldID = "custom", ""
	}
	return ci
}

// userOf reads a user reference as the deployment wants it.
func (s *Server) userOf(raw json.RawMessage) (string, string) {
	if string(raw) == "null" {
		return "", ""
	}
	var u struct{ AccountID, Name string }
	if json.Unmarshal(raw, &u) != nil {
		return "", "Could not read the user"
	}
	if s.cloud {
		if u.AccountID == "" {
			return "", "Specify a valid value for the user: accountId is required"
		}
		return u.AccountID, ""
	}
	if u.Name == "" {
		return "", "Specify a valid value for the user: name is required"
	}
	return u.Name, ""
}

// customValue checks a custom field's value against its type, as Jira
// does, and returns it as Jira would return it.
func (s *Server) customValue(f Field, raw json.RawMessage) (any, string) {
	if string(raw) == "null" {
		return nil, ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, "Invalid value"
	}
	option := func(x any) (any, string) {
		o, ok := x.(map[string]any)
		if !ok || (o["value"] == nil && o["id"] == nil) {
			return nil, "Specify a valid 'id' or 'name' for " + f.Name
		}
		return map[string]any{"self": s.base + "/rest/api/2/customFieldOption/10000", "value": o["value"], "id": "10000"}, ""
	}
	user := func(x any) (any, string) {
		b, _ := json.Marshal(x)
		id, msg := s.userOf(b)
		if msg != "" {
			return nil, msg
		}
		return s.renderUser(id), ""
	}
	switch f.Type {
	case "string":
		if _, ok := v.(string); !ok {
			return nil, "Operation value must be a string"
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return nil, "Operation value must be a number"
		}
	case "date":
		str, ok := v.(string)
		if _, err := time.Parse("2006-01-02", str); !ok || err != nil {
			return nil, "Error parsing date string: " + str
		}
	case "datetime":
		str, ok := v.(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000-0700", str); !ok || err != nil {
			return nil, "Error parsing date time string: " + str
		}
	case "option":
		return option(v)
	case "user":
		return user(v)
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return nil, "Operation value must be an array"
		}
		out := []any{}
		for _, x := range arr {
			var (
				y   any = x
				msg string
			)
			switch f.Items {
			case "option":
				y, msg = option(x)
			case "user":
				y, msg = user(x)
			default:
				if _, ok := x.(string); !ok {
					msg = "Operation value must be an array of strings"
				}
			}
			if msg != "" {
				return nil, msg
			}
			out = append(out, y)
		}
		return out, ""
	}
	return v, ""
}

// editIssue handles PUT /rest/api/2/issue/{key}.
func (s *Server) editIssue(iss *issue, body []byte, actor string, hooks *[]hook) (int, any) {
	var req struct {
		Fields map[string]json.RawMessage              `json:"fields"`
		Update map[string][]map[string]json.RawMessage `json:"update"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, errBody("Unexpected character in the request body.")
	}
	for _, k := range []string{"project", "issuetype", "status"} {
		if _, ok := req.Fields[k]; ok {
			return http.StatusBadRequest, fieldErr(k, fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k))
		}
	}
	saved := *iss
	saved.custom = map[string]any{}
	for k, v := range iss.custom {
		saved.custom[k] = v
	}
	saved.labels = slices.Clone(iss.labels)
	items, e := s.applyFields(iss, req.Fields, req.Update)
	if e != nil {
		*iss = saved
		return http.StatusBadRequest, *e
	}
	if len(items) > 0 {
		at := s.touch(iss)
		h := s.addHistory(iss, actor, at, items...)
		s.emit(hooks, "jira:issue_updated", iss.key, func() []byte { return s.renderIssueEvent("jira:issue_updated", "issue_updated", actor, iss, &h, nil) })
	}
	return http.StatusNoContent, noBody{}
}

// doTransition handles POST /rest/api/2/issue/{key}/transitions.
func (s *Server) doTransition(iss *issue, body []byte, actor string, hooks *[]hook) (int, any) {
	var req struct {
		Transition struct{ ID string } `json:"transition"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Transition.ID == "" {
		return http.StatusBadRequest, errBody("Missing 'transition' identifier")
	}
	i := slices.IndexFunc(s.available(iss), func(t Transition) bool { return t.ID == req.Transition.ID })
	if i < 0 {
		return http.StatusBadRequest, errBody(fmt.Sprintf("Transition id '%s' is not valid for this issue.", req.Transition.ID))
	}
	t := s.available(iss)[i]
	s.move(iss, t.To, actor, hooks)
	return http.StatusNoContent, noBody{}
}

func (s *Server) move(iss *issue, to, actor string, hooks *[]hook) {
	from := iss.status
	iss.status = to
	at := s.touch(iss)
	items := []changeItem{{field: "status", fieldType: "jira", fieldID: "status", from: s.statusID(from), fromString: from, to: s.statusID(to), toString: to}}
	if s.category(to) == "done" && s.category(from) != "done" {
		items = append([]changeItem{{field: "resolution", fieldType: "jira", fieldID: "resolution", to: "10000", toString: "Done"}}, items...)
	}
	h := s.addHistory(iss, actor, at, items...)
	typeName := "issue_generic"
	if s.category(from) == "done" && s.category(to) != "done" {
		typeName = "issue_reopened"
	}
	s.emit(hooks, "jira:issue_updated", iss.key, func() []byte { return s.renderIssueEvent("jira:issue_updated", typeName, actor, iss, &h, nil) })
}

// listComments handles GET /rest/api/2/issue/{key}/comment.
func (s *Server) listComments(iss *issue, orderBy, maxResults, startAt string) (int, any) {
	cs := slices.Clone(iss.comments)
	if orderBy == "-created" {
		slices.Reverse(cs)
	}
	start, _ := strconv.Atoi(startAt)
	limit, err := strconv.Atoi(maxResults)
	if err != nil || limit <= 0 {
		limit = 50
	}
	total := len(cs)
	if start > total {
		start = total
	}
	cs = cs[start:min(total, start+limit)]
	page := shape("rest-v2-issue-comments-list.json")
	out := []any{}
	for _, c := range cs {
		out = append(out, s.renderComment(iss, c))
	}
	page["startAt"], page["maxResults"], page["total"], page["comments"] = start, limit, total, out
	return http.StatusOK, page
}

// addComment handles POST /rest/api/2/issue/{key}/comment.
func (s *Server) addComment(iss *issue, body []byte, actor string, hooks *[]hook) (int, any) {
	var req struct {
		Body       *string     `json:"body"`
		Visibility *Visibility `json:"visibility"`
		Properties []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Body == nil {
		return http.StatusBadRequest, fieldErr("comment", "Comment body can not be empty!")
	}
	if strings.TrimSpace(*req.Body) == "" {
		return http.StatusBadRequest, fieldErr("comment", "Comment body can not be empty!")
	}
	c := &comment{body: *req.Body, author: actor, visibility: req.Visibility}
	if v := req.Visibility; v != nil && (v.Type != "role" && v.Type != "group" || v.Value == "") {
		return http.StatusBadRequest, fieldErr("commentLevel", "You are currently not a member of the project role or group.")
	}
	for _, p := range req.Properties {
		if p.Key == "sd.public.comment" {
			var v struct{ Internal any }
			_ = json.Unmarshal(p.Value, &v)
			c.internal = v.Internal == true || v.Internal == "true"
		}
	}
	s.addCommentTo(iss, c, hooks)
	return http.StatusCreated, s.renderComment(iss, c)
}

func (s *Server) addCommentTo(iss *issue, c *comment, hooks *[]hook) {
	s.nextID++
	c.id = itoa(s.nextID)
	at := s.touch(iss)
	c.created, c.updated = at, at
	iss.comments = append(iss.comments, c)
	s.emit(hooks, "comment_created", iss.key, func() []byte { return s.renderCommentEvent("comment_created", iss, c) })
	if !s.cloud {
		// Data Center also sends the issue event, which names the issue.
		s.emit(hooks, "jira:issue_updated", iss.key, func() []byte {
			return s.renderIssueEvent("jira:issue_updated", "issue_commented", c.author, iss, nil, c)
		})
	}
}

func (s *Server) renderRemoteLink(iss *issue, l *RemoteLink) map[string]any {
	return map[string]any{
		"id": l.ID, "self": s.base + "/rest/api/2/issue/" + iss.key + "/remotelink/" + itoa(l.ID),
		"globalId": l.GlobalID, "relationship": l.Relationship,
		"application": map[string]any{"type": l.Application, "name": l.Application},
		"object":      map[string]any{"url": l.URL, "title": l.Title},
	}
}

// addRemoteLink handles POST /rest/api/2/issue/{key}/remotelink: a link
// with a globalId the issue already has is updated, not added.
func (s *Server) addRemoteLink(iss *issue, body []byte) (int, any) {
	var req struct {
		GlobalID     string `json:"globalId"`
		Relationship string `json:"relationship"`
		Application  struct{ Type, Name string }
		Object       struct {
			URL   string `json:"url"`
			Title string `json:"title"`
		} `json:"object"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, errBody("Unexpected character in the request body.")
	}
	if req.Object.URL == "" || req.Object.Title == "" {
		return http.StatusBadRequest, fieldErr("object", "'url' and 'title' are required.")
	}
	if req.GlobalID != "" {
		for _, l := range iss.remote {
			if l.GlobalID == req.GlobalID {
				l.URL, l.Title, l.Relationship, l.Application = req.Object.URL, req.Object.Title, req.Relationship, req.Application.Name
				return http.StatusOK, map[string]any{"id": l.ID, "self": s.base + "/rest/api/2/issue/" + iss.key + "/remotelink/" + itoa(l.ID)}
			}
		}
	}
	s.nextID++
	l := &RemoteLink{ID: s.nextID, GlobalID: req.GlobalID, URL: req.Object.URL, Title: req.Object.Title, Relationship: req.Relationship, Application: req.Application.Name}
	iss.remote = append(iss.remote, l)
	return http.StatusCreated, map[string]any{"id": l.ID, "self": s.base + "/rest/api/2/issue/" + iss.key + "/remotelink/" + itoa(l.ID)}
}

// linkIssues handles POST /rest/api/2/issueLink; the same link made twice
// stays one link.
func (s *Server) linkIssues(body []byte, hooks *[]hook) (int, any) {
	var req struct {
		Type struct {
			Name string `json:"name"`
		} `json:"type"`
		InwardIssue struct {
			Key string `json:"key"`
		} `json:"inwardIssue"`
		OutwardIssue struct {
			Key string `json:"key"`
		} `json:"outwardIssue"`
	}
	// Jira's JSON reader is case-sensitive, unlike Go's: check the keys.
	var exact map[string]map[string]any
	if err := json.Unmarshal(body, &exact); err != nil || exact["type"]["name"] == nil ||
		exact["inwardIssue"]["key"] == nil || exact["outwardIssue"]["key"] == nil {
		return http.StatusBadRequest, errBody("Unrecognized field: the link needs type.name, inwardIssue.key and outwardIssue.key.")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, errBody("Unexpected character in the request body.")
	}
	i := slices.IndexFunc(LinkTypes, func(t string) bool { return strings.EqualFold(t, req.Type.Name) })
	if i < 0 {
		return http.StatusNotFound, errBody(fmt.Sprintf("No issue link type with name '%s' found.", req.Type.Name))
	}
	in, out := s.lookup(req.InwardIssue.Key), s.lookup(req.OutwardIssue.Key)
	if in == nil || out == nil {
		return http.StatusNotFound, errBody("Issue Does Not Exist")
	}
	for _, l := range s.links {
		if l.Type == LinkTypes[i] && l.Inward == in.key && l.Outward == out.key {
			return http.StatusCreated, noBody{}
		}
	}
	s.nextLinkID++
	s.links = append(s.links, &IssueLink{ID: itoa(s.nextLinkID), Type: LinkTypes[i], Inward: in.key, Outward: out.key})
	inV, outV := linkVerbs(LinkTypes[i])
	for _, e := range []struct {
		iss  *issue
		text string
	}{{in, "This issue " + outV + " " + out.key}, {out, "This issue " + inV + " " + in.key}} {
		at := s.touch(e.iss)
		h := s.addHistory(e.iss, s.bot, at, changeItem{field: "Link", fieldType: "jira", toString: e.text})
		s.emit(hooks, "jira:issue_updated", e.iss.key, func() []byte { return s.renderIssueEvent("jira:issue_updated", "issue_generic", s.bot, e.iss, &h, nil) })
	}
	return http.StatusCreated, noBody{}
}

// search handles both search endpoints.
func (s *Server) search(r *http.Request, body []byte) (int, any) {
	q := r.URL.Query()
	params := struct {
		JQL           string   `json:"jql"`
		NextPageToken string   `json:"nextPageToken"`
		StartAt       int      `json:"startAt"`
		MaxResults    int      `json:"maxResults"`
		Fields        []string `json:"fields"`
		Expand        string   `json:"expand"`
	}{JQL: q.Get("jql"), NextPageToken: q.Get("nextPageToken"), Expand: q.Get("expand")}
	params.StartAt, _ = strconv.Atoi(q.Get("startAt"))
	params.MaxResults, _ = strconv.Atoi(q.Get("maxResults"))
	if f := q.Get("fields"); f != "" {
		params.Fields = strings.Split(f, ",")
	}
	if r.Method == http.MethodPost {
		if err := json.Unmarshal(body, &params); err != nil {
			return http.StatusBadRequest, errBody("Unexpected character in the request body.")
		}
	}
	jq, err := parseJQL(params.JQL, s.loc)
	if err != nil {
		return http.StatusBadRequest, errBody("Error in the JQL Query: " + err.Error())
	}
	var hits []*issue
	for _, k := range s.order {
		if iss := s.issues[k]; jq.match(iss) {
			hits = append(hits, iss)
		}
	}
	jq.sort(hits)
	limit := params.MaxResults
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	start := params.StartAt
	if s.cloud {
		start = 0
		if params.NextPageToken != "" {
			n, ok := parsePageToken(params.NextPageToken)
			if !ok {
				return http.StatusBadRequest, errBody("The provided next page token is invalid or expired.")
			}
			start = n
		}
	}
	start = min(max(start, 0), len(hits))
	end := min(start+limit, len(hits))
	// The enhanced search returns ids only unless fields are asked for.
	def := fieldSet{all: !s.cloud}
	fs := parseFields(strings.Join(params.Fields, ","), def)
	issues := []any{}
	for _, iss := range hits[start:end] {
		issues = append(issues, s.renderIssue(iss, fs, params.Expand))
	}
	if s.cloud {
		out := shape("rest-v3-search-result-minimal.json")
		delete(out, "expand")
		out["issues"] = issues
		out["isLast"] = end >= len(hits)
		if end < len(hits) {
			out["nextPageToken"] = pageToken(end)
		}
		return http.StatusOK, out
	}
	out := shape("rest-v2-search-result.json")
	out["startAt"], out["maxResults"], out["total"], out["issues"] = start, limit, len(hits), issues
	out["isLast"] = end >= len(hits)
	return http.StatusOK, out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// permissionNames are display names of the project permissions the
// gateway asks about, as Jira gives them.
var permissionNames = map[string]string{
	"BROWSE_PROJECTS": "Browse Projects", "CREATE_ISSUES": "Create Issues", "EDIT_ISSUES": "Edit Issues",
	"TRANSITION_ISSUES": "Transition Issues", "ADD_COMMENTS": "Add Comments", "LINK_ISSUES": "Link Issues",
	"CREATE_ATTACHMENTS": "Create Attachments",
}

// myPermissions answers GET /rest/api/2/mypermissions: the permissions
// asked for, each with havePermission (false for those WithoutPermissions
// names), in Jira's shape.
func (s *Server) myPermissions(project, keys string) (int, any) {
	if project != "" && !slices.Contains(s.projects, project) {
		return http.StatusNotFound, errBody(fmt.Sprintf("No project could be found with key '%s'.", project))
	}
	if keys == "" {
		return http.StatusBadRequest, errBody("The 'permissions' query parameter is required.")
	}
	out := map[string]any{}
	for i, k := range strings.Split(keys, ",") {
		out[k] = map[string]any{"id": strconv.Itoa(10 + i), "key": k, "name": cmp.Or(permissionNames[k], k), "type": "PROJECT",
			"description": "Ability to " + strings.ToLower(cmp.Or(permissionNames[k], k)) + ".", "havePermission": !slices.Contains(s.denied, k)}
	}
	return http.StatusOK, map[string]any{"permissions": out}
}

// workflowSearch answers GET /rest/api/2/workflow/search with the one
// workflow every issue type follows, its statuses and transitions.
func (s *Server) workflowSearch() any {
	var statuses, transitions []any
	for _, st := range s.workflow.Statuses {
		statuses = append(statuses, map[string]any{"id": s.statusID(st), "name": st, "properties": map[string]any{}})
	}
	if len(s.workflow.Statuses) > 0 {
		transitions = append(transitions, map[string]any{"id": "1", "name": "Create", "description": "", "from": []string{}, "to": s.statusID(s.workflow.Statuses[0]), "type": "initial"})
	}
	for _, t := range s.workflow.Transitions {
		from := []string{}
		for _, f := range t.From {
			from = append(from, s.statusID(f))
		}
		typ := "directed"
		if len(t.From) == 0 {
			typ = "global"
		}
		transitions = append(transitions, map[string]any{"id": t.ID, "name": t.Name, "description": "", "from": from, "to": s.statusID(t.To), "type": typ})
	}
	return map[string]any{"maxResults": 50, "startAt": 0, "total": 1, "isLast": true, "values": []any{map[string]any{
		"id":          map[string]any{"name": "Software Simplified Workflow for Liaison fake", "entityId": "5ed312c5-f7a6-4a78-a1f6-8ff7f307d063"},
		"description": "The workflow every issue type of the fake follows.", "transitions": transitions, "statuses": statuses,
	}}}
}

// webhookList answers GET /rest/webhooks/1.0/webhook: the webhook person
// actions are sent to, registered for every event the gateway reads.
func (s *Server) webhookList() any {
	out := []any{}
	if url, _ := s.hook.Target(); url != "" {
		out = append(out, map[string]any{
			"name": "Liaison", "url": url, "excluded": false, "enabled": true,
			"events":  []string{"jira:issue_created", "jira:issue_updated", "jira:issue_deleted", "comment_created", "comment_updated"},
			"filters": map[string]any{"issue-related-events-section": "project in (" + strings.Join(s.projects, ", ") + ")"},
			"self":    s.base + "/rest/webhooks/1.0/webhook/1", "lastUpdatedUser": s.bot, "lastUpdatedDisplayName": "Liaison", "lastUpdated": s.now().UnixMilli(),
		})
	}
	return out
}

package fake

import (
	"bytes"
	"embed"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
)

// The fake's answers are the real payloads of testdata/ (see SOURCES.md)
// decoded as templates and filled with the fake's state, so that keys,
// nesting and the objects around the values are what Jira sends.
//
//go:embed testdata/*.json
var shapes embed.FS

// templates holds each template decoded once; shape hands out copies.
var templates sync.Map // name → map[string]any, never modified

// shape returns a fresh decoded copy of a template: a deep copy of the
// one decoded at first use, which costs a fraction of decoding it again
// (every issue the fake renders starts from one).
func shape(name string) map[string]any {
	if m, ok := templates.Load(name); ok {
		return deepCopy(m.(map[string]any))
	}
	b, err := shapes.ReadFile("testdata/" + name)
	if err != nil {
		panic("fake: missing template " + name) // embedded at build time
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		panic("fake: template " + name + ": " + err.Error())
	}
	templates.Store(name, m)
	return deepCopy(m)
}

// deepCopy copies decoded JSON (objects, arrays and scalars).
func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

// part returns a copy of one object inside a template (path of keys),
// without copying the rest of it.
func part(name string, path ...string) map[string]any {
	m, ok := templates.Load(name)
	if !ok {
		shape(name) // decodes and keeps it
		m, _ = templates.Load(name)
	}
	v := m.(map[string]any)
	for _, k := range path {
		v = obj(v[k])
	}
	return deepCopy(v)
}

// templateUser is a copy of the issue template's reporter, the shape of
// every user the fake renders.
func templateUser() map[string]any { return part("rest-v2-issue.json", "fields", "reporter") }

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

func first(v any) map[string]any {
	if a, ok := v.([]any); ok && len(a) > 0 {
		return obj(a[0])
	}
	return map[string]any{}
}

// Template pieces, each decoded once per use.
func issueShape() map[string]any { return shape("rest-v2-issue.json") }

func (s *Server) jiraTime(t time.Time) string {
	return t.In(s.loc).Format("2006-01-02T15:04:05.000-0700")
}

func (s *Server) renderUser(id string) map[string]any {
	if id == "" {
		return nil
	}
	u := templateUser()
	name := id
	switch id {
	case s.person:
		name = s.personName
	case s.bot:
		name = "Liaison"
	}
	u["displayName"] = name
	u["emailAddress"] = strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"
	if s.cloud {
		delete(u, "name")
		u["accountId"] = id
		u["self"] = s.base + "/rest/api/2/user?accountId=" + id
	} else {
		u["name"] = id
		u["key"] = id
		u["self"] = s.base + "/rest/api/2/user?username=" + id
	}
	return u
}

func (s *Server) renderStatus(name string) map[string]any {
	st := part("rest-v2-issue.json", "fields", "status")
	cat := part("webhook-issue_updated-status-todo-to-inprogress.json", "issue", "fields", "status", "statusCategory")
	id := s.statusID(name)
	st["id"], st["name"] = id, name
	st["self"] = s.base + "/rest/api/2/status/" + id
	key := s.category(name)
	cat["key"] = key
	cat["name"] = map[string]string{"new": "To Do", "done": "Done", "indeterminate": "In Progress"}[key]
	cat["id"] = map[string]int{"new": 2, "done": 3, "indeterminate": 4}[key]
	cat["colorName"] = map[string]string{"new": "blue-gray", "done": "green", "indeterminate": "yellow"}[key]
	cat["self"] = s.base + "/rest/api/2/statuscategory/" + itoa(cat["id"].(int))
	st["statusCategory"] = cat
	return st
}

func (s *Server) renderPriority(name string) map[string]any {
	if name == "" {
		return nil
	}
	p := part("rest-v2-issue.json", "fields", "priority")
	id, n, _ := s.priorityID(name)
	p["id"], p["name"] = id, n
	p["self"] = s.base + "/rest/api/2/priority/" + id
	p["iconUrl"] = s.base + "/images/icons/priorities/" + strings.ToLower(n) + ".svg"
	return p
}

func (s *Server) renderIssueType(name string) map[string]any {
	t := part("rest-v2-issue.json", "fields", "issuetype")
	it, _ := s.issueType(name)
	t["id"], t["name"] = it.id, it.name
	t["self"] = s.base + "/rest/api/2/issuetype/" + it.id
	t["description"] = ""
	return t
}

func (s *Server) renderProject(key string) map[string]any {
	p := part("rest-v2-issue.json", "fields", "project")
	id := itoa(10000 + slices.Index(s.projects, key))
	p["id"], p["key"], p["name"] = id, key, key
	p["self"] = s.base + "/rest/api/2/project/" + id
	return p
}

func (s *Server) renderComment(iss *issue, c *comment) map[string]any {
	m := shape("rest-v2-comment.json")
	m["id"] = c.id
	m["self"] = s.base + "/rest/api/2/issue/" + itoa(iss.id) + "/comment/" + c.id
	m["author"] = s.renderUser(c.author)
	m["updateAuthor"] = s.renderUser(c.author)
	m["body"] = c.body
	m["created"] = s.jiraTime(c.created)
	m["updated"] = s.jiraTime(c.updated)
	if c.visibility != nil {
		m["visibility"] = map[string]any{"type": c.visibility.Type, "value": c.visibility.Value}
	}
	if s.cloud {
		// Cloud says whether a Service Management customer sees it.
		m["jsdPublic"] = !c.internal
	}
	return m
}

func (s *Server) renderComments(iss *issue) map[string]any {
	page := shape("rest-v2-issue-comments-list.json")
	cs := []any{}
	for _, c := range iss.comments {
		cs = append(cs, s.renderComment(iss, c))
	}
	page["startAt"], page["maxResults"], page["total"], page["comments"] = 0, len(cs), len(cs), cs
	return page
}

func (s *Server) renderLinks(iss *issue) []any {
	out := []any{}
	for _, l := range s.links {
		var other, dir string
		switch iss.key {
		case l.Inward:
			other, dir = l.Outward, "outwardIssue"
		case l.Outward:
			other, dir = l.Inward, "inwardIssue"
		default:
			continue
		}
		o := s.issues[other]
		if o == nil {
			continue
		}
		inward, outward := linkVerbs(l.Type)
		out = append(out, map[string]any{
			"id":   l.ID,
			"self": s.base + "/rest/api/2/issueLink/" + l.ID,
			"type": map[string]any{"name": l.Type, "inward": inward, "outward": outward},
			dir: map[string]any{
				"id": itoa(o.id), "key": o.key, "self": s.base + "/rest/api/2/issue/" + itoa(o.id),
				"fields": map[string]any{"summary": o.summary, "status": s.renderStatus(o.status), "priority": s.renderPriority(o.priority), "issuetype": s.renderIssueType(o.typ)},
			},
		})
	}
	return out
}

func linkVerbs(t string) (string, string) {
	switch t {
	case "Blocks":
		return "is blocked by", "blocks"
	case "Duplicate":
		return "is duplicated by", "duplicates"
	case "Cloners":
		return "is cloned by", "clones"
	}
	return "relates to", "relates to"
}

func (s *Server) renderChangelog(iss *issue) map[string]any {
	hs := []any{}
	for _, h := range iss.histories {
		hs = append(hs, map[string]any{
			"id": itoa(h.id), "author": s.renderUser(h.author), "created": s.jiraTime(h.created), "items": renderItems(h.items),
		})
	}
	return map[string]any{"startAt": 0, "maxResults": len(hs), "total": len(hs), "histories": hs}
}

func renderItems(items []changeItem) []any {
	out := []any{}
	for _, it := range items {
		out = append(out, map[string]any{
			"field": it.field, "fieldtype": it.fieldType, "fieldId": it.fieldID,
			"from": nullable(it.from), "fromString": nullable(it.fromString),
			"to": nullable(it.to), "toString": nullable(it.toString),
		})
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// fieldSet says which fields an answer includes.
type fieldSet struct {
	all  bool
	only map[string]bool
}

func (f fieldSet) has(name string) bool { return f.all || f.only[name] }

// parseFields reads the fields parameter; def applies when it is empty.
func parseFields(p string, def fieldSet) fieldSet {
	if strings.TrimSpace(p) == "" {
		return def
	}
	fs := fieldSet{only: map[string]bool{}}
	for _, f := range strings.Split(p, ",") {
		switch f = strings.TrimSpace(f); f {
		case "*all", "*navigable":
			fs.all = true
		default:
			fs.only[f] = true
		}
	}
	return fs
}

// renderIssue is an issue as GET /rest/api/2/issue/{key} answers it.
func (s *Server) renderIssue(iss *issue, fs fieldSet, expand string) map[string]any {
	m := issueShape()
	m["id"], m["key"] = itoa(iss.id), iss.key
	m["self"] = s.base + "/rest/api/2/issue/" + itoa(iss.id)
	f := obj(m["fields"])
	f["summary"] = iss.summary
	f["description"] = nullable(iss.description)
	f["issuetype"] = s.renderIssueType(iss.typ)
	f["status"] = s.renderStatus(iss.status)
	f["priority"] = s.renderPriority(iss.priority)
	f["reporter"] = s.renderUser(iss.reporter)
	f["creator"] = s.renderUser(iss.reporter)
	if u := s.renderUser(iss.assignee); u != nil {
		f["assignee"] = u
	} else {
		f["assignee"] = nil
	}
	f["project"] = s.renderProject(iss.project)
	labels := []any{}
	for _, l := range iss.labels {
		labels = append(labels, l)
	}
	f["labels"] = labels
	comps := []any{}
	tmpl := first(f["components"])
	for i, c := range iss.components {
		cm := map[string]any{}
		for k, v := range tmpl {
			cm[k] = v
		}
		cm["id"], cm["name"] = itoa(10000+i), c
		cm["self"] = s.base + "/rest/api/2/component/" + itoa(10000+i)
		delete(cm, "description")
		comps = append(comps, cm)
	}
	f["components"] = comps
	f["created"] = s.jiraTime(iss.created)
	f["updated"] = s.jiraTime(iss.updated)
	f["duedate"] = nullable(iss.dueDate)
	if s.category(iss.status) == "done" {
		f["resolution"] = map[string]any{"self": s.base + "/rest/api/2/resolution/10000", "id": "10000", "name": "Done", "description": "Work has been completed on this issue."}
	} else {
		f["resolution"] = nil
	}
	f["issuelinks"] = s.renderLinks(iss)
	f["comment"] = s.renderComments(iss)
	atts := []any{}
	for _, a := range iss.attachments {
		atts = append(atts, s.renderAttachment(a))
	}
	f["attachment"] = atts
	for _, cf := range s.fields {
		f[cf.ID] = iss.custom[cf.ID]
	}
	if !fs.all {
		for k := range f {
			if !fs.only[k] {
				delete(f, k)
			}
		}
	}
	if len(f) == 0 && !fs.all && len(fs.only) == 0 {
		delete(m, "fields")
	}
	for _, e := range strings.Split(expand, ",") {
		switch strings.TrimSpace(e) {
		case "transitions":
			m["transitions"] = s.renderTransitions(iss)
		case "changelog":
			m["changelog"] = s.renderChangelog(iss)
		}
	}
	return m
}

// renderTransitions lists the transitions from the issue's status, in the
// shape of GET /rest/api/2/issue/{key}/transitions.
func (s *Server) renderTransitions(iss *issue) []any {
	tmpl := first(part("rest-v2-transitions.json")["transitions"])
	out := []any{}
	for _, t := range s.available(iss) {
		m := map[string]any{}
		for k, v := range tmpl {
			m[k] = v
		}
		m["id"], m["name"] = t.ID, t.Name
		to := s.renderStatus(t.To)
		delete(to, "statusCategory")
		m["to"] = to
		out = append(out, m)
	}
	return out
}

// renderIssueEvent is a jira:issue_* webhook body.
func (s *Server) renderIssueEvent(event, typeName, actor string, iss *issue, h *history, c *comment) []byte {
	m := shape("webhook-issue_updated-status-todo-to-inprogress.json")
	m["timestamp"] = s.now().UnixMilli()
	m["webhookEvent"] = event
	m["issue_event_type_name"] = typeName
	m["user"] = s.renderUser(actor)
	m["issue"] = s.renderIssue(iss, fieldSet{all: true}, "")
	if h != nil {
		m["changelog"] = map[string]any{"id": itoa(h.id), "items": renderItems(h.items)}
	} else {
		delete(m, "changelog")
	}
	if c != nil {
		m["comment"] = s.renderComment(iss, c)
	}
	if event == "jira:issue_deleted" {
		delete(m, "issue_event_type_name")
	}
	b, _ := json.Marshal(m)
	return b
}

// renderCommentEvent is a comment_* webhook body: Cloud's carries the issue's
// main fields, Data Center's only the comment (whose self link names the
// issue by id).
func (s *Server) renderCommentEvent(event string, iss *issue, c *comment) []byte {
	var m map[string]any
	if s.cloud {
		m = shape("webhook-comment_created-cloud.json")
		full := obj(s.renderIssue(iss, fieldSet{all: true}, "")["fields"])
		part := map[string]any{}
		for k := range obj(obj(m["issue"])["fields"]) {
			part[k] = full[k]
		}
		m["issue"] = map[string]any{"id": itoa(iss.id), "self": s.base + "/rest/api/2/issue/" + itoa(iss.id), "key": iss.key, "fields": part}
	} else {
		m = shape("webhook-comment_created-server.json")
	}
	m["timestamp"] = s.now().UnixMilli()
	m["webhookEvent"] = event
	m["comment"] = s.renderComment(iss, c)
	b, _ := json.Marshal(m)
	return b
}

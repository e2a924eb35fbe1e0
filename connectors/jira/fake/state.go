package fake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// issue is the fake's state of one issue.
type issue struct {
	id                   int
	key, project, typ    string
	summary, description string
	status, priority     string
	labels, components   []string
	reporter, assignee   string
	dueDate              string
	custom               map[string]any // field id → value as Jira returns it
	created, updated     time.Time
	comments             []*comment
	remote               []*RemoteLink
	histories            []history
	attachments          []*attachment
	deleted              bool
}

type comment struct {
	id, author, body string
	visibility       *Visibility
	internal         bool // JSM: sd.public.comment {"internal": true}
	created, updated time.Time
}

type history struct {
	id      int
	author  string
	created time.Time
	items   []changeItem
}

type changeItem struct {
	field, fieldType, fieldID string
	from, fromString          string
	to, toString              string
}

// Issue is a snapshot of an issue, for tests.
type Issue struct {
	ID, Key, Project, Type string
	Summary, Description   string
	Status, Priority       string
	Labels, Components     []string
	Reporter, Assignee     string
	DueDate                string
	Fields                 map[string]any // custom fields by id, as Jira returns them
	Comments               []Comment
	RemoteLinks            []RemoteLink
	Attachments            []Attachment
	Links                  []IssueLink
	Created, Updated       time.Time
	Deleted                bool
}

// Comment is a snapshot of a comment.
type Comment struct {
	ID, Author, Body string
	Visibility       *Visibility
	Internal         bool // marked internal with the JSM property
	Created, Updated time.Time
}

// Visibility restricts a comment to a project role or a group.
type Visibility struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// RemoteLink is a link from an issue to something outside Jira.
type RemoteLink struct {
	ID           int
	GlobalID     string
	URL, Title   string
	Relationship string
	Application  string
}

// IssueLink links two issues: Inward <type> Outward ("KBOT-1 relates to DO-2").
type IssueLink struct {
	ID, Type        string
	Inward, Outward string
}

// Issue returns a snapshot of the issue with that key.
func (s *Server) Issue(key string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.issues[key]
	if iss == nil {
		return Issue{}, false
	}
	return s.snapshot(iss), true
}

// Issues returns snapshots of every issue, in creation order.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.snapshot(s.issues[k]))
	}
	return out
}

func (s *Server) snapshot(iss *issue) Issue {
	out := Issue{
		ID: itoa(iss.id), Key: iss.key, Project: iss.project, Type: iss.typ,
		Summary: iss.summary, Description: iss.description, Status: iss.status, Priority: iss.priority,
		Labels: slices.Clone(iss.labels), Components: slices.Clone(iss.components),
		Reporter: iss.reporter, Assignee: iss.assignee, DueDate: iss.dueDate,
		Fields: map[string]any{}, Created: iss.created, Updated: iss.updated, Deleted: iss.deleted,
	}
	for k, v := range iss.custom {
		out.Fields[k] = v
	}
	for _, c := range iss.comments {
		out.Comments = append(out.Comments, Comment{ID: c.id, Author: c.author, Body: c.body, Visibility: c.visibility, Internal: c.internal, Created: c.created, Updated: c.updated})
	}
	for _, r := range iss.remote {
		out.RemoteLinks = append(out.RemoteLinks, *r)
	}
	for _, a := range iss.attachments {
		out.Attachments = append(out.Attachments, Attachment{ID: itoa(a.id), Filename: a.filename, MimeType: a.mimeType, Author: a.author, Content: a.content, Created: a.created})
	}
	for _, l := range s.links {
		if l.Inward == iss.key || l.Outward == iss.key {
			out.Links = append(out.Links, *l)
		}
	}
	return out
}

// touch stamps a change: updated moves forward by at least a millisecond,
// as two changes of one issue never share an update time in Jira's answers.
func (s *Server) touch(iss *issue) time.Time {
	t := s.now().Truncate(time.Millisecond)
	if !t.After(iss.updated) {
		t = iss.updated.Add(time.Millisecond)
	}
	iss.updated = t
	return t
}

func (s *Server) addHistory(iss *issue, author string, at time.Time, items ...changeItem) history {
	s.nextID++
	h := history{id: s.nextID, author: author, created: at, items: items}
	iss.histories = append(iss.histories, h)
	return h
}

func (s *Server) lookup(keyOrID string) *issue {
	if iss := s.issues[keyOrID]; iss != nil && !iss.deleted {
		return iss
	}
	for _, iss := range s.issues {
		if itoa(iss.id) == keyOrID && !iss.deleted {
			return iss
		}
	}
	return nil
}

func (s *Server) field(idOrName string) (Field, bool) {
	for _, f := range s.fields {
		if f.ID == idOrName || strings.EqualFold(f.Name, idOrName) {
			return f, true
		}
	}
	return Field{}, false
}

// statusID gives each workflow status a stable id.
func (s *Server) statusID(name string) string {
	i := slices.IndexFunc(s.workflow.Statuses, func(x string) bool { return strings.EqualFold(x, name) })
	return itoa(10000 + i)
}

func (s *Server) statusName(name string) (string, bool) {
	for _, st := range s.workflow.Statuses {
		if strings.EqualFold(st, name) {
			return st, true
		}
	}
	return "", false
}

// category is the status category Jira derives: new, done or in progress.
func (s *Server) category(status string) string {
	switch {
	case len(s.workflow.Statuses) > 0 && strings.EqualFold(status, s.workflow.Statuses[0]):
		return "new"
	case slices.ContainsFunc([]string{"done", "closed", "resolved", "cancelled"}, func(x string) bool { return strings.EqualFold(x, status) }):
		return "done"
	}
	return "indeterminate"
}

// available returns the transitions from an issue's status.
func (s *Server) available(iss *issue) []Transition {
	var out []Transition
	for _, t := range s.workflow.Transitions {
		if strings.EqualFold(t.To, iss.status) {
			continue
		}
		if len(t.From) == 0 || slices.ContainsFunc(t.From, func(f string) bool { return strings.EqualFold(f, iss.status) }) {
			out = append(out, t)
		}
	}
	return out
}

func (s *Server) priorityID(name string) (string, string, bool) {
	for i, p := range Priorities {
		if strings.EqualFold(p, name) || itoa(i+1) == name {
			return itoa(i + 1), p, true
		}
	}
	return "", "", false
}

func (s *Server) issueType(idOrName string) (issueType, bool) {
	for _, t := range s.types {
		if t.id == idOrName || strings.EqualFold(t.name, idOrName) {
			return t, true
		}
	}
	return issueType{}, false
}

// Sign returns the X-Hub-Signature value Jira sends for body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func itoa(i int) string { return strconv.Itoa(i) }

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }

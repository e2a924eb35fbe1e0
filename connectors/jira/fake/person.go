package fake

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The methods below act as a person using Jira (WithPerson). Each changes
// the fake's state as the UI would and sends the webhook Jira would send,
// returning once the receiver has answered (or at once when no webhook URL
// is set or the webhook is dropped). An error says the action was refused,
// or that the webhook was not accepted — the change itself is then made,
// as in Jira.

// IssueSpec is an issue a person creates.
type IssueSpec struct {
	Project     string // default: the first project
	Type        string // default "Bug"
	Summary     string
	Description string
	Priority    string // default "Medium"
	Labels      []string
	Components  []string
	Assignee    string
	// Fields are custom fields by name or id, as text: options by value,
	// users by id, dates as 2006-01-02, lists comma-separated.
	Fields map[string]string
}

// ErrNoIssue is returned for an issue key the fake does not have.
var ErrNoIssue = errors.New("no such issue")

// CreateIssue creates an issue and sends jira:issue_created. It returns the key.
func (s *Server) CreateIssue(spec IssueSpec) (string, error) {
	s.mu.Lock()
	if spec.Project == "" {
		spec.Project = s.projects[0]
	}
	if spec.Type == "" {
		spec.Type = "Bug"
	}
	if spec.Priority == "" {
		spec.Priority = "Medium"
	}
	fields := map[string]json.RawMessage{
		"project":   mustJSON(map[string]string{"key": spec.Project}),
		"issuetype": mustJSON(map[string]string{"name": spec.Type}),
		"summary":   mustJSON(spec.Summary),
		"priority":  mustJSON(map[string]string{"name": spec.Priority}),
	}
	if spec.Description != "" {
		fields["description"] = mustJSON(spec.Description)
	}
	if len(spec.Labels) > 0 {
		fields["labels"] = mustJSON(spec.Labels)
	}
	if len(spec.Components) > 0 {
		var cs []map[string]string
		for _, c := range spec.Components {
			cs = append(cs, map[string]string{"name": c})
		}
		fields["components"] = mustJSON(cs)
	}
	if spec.Assignee != "" {
		fields["assignee"] = s.userJSON(spec.Assignee)
	}
	if err := s.textFields(fields, spec.Fields); err != nil {
		s.mu.Unlock()
		return "", err
	}
	var hooks []hook
	body, _ := json.Marshal(map[string]any{"fields": fields})
	status, out := s.createIssue(body, s.hookSink(&hooks, false))
	if status != 201 {
		s.mu.Unlock()
		return "", fmt.Errorf("create refused: %s", describe(out))
	}
	key := out.(map[string]any)["key"].(string)
	iss := s.issues[key]
	iss.reporter = s.person
	hooks = []hook{{event: "jira:issue_created", key: key, body: s.renderIssueEvent("jira:issue_created", "issue_created", s.person, iss, nil, nil)}}
	s.mu.Unlock()
	return key, s.send(hooks)
}

// Transition takes the transition from the issue's status to status, as a
// person does with the status button, and sends jira:issue_updated with the
// status change in its changelog. The status must be one step away.
func (s *Server) Transition(key, status string) error {
	s.mu.Lock()
	iss := s.lookup(key)
	if iss == nil {
		s.mu.Unlock()
		return fmt.Errorf("transition %q: %w", key, ErrNoIssue)
	}
	var names []string
	for _, t := range s.available(iss) {
		if strings.EqualFold(t.To, status) {
			var hooks []hook
			s.move(iss, t.To, s.person, s.hookSink(&hooks, false))
			s.mu.Unlock()
			return s.send(hooks)
		}
		names = append(names, strconv.Quote(t.To))
	}
	s.mu.Unlock()
	return fmt.Errorf("transition %q to %q: not available from %q (available: %s)", key, status, iss.status, strings.Join(names, ", "))
}

// SetStatus puts the issue in status without a transition and without a
// webhook, as an admin's bulk edit or a database restore would; tests use
// it to set a scene.
func (s *Server) SetStatus(key, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	iss := s.lookup(key)
	if iss == nil {
		return fmt.Errorf("set status of %q: %w", key, ErrNoIssue)
	}
	st, ok := s.statusName(status)
	if !ok {
		return fmt.Errorf("set status of %q: %q is not a status of the workflow", key, status)
	}
	iss.status = st
	s.touch(iss)
	return nil
}

// Comment adds a comment and sends comment_created (and, on Data Center,
// jira:issue_updated with issue_commented). An internal comment is, on
// Cloud, marked internal for Service Management customers (jsdPublic
// false); on Data Center restricted to the role Developers. It returns the
// comment id.
func (s *Server) Comment(key, body string, internal bool) (string, error) {
	s.mu.Lock()
	iss := s.lookup(key)
	if iss == nil {
		s.mu.Unlock()
		return "", fmt.Errorf("comment on %q: %w", key, ErrNoIssue)
	}
	c := &comment{body: body, author: s.person}
	if internal {
		if s.cloud {
			c.internal = true
		} else {
			c.visibility = &Visibility{Type: "role", Value: "Developers"}
		}
	}
	var hooks []hook
	s.addCommentTo(iss, c, s.hookSink(&hooks, false))
	s.mu.Unlock()
	return c.id, s.send(hooks)
}

// EditComment changes a comment's body and sends comment_updated.
func (s *Server) EditComment(key, id, body string) error {
	s.mu.Lock()
	iss := s.lookup(key)
	if iss == nil {
		s.mu.Unlock()
		return fmt.Errorf("edit comment on %q: %w", key, ErrNoIssue)
	}
	i := slices.IndexFunc(iss.comments, func(c *comment) bool { return c.id == id })
	if i < 0 {
		s.mu.Unlock()
		return fmt.Errorf("edit comment %q on %q: no such comment", id, key)
	}
	c := iss.comments[i]
	c.body = body
	c.updated = s.touch(iss)
	hooks := []hook{{event: "comment_updated", key: key, body: s.renderCommentEvent("comment_updated", iss, c)}}
	s.mu.Unlock()
	return s.send(hooks)
}

// EditIssue sets fields as a person editing the issue and sends
// jira:issue_updated with the changes. Keys: summary, description,
// priority, labels (comma-separated), assignee, duedate, or a custom
// field's name or id.
func (s *Server) EditIssue(key string, fields map[string]string) error {
	s.mu.Lock()
	iss := s.lookup(key)
	if iss == nil {
		s.mu.Unlock()
		return fmt.Errorf("edit %q: %w", key, ErrNoIssue)
	}
	raw := map[string]json.RawMessage{}
	custom := map[string]string{}
	for k, v := range fields {
		switch strings.ToLower(k) {
		case "summary", "description", "duedate":
			raw[strings.ToLower(k)] = mustJSON(v)
		case "priority":
			raw["priority"] = mustJSON(map[string]string{"name": v})
		case "labels":
			var ls []string
			for _, l := range strings.Split(v, ",") {
				if l = strings.TrimSpace(l); l != "" {
					ls = append(ls, l)
				}
			}
			raw["labels"] = mustJSON(ls)
		case "assignee":
			raw["assignee"] = s.userJSON(v)
		default:
			custom[k] = v
		}
	}
	if err := s.textFields(raw, custom); err != nil {
		s.mu.Unlock()
		return err
	}
	var hooks []hook
	status, out := s.editIssue(iss, mustJSON(map[string]any{"fields": raw}), s.person, s.hookSink(&hooks, false))
	s.mu.Unlock()
	if status != 204 {
		return fmt.Errorf("edit %q refused: %s", key, describe(out))
	}
	return s.send(hooks)
}

// DeleteIssue deletes the issue and sends jira:issue_deleted.
func (s *Server) DeleteIssue(key string) error {
	s.mu.Lock()
	iss := s.lookup(key)
	if iss == nil {
		s.mu.Unlock()
		return fmt.Errorf("delete %q: %w", key, ErrNoIssue)
	}
	body := s.renderIssueEvent("jira:issue_deleted", "", s.person, iss, nil, nil)
	iss.deleted = true
	s.touch(iss)
	s.mu.Unlock()
	return s.send([]hook{{event: "jira:issue_deleted", key: key, body: body}})
}

func (s *Server) send(hooks []hook) error {
	var errs []error
	for _, h := range hooks {
		errs = append(errs, s.deliver(h))
	}
	return errors.Join(errs...)
}

func (s *Server) userJSON(id string) json.RawMessage {
	if s.cloud {
		return mustJSON(map[string]string{"accountId": id})
	}
	return mustJSON(map[string]string{"name": id})
}

// textFields adds custom fields given as text, in the JSON their types take.
func (s *Server) textFields(out map[string]json.RawMessage, in map[string]string) error {
	for name, v := range in {
		f, ok := s.field(name)
		if !ok {
			return fmt.Errorf("no field named %q", name)
		}
		var parts []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		switch f.Type {
		case "number":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("field %q wants a number", name)
			}
			out[f.ID] = mustJSON(n)
		case "option":
			out[f.ID] = mustJSON(map[string]string{"value": v})
		case "user":
			out[f.ID] = s.userJSON(v)
		case "datetime":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fmt.Errorf("field %q wants an RFC 3339 time", name)
			}
			out[f.ID] = mustJSON(t.Format("2006-01-02T15:04:05.000-0700"))
		case "array":
			var items []json.RawMessage
			for _, p := range parts {
				switch f.Items {
				case "option":
					items = append(items, mustJSON(map[string]string{"value": p}))
				case "user":
					items = append(items, s.userJSON(p))
				default:
					items = append(items, mustJSON(p))
				}
			}
			if items == nil {
				items = []json.RawMessage{}
			}
			out[f.ID] = mustJSON(items)
		default:
			out[f.ID] = mustJSON(v)
		}
	}
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("fake: " + err.Error())
	}
	return b
}

// describe summarises an error answer for an error message.
func describe(out any) string {
	if e, ok := out.(apiErr); ok {
		parts := slices.Clone(e.ErrorMessages)
		for _, k := range sortedKeys(e.Errors) {
			parts = append(parts, k+": "+e.Errors[k])
		}
		return strings.Join(parts, "; ")
	}
	return fmt.Sprint(out)
}

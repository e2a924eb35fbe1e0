package fake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/internal/httpfake"
)

// TriggerBody is the JSON body the zendesk connector's README tells admins
// to paste into their trigger's webhook action, with one custom_fields
// entry per field id given (the fields the mappings use). The fake renders
// it, placeholders and all, for TriggerForm webhooks.
func TriggerBody(fieldIDs ...int64) string {
	var cf []string
	for _, id := range fieldIDs {
		cf = append(cf, fmt.Sprintf("      \"%d\": \"{{ticket.ticket_field_%d}}\"", id, id))
	}
	fields := "{}"
	if len(cf) > 0 {
		fields = "{\n" + strings.Join(cf, ",\n") + "\n    }"
	}
	return `{
  "ticket": {
    "id": "{{ticket.id}}",
    "url": "{{ticket.link}}",
    "status": "{{ticket.status}}",
    "priority": "{{ticket.priority}}",
    "type": "{{ticket.ticket_type}}",
    "subject": "{{ticket.title}}",
    "description": "{{ticket.description}}",
    "requester_email": "{{ticket.requester.email}}",
    "requester_name": "{{ticket.requester.name}}",
    "assignee_email": "{{ticket.assignee.email}}",
    "group": "{{ticket.group.name}}",
    "organization": "{{ticket.organization.name}}",
    "tags": "{{ticket.tags}}",
    "created_at": "{{ticket.created_at_with_timestamp}}",
    "updated_at": "{{ticket.updated_at_with_timestamp}}",
    "latest_comment": {
      "id": "{{ticket.latest_comment.id}}",
      "public": "{{ticket.latest_comment.is_public}}",
      "author_email": "{{ticket.latest_comment.author.email}}",
      "created_at": "{{ticket.latest_comment.created_at_with_timestamp}}",
      "body": "{{ticket.latest_comment.value}}"
    },
    "custom_fields": ` + fields + `
  }
}
`
}

// Ticket is a ticket as the fake holds it, for assertions.
type Ticket struct {
	ID            int64
	Subject       string
	Description   string
	Status        string
	Priority      string
	Type          string
	Requester     string // e-mail
	Submitter     string
	Assignee      string
	Group         string
	Form          string
	Collaborators []string
	Tags          []string
	Fields        map[string]any // custom fields by title
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Comments      []Comment
}

// Comment is one comment of a Ticket.
type Comment struct {
	ID          int64
	Author      string // e-mail
	Body        string
	Public      bool
	Attachments []Attachment
	CreatedAt   time.Time
}

// Attachment is a file on a Comment.
type Attachment struct {
	Name        string
	ContentType string
	Size        int64
	Content     []byte
}

// CommentHTML returns the html_body the API serves for comment cid of
// ticket id, or "".
func (s *Server) CommentHTML(id, cid int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tickets[id]; t != nil {
		for _, c := range t.Comments {
			if c.ID == cid {
				return c.htmlBody()
			}
		}
	}
	return ""
}

// Ticket returns a copy of ticket id.
func (s *Server) Ticket(id int64) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[id]
	if t == nil {
		return Ticket{}, false
	}
	return s.view(t), true
}

// Tickets returns every ticket, by id.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ticket
	for _, id := range sortedIDs(s.tickets) {
		out = append(out, s.view(s.tickets[id]))
	}
	return out
}

func (s *Server) email(id int64) string {
	if u := s.users[id]; u != nil {
		return u.Email
	}
	return ""
}

func (s *Server) view(t *ticket) Ticket {
	v := Ticket{
		ID: t.ID, Subject: t.Subject, Description: t.Description, Status: t.Status,
		Priority: t.Priority, Type: t.Type, Requester: s.email(t.RequesterID),
		Submitter: s.email(t.SubmitterID), Assignee: s.email(t.AssigneeID),
		Group: groupName(s.groups, t.GroupID), Form: groupName(s.forms, t.FormID),
		Tags: slices.Clone(t.Tags), Fields: map[string]any{}, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
	for _, id := range t.Collaborators {
		v.Collaborators = append(v.Collaborators, s.email(id))
	}
	for id, val := range t.Custom {
		if f := s.fieldByID(id); f != nil && val != nil {
			v.Fields[f.Title] = val
		}
	}
	for _, c := range t.Comments {
		vc := Comment{ID: c.ID, Author: s.email(c.AuthorID), Body: c.Body, Public: c.Public, CreatedAt: c.CreatedAt}
		for _, a := range c.Attachments {
			vc.Attachments = append(vc.Attachments, Attachment{Name: a.Name, ContentType: a.ContentType, Size: a.Size, Content: a.Content})
		}
		v.Comments = append(v.Comments, vc)
	}
	return v
}

// User returns the id and role of the user with an e-mail.
func (s *Server) User(email string) (id int64, role string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByEmail(email); u != nil {
		return u.ID, u.Role, true
	}
	return 0, "", false
}

// UserName returns the name of the user with an e-mail.
func (s *Server) UserName(email string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByEmail(email); u != nil {
		return u.Name, true
	}
	return "", false
}

// AddUser adds a user (role end-user, agent or admin) and returns its id.
func (s *Server) AddUser(email, name, role string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(email, name, role).ID
}

// personFields turns fields by title (custom) or reserved name (priority,
// type, group, status) into an API body.
func (s *Server) personFields(in *ticketIn, fields map[string]string) error {
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		switch strings.ToLower(k) {
		case "priority":
			in.Priority = &v
		case "type":
			in.Type = &v
		case "status":
			in.Status = &v
		case "tags":
			// An agent adding tags, space-separated, as in the ticket UI.
			in.AdditionalTags = append(in.AdditionalTags, strings.Fields(v)...)
		case "group":
			id := groupID(s.groups, v)
			if id == 0 {
				return fmt.Errorf("fake: no group %q", v)
			}
			in.GroupID = &id
		default:
			f := s.fieldByTitle(k)
			if f == nil {
				return fmt.Errorf("fake: no custom field %q", k)
			}
			var val any = v
			if f.Type == "checkbox" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("fake: check box %q: %q is not a boolean", k, v)
				}
				val = b
			}
			if v == "" {
				val = nil
			}
			in.CustomFields = append(in.CustomFields, struct {
				ID    int64 `json:"id"`
				Value any   `json:"value"`
			}{f.ID, val})
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// CreateTicket acts as a customer writing in through the help center: the
// requester (created if new) submits a ticket with a first comment, tags and
// fields (custom fields by title; priority, type, group by name). It sends
// the webhook and returns the ticket id once the webhook was answered.
func (s *Server) CreateTicket(requesterEmail, subject, body string, tags []string, fields map[string]string) (int64, error) {
	s.mu.Lock()
	u := s.ensureUser(requesterEmail, "")
	pub := true
	in := ticketIn{Subject: subject, RequesterID: &u.ID, Tags: tags}
	in.Comment = &commentIn{Body: body, Public: &pub, AuthorID: u.ID}
	if err := s.personFields(&in, fields); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	_, _, problem := s.createLocked(in, u.ID, "web")
	if problem != "" {
		s.mu.Unlock()
		return 0, fmt.Errorf("fake: create ticket: %s", problem)
	}
	id := s.ids["ticket"]
	s.mu.Unlock()
	return id, s.send(id, "created", nil)
}

// Reply acts as a person commenting on a ticket: a public reply or an
// internal note. The author is created as an end user if unknown. It
// returns the comment id once the webhook was answered.
func (s *Server) Reply(id int64, authorEmail, body string, public bool) (int64, error) {
	s.mu.Lock()
	u := s.ensureUser(authorEmail, "")
	in := ticketIn{}
	in.Comment = &commentIn{Body: body, Public: &public, AuthorID: u.ID}
	// As in Zendesk, an end user's reply puts a pending, on-hold or
	// solved ticket back to open.
	if t := s.tickets[id]; t != nil && u.Role == "end-user" && (t.Status == "pending" || t.Status == "hold" || t.Status == "solved") {
		open := "open"
		in.Status = &open
	}
	_, _, problem, event := s.updateLocked(id, in, u.ID)
	if problem != "" {
		s.mu.Unlock()
		return 0, fmt.Errorf("fake: reply on ticket %d: %s", id, problem)
	}
	cid := s.ids["comment"]
	s.mu.Unlock()
	return cid, s.send(id, event, nil)
}

// SetStatus acts as an agent changing a ticket's status (new, open,
// pending, hold, solved, closed).
func (s *Server) SetStatus(id int64, status string) error {
	return s.SetFields(id, map[string]string{"status": status})
}

// SetFields acts as an agent editing a ticket: custom fields by title,
// and priority, type, group and status by name; "tags" adds tags.
func (s *Server) SetFields(id int64, fields map[string]string) error {
	s.mu.Lock()
	in := ticketIn{}
	if err := s.personFields(&in, fields); err != nil {
		s.mu.Unlock()
		return err
	}
	agent := s.userByEmail(Agent)
	if s.credEmail != "" {
		agent = s.userByEmail(s.credEmail)
	}
	_, _, problem, event := s.updateLocked(id, in, agent.ID)
	s.mu.Unlock()
	if problem != "" {
		return fmt.Errorf("fake: update ticket %d: %s", id, problem)
	}
	if event == "" {
		return nil
	}
	return s.send(id, event, nil)
}

// DeleteTicket acts as an agent deleting a ticket: it leaves the API
// (404) and appears in the export with status "deleted".
func (s *Server) DeleteTicket(id int64) error {
	s.mu.Lock()
	t := s.tickets[id]
	if t == nil {
		s.mu.Unlock()
		return fmt.Errorf("fake: no ticket %d", id)
	}
	t.Status = "deleted"
	t.UpdatedAt = s.tick()
	t.seq = s.seq
	s.mu.Unlock()
	return s.send(id, "soft_deleted", nil)
}

// send delivers the webhook for what just happened to ticket id and
// returns once the receiver answered: an error when it did not answer 2xx.
func (s *Server) send(id int64, event string, _ map[string]any) error {
	url, key := s.hook.Target()
	if url == "" {
		return nil
	}
	s.mu.Lock()
	body := s.payloadLocked(id, event)
	ts := s.now().UTC().Format(time.RFC3339)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Zendesk Webhook")
	h.Set("X-Zendesk-Webhook-Id", hookID)
	h.Set("X-Zendesk-Webhook-Invocation-Id", strconv.FormatInt(s.next("event"), 10))
	h.Set("X-Zendesk-Webhook-Signature-Timestamp", ts)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(ts))
	mac.Write(body)
	h.Set("X-Zendesk-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	if s.faults.DropWebhook() {
		s.hooks.Record(Delivery{Body: body, Header: h, Dropped: true})
		s.mu.Unlock()
		return nil
	}
	client := s.client
	idx := s.hooks.Record(Delivery{Body: body, Header: h})
	s.mu.Unlock()

	status, err := httpfake.Post(client, url, h, body)
	if err != nil {
		return fmt.Errorf("fake: webhook: %w", err)
	}
	s.hooks.Update(idx, func(d *Delivery) { d.Status = status })
	if status < 200 || status > 299 {
		return fmt.Errorf("fake: webhook answered %d", status)
	}
	return nil
}

// sendAsync sends a webhook in the background (API writes echoing back).
func (s *Server) sendAsync(id int64, event string, extra map[string]any) {
	s.pending.Go(func() { _ = s.send(id, event, extra) })
}

func (s *Server) payloadLocked(id int64, event string) []byte {
	t := s.tickets[id]
	if s.form == EventForm {
		return s.eventPayload(t, event)
	}
	return s.triggerPayload(t)
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([a-z0-9_.]+)\s*\}\}`)

// triggerPayload renders TriggerBody as Zendesk renders placeholders in a
// JSON webhook body: values JSON-escaped, display names capitalised.
func (s *Server) triggerPayload(t *ticket) []byte {
	var fieldIDs []int64
	vals := map[string]string{
		"ticket.id":                        strconv.FormatInt(t.ID, 10),
		"ticket.link":                      fmt.Sprintf("%s/agent/tickets/%d", s.baseURL(), t.ID),
		"ticket.status":                    display(t.Status),
		"ticket.priority":                  display(t.Priority),
		"ticket.ticket_type":               display(t.Type),
		"ticket.title":                     t.Subject,
		"ticket.description":               t.Description,
		"ticket.requester.email":           s.email(t.RequesterID),
		"ticket.assignee.email":            s.email(t.AssigneeID),
		"ticket.group.name":                groupName(s.groups, t.GroupID),
		"ticket.organization.name":         s.orgs[t.OrganizationID],
		"ticket.tags":                      strings.Join(t.Tags, " "),
		"ticket.created_at_with_timestamp": stamp(t.CreatedAt),
		"ticket.updated_at_with_timestamp": stamp(t.UpdatedAt),
	}
	if u := s.users[t.RequesterID]; u != nil {
		vals["ticket.requester.name"] = u.Name
	}
	if n := len(t.Comments); n > 0 {
		c := t.Comments[n-1]
		vals["ticket.latest_comment.id"] = strconv.FormatInt(c.ID, 10)
		vals["ticket.latest_comment.is_public"] = strconv.FormatBool(c.Public)
		vals["ticket.latest_comment.author.email"] = s.email(c.AuthorID)
		vals["ticket.latest_comment.created_at_with_timestamp"] = stamp(c.CreatedAt)
		vals["ticket.latest_comment.value"] = c.Body
	}
	for _, f := range s.fields {
		if !f.custom() {
			continue
		}
		fieldIDs = append(fieldIDs, f.ID)
		v := t.Custom[f.ID]
		switch x := v.(type) {
		case nil:
			vals[fmt.Sprintf("ticket.ticket_field_%d", f.ID)] = ""
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			vals[fmt.Sprintf("ticket.ticket_field_%d", f.ID)] = strings.Join(parts, " ")
		default:
			vals[fmt.Sprintf("ticket.ticket_field_%d", f.ID)] = fmt.Sprint(x)
		}
	}
	out := placeholderRE.ReplaceAllStringFunc(TriggerBody(fieldIDs...), func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		return jsonEscape(vals[name])
	})
	return []byte(out)
}

// display is how placeholders render a system value: "Open", "On-hold",
// "-" for none.
func display(v string) string {
	switch v {
	case "":
		return "-"
	case "hold":
		return "On-hold"
	}
	return strings.ToUpper(v[:1]) + v[1:]
}

func jsonEscape(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b := bytes.TrimSpace(buf.Bytes())
	return string(b[1 : len(b)-1])
}

// eventPayload renders a ticket event as an event-subscribed webhook sends
// it: ids as strings, statuses and priorities in capitals.
func (s *Server) eventPayload(t *ticket, event string) []byte {
	str := func(id int64) string {
		if id == 0 {
			return ""
		}
		return strconv.FormatInt(id, 10)
	}
	detail := map[string]any{
		"actor_id": str(t.SubmitterID), "assignee_id": str(t.AssigneeID), "brand_id": "360002256672",
		"created_at": stamp(t.CreatedAt), "custom_status": "", "description": t.Description,
		"external_id": "", "form_id": str(t.FormID), "group_id": str(t.GroupID), "id": str(t.ID),
		"is_public": true, "organization_id": str(t.OrganizationID), "priority": strings.ToUpper(t.Priority),
		"requester_id": str(t.RequesterID), "status": strings.ToUpper(t.Status), "subject": t.Subject,
		"submitter_id": str(t.SubmitterID), "tags": slices.Clone(t.Tags), "type": strings.ToUpper(t.Type),
		"updated_at": stamp(t.UpdatedAt), "via": map[string]any{"channel": "web_service"},
	}
	ev := map[string]any{}
	switch event {
	case "comment_added":
		if n := len(t.Comments); n > 0 {
			c := t.Comments[n-1]
			u := s.users[c.AuthorID]
			author := map[string]any{"id": str(c.AuthorID), "is_staff": u != nil && u.Role != "end-user", "name": ""}
			if u != nil {
				author["name"] = u.Name
			}
			ev["comment"] = map[string]any{"id": str(c.ID), "body": c.Body, "is_public": c.Public, "author": author}
		}
	case "status_changed":
		ev["current"], ev["previous"] = strings.ToUpper(t.Status), ""
	}
	n := s.next("ticket_event")
	out := map[string]any{
		"account_id": 12514403, "detail": detail, "event": ev,
		"id":      fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		"subject": "zen:ticket:" + str(t.ID), "time": s.now().UTC().Format(time.RFC3339Nano),
		"type": "zen:event-type:ticket." + event, "zendesk_event_version": "2022-11-06",
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out)
	return buf.Bytes()
}

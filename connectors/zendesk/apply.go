package zendesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nukosuke/go-zendesk/zendesk"

	"github.com/liaisonhq/liaison/core"
)

// ticketWrite is the ticket object of a create or update. It is ours, not
// go-zendesk's, because a reply must be able to send "public": false and
// an update must leave unset fields alone.
type ticketWrite struct {
	Subject                 string        `json:"subject,omitempty"`
	Comment                 *commentWrite `json:"comment,omitempty"`
	RequesterID             int64         `json:"requester_id,omitempty"`
	Collaborators           []string      `json:"collaborators,omitempty"`
	AdditionalCollaborators []string      `json:"additional_collaborators,omitempty"`
	Status                  string        `json:"status,omitempty"`
	Priority                string        `json:"priority,omitempty"`
	Type                    string        `json:"type,omitempty"`
	GroupID                 int64         `json:"group_id,omitempty"`
	TicketFormID            int64         `json:"ticket_form_id,omitempty"`
	AssigneeID              int64         `json:"assignee_id,omitempty"`
	Tags                    []string      `json:"tags,omitempty"`
	AdditionalTags          []string      `json:"additional_tags,omitempty"`
	RemoveTags              []string      `json:"remove_tags,omitempty"`
	CustomFields            []customWrite `json:"custom_fields,omitempty"`
}

type commentWrite struct {
	Body     string   `json:"body"`
	Public   bool     `json:"public"`
	AuthorID int64    `json:"author_id,omitempty"`
	Uploads  []string `json:"uploads,omitempty"`
}

type customWrite struct {
	ID    int64 `json:"id"`
	Value any   `json:"value"`
}

type ticketRequest struct {
	Ticket ticketWrite `json:"ticket"`
}

// Apply implements core.Applier for this instance's customer tickets:
// Create, Transition, AddComment, SetFields and AddLink. Failures carry the
// outbox classification (core.Permanent or core.RetryAfter).
func (c *Connector) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Target.System != c.name || a.Target.Kind != core.CustomerTicket {
		return core.Result{}, core.Permanent(fmt.Errorf("zendesk %q: cannot apply to %s/%s: this instance holds customer tickets", c.name, a.Target.System, a.Target.Kind))
	}
	var (
		res core.Result
		err error
	)
	switch a.Kind {
	case core.Create:
		res, err = c.create(ctx, a)
	case core.Transition:
		res, err = c.transition(ctx, a)
	case core.SetFields:
		res, err = c.setFields(ctx, a)
	case core.AddComment:
		res, err = c.addComment(ctx, a)
	case core.AddLink:
		res, err = c.addLink(ctx, a)
	default:
		err = core.Permanent(fmt.Errorf("action kind %q is not supported on Zendesk tickets", a.Kind))
	}
	if err != nil {
		return core.Result{}, fmt.Errorf("zendesk %q: %s %s: %w", c.name, a.Kind, a.Target, err)
	}
	return res, nil
}

// create makes a ticket on behalf of the reporting person: the requester
// (and author of the first comment) is the person named by the reserved
// field "requester", looked up or created by e-mail, never the gateway's
// own account. The marker goes on as a tag, and as the request's
// Idempotency-Key so a retried request cannot make a second ticket.
func (c *Connector) create(ctx context.Context, a core.Action) (core.Result, error) {
	fields := map[string]string{}
	if km := c.mappings.Load().Kind(c.name, core.CustomerTicket); km != nil {
		for k, v := range km.Create {
			fields[fieldKey(k)] = v
		}
	}
	for k, v := range a.Fields {
		fields[fieldKey(k)] = v
	}
	email := strings.TrimSpace(fields["requester"])
	switch {
	case email == "":
		return core.Result{}, core.Permanent(errors.New("no requester: set the reserved field \"requester\" to the reporting person's e-mail"))
	case c.cfg.Email != "" && strings.EqualFold(email, c.cfg.Email):
		return core.Result{}, core.Permanent(fmt.Errorf("requester %q is the gateway's own account; a ticket must belong to the person who reported it", email))
	}
	reqID, err := c.userID(ctx, email, fields["requester_name"], true)
	if err != nil {
		return core.Result{}, err
	}
	delete(fields, "requester")
	delete(fields, "requester_name")
	k, err := c.catalog(ctx, false)
	if err != nil {
		return core.Result{}, err
	}
	marker := a.Marker()
	body := a.Body
	if strings.TrimSpace(body) == "" {
		body = a.Title
	}
	w := ticketWrite{
		Subject:     a.Title,
		RequesterID: reqID,
		Comment:     &commentWrite{Body: body, Public: true, AuthorID: reqID},
	}
	if err := c.writeFields(ctx, &w, fields, nil, k); err != nil {
		return core.Result{}, err
	}
	w.Tags = uniq(append(append(w.Tags, w.AdditionalTags...), append(slices.Clone(a.Labels), marker)...))
	w.AdditionalTags = nil
	w.Collaborators, w.AdditionalCollaborators = w.AdditionalCollaborators, nil
	tokens, over, err := c.uploadFiles(ctx, a.Files)
	if err != nil {
		return core.Result{}, err
	}
	w.Comment.Uploads = tokens
	w.Comment.Body += core.NotCarried(over, c.attachMax)

	var env ticketEnvelope
	if err := c.post(withIdempotencyKey(ctx, marker), "/tickets.json", ticketRequest{w}, &env); err != nil {
		return core.Result{}, err
	}
	sl := c.sideload([]apiUser{{ID: reqID, Email: email}}, nil)
	it := c.item(&env.Ticket, k, sl)
	if cm := auditComment(env.Audit); cm != nil {
		cm.Author = email
		it.Comments = []core.Comment{*cm}
	}
	return core.Result{Created: it.Ref, Item: &it}, nil
}

// transition sets the ticket's status; a ticket already there is left alone.
func (c *Connector) transition(ctx context.Context, a core.Action) (core.Result, error) {
	id, err := c.ticketID(a.Target)
	if err != nil {
		return core.Result{}, err
	}
	native := nativeStatus(a.Native)
	if !slices.Contains(zendeskStatuses, native) {
		return core.Result{}, core.Permanent(fmt.Errorf("status %q is not one of %s", a.Native, strings.Join(zendeskStatuses, ", ")))
	}
	cur, sl, k, err := c.current(ctx, id)
	if err != nil {
		return core.Result{}, err
	}
	if strings.EqualFold(cur.Status, native) {
		it := c.item(cur, k, sl)
		return core.Result{Item: &it, Note: "already in status " + native}, nil
	}
	return c.update(ctx, id, ticketWrite{Status: native}, k, sl, "status → "+native)
}

// setFields writes the fields that differ from the ticket's current values.
func (c *Connector) setFields(ctx context.Context, a core.Action) (core.Result, error) {
	id, err := c.ticketID(a.Target)
	if err != nil {
		return core.Result{}, err
	}
	cur, sl, k, err := c.current(ctx, id)
	if err != nil {
		return core.Result{}, err
	}
	fields := map[string]string{}
	for key, v := range a.Fields {
		fields[fieldKey(key)] = v
	}
	var w ticketWrite
	if err := c.writeFields(ctx, &w, fields, cur, k); err != nil {
		return core.Result{}, err
	}
	if empty(w) {
		it := c.item(cur, k, sl)
		return core.Result{Item: &it, Note: "fields already set"}, nil
	}
	return c.update(ctx, id, w, k, sl, "fields set")
}

// addComment writes a public reply or an internal note (a.Public), with
// the marker line appended and the action's files uploaded; files over
// attachment_limit, or whose content the action does not carry, are named
// in the text instead.
func (c *Connector) addComment(ctx context.Context, a core.Action) (core.Result, error) {
	id, err := c.ticketID(a.Target)
	if err != nil {
		return core.Result{}, err
	}
	if strings.TrimSpace(a.Body) == "" && len(a.Files) == 0 {
		return core.Result{}, core.Permanent(errors.New("empty comment"))
	}
	tokens, over, err := c.uploadFiles(ctx, a.Files)
	if err != nil {
		return core.Result{}, err
	}
	// A public comment mirrored from someone with an address (a customer's
	// mailed reply) is posted as theirs, as Zendesk's own mail channel
	// would; the gateway's account stays the submitter.
	var author int64
	if a.Public && strings.Contains(a.Author, "@") && !strings.EqualFold(a.Author, c.cfg.Email) {
		if author, err = c.userID(ctx, a.Author, "", true); err != nil {
			return core.Result{}, err
		}
	}
	return c.writeComment(ctx, id, a.Body+core.NotCarried(over, c.attachMax), a.Public, tokens, a.Marker(), author)
}

func (c *Connector) writeComment(ctx context.Context, id int64, body string, public bool, uploads []string, marker string, author int64) (core.Result, error) {
	w := ticketWrite{Comment: &commentWrite{Body: withMarker(body, marker), Public: public, Uploads: uploads, AuthorID: author}}
	var env ticketEnvelope
	if err := c.put(ctx, fmt.Sprintf("/tickets/%d.json", id), ticketRequest{w}, &env); err != nil {
		return core.Result{}, err
	}
	res := core.Result{}
	if cm := auditComment(env.Audit); cm != nil {
		res.CommentID = cm.ID
		if cm.Author = c.email(env.Audit.AuthorID, sideloads{}); cm.Author == "" {
			cm.Author = c.cfg.Email
		}
		// A comment-only snapshot: no update time, so it adds the comment
		// without standing in for the ticket's fields.
		res.Item = &core.Item{Ref: c.ref(id), Comments: []core.Comment{*cm}}
	}
	return res, nil
}

// addLink records a link to another record: in the link_field custom field
// when one is configured (the key added once), otherwise as an internal
// note naming it.
func (c *Connector) addLink(ctx context.Context, a core.Action) (core.Result, error) {
	id, err := c.ticketID(a.Target)
	if err != nil {
		return core.Result{}, err
	}
	if a.Other.IsZero() {
		return core.Result{}, core.Permanent(errors.New("link without the record to link to"))
	}
	if c.cfg.LinkField == "" {
		text := "Linked to " + a.Other.String()
		if a.OtherURL != "" {
			text += ": " + a.OtherURL
		}
		return c.writeComment(ctx, id, text, false, nil, a.Marker(), 0)
	}
	cur, sl, k, err := c.current(ctx, id)
	if err != nil {
		return core.Result{}, err
	}
	def := k.field(c.cfg.LinkField)
	if def == nil {
		return core.Result{}, core.Permanent(fmt.Errorf("link_field %q is not a custom field of this account", c.cfg.LinkField))
	}
	have := currentValue(cur, def.ID)
	keys := splitList(have)
	if slices.Contains(keys, a.Other.ID) {
		it := c.item(cur, k, sl)
		return core.Result{Item: &it, Note: "already linked"}, nil
	}
	value := strings.Join(append(keys, a.Other.ID), ", ")
	return c.update(ctx, id, ticketWrite{CustomFields: []customWrite{{ID: def.ID, Value: value}}}, k, sl, "linked "+a.Other.ID)
}

// current reads a ticket (with users and organization) before a write.
func (c *Connector) current(ctx context.Context, id int64) (*apiTicket, sideloads, *catalog, error) {
	var env ticketEnvelope
	if err := c.get(ctx, fmt.Sprintf("/tickets/%d.json?include=users,organizations", id), &env); err != nil {
		return nil, sideloads{}, nil, err
	}
	k, err := c.catalogFor(ctx, &env.Ticket)
	if err != nil {
		return nil, sideloads{}, nil, err
	}
	return &env.Ticket, c.sideload(env.Users, env.Organizations), k, nil
}

func (c *Connector) update(ctx context.Context, id int64, w ticketWrite, k *catalog, sl sideloads, note string) (core.Result, error) {
	var env ticketEnvelope
	if err := c.put(ctx, fmt.Sprintf("/tickets/%d.json", id), ticketRequest{w}, &env); err != nil {
		return core.Result{}, err
	}
	it := c.item(&env.Ticket, k, sl)
	return core.Result{Item: &it, Note: note}, nil
}

// choose sets *w to v, lower-cased, for a field with fixed values (a
// priority, a ticket type) when v is not empty and differs from cur. A value
// not among choices is a permanent error that lists them.
func choose(what, v string, choices []string, cur string, w *string) error {
	l := strings.ToLower(v)
	switch {
	case l == "":
	case !slices.Contains(choices, l):
		return core.Permanent(fmt.Errorf("%s %q is not one of %s", what, v, strings.Join(choices, ", ")))
	case !strings.EqualFold(cur, l):
		*w = l
	}
	return nil
}

// chooseID sets *w to the id of the group or form named v (ids is the
// catalog's, keyed by lower-case name) when v is not empty and the id
// differs from cur. An unknown name is a permanent error.
func chooseID(what, v string, ids map[string]int64, cur int64, w *int64) error {
	if v == "" {
		return nil
	}
	id := ids[strings.ToLower(v)]
	switch {
	case id == 0:
		return core.Permanent(fmt.Errorf("%s %q not found", what, v))
	case id != cur:
		*w = id
	}
	return nil
}

// fieldKey lower-cases reserved names; custom field titles keep their
// case for messages (they are matched case-insensitively anyway).
func fieldKey(k string) string {
	if l := strings.ToLower(strings.TrimSpace(k)); reservedWrite[l] {
		return l
	}
	return strings.TrimSpace(k)
}

// writeFields adds to w the fields (keyed by fieldKey) that
// differ from cur (nil when creating). Reserved names are described in the
// README; any other name is a custom field title.
func (c *Connector) writeFields(ctx context.Context, w *ticketWrite, fields map[string]string, cur *apiTicket, k *catalog) error {
	if cur == nil {
		cur = &apiTicket{}
	}
	for _, key := range sortedKeys(fields) {
		v := strings.TrimSpace(fields[key])
		switch key {
		case "status":
			ns := nativeStatus(v)
			if !slices.Contains(zendeskStatuses, ns) {
				return core.Permanent(fmt.Errorf("status %q is not one of %s", v, strings.Join(zendeskStatuses, ", ")))
			}
			if !strings.EqualFold(cur.Status, ns) {
				w.Status = ns
			}
		case "priority":
			if err := choose("priority", v, zendeskPriorities, cur.Priority, &w.Priority); err != nil {
				return err
			}
		case "type":
			if err := choose("ticket type", v, zendeskTypes, cur.Type, &w.Type); err != nil {
				return err
			}
		case "group":
			if err := chooseID("group", v, k.groups, cur.GroupID, &w.GroupID); err != nil {
				return err
			}
		case "form":
			if err := chooseID("ticket form", v, k.forms, cur.TicketFormID, &w.TicketFormID); err != nil {
				return err
			}
		case "assignee":
			if v == "" {
				continue
			}
			uid, err := c.userID(ctx, v, "", false)
			if err != nil {
				return err
			}
			if cur.AssigneeID != uid {
				w.AssigneeID = uid
			}
		case "requester":
			if v == "" {
				continue
			}
			uid, err := c.userID(ctx, v, fields["requester_name"], true)
			if err != nil {
				return err
			}
			if cur.RequesterID != uid {
				w.RequesterID = uid
			}
		case "requester_name":
		case "collaborators":
			for _, e := range splitList(v) {
				if uid, ok := c.users.get(strings.ToLower(e)); ok && slices.Contains(cur.CollaboratorIDs, uid) {
					continue
				}
				w.AdditionalCollaborators = append(w.AdditionalCollaborators, e)
			}
		case "tags":
			for _, t := range splitList(v) {
				if !slices.Contains(cur.Tags, t) {
					w.AdditionalTags = append(w.AdditionalTags, t)
				}
			}
		case "remove_tags":
			for _, t := range splitList(v) {
				if slices.Contains(cur.Tags, t) && !markerTagRE.MatchString(t) {
					w.RemoveTags = append(w.RemoveTags, t)
				}
			}
		default:
			def := k.field(key)
			if def == nil {
				return core.Permanent(fmt.Errorf("custom field %q not found", key))
			}
			val, err := fieldValue(def, v)
			if err != nil {
				return core.Permanent(err)
			}
			if sameValue(currentValue(cur, def.ID), val) {
				continue
			}
			w.CustomFields = append(w.CustomFields, customWrite{ID: def.ID, Value: val})
		}
	}
	return nil
}

// fieldValue converts text to what a custom field of that type takes.
func fieldValue(f *ticketField, v string) (any, error) {
	if v == "" {
		return nil, nil
	}
	switch f.Type {
	case "checkbox":
		b, err := strconv.ParseBool(strings.ToLower(v))
		if err != nil {
			switch strings.ToLower(v) {
			case "yes", "y", "on":
				b, err = true, nil
			case "no", "n", "off":
				b, err = false, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("custom field %q is a check box; %q is not true or false", f.Title, v)
		}
		return b, nil
	case "tagger":
		if o, ok := f.option(v); ok {
			return o, nil
		}
		return nil, fmt.Errorf("custom field %q has no option %q", f.Title, v)
	case "multiselect":
		var out []string
		for _, p := range splitList(v) {
			o, ok := f.option(p)
			if !ok {
				return nil, fmt.Errorf("custom field %q has no option %q", f.Title, p)
			}
			out = append(out, o)
		}
		return out, nil
	}
	return v, nil
}

// currentValue is a custom field's value on a ticket, as text.
func currentValue(t *apiTicket, id int64) string {
	for _, f := range t.CustomFields {
		if f.ID == id {
			s, _ := fieldString(f.Value)
			return s
		}
	}
	return ""
}

func sameValue(have string, want any) bool {
	switch w := want.(type) {
	case nil:
		return have == ""
	case bool:
		return have == strconv.FormatBool(w) || (!w && have == "")
	case []string:
		return have == strings.Join(w, " ")
	case string:
		return have == w
	}
	return false
}

func empty(w ticketWrite) bool {
	b, _ := json.Marshal(w)
	return string(b) == "{}"
}

func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// auditComment is the Comment event of a write's audit, as a core.Comment.
func auditComment(a *apiAudit) *core.Comment {
	if a == nil {
		return nil
	}
	for _, e := range a.Events {
		if e.Type != "Comment" {
			continue
		}
		body, marker := splitMarker(e.Body)
		cm := &core.Comment{
			ID: strconv.FormatInt(e.ID, 10), Body: body, Public: e.Public,
			CreatedAt: a.CreatedAt.UTC(), Marker: marker,
		}
		for _, f := range e.Attachments {
			cm.Files = append(cm.Files, core.Attachment{Name: f.FileName, ContentType: f.ContentType, Size: f.Size, URL: f.ContentURL})
		}
		return cm
	}
	return nil
}

// userID finds a user by e-mail (GET /users/search), creating an end user
// with create_or_update when create is set and there is none.
func (c *Connector) userID(ctx context.Context, email, name string, create bool) (int64, error) {
	key := strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(key, "@") {
		return 0, core.Permanent(fmt.Errorf("%q is not an e-mail address", email))
	}
	if id, ok := c.users.get(key); ok {
		return id, nil
	}
	users, _, err := c.zd.SearchUsers(ctx, &zendesk.SearchUsersOptions{Query: key})
	if err != nil {
		return 0, c.classify("GET", "/users/search.json", err)
	}
	for _, u := range users {
		if strings.EqualFold(u.Email, key) {
			c.users.put(key, u.ID)
			c.emails.put(u.ID, u.Email)
			return u.ID, nil
		}
	}
	if !create {
		return 0, core.Permanent(fmt.Errorf("no Zendesk user with e-mail %q", email))
	}
	if name = strings.TrimSpace(name); name == "" {
		name, _, _ = strings.Cut(key, "@")
	}
	var out struct {
		User apiUser `json:"user"`
	}
	in := map[string]any{"user": map[string]string{"name": name, "email": key, "role": "end-user"}}
	if err := c.post(ctx, "/users/create_or_update.json", in, &out); err != nil {
		return 0, err
	}
	if out.User.ID == 0 {
		return 0, errors.New("create_or_update answered without a user id")
	}
	c.users.put(key, out.User.ID)
	c.emails.put(out.User.ID, key)
	return out.User.ID, nil
}

// UseBlobs implements core.BlobUser: the content of files named by hash.
func (c *Connector) UseBlobs(b core.Blobs) { c.blobs = b }

// uploadFiles uploads the files that fit (POST /uploads, one token for
// all), each streamed from where it is kept, and returns those that do
// not: over the limit, or whose content is not available.
func (c *Connector) uploadFiles(ctx context.Context, files []core.Attachment) ([]string, []core.Attachment, error) {
	var token string
	var over []core.Attachment
	for _, f := range files {
		size := f.Size
		if len(f.Content) > 0 {
			size = int64(len(f.Content))
		}
		var content io.ReadCloser
		if !f.Over && size <= c.attachMax {
			var err error
			if content, err = core.OpenAttachment(ctx, c.blobs, f); err != nil {
				return nil, nil, err
			}
		}
		if content == nil {
			f.Size = size
			over = append(over, f)
			continue
		}
		name := f.Name
		if name == "" {
			name = "attachment"
		}
		w := c.zd.UploadAttachment(ctx, name, token)
		_, err := io.Copy(w, content)
		content.Close()
		if err != nil {
			return nil, nil, c.classify("POST", "/uploads.json", err)
		}
		up, err := w.Close()
		if err != nil {
			return nil, nil, c.classify("POST", "/uploads.json", err)
		}
		token = up.Token
	}
	if token == "" {
		return nil, over, nil
	}
	return []string{token}, over, nil
}

// FindByMarker implements core.MarkerFinder with a search for the marker
// tag. Zendesk's search index lags a write by up to a minute or two; the
// Idempotency-Key on creation covers that window.
func (c *Connector) FindByMarker(ctx context.Context, kind core.Kind, marker string) (core.Ref, error) {
	if kind != core.CustomerTicket || !markerTagRE.MatchString(marker) {
		return core.Ref{}, core.ErrNotFound
	}
	var page searchPage
	q := url.QueryEscape("type:ticket tags:" + marker)
	if err := c.get(ctx, "/search.json?query="+q, &page); err != nil {
		return core.Ref{}, fmt.Errorf("zendesk %q: search for marker %q: %w", c.name, marker, err)
	}
	for _, r := range page.Results {
		if r.ResultType == "ticket" && r.ID > 0 {
			return c.ref(r.ID), nil
		}
	}
	return core.Ref{}, core.ErrNotFound
}

// Applied implements core.AppliedChecker: a Create is found by its marker
// tag, a comment or link note by the marker line among the ticket's
// comments. Other writes set state and are safe to repeat.
func (c *Connector) Applied(ctx context.Context, a core.Action) (core.Result, bool, error) {
	switch {
	case a.Kind == core.Create:
		ref, err := c.FindByMarker(ctx, a.Target.Kind, a.Marker())
		if errors.Is(err, core.ErrNotFound) {
			return core.Result{}, false, nil
		}
		if err != nil {
			return core.Result{}, false, err
		}
		return core.Result{Created: ref, Note: "found by marker " + a.Marker()}, true, nil
	case a.Kind == core.AddComment || (a.Kind == core.AddLink && c.cfg.LinkField == ""):
		id, err := c.ticketID(a.Target)
		if err != nil {
			return core.Result{}, false, err
		}
		cs, err := c.ticketComments(ctx, id, -1)
		if err != nil {
			return core.Result{}, false, fmt.Errorf("zendesk %q: %w", c.name, err)
		}
		for _, cm := range cs {
			if cm.Marker == a.Marker() {
				return core.Result{CommentID: cm.ID, Note: "found by marker " + a.Marker()}, true, nil
			}
		}
	}
	return core.Result{}, false, nil
}

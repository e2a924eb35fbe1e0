package fake

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// getProjects answers GET /projects: every project with its categories and
// linked custom fields.
func (s *Server) getProjects(w http.ResponseWriter) {
	out := []map[string]any{}
	for _, p := range s.projects {
		cats := []map[string]any{}
		for i, c := range p.Categories {
			cats = append(cats, map[string]any{"id": p.ID*100 + i + 1, "name": c, "project": map[string]any{"id": p.ID, "name": p.Name}})
		}
		fields := []map[string]any{}
		for _, f := range p.CustomFields {
			fields = append(fields, map[string]any{"id": s.fields[f], "name": f, "type": "string", "default_value": "",
				"possible_values": "", "valid_regexp": "", "length_min": 0, "length_max": 0})
		}
		out = append(out, map[string]any{
			"id": p.ID, "name": p.Name, "enabled": true, "description": "",
			"status":        map[string]any{"id": 10, "name": "development", "label": "development"},
			"view_state":    map[string]any{"id": 10, "name": "public", "label": "public"},
			"access_level":  map[string]any{"id": 90, "name": "administrator", "label": "administrator"},
			"categories":    cats,
			"custom_fields": fields,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out})
}

// getConfig answers GET /config?option[]=...: enumerations as lists.
func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	enums := map[string][]Enum{
		"status_enum_string": s.statuses, "resolution_enum_string": Resolutions, "priority_enum_string": Priorities,
		"severity_enum_string": Severities, "reproducibility_enum_string": Reproducibility,
	}
	out := []map[string]any{}
	q := r.URL.Query()
	for _, o := range append(q["option[]"], q["option"]...) {
		if e, ok := enums[o]; ok {
			out = append(out, map[string]any{"option": o, "value": renderEnums(e)})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"configs": out})
}

func renderEnums(es []Enum) []map[string]any {
	out := make([]map[string]any, len(es))
	for i, e := range es {
		out[i] = enumOf(e)
	}
	return out
}

func enumOf(e Enum) map[string]any {
	return map[string]any{"id": e.ID, "name": e.Name, "label": e.Name}
}

func enumNamed(list []Enum, name string) (map[string]any, bool) {
	for _, e := range list {
		if strings.EqualFold(e.Name, name) {
			return enumOf(e), true
		}
	}
	return nil, false
}

func (s *Server) serveIssues(w http.ResponseWriter, r *http.Request, rest []string) {
	if len(rest) == 0 || rest[0] == "" {
		switch r.Method {
		case http.MethodGet:
			s.listIssues(w, r)
		case http.MethodPost:
			s.createIssue(w, r)
		default:
			fail(w, http.StatusMethodNotAllowed, "method not allowed")
		}
		return
	}
	id, err := strconv.Atoi(rest[0])
	iss := s.issues[id]
	if err != nil || iss == nil {
		fail(w, http.StatusNotFound, "Issue #"+rest[0]+" not found")
		return
	}
	switch {
	case len(rest) == 1 && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"issues": []any{s.render(iss)}})
	case len(rest) == 1 && r.Method == http.MethodPatch:
		s.patchIssue(w, r, iss)
	case len(rest) == 2 && rest[1] == "notes" && r.Method == http.MethodPost:
		s.postNote(w, r, iss)
	case len(rest) == 2 && rest[1] == "relationships" && r.Method == http.MethodPost:
		s.postRelationship(w, r, iss)
	default:
		fail(w, http.StatusNotFound, "no such endpoint")
	}
}

// listIssues answers GET /issues: filter_id "any" (default) or "reported"
// (by the API user, closed issues hidden, as Mantis's standard filter
// does), project_id, newest update first, one-based pages.
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, size := atoiOr(q.Get("page"), 1), atoiOr(q.Get("page_size"), 50)
	if page < 1 {
		page = 1
	}
	project := atoiOr(q.Get("project_id"), 0)
	var all []*Issue
	for _, iss := range s.issues {
		if project != 0 && iss.Project != project {
			continue
		}
		switch q.Get("filter_id") {
		case "", "any":
		case "reported":
			if iss.Reporter != s.me || iss.Status == "closed" {
				continue
			}
		default:
			fail(w, http.StatusNotFound, "Unknown filter")
			return
		}
		all = append(all, iss)
	}
	slices.SortFunc(all, func(a, b *Issue) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return b.ID - a.ID
	})
	out := []any{}
	for i := (page - 1) * size; i < len(all) && i < page*size; i++ {
		out = append(out, s.render(all[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"issues": out})
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// ref is an {id} or {name} reference in a request.
type ref struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type issueIn struct {
	Summary         *string `json:"summary"`
	Description     *string `json:"description"`
	Steps           *string `json:"steps_to_reproduce"`
	Additional      *string `json:"additional_information"`
	Project         *ref    `json:"project"`
	Category        *ref    `json:"category"`
	Status          *ref    `json:"status"`
	Resolution      *ref    `json:"resolution"`
	Priority        *ref    `json:"priority"`
	Severity        *ref    `json:"severity"`
	Reproducibility *ref    `json:"reproducibility"`
	ViewState       *ref    `json:"view_state"`
	Handler         *ref    `json:"handler"`
	CustomFields    []struct {
		Field ref    `json:"field"`
		Value string `json:"value"`
	} `json:"custom_fields"`
	Tags []ref `json:"tags"`
}

func decodeBody(r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	return err == nil && json.Unmarshal(b, v) == nil
}

// apply writes the fields of in onto iss, checking names as Mantis does;
// it returns the message of a 400 when something is unknown.
func (s *Server) apply(iss *Issue, in *issueIn) string {
	p := s.projectByID(iss.Project)
	enum := func(r *ref, list []Enum, what string, dst *string) string {
		if r == nil {
			return ""
		}
		for _, e := range list {
			if strings.EqualFold(e.Name, r.Name) || (r.Name == "" && e.ID == r.ID) {
				*dst = e.Name
				return ""
			}
		}
		return "Invalid " + what + " '" + r.Name + "'"
	}
	for _, m := range []string{
		enum(in.Status, s.statuses, "status", &iss.Status),
		enum(in.Resolution, Resolutions, "resolution", &iss.Resolution),
		enum(in.Priority, Priorities, "priority", &iss.Priority),
		enum(in.Severity, Severities, "severity", &iss.Severity),
		enum(in.Reproducibility, Reproducibility, "reproducibility", &iss.Reproducibility),
		enum(in.ViewState, viewStates, "view state", &iss.ViewState),
	} {
		if m != "" {
			return m
		}
	}
	if in.Category != nil {
		if !slices.ContainsFunc(p.Categories, func(c string) bool { return strings.EqualFold(c, in.Category.Name) }) {
			return "Category '" + in.Category.Name + "' not found"
		}
		iss.Category = in.Category.Name
	}
	if in.Handler != nil {
		found := false
		for _, u := range s.users {
			if strings.EqualFold(u.Name, in.Handler.Name) || (in.Handler.Name == "" && u.ID == in.Handler.ID) {
				iss.Handler, found = u.ID, true
			}
		}
		if !found {
			return "User '" + in.Handler.Name + "' not found"
		}
	}
	for _, cf := range in.CustomFields {
		if !slices.ContainsFunc(p.CustomFields, func(n string) bool { return strings.EqualFold(n, cf.Field.Name) }) {
			return "Custom field '" + cf.Field.Name + "' not linked to project '" + p.Name + "'"
		}
		iss.Custom[cf.Field.Name] = cf.Value
	}
	for _, t := range in.Tags {
		if !slices.Contains(iss.Tags, t.Name) {
			iss.Tags = append(iss.Tags, t.Name)
		}
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&iss.Summary, in.Summary)
	set(&iss.Description, in.Description)
	set(&iss.Steps, in.Steps)
	set(&iss.Additional, in.Additional)
	return ""
}

// createIssue answers POST /issues with 201 and {"issue": ...}.
func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	var in issueIn
	if !decodeBody(r, &in) {
		fail(w, http.StatusBadRequest, "Invalid request body or format")
		return
	}
	if in.Project == nil {
		fail(w, http.StatusBadRequest, "Project not specified")
		return
	}
	p := s.projectByName(in.Project.Name)
	if p == nil && in.Project.ID != 0 {
		p = s.projectByID(in.Project.ID)
	}
	if p == nil {
		fail(w, http.StatusNotFound, "Project '"+in.Project.Name+"' not found")
		return
	}
	if in.Summary == nil || strings.TrimSpace(*in.Summary) == "" || in.Description == nil || strings.TrimSpace(*in.Description) == "" {
		fail(w, http.StatusBadRequest, "Summary and description are required")
		return
	}
	if in.Category == nil && len(p.Categories) > 0 {
		fail(w, http.StatusBadRequest, "Category not specified")
		return
	}
	now := s.now().UTC().Truncate(time.Second)
	iss := &Issue{ID: s.nextID, Project: p.ID, Status: "new", Resolution: "open", Priority: "normal", Severity: "minor",
		Reproducibility: "have not tried", ViewState: "public", Reporter: s.me, CreatedAt: now, UpdatedAt: now, Custom: map[string]string{}}
	if msg := s.apply(iss, &in); msg != "" {
		fail(w, http.StatusBadRequest, msg)
		return
	}
	s.nextID++
	s.issues[iss.ID] = iss
	writeJSON(w, http.StatusCreated, map[string]any{"issue": s.render(iss)})
}

// patchIssue answers PATCH /issues/{id} with {"issues": [...]}.
func (s *Server) patchIssue(w http.ResponseWriter, r *http.Request, iss *Issue) {
	var in issueIn
	if !decodeBody(r, &in) {
		fail(w, http.StatusBadRequest, "Invalid request body or format")
		return
	}
	next := *iss
	next.Custom = map[string]string{}
	for k, v := range iss.Custom {
		next.Custom[k] = v
	}
	if msg := s.apply(&next, &in); msg != "" {
		fail(w, http.StatusBadRequest, msg)
		return
	}
	next.UpdatedAt = s.now().UTC().Truncate(time.Second)
	if next.Status != iss.Status {
		next.History = append(slices.Clone(iss.History), StatusChange{At: next.UpdatedAt, From: iss.Status, To: next.Status})
	}
	*iss = next
	writeJSON(w, http.StatusOK, map[string]any{"issues": []any{s.render(iss)}})
}

// postNote answers POST /issues/{id}/notes with 201 and {"note", "issue"}.
func (s *Server) postNote(w http.ResponseWriter, r *http.Request, iss *Issue) {
	var in struct {
		Text      string `json:"text"`
		ViewState *ref   `json:"view_state"`
	}
	if !decodeBody(r, &in) || strings.TrimSpace(in.Text) == "" {
		fail(w, http.StatusBadRequest, "Issue note not specified")
		return
	}
	private := false
	if in.ViewState != nil {
		switch {
		case strings.EqualFold(in.ViewState.Name, "private") || in.ViewState.ID == 50:
			private = true
		case strings.EqualFold(in.ViewState.Name, "public") || in.ViewState.ID == 10:
		default:
			fail(w, http.StatusBadRequest, "Invalid view state")
			return
		}
	}
	id := s.addNote(iss, s.me, in.Text, private)
	rendered := s.render(iss)
	var note any
	for _, n := range rendered["notes"].([]map[string]any) {
		if n["id"] == id {
			note = n
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"note": note, "issue": rendered})
}

// postRelationship answers POST /issues/{id}/relationships with 201 and
// {"issue": ...}. Mantis keeps one relationship per pair: a second one
// replaces the first's type.
func (s *Server) postRelationship(w http.ResponseWriter, r *http.Request, iss *Issue) {
	var in struct {
		Issue ref `json:"issue"`
		Type  ref `json:"type"`
	}
	if !decodeBody(r, &in) {
		fail(w, http.StatusBadRequest, "Invalid request body or format")
		return
	}
	target := s.issues[in.Issue.ID]
	if target == nil || target == iss {
		fail(w, http.StatusBadRequest, "Invalid target issue")
		return
	}
	typ := ""
	for _, t := range relationTypes {
		if strings.EqualFold(t.Name, in.Type.Name) {
			typ = t.Name
		}
	}
	if typ == "" {
		fail(w, http.StatusBadRequest, "Unknown relationship type")
		return
	}
	now := s.now().UTC().Truncate(time.Second)
	found := false
	for i := range iss.Relations {
		if iss.Relations[i].Target == target.ID {
			iss.Relations[i].Type, found = typ, true
		}
	}
	if !found {
		s.nextRel++
		iss.Relations = append(iss.Relations, Relationship{ID: s.nextRel, Type: typ, Target: target.ID})
		target.Relations = append(target.Relations, Relationship{ID: s.nextRel, Type: complement(typ), Target: iss.ID})
	}
	iss.UpdatedAt, target.UpdatedAt = now, now
	writeJSON(w, http.StatusCreated, map[string]any{"issue": s.render(iss)})
}

func complement(typ string) string {
	switch typ {
	case "duplicate-of":
		return "has-duplicate"
	case "has-duplicate":
		return "duplicate-of"
	case "parent-of":
		return "child-of"
	case "child-of":
		return "parent-of"
	}
	return typ
}

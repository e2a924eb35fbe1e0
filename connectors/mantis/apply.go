package mantis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// Apply performs one action on Mantis. Create makes an issue with the
// action's marker in the marker custom field (the engine has looked for
// the marker first); Transition sets the status by name, with the
// resolution configured for that status, and succeeds without a write when
// the issue is there already; AddComment adds a public or private note
// ending with the marker; SetFields writes Mantis's own fields and custom
// fields; AddLink relates the issue to another issue of this Mantis
// ("related-to"). Failures are classified: core.Permanent for what
// retrying cannot fix (an unknown project, category or field, a 4xx),
// core.RetryAfter for 429, 5xx and transport errors.
func (c *Connector) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Target.System != c.name {
		return core.Result{}, core.Permanent(fmt.Errorf("mantis %q: action %q targets system %q", c.name, a.Key, a.Target.System))
	}
	if a.Kind == core.Create {
		res, err := c.create(ctx, a)
		return res, wrap(c.name, "creating a "+string(a.Target.Kind), err)
	}
	id, ok := issueID(a.Target.ID)
	if !ok || len(c.projectsOf(a.Target.Kind)) == 0 {
		return core.Result{}, core.Permanent(fmt.Errorf("mantis %q: %q is not an issue of a %s project", c.name, a.Target.String(), a.Target.Kind))
	}
	var (
		res   core.Result
		err   error
		doing string
	)
	switch a.Kind {
	case core.Transition:
		doing = "moving issue " + a.Target.ID
		res, err = c.transition(ctx, id, a)
	case core.AddComment:
		doing = "adding a note to issue " + a.Target.ID
		res, err = c.note(ctx, id, a)
	case core.SetFields:
		doing = "setting fields of issue " + a.Target.ID
		res, err = c.setFields(ctx, id, a)
	case core.AddLink:
		doing = "relating issue " + a.Target.ID + " to " + strconv.Quote(a.Other.String())
		res, err = c.relate(ctx, id, a)
	default:
		return core.Result{}, core.Permanent(fmt.Errorf("mantis %q: cannot apply %q actions", c.name, a.Kind))
	}
	return res, wrap(c.name, doing, err)
}

// named is an {"name": ...} reference, as Mantis accepts for projects,
// categories, users and enumerations.
type named struct {
	Name string `json:"name"`
}

type customValue struct {
	Field named  `json:"field"`
	Value string `json:"value"`
}

// fieldsOf merges the mappings' create defaults for the kind under the
// action's own fields (which win), with lower-cased reserved keys.
func (c *Connector) fieldsOf(a core.Action, creating bool) map[string]string {
	out := map[string]string{}
	put := func(k, v string) {
		if isReserved(k) {
			k = strings.ToLower(k)
		}
		out[k] = strings.TrimSpace(v)
	}
	if creating {
		if km := c.maps.Load().Kind(c.name, a.Target.Kind); km != nil {
			for k, v := range km.Create {
				put(k, v)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.Fields)) {
		put(k, a.Fields[k])
	}
	return out
}

// issueBody builds the JSON object of POST /issues or PATCH /issues/{id}
// from fields: Mantis's own by name, the others as custom fields, which
// must be linked to project (pc).
func issueBody(fields map[string]string, pc *projectCatalog) (map[string]any, error) {
	body := map[string]any{}
	var custom []customValue
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := fields[k]
		switch k {
		case fieldProject:
		case fieldCategory, "priority", fieldSeverity, fieldReproducibility, "handler", fieldViewState, fieldResolution:
			if v != "" {
				body[k] = named{Name: v}
			}
		case fieldSteps, fieldAdditional:
			body[k] = v
		default:
			if pc != nil {
				if _, ok := pc.fields[strings.ToLower(k)]; !ok {
					return nil, core.Permanent(fmt.Errorf("custom field %q is not linked to project %q", k, pc.name))
				}
			}
			custom = append(custom, customValue{Field: named{Name: k}, Value: v})
		}
	}
	if len(custom) > 0 {
		body["custom_fields"] = custom
	}
	return body, nil
}

// create makes the issue: POST /issues, one request, the marker in the
// marker custom field of that same request, so no issue of ours ever
// exists without it.
func (c *Connector) create(ctx context.Context, a core.Action) (core.Result, error) {
	kind := a.Target.Kind
	projects := c.projectsOf(kind)
	if len(projects) == 0 {
		return core.Result{}, core.Permanent(fmt.Errorf("no project holds %s records (projects in the mantis config)", kind))
	}
	fields := c.fieldsOf(a, true)
	project := fields[fieldProject]
	if project == "" {
		project = projects[0]
	}
	if !slices.ContainsFunc(projects, func(p string) bool { return strings.EqualFold(p, project) }) {
		return core.Result{}, core.Permanent(fmt.Errorf("project %q does not hold %s records (configured: %s)", project, kind, strings.Join(projects, ", ")))
	}
	title := summaryOf(a.Title)
	if title == "" {
		return core.Result{}, core.Permanent(errors.New("the action has no title for the issue's summary"))
	}
	cat, err := c.catalogue(ctx)
	if err != nil {
		return core.Result{}, err
	}
	pc := cat.projects[strings.ToLower(project)]
	if pc == nil {
		return core.Result{}, core.Permanent(fmt.Errorf("project %q was not found on this Mantis", project))
	}
	if fields[fieldCategory] == "" && len(pc.categories) > 0 {
		// Mantis refuses an issue without a category unless configured
		// otherwise: take the project's first.
		fields[fieldCategory] = pc.categories[0]
	}
	body, err := issueBody(fields, pc)
	if err != nil {
		return core.Result{}, err
	}
	body["project"] = named{Name: pc.name}
	body["summary"] = title
	desc := a.Body
	if strings.TrimSpace(desc) == "" {
		desc = title // Mantis requires a description
	}
	body["description"] = desc
	custom, _ := body["custom_fields"].([]customValue)
	body["custom_fields"] = append(custom, customValue{Field: named{Name: c.cfg.MarkerField}, Value: a.Marker()})
	if len(a.Labels) > 0 {
		tags := make([]named, 0, len(a.Labels))
		for _, l := range a.Labels {
			tags = append(tags, named{Name: l})
		}
		body["tags"] = tags
	}
	var iss *wireIssue
	if err := c.do(ctx, http.MethodPost, "issues", nil, body, func(b []byte) (err error) {
		iss, err = decodeCreated(b)
		return err
	}); err != nil {
		return core.Result{}, err
	}
	ref := core.Ref{System: c.name, Kind: kind, ID: strconv.FormatInt(iss.ID, 10)}
	c.kinds.remember(iss.ID, kind)
	res := core.Result{Created: ref}
	if n, err := c.normalize(iss, ref); err == nil {
		res.Item = &n.item
	}
	return res, nil
}

// maxSummary is Mantis's summary length (128 characters).
const maxSummary = 128

// summaryOf makes a title fit Mantis's one-line summary.
func summaryOf(s string) string {
	return core.ClipLine(s, maxSummary)
}

// targetStatus is the native status a transition writes.
func (c *Connector) targetStatus(a core.Action) string {
	if a.Native != "" {
		return a.Native
	}
	if km := c.maps.Load().Kind(c.name, a.Target.Kind); km != nil {
		return km.Native[a.Status]
	}
	return ""
}

// transition sets the status (and the resolution configured for it, or
// the action's "resolution" field): PATCH /issues/{id}. An issue already
// in the status is not written.
func (c *Connector) transition(ctx context.Context, id int64, a core.Action) (core.Result, error) {
	target := c.targetStatus(a)
	if target == "" {
		return core.Result{}, core.Permanent(fmt.Errorf("no Mantis status is mapped to %q for %s", a.Status, a.Target.Kind))
	}
	iss, err := c.get(ctx, id)
	if err != nil {
		return core.Result{}, err
	}
	if iss.Status != nil && strings.EqualFold(iss.Status.Name, target) {
		return core.Result{Note: "already in status " + strconv.Quote(iss.Status.Name)}, nil
	}
	body := map[string]any{"status": named{Name: target}}
	res := a.Fields[fieldResolution]
	if res == "" {
		res = c.resolution[strings.ToLower(target)]
	}
	if res != "" {
		body[fieldResolution] = named{Name: res}
	}
	return c.patch(ctx, id, a.Target, body)
}

// patch sends PATCH /issues/{id} and returns the issue's new snapshot.
func (c *Connector) patch(ctx context.Context, id int64, ref core.Ref, body map[string]any) (core.Result, error) {
	var page *wireIssues
	if err := c.do(ctx, http.MethodPatch, "issues/"+strconv.FormatInt(id, 10), nil, body, func(b []byte) (err error) {
		page, err = decodeIssues(b)
		return err
	}); err != nil {
		return core.Result{}, err
	}
	return c.resultOf(page, ref), nil
}

// resultOf is a Result carrying the snapshot of the one issue an answer
// holds, when it can be read.
func (c *Connector) resultOf(page *wireIssues, ref core.Ref) core.Result {
	if page == nil || len(page.Issues) != 1 {
		return core.Result{}
	}
	if n, err := c.normalize(&page.Issues[0], ref); err == nil {
		return core.Result{Item: &n.item}
	}
	return core.Result{}
}

// note adds a note whose last line is the action's marker, public or
// private as the action says: POST /issues/{id}/notes.
func (c *Connector) note(ctx context.Context, id int64, a core.Action) (core.Result, error) {
	if strings.TrimSpace(a.Body) == "" {
		return core.Result{}, core.Permanent(errors.New("the action has no text for the note"))
	}
	view := "private"
	if a.Public {
		view = "public"
	}
	body := map[string]any{
		"text":       strings.TrimRight(a.Body, " \t\r\n") + "\n\n" + markerLine(a.Marker()),
		"view_state": named{Name: view},
	}
	var added *wireNoteAdded
	if err := c.do(ctx, http.MethodPost, "issues/"+strconv.FormatInt(id, 10)+"/notes", nil, body, func(b []byte) (err error) {
		added, err = decodeNoteAdded(b)
		return err
	}); err != nil {
		return core.Result{}, err
	}
	res := core.Result{CommentID: strconv.FormatInt(added.Note.ID, 10)}
	if added.Issue != nil {
		res.Item = c.resultOf(&wireIssues{Issues: []wireIssue{*added.Issue}}, a.Target).Item
	}
	return res, nil
}

// setFields writes fields by name: PATCH /issues/{id}.
func (c *Connector) setFields(ctx context.Context, id int64, a core.Action) (core.Result, error) {
	if len(a.Fields) == 0 {
		return core.Result{Note: "no fields to set"}, nil
	}
	fields := c.fieldsOf(a, false)
	if _, ok := fields[fieldProject]; ok {
		return core.Result{}, core.Permanent(errors.New("moving an issue to another project is not done by set_fields"))
	}
	body, err := issueBody(fields, nil)
	if err != nil {
		return core.Result{}, err
	}
	return c.patch(ctx, id, a.Target, body)
}

// relate adds a "related-to" relationship to another issue of this
// Mantis: POST /issues/{id}/relationships. Mantis keeps one relationship
// per pair, so a repeat changes nothing. A record in another system has no
// place in Mantis but a note, which the rules write as a comment.
func (c *Connector) relate(ctx context.Context, id int64, a core.Action) (core.Result, error) {
	if a.Other.System != c.name {
		return core.Result{Note: "mantis has no remote links; the link is kept by the gateway"}, nil
	}
	other, ok := issueID(a.Other.ID)
	if !ok || other == id {
		return core.Result{}, core.Permanent(fmt.Errorf("%q is not another issue of this Mantis", a.Other.String()))
	}
	body := map[string]any{
		"issue": map[string]int64{"id": other},
		"type":  named{Name: "related-to"},
	}
	var created *wireIssue
	if err := c.do(ctx, http.MethodPost, "issues/"+strconv.FormatInt(id, 10)+"/relationships", nil, body, func(b []byte) (err error) {
		created, err = decodeCreated(b)
		return err
	}); err != nil {
		return core.Result{}, err
	}
	c.kinds.remember(other, a.Other.Kind)
	return c.resultOf(&wireIssues{Issues: []wireIssue{*created}}, a.Target), nil
}

// get reads one issue: GET /issues/{id}. A missing issue is core.ErrNotFound.
func (c *Connector) get(ctx context.Context, id int64) (*wireIssue, error) {
	var page *wireIssues
	err := c.do(ctx, http.MethodGet, "issues/"+strconv.FormatInt(id, 10), nil, nil, func(b []byte) (err error) {
		page, err = decodeIssues(b)
		return err
	})
	if isStatus(err, http.StatusNotFound) {
		return nil, fmt.Errorf("issue %d: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if len(page.Issues) != 1 || page.Issues[0].ID != id {
		return nil, core.RetryAfter(fmt.Errorf("issue %d: the answer does not hold that issue", id), 0)
	}
	return &page.Issues[0], nil
}

// Fetch reads one issue's current snapshot. An issue that is gone, or now
// sits in a project that does not hold r's kind, is core.ErrNotFound.
func (c *Connector) Fetch(ctx context.Context, r core.Ref) (*core.Item, error) {
	id, ok := issueID(r.ID)
	if !ok || r.System != c.name {
		return nil, fmt.Errorf("mantis %q: %q is not a Mantis issue: %w", c.name, r.String(), core.ErrNotFound)
	}
	iss, err := c.get(ctx, id)
	if err != nil {
		return nil, wrap(c.name, "reading issue "+r.ID, err)
	}
	ref, ok := c.refOfIssue(iss)
	if !ok || ref != r {
		return nil, fmt.Errorf("mantis %q: issue %s is not in a %s project: %w", c.name, r.ID, r.Kind, core.ErrNotFound)
	}
	n, err := c.normalize(iss, ref)
	if err != nil {
		return nil, wrap(c.name, "reading issue "+r.ID, core.Permanent(err))
	}
	return &n.item, nil
}

// FindByMarker looks for the issue of kind whose marker field holds
// marker. Mantis's REST API cannot filter on a custom field, so it pages
// through the issues the API user reported (filter "reported", newest
// update first), at most marker_lookup_pages pages: the gateway's issues
// are all reported by that user, and an issue it just created is near the
// top. Mantis's "reported" filter hides closed issues.
func (c *Connector) FindByMarker(ctx context.Context, kind core.Kind, marker string) (core.Ref, error) {
	if !core.IsMarker(marker) {
		return core.Ref{}, core.Permanent(fmt.Errorf("mantis %q: %q is not a liaison marker", c.name, core.Clip(marker, 40)))
	}
	if len(c.projectsOf(kind)) == 0 {
		return core.Ref{}, fmt.Errorf("mantis %q: no project holds %s records: %w", c.name, kind, core.ErrNotFound)
	}
	for p := 1; p <= c.cfg.MarkerLookupPages; p++ {
		page, err := c.listPage(ctx, "reported", p, c.cfg.PageSize)
		if err != nil {
			return core.Ref{}, wrap(c.name, "looking for marker "+strconv.Quote(marker), err)
		}
		for i := range page.Issues {
			iss := &page.Issues[i]
			if markerOf(iss, c.cfg.MarkerField) != marker {
				continue
			}
			if ref, ok := c.refOfIssue(iss); ok && ref.Kind == kind {
				return ref, nil
			}
		}
		if len(page.Issues) < c.cfg.PageSize {
			break
		}
	}
	return core.Ref{}, fmt.Errorf("mantis %q: no %s with marker %q: %w", c.name, kind, marker, core.ErrNotFound)
}

func markerOf(iss *wireIssue, field string) string {
	for _, cf := range iss.CustomFields {
		if strings.EqualFold(cf.Field.Name, field) {
			return cf.Value
		}
	}
	return ""
}

func isStatus(err error, status int) bool {
	var se *retryhttp.StatusError
	return errors.As(err, &se) && se.Status == status
}

// Applied finds out whether an action was already applied: a note with
// the action's marker, the issue in the target status, or a relationship
// to the other issue.
func (c *Connector) Applied(ctx context.Context, a core.Action) (core.Result, bool, error) {
	id, ok := issueID(a.Target.ID)
	if !ok || a.Target.System != c.name {
		return core.Result{}, false, nil
	}
	switch a.Kind {
	case core.AddComment, core.Transition, core.AddLink:
	default:
		return core.Result{}, false, nil
	}
	iss, err := c.get(ctx, id)
	if err != nil {
		return core.Result{}, false, wrap(c.name, "reading issue "+a.Target.ID, err)
	}
	switch a.Kind {
	case core.AddComment:
		for _, n := range iss.Notes {
			if _, m := splitMarker(n.Text); m == a.Marker() {
				return core.Result{CommentID: strconv.FormatInt(n.ID, 10)}, true, nil
			}
		}
	case core.Transition:
		if target := c.targetStatus(a); target != "" && iss.Status != nil && strings.EqualFold(iss.Status.Name, target) {
			return core.Result{Note: "already in status " + strconv.Quote(iss.Status.Name)}, true, nil
		}
	case core.AddLink:
		for _, r := range iss.Relationships {
			if r.Issue != nil && strconv.FormatInt(r.Issue.ID, 10) == a.Other.ID {
				return core.Result{}, true, nil
			}
		}
	}
	return core.Result{}, false, nil
}

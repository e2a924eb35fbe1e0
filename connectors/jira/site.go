package jira

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// jiraSchemas are, for each of the mappings' field types, the schema
// /rest/api/2/field gives such a field: type, items, and the custom
// field kind's suffix ("" for any).
var jiraSchemas = map[string][]fieldDef{
	"text":        {{Type: "string", Kind: ":textfield"}, {Type: "string", Kind: ":url"}},
	"multiline":   {{Type: "string", Kind: ":textarea"}},
	"number":      {{Type: "number"}},
	"date":        {{Type: "date"}, {Type: "datetime"}},
	"checkbox":    {{Type: "array", Items: "option", Kind: ":multicheckboxes"}},
	"dropdown":    {{Type: "option"}},
	"multiselect": {{Type: "array", Items: "option"}},
	"user":        {{Type: "user"}},
	"users":       {{Type: "array", Items: "user"}},
}

// checkFieldTypes compares the fields whose declaration gives a type with
// this Jira's (from the catalogue CheckMappings read): another type is
// for the admin to look at. Options are not compared: Jira lists them per
// field context, which needs an administrator.
func checkFieldTypes(r *core.SiteReport, cat *catalog, km *core.KindMap) {
	for _, canon := range slices.Sorted(maps.Keys(km.FieldTypes)) {
		ft := km.FieldTypes[canon]
		f, ok := cat.field(km.Fields[canon])
		if !ok {
			continue // CheckMappings names it
		}
		fits := slices.ContainsFunc(jiraSchemas[ft.Type], func(want fieldDef) bool {
			return f.Type == want.Type && (want.Items == "" || f.Items == want.Items) && strings.HasSuffix(f.Kind, want.Kind)
		})
		if !fits {
			r.Unsure = append(r.Unsure, fmt.Sprintf("field %q (%s) is of type %s here; the mappings declare %s: change one of them (Settings → Issues → Custom fields, or its type in systems.yaml)",
				f.Name, f.ID, strings.TrimPrefix(cmp.Or(f.Items, f.Type)+" "+f.Kind, " "), core.SetupFieldLine(f.Name, ft, fieldTypeNames)))
		}
	}
}

// permissionsFor are the project permissions the gateway's account needs
// for each kind of action the rules take; browsing is always needed.
var permissionsFor = map[core.ActionKind][]string{
	core.Create:     {"CREATE_ISSUES"},
	core.Transition: {"TRANSITION_ISSUES"},
	core.SetFields:  {"EDIT_ISSUES"},
	core.AddComment: {"ADD_COMMENTS"},
	core.AddLink:    {"LINK_ISSUES"},
}

// permissionsNeeded are the project permissions the rules' actions on a
// kind need.
func permissionsNeeded(m *core.Mappings, system string, k core.Kind) []string {
	need := []string{"BROWSE_PROJECTS"}
	for _, ak := range m.ActionKindsOn(system, k) {
		need = append(need, permissionsFor[ak]...)
	}
	return need
}

// webhookEvents are the events the connector reads from a Jira webhook.
var webhookEvents = []string{"jira:issue_created", "jira:issue_updated", "jira:issue_deleted", "comment_created", "comment_updated"}

// CheckSite implements core.SiteChecker: the account's permissions in each
// project, a workflow path through the statuses the rules move issues to,
// and (when webhooks are on) a webhook to the gateway with its events.
func (c *Connector) CheckSite(ctx context.Context, m *core.Mappings, publicURL string) core.SiteReport {
	var r core.SiteReport
	sm := m.Systems[c.name]
	if sm == nil {
		return r
	}
	var errs []error
	for _, kind := range slices.Sorted(maps.Keys(sm.Kinds)) {
		km := sm.Kinds[kind]
		if err := c.checkPermissions(ctx, &r, m, kind); err != nil {
			errs = append(errs, err)
		}
		if err := c.checkPaths(ctx, &r, m, kind, km); err != nil {
			errs = append(errs, err)
		}
	}
	if cat := c.cat.Load(); cat != nil {
		for _, kind := range slices.Sorted(maps.Keys(sm.Kinds)) {
			checkFieldTypes(&r, cat, sm.Kinds[kind])
		}
	}
	if c.creds.secret != "" {
		if err := c.checkWebhook(ctx, &r, publicURL); err != nil {
			errs = append(errs, err)
		}
	}
	r.Err = errors.Join(errs...)
	return r
}

// checkPermissions asks GET /rest/api/2/mypermissions, per project of the
// kind, for the permissions the rules' actions need.
func (c *Connector) checkPermissions(ctx context.Context, r *core.SiteReport, m *core.Mappings, kind core.Kind) error {
	need := permissionsNeeded(m, c.name, kind)
	for _, p := range c.projectsOf(kind) {
		var got struct {
			Permissions map[string]struct {
				Name           string `json:"name"`
				HavePermission bool   `json:"havePermission"`
			} `json:"permissions"`
		}
		q := url.Values{"projectKey": {p}, "permissions": {strings.Join(need, ",")}}
		if err := c.do(ctx, http.MethodGet, "rest/api/2/mypermissions", q, nil, &got, ""); err != nil {
			return fmt.Errorf("reading the account's permissions in project %s: %w", p, err)
		}
		for _, k := range need {
			if pm, ok := got.Permissions[k]; !ok || !pm.HavePermission {
				r.Missing = append(r.Missing, fmt.Sprintf("project %s: the gateway's account lacks the permission %q (%s), which the rules on %s need: grant it in Project settings → Permissions (the project's permission scheme)",
					p, cmp.Or(pm.Name, k), k, kind))
			}
		}
	}
	return nil
}

// wireWorkflow is one workflow of GET /rest/api/2/workflow/search with
// expand=transitions,statuses (Jira Cloud).
type wireWorkflow struct {
	ID struct {
		Name string `json:"name"`
	} `json:"id"`
	Transitions []struct {
		Name string   `json:"name"`
		From []string `json:"from"`
		To   string   `json:"to"`
		Type string   `json:"type"`
	} `json:"transitions"`
	Statuses []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"statuses"`
}

// flow is a workflow as status names (lower-cased): where issues start and
// which statuses lead where; from "" leads anywhere (a global transition).
type flow struct {
	name     string
	statuses map[string]string // lower-cased → as Jira spells it
	start    string
	next     map[string][]string
}

func (w wireWorkflow) flow() flow {
	f := flow{name: w.ID.Name, statuses: map[string]string{}, next: map[string][]string{}}
	byID := map[string]string{}
	for _, s := range w.Statuses {
		byID[s.ID] = strings.ToLower(s.Name)
		f.statuses[strings.ToLower(s.Name)] = s.Name
	}
	for _, t := range w.Transitions {
		to := byID[t.To]
		if t.Type == "initial" {
			f.start = to
			continue
		}
		if len(t.From) == 0 {
			f.next[""] = append(f.next[""], to)
		}
		for _, from := range t.From {
			f.next[byID[from]] = append(f.next[byID[from]], to)
		}
	}
	if f.start == "" && len(w.Statuses) > 0 {
		f.start = strings.ToLower(w.Statuses[0].Name)
	}
	return f
}

// reaches reports whether a chain of transitions leads from one status to
// another.
func (f flow) reaches(from, to string) bool {
	seen := map[string]bool{from: true}
	queue := []string{from}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s == to {
			return true
		}
		for _, n := range append(slices.Clone(f.next[s]), f.next[""]...) {
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	return false
}

// checkPaths finds, for each issue type the gateway works with in the
// kind's projects, the workflow with that type's statuses and names every
// step of the rules' status order (from where issues start) that no chain
// of transitions makes. Without the workflows (Jira Data Center has no
// search for them; Cloud needs an admin) it says what to check by hand.
func (c *Connector) checkPaths(ctx context.Context, r *core.SiteReport, m *core.Mappings, kind core.Kind, km *core.KindMap) error {
	var order, shown []string
	for _, st := range m.StatusesWritten(c.name, kind) {
		if n := km.Native[st]; n != "" {
			order, shown = append(order, strings.ToLower(n)), append(shown, n)
		}
	}
	if len(order) == 0 {
		return nil
	}
	flows, err := c.readWorkflows(ctx)
	if err != nil {
		if !refused(err) {
			return err
		}
		r.Unsure = append(r.Unsure, fmt.Sprintf("cannot read the workflows (%v): check that the workflow of %s's projects (%s) leads %s, in Project settings → Workflows",
			err, kind, strings.Join(c.projectsOf(kind), ", "), strings.Join(shown, " → ")))
		return nil
	}
	for _, p := range c.projectsOf(kind) {
		var types []wireProjectType
		if err := c.do(ctx, http.MethodGet, "rest/api/2/project/"+p+"/statuses", nil, nil, &types, ""); err != nil {
			return fmt.Errorf("reading project %q's issue types and statuses: %w", p, err)
		}
		for _, t := range types {
			if t.Subtask || (km.Create["issue_type"] != "" && !strings.EqualFold(t.Name, km.Create["issue_type"])) {
				continue
			}
			f, ok := workflowOf(flows, t.Statuses)
			if !ok {
				r.Unsure = append(r.Unsure, fmt.Sprintf("project %s issue type %s: no workflow has exactly its statuses: check that it leads %s, in Project settings → Workflows",
					p, t.Name, strings.Join(shown, " → ")))
				continue
			}
			from := f.start
			for _, to := range order {
				if _, ok := f.statuses[to]; !ok {
					continue // CheckMappings names the missing status
				}
				if !f.reaches(from, to) {
					r.Missing = append(r.Missing, fmt.Sprintf("project %s issue type %s (workflow %q): no transition path from %q to %q, which the rules on %s walk: add a transition %s → %s in Project settings → Workflows",
						p, t.Name, f.name, f.statuses[from], f.statuses[to], kind, f.statuses[from], f.statuses[to]))
				}
				from = to
			}
		}
	}
	return nil
}

// workflowOf picks the workflow whose statuses are those of an issue type.
func workflowOf(flows []flow, statuses []wireStatus) (flow, bool) {
	want := map[string]bool{}
	for _, s := range statuses {
		want[strings.ToLower(s.Name)] = true
	}
	for _, f := range flows {
		if len(f.statuses) != len(want) {
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Keys(f.statuses)), func(s string) bool { return !want[s] }) {
			return f, true
		}
	}
	return flow{}, false
}

// readWorkflows reads every workflow with its transitions, page by page.
func (c *Connector) readWorkflows(ctx context.Context) ([]flow, error) {
	var out []flow
	for start := 0; ; {
		var page struct {
			Values []wireWorkflow `json:"values"`
			IsLast bool           `json:"isLast"`
		}
		q := url.Values{"expand": {"transitions,statuses"}, "startAt": {fmt.Sprint(start)}, "maxResults": {"50"}}
		if err := c.do(ctx, http.MethodGet, "rest/api/2/workflow/search", q, nil, &page, ""); err != nil {
			return nil, err
		}
		for _, w := range page.Values {
			out = append(out, w.flow())
		}
		start += len(page.Values)
		if page.IsLast || len(page.Values) == 0 || start > 5000 {
			return out, nil
		}
	}
}

// refused reports whether Jira answered that the account may not read
// something (or that this Jira has no such resource), rather than failing.
func refused(err error) bool {
	var se *retryhttp.StatusError
	return errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden || se.Status == http.StatusNotFound)
}

// checkWebhook lists the admin webhooks (GET /rest/webhooks/1.0/webhook,
// which needs a Jira administrator) and looks for an enabled one to the
// gateway with the events the connector reads.
func (c *Connector) checkWebhook(ctx context.Context, r *core.SiteReport, publicURL string) error {
	target := cmp.Or(strings.TrimRight(publicURL, "/"), "https://<gateway>") + core.WebhookPath("jira", c.name)
	how := fmt.Sprintf("create it in Settings → System → WebHooks: URL %s, events %s, JQL project in (%s)", target, strings.Join(webhookEvents, ", "), strings.Join(c.allProjects(), ", "))
	var hooks []struct {
		Name    string   `json:"name"`
		URL     string   `json:"url"`
		Events  []string `json:"events"`
		Enabled bool     `json:"enabled"`
	}
	if err := c.do(ctx, http.MethodGet, "rest/webhooks/1.0/webhook", nil, nil, &hooks, ""); err != nil {
		if !refused(err) {
			return fmt.Errorf("listing the webhooks: %w", err)
		}
		r.Unsure = append(r.Unsure, fmt.Sprintf("cannot list the webhooks (%v; listing needs a Jira administrator): check there is one to %s, or %s", err, target, how))
		return nil
	}
	for _, h := range hooks {
		if !h.Enabled || !core.WebhookAt(h.URL, publicURL, "jira", c.name) {
			continue
		}
		var lacks []string
		for _, e := range webhookEvents {
			if !slices.Contains(h.Events, e) {
				lacks = append(lacks, e)
			}
		}
		if len(lacks) == 0 {
			return nil
		}
		r.Missing = append(r.Missing, fmt.Sprintf("webhook %q to %s lacks the events %s: tick them in Settings → System → WebHooks", h.Name, h.URL, strings.Join(lacks, ", ")))
		return nil
	}
	r.Missing = append(r.Missing, "no enabled webhook to "+target+": "+how)
	return nil
}

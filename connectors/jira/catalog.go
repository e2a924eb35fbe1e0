package jira

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	jira "github.com/andygrunwald/go-jira"

	"github.com/liaisonhq/liaison/core"
)

// catalog holds what the mappings' names resolve to on this Jira: fields
// (by id and display name), priorities, and per project its issue types and
// their statuses. It is immutable once loaded; a reload swaps it whole.
type catalog struct {
	fields     map[string]fieldDef   // by id
	byName     map[string][]fieldDef // by lower-cased display name, in list order
	priorities map[string]string     // lower-cased name → id
	prioNames  []string
	projects   map[string]*projectCatalog
}

type fieldDef struct {
	ID, Name string
	Custom   bool
	// Schema, as /rest/api/2/field gives it: type ("string", "number",
	// "date", "datetime", "option", "array", "user", ...), the type of an
	// array's items, the system field it is, and a custom field's kind
	// ("com.atlassian.jira.plugin.system.customfieldtypes:textarea").
	Type, Items, System, Kind string
}

// wiki reports whether Jira renders the field's text as wiki markup: a
// custom text area (with the default renderer).
func (f fieldDef) wiki() bool {
	return f.Type == "string" && strings.HasSuffix(f.Kind, ":textarea")
}

type projectCatalog struct {
	issueTypes map[string]string // lower-cased name → id
	typeNames  []string
	statuses   map[string]string // lower-cased name → name, across issue types
}

// fieldByID is nil-safe, for decoding before the catalogue is loaded.
func (cat *catalog) fieldByID(id string) (fieldDef, bool) {
	if cat == nil {
		return fieldDef{}, false
	}
	f, ok := cat.fields[id]
	return f, ok
}

// field resolves a field by id or by display name, as core.MatchNamed
// matches names; a name two fields match only without case resolves to
// none (CheckMappings reports it with both names).
func (cat *catalog) field(name string) (fieldDef, bool) {
	f, ok, err := cat.resolveField(name)
	return f, ok && err == nil
}

// resolveField is field with the reason a name is ambiguous. Two fields
// with the very same display name (Jira allows it) resolve to the first
// listed; an admin can always name a field by its id instead.
func (cat *catalog) resolveField(name string) (fieldDef, bool, error) {
	if f, ok := cat.fields[name]; ok {
		return f, true, nil
	}
	got, err := core.MatchNamed(name, cat.byName[strings.ToLower(strings.TrimSpace(name))], func(f fieldDef) string { return f.Name })
	if err != nil || len(got) == 0 {
		return fieldDef{}, false, err
	}
	return got[0], true, nil
}

// wireProjectType is one entry of /rest/api/2/project/{key}/statuses.
type wireProjectType struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Subtask  bool         `json:"subtask"`
	Statuses []wireStatus `json:"statuses"`
}

// loadCatalog reads the field list, the priorities and each configured
// project's issue types and statuses: 2 + one request per project.
func (c *Connector) loadCatalog(ctx context.Context) (*catalog, error) {
	cat := &catalog{fields: map[string]fieldDef{}, byName: map[string][]fieldDef{}, priorities: map[string]string{}, projects: map[string]*projectCatalog{}}
	var fields []jira.Field
	if err := c.do(ctx, http.MethodGet, "rest/api/2/field", nil, nil, &fields, ""); err != nil {
		return nil, fmt.Errorf("reading the field list: %w", err)
	}
	for _, f := range fields {
		d := fieldDef{ID: f.ID, Name: f.Name, Custom: f.Custom, Type: f.Schema.Type, Items: f.Schema.Items, System: f.Schema.System, Kind: f.Schema.Custom}
		cat.fields[f.ID] = d
		if k := strings.ToLower(f.Name); k != "" {
			cat.byName[k] = append(cat.byName[k], d)
		}
	}
	var prios []jira.Priority
	if err := c.do(ctx, http.MethodGet, "rest/api/2/priority", nil, nil, &prios, ""); err != nil {
		return nil, fmt.Errorf("reading the priorities: %w", err)
	}
	for _, p := range prios {
		cat.priorities[strings.ToLower(p.Name)] = p.ID
		cat.prioNames = append(cat.prioNames, p.Name)
	}
	for _, key := range c.allProjects() {
		var types []wireProjectType
		if err := c.do(ctx, http.MethodGet, "rest/api/2/project/"+key+"/statuses", nil, nil, &types, ""); err != nil {
			return nil, fmt.Errorf("reading project %q's issue types and statuses: %w", key, err)
		}
		pc := &projectCatalog{issueTypes: map[string]string{}, statuses: map[string]string{}}
		for _, t := range types {
			pc.issueTypes[strings.ToLower(t.Name)] = t.ID
			pc.typeNames = append(pc.typeNames, t.Name)
			for _, s := range t.Statuses {
				pc.statuses[strings.ToLower(s.Name)] = s.Name
			}
		}
		cat.projects[key] = pc
	}
	return cat, nil
}

// catalogue returns the loaded catalogue, loading it on first need (a
// create or field write before CheckMappings ran).
func (c *Connector) catalogue(ctx context.Context) (*catalog, error) {
	return c.cat.Get(ctx, c.loadCatalog)
}

// reservedFields are Action.Fields keys with a meaning of their own.
var reservedFields = []string{"project", "issue_type", "priority", "components", "assignee", "labels"}

func isReserved(name string) bool { return slices.Contains(reservedFields, strings.ToLower(name)) }

// CheckMappings resolves every name the mappings use for this instance —
// statuses of dev_ticket and change_ticket, priorities, issue types and
// projects in create defaults, field names in field maps, create defaults
// and the rules' create and set_fields actions — against this Jira, and
// keeps the ids for writing. It fails with one error naming everything it
// could not find (and what exists instead), or with the request error when
// Jira cannot be read.
func (c *Connector) CheckMappings(ctx context.Context, m *core.Mappings) error {
	cat, err := c.cat.Reload(ctx, c.loadCatalog)
	if err != nil {
		return fmt.Errorf("jira %q: checking the mappings: %w", c.name, err)
	}
	c.maps.Store(m)
	if m == nil {
		return nil
	}
	var missing []string
	if sm := m.Systems[c.name]; sm != nil {
		for _, kind := range slices.Sorted(maps.Keys(sm.Kinds)) {
			missing = append(missing, c.checkKind(cat, kind, sm.Kinds[kind])...)
		}
		bad, err := c.checkResolutions(ctx, sm)
		if err != nil {
			return fmt.Errorf("jira %q: checking the mappings: %w", c.name, err)
		}
		missing = append(missing, bad...)
	}
	for _, r := range m.Rules {
		for _, spec := range r.Then {
			if spec.Kind != core.Create && spec.Kind != core.SetFields {
				continue
			}
			ours := spec.Target.System == c.name ||
				(spec.Target.System == "" && spec.Target.Kind == "" && r.When.System == c.name)
			if !ours {
				continue
			}
			for _, name := range slices.Sorted(maps.Keys(spec.Fields)) {
				if isReserved(name) {
					continue
				}
				if _, ok, err := cat.resolveField(name); err != nil {
					missing = append(missing, fmt.Sprintf("rule %q (%s): field %v", r.Name, spec.Pos, err))
				} else if !ok {
					missing = append(missing, fmt.Sprintf("rule %q (%s): field %q does not exist", r.Name, spec.Pos, name))
				}
			}
		}
	}
	// Every other name the rules read may be another system's; it must
	// not be ambiguous here all the same.
	for _, name := range m.FieldNames {
		if _, _, err := cat.resolveField(name); err != nil && !slices.ContainsFunc(missing, func(s string) bool { return strings.Contains(s, err.Error()) }) {
			missing = append(missing, "field "+err.Error())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("jira %q: the mappings name what this Jira does not have:\n  - %s", c.name, strings.Join(missing, "\n  - "))
}

// checkResolutions reads this Jira's resolutions when the mappings say
// what resolutions mean, and names each one they list that Jira does not
// have: a misspelt "Cannot Reproduce" would otherwise never match, and
// a ticket closed with it would read as closed without an outcome.
func (c *Connector) checkResolutions(ctx context.Context, sm *core.SystemMap) ([]string, error) {
	listed := false
	for _, km := range sm.Kinds {
		listed = listed || len(km.Outcomes) > 0
	}
	if !listed {
		return nil, nil
	}
	var site []struct {
		Name string `json:"name"`
	}
	if err := c.do(ctx, http.MethodGet, "rest/api/2/resolution", nil, nil, &site, ""); err != nil {
		return nil, fmt.Errorf("reading the resolutions: %w", err)
	}
	known := map[string]bool{}
	var names []string
	for _, r := range site {
		known[strings.ToLower(r.Name)] = true
		names = append(names, r.Name)
	}
	var out []string
	for _, kind := range slices.Sorted(maps.Keys(sm.Kinds)) {
		for _, n := range slices.Sorted(maps.Keys(sm.Kinds[kind].Outcomes)) {
			if !known[n] {
				out = append(out, fmt.Sprintf("%s resolution %q: no such resolution (known: %s)", kind, n, quoteList(names)))
			}
		}
	}
	return out, nil
}

func (c *Connector) checkKind(cat *catalog, kind core.Kind, km *core.KindMap) []string {
	projects := c.projectsOf(kind)
	if kind != core.DevTicket && kind != core.ChangeTicket {
		return []string{fmt.Sprintf("kind %q: jira holds %s and %s", kind, core.DevTicket, core.ChangeTicket)}
	}
	if len(projects) == 0 {
		return []string{fmt.Sprintf("%s: no project holds them (set projects.%s in the jira config)", kind, map[core.Kind]string{core.DevTicket: "dev", core.ChangeTicket: "change"}[kind])}
	}
	var out []string
	// Statuses: every native name, compared case-insensitively.
	known := map[string]string{}
	for _, p := range projects {
		if pc := cat.projects[p]; pc != nil {
			maps.Copy(known, pc.statuses)
		}
	}
	for _, n := range nativeNames(km.Statuses, km.Native) {
		if _, ok := known[n]; !ok {
			out = append(out, fmt.Sprintf("%s status %q: not in project %s (known: %s)", kind, n, strings.Join(projects, ", "), quoteList(slices.Sorted(maps.Values(known)))))
		}
	}
	for _, n := range nativeNames(km.Priorities, km.NativePrio) {
		if _, ok := cat.priorities[n]; !ok {
			out = append(out, fmt.Sprintf("%s priority %q: no such priority (known: %s)", kind, n, quoteList(cat.prioNames)))
		}
	}
	for _, canon := range slices.Sorted(maps.Keys(km.Fields)) {
		n := km.Fields[canon]
		if isReserved(n) {
			continue
		}
		if _, ok, err := cat.resolveField(n); err != nil {
			out = append(out, fmt.Sprintf("%s field %v (for %q)", kind, err, canon))
		} else if !ok {
			out = append(out, fmt.Sprintf("%s field %q (for %q): no such field", kind, n, canon))
		}
	}
	project := km.Create["project"]
	if project != "" && !slices.Contains(projects, project) {
		out = append(out, fmt.Sprintf("%s create project %q: not a project of %s (configured: %s)", kind, project, kind, strings.Join(projects, ", ")))
	}
	if project == "" || !slices.Contains(projects, project) {
		project = projects[0]
	}
	for _, k := range slices.Sorted(maps.Keys(km.Create)) {
		v := km.Create[k]
		switch strings.ToLower(k) {
		case "project", "components", "assignee", "labels":
		case "issue_type":
			pc := cat.projects[project]
			if pc == nil {
				break
			}
			if _, ok := pc.issueTypes[strings.ToLower(v)]; !ok {
				out = append(out, fmt.Sprintf("%s create issue_type %q: not in project %s (known: %s)", kind, v, project, quoteList(pc.typeNames)))
			}
		case "priority":
			if _, ok := cat.priorities[strings.ToLower(v)]; !ok && !strings.Contains(v, "{{") {
				out = append(out, fmt.Sprintf("%s create priority %q: no such priority (known: %s)", kind, v, quoteList(cat.prioNames)))
			}
		default:
			if _, ok := cat.field(k); !ok {
				out = append(out, fmt.Sprintf("%s create field %q: no such field", kind, k))
			}
		}
	}
	return out
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// nativeNames is every native name a kind's mapping uses, read (the keys
// of toCanon) or written (the values of fromCanon): lower-cased, as Jira
// compares them, and sorted.
func nativeNames[V any, K comparable](toCanon map[string]V, fromCanon map[K]string) []string {
	names := map[string]bool{}
	for n := range toCanon {
		names[strings.ToLower(n)] = true
	}
	for _, n := range fromCanon {
		names[strings.ToLower(n)] = true
	}
	return slices.Sorted(maps.Keys(names))
}

package mantis

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// catalog holds what the mappings' names resolve to on this Mantis: the
// configured projects (their ids, categories and linked custom fields) and
// the installation's enumerations. Names are kept lower-cased, as Mantis
// compares them. It is immutable once loaded; a reload swaps it whole.
type catalog struct {
	projects map[string]*projectCatalog // by lower-cased name
	enums    map[string][]string        // option ("status") → API names
}

type projectCatalog struct {
	id         int64
	name       string
	categories []string
	fields     map[string]wireCustomField // by lower-cased name
}

// has reports whether an enumeration holds name.
func (cat *catalog) has(option, name string) bool {
	return slices.ContainsFunc(cat.enums[option], func(n string) bool { return strings.EqualFold(n, name) })
}

// enumOptions are the enumerations read from GET /config.
var enumOptions = []string{"status", "resolution", "priority", "severity", "reproducibility"}

// loadCatalog reads the projects the API user sees (GET /projects, with
// their categories and custom fields, sub-projects flattened) and the
// enumerations (one GET /config): two requests.
func (c *Connector) loadCatalog(ctx context.Context) (*catalog, error) {
	var projects *wireProjects
	if err := c.do(ctx, http.MethodGet, "projects", nil, nil, func(b []byte) (err error) {
		projects, err = decodeProjects(b)
		return err
	}); err != nil {
		return nil, fmt.Errorf("reading projects: %w", err)
	}
	cat := &catalog{projects: map[string]*projectCatalog{}, enums: map[string][]string{}}
	for _, p := range projects.Projects {
		pc := &projectCatalog{id: p.ID, name: p.Name, fields: map[string]wireCustomField{}}
		for _, cg := range p.Categories {
			pc.categories = append(pc.categories, cg.Name)
		}
		for _, f := range p.CustomFields {
			pc.fields[strings.ToLower(f.Name)] = f
		}
		cat.projects[strings.ToLower(p.Name)] = pc
	}
	q := url.Values{}
	for _, o := range enumOptions {
		q.Add("option[]", o+"_enum_string")
	}
	var body []byte
	if err := c.do(ctx, http.MethodGet, "config", q, nil, func(b []byte) error {
		body = b
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading the status, resolution and priority lists: %w", err)
	}
	enums, err := decodeEnums(body, q["option[]"]...)
	if err != nil {
		return nil, fmt.Errorf("reading the enumerations: %w", err)
	}
	for _, o := range enumOptions {
		cat.enums[o] = enums[o+"_enum_string"]
	}
	return cat, nil
}

// catalogue returns the loaded catalogue, loading it on first need.
func (c *Connector) catalogue(ctx context.Context) (*catalog, error) {
	return c.cat.Get(ctx, c.loadCatalog)
}

// reservedFields are Action.Fields keys that are Mantis's own fields, not
// custom fields.
var reservedFields = []string{fieldProject, fieldCategory, "priority", fieldSeverity, fieldReproducibility,
	"handler", fieldViewState, fieldSteps, fieldAdditional, fieldResolution}

func isReserved(name string) bool { return slices.Contains(reservedFields, strings.ToLower(name)) }

// CheckMappings loads the catalogue afresh and checks the names the
// mappings use for this system against it: the configured projects exist
// and have the marker field, each kind's statuses and priorities are in
// Mantis's lists, and the fields rules create or set with are custom
// fields of the kind's projects (or Mantis's own). The error lists every
// missing name.
func (c *Connector) CheckMappings(ctx context.Context, m *core.Mappings) error {
	cat, err := c.cat.Reload(ctx, c.loadCatalog)
	if err != nil {
		return fmt.Errorf("mantis %q: checking the mappings: %w", c.name, err)
	}
	c.maps.Store(m)
	var missing []string
	for _, p := range c.projects {
		pc := cat.projects[strings.ToLower(p)]
		if pc == nil {
			missing = append(missing, fmt.Sprintf("project %q: not found, or the API user cannot see it (known: %s)", p, quoteList(projectNames(cat))))
			continue
		}
		if _, ok := pc.fields[strings.ToLower(c.cfg.MarkerField)]; !ok {
			missing = append(missing, fmt.Sprintf("project %q: custom field %q (marker_field) is not linked to it", p, c.cfg.MarkerField))
		}
	}
	for st, res := range c.resolution {
		if !cat.has("status", st) {
			missing = append(missing, fmt.Sprintf("resolutions: status %q is not in Mantis's status list (known: %s)", st, quoteList(cat.enums["status"])))
		}
		if !cat.has("resolution", res) {
			missing = append(missing, fmt.Sprintf("resolutions: resolution %q is not in Mantis's list (known: %s)", res, quoteList(cat.enums["resolution"])))
		}
	}
	if m != nil {
		if sm := m.Systems[c.name]; sm != nil {
			for _, kind := range slices.Sorted(maps.Keys(sm.Kinds)) {
				missing = append(missing, c.checkKind(cat, kind, sm.Kinds[kind])...)
			}
		}
		for _, kind := range []core.Kind{core.DevTicket, core.ChangeTicket} {
			for _, name := range m.FieldsWritten(c.name, kind) {
				if !isReserved(name) && !c.hasField(cat, kind, name) {
					missing = append(missing, fmt.Sprintf("%s field %q (written by a rule): not a custom field of %s", kind, name, strings.Join(c.projectsOf(kind), ", ")))
				}
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return fmt.Errorf("mantis %q: the mappings name what this Mantis does not have:\n  - %s", c.name, strings.Join(missing, "\n  - "))
}

// hasField reports whether every project of kind has the custom field.
func (c *Connector) hasField(cat *catalog, kind core.Kind, name string) bool {
	projects := c.projectsOf(kind)
	for _, p := range projects {
		pc := cat.projects[strings.ToLower(p)]
		if pc == nil {
			return false
		}
		if _, ok := pc.fields[strings.ToLower(name)]; !ok {
			return false
		}
	}
	return len(projects) > 0
}

func (c *Connector) checkKind(cat *catalog, kind core.Kind, km *core.KindMap) []string {
	if kind != core.DevTicket && kind != core.ChangeTicket {
		return []string{fmt.Sprintf("kind %q: mantis holds %s and %s", kind, core.DevTicket, core.ChangeTicket)}
	}
	if len(c.projectsOf(kind)) == 0 {
		return []string{fmt.Sprintf("%s: no project holds them (set projects.%s in the mantis config)", kind, map[core.Kind]string{core.DevTicket: "dev", core.ChangeTicket: "change"}[kind])}
	}
	var out []string
	check := func(option, what string, names []string) {
		for _, n := range names {
			if !cat.has(option, n) {
				out = append(out, fmt.Sprintf("%s %s %q: not in Mantis's list (known: %s)", kind, what, n, quoteList(cat.enums[option])))
			}
		}
	}
	check("status", "status", namesOf(slices.Collect(maps.Keys(km.Statuses)), slices.Collect(maps.Values(km.Native))))
	check("priority", "priority", namesOf(slices.Collect(maps.Keys(km.Priorities)), slices.Collect(maps.Values(km.NativePrio))))
	for _, canon := range slices.Sorted(maps.Keys(km.Fields)) {
		if n := km.Fields[canon]; !isReserved(n) && !c.hasField(cat, kind, n) {
			out = append(out, fmt.Sprintf("%s field %q (for %q): not a custom field of %s", kind, n, canon, strings.Join(c.projectsOf(kind), ", ")))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(km.Create)) {
		v := km.Create[k]
		if strings.Contains(v, "{{") {
			continue // a template: known only when the action is planned
		}
		switch strings.ToLower(k) {
		case fieldProject:
			if _, ok := c.kindOf(v); !ok {
				out = append(out, fmt.Sprintf("%s create project %q: not a project of %s (configured: %s)", kind, v, kind, strings.Join(c.projectsOf(kind), ", ")))
			}
		case "priority", fieldSeverity, fieldReproducibility:
			check(strings.ToLower(k), "create "+strings.ToLower(k), []string{v})
		case fieldCategory:
			for _, p := range c.projectsOf(kind) {
				if pc := cat.projects[strings.ToLower(p)]; pc != nil && !slices.ContainsFunc(pc.categories, func(n string) bool { return strings.EqualFold(n, v) }) {
					out = append(out, fmt.Sprintf("%s create category %q: not in project %q (known: %s)", kind, v, p, quoteList(pc.categories)))
				}
			}
		}
	}
	return out
}

// namesOf joins name lists, lower-cased, without repeats, sorted.
func namesOf(lists ...[]string) []string {
	seen := map[string]bool{}
	for _, l := range lists {
		for _, n := range l {
			seen[strings.ToLower(n)] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

func projectNames(cat *catalog) []string {
	var out []string
	for _, pc := range cat.projects {
		out = append(out, pc.name)
	}
	slices.Sort(out)
	return out
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return fmt.Sprintf("%q", names)
}

package zendesk

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// catalog is the account's ticket fields, forms and groups, by id and by
// title, so that mappings can name them as admins see them.
type catalog struct {
	fields       map[int64]*ticketField
	fieldByTitle map[string][]*ticketField // lower-case title → the custom fields so titled
	forms        map[string]int64          // lower-case name
	formNames    map[int64]string
	groups       map[string]int64
	groupNames   map[int64]string
	// noForms says why the account has no ticket forms to list (a plan
	// without them answers 403 or 404); nil when it has them.
	noForms error
	loaded  time.Time
}

type ticketField struct {
	ID                 int64  `json:"id"`
	Type               string `json:"type"`
	Title              string `json:"title"`
	Active             bool   `json:"active"`
	CustomFieldOptions []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"custom_field_options"`
}

// systemFieldTypes are the built-in ticket fields; everything else in
// /ticket_fields is a custom field whose value sits in custom_fields.
var systemFieldTypes = map[string]bool{
	"subject": true, "description": true, "status": true, "tickettype": true,
	"priority": true, "group": true, "assignee": true, "custom_status": true,
	"brand": true, "requester": true,
}

func (f *ticketField) custom() bool { return !systemFieldTypes[f.Type] }

// option returns the tag value of a drop-down option named or valued v.
func (f *ticketField) option(v string) (string, bool) {
	for _, o := range f.CustomFieldOptions {
		if strings.EqualFold(o.Value, v) || strings.EqualFold(o.Name, v) {
			return o.Value, true
		}
	}
	return "", false
}

// field returns a custom field by title, as core.MatchNamed matches names:
// the exact title, else the one title equal without case; nil when there
// is none, or when two titles differ only in case (CheckMappings reports
// those with both titles).
func (k *catalog) field(title string) *ticketField {
	f, _ := k.resolveField(title)
	return f
}

// resolveField is field with the reason a title is ambiguous. Of two
// fields with the very same title, the active one is taken.
func (k *catalog) resolveField(title string) (*ticketField, error) {
	if k == nil {
		return nil, nil
	}
	got, err := core.MatchNamed(title, k.fieldByTitle[strings.ToLower(strings.TrimSpace(title))], func(f *ticketField) string { return f.Title })
	var best *ticketField
	for _, f := range got {
		if best == nil || (!best.Active && f.Active) {
			best = f
		}
	}
	return best, err
}

// loadCatalog reads the fields, forms and groups (three lists, each
// paginated) and keeps the result for normalising tickets.
func (c *Connector) loadCatalog(ctx context.Context) (*catalog, error) {
	k := &catalog{
		fields: map[int64]*ticketField{}, fieldByTitle: map[string][]*ticketField{},
		forms: map[string]int64{}, formNames: map[int64]string{},
		groups: map[string]int64{}, groupNames: map[int64]string{},
		loaded: c.clock.Now(),
	}
	var fields []*ticketField
	if err := c.list(ctx, "/ticket_fields.json", "ticket_fields", &fields); err != nil {
		return nil, err
	}
	for _, f := range fields {
		k.fields[f.ID] = f
		if f.custom() {
			k.fieldByTitle[strings.ToLower(f.Title)] = append(k.fieldByTitle[strings.ToLower(f.Title)], f)
		}
	}
	var forms []struct {
		apiNamed
		Active bool `json:"active"`
	}
	if err := c.list(ctx, "/ticket_forms.json", "ticket_forms", &forms); err != nil {
		// Ticket forms come with some plans only. Without them a ticket
		// has no form to read, and only a mapping that writes one needs
		// them: CheckMappings names it.
		if s := statusOf(err); s != http.StatusForbidden && s != http.StatusNotFound {
			return nil, err
		}
		k.noForms = err
	}
	for _, f := range forms {
		k.forms[strings.ToLower(f.Name)] = f.ID
		k.formNames[f.ID] = f.Name
	}
	var groups []struct {
		apiNamed
		Deleted bool `json:"deleted"`
	}
	if err := c.list(ctx, "/groups.json", "groups", &groups); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if !g.Deleted {
			k.groups[strings.ToLower(g.Name)] = g.ID
		}
		k.groupNames[g.ID] = g.Name
	}
	c.catMu.Lock()
	c.cat, c.catTried = k, k.loaded
	c.catMu.Unlock()
	return k, nil
}

// catalog returns the loaded catalog, loading it on first use. When a
// ticket names a custom field the catalog does not know (added since),
// stale is true and the catalog is reloaded, at most every five minutes.
func (c *Connector) catalog(ctx context.Context, stale bool) (*catalog, error) {
	c.catMu.Lock()
	k, tried := c.cat, c.catTried
	c.catMu.Unlock()
	if k != nil && (!stale || c.clock.Now().Sub(tried) < 5*time.Minute) {
		return k, nil
	}
	c.catMu.Lock()
	c.catTried = c.clock.Now()
	c.catMu.Unlock()
	nk, err := c.loadCatalog(ctx)
	if err != nil && k != nil {
		return k, nil // keep working with what we knew
	}
	return nk, err
}

// catalogFor returns a catalog that knows every custom field the tickets use.
func (c *Connector) catalogFor(ctx context.Context, ts ...*apiTicket) (*catalog, error) {
	k, err := c.catalog(ctx, false)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		for _, f := range t.CustomFields {
			if k.fields[f.ID] == nil {
				return c.catalog(ctx, true)
			}
		}
	}
	return k, nil
}

// list reads every page of a list endpoint into out (a pointer to a slice).
func (c *Connector) list(ctx context.Context, path, key string, out any) error {
	q := "?page[size]=100"
	var all []jsonRaw
	for pages := 0; pages < 100; pages++ {
		var page map[string]jsonRaw
		if err := c.get(ctx, path+q, &page); err != nil {
			return err
		}
		var items []jsonRaw
		if err := unmarshal(page[key], &items); err != nil {
			return fmt.Errorf("GET %s: unreadable %s: %w", path, key, err)
		}
		all = append(all, items...)
		var meta struct {
			HasMore     bool   `json:"has_more"`
			AfterCursor string `json:"after_cursor"`
		}
		_ = unmarshal(page["meta"], &meta)
		var next string
		_ = unmarshal(page["next_page"], &next)
		switch {
		case meta.HasMore && meta.AfterCursor != "":
			q = "?page[size]=100&page[after]=" + url.QueryEscape(meta.AfterCursor)
		case next != "":
			u, err := url.Parse(next)
			if err != nil || !strings.HasPrefix(u.Path, c.base.Path) {
				return fmt.Errorf("GET %s: next page outside the API", path)
			}
			path, q = strings.TrimPrefix(u.Path, c.base.Path), "?"+u.RawQuery
		default:
			return unmarshal(marshalRaw(all), out)
		}
	}
	return fmt.Errorf("GET %s: more than 100 pages", path)
}

// Names a write may use that are not custom fields (see README).
var reservedWrite = map[string]bool{
	"status": true, "priority": true, "type": true, "group": true, "form": true,
	"assignee": true, "requester": true, "requester_name": true,
	"collaborators": true, "tags": true, "remove_tags": true,
}

// Names a read fills besides custom fields.
var reservedRead = map[string]bool{"type": true, "group": true, "form": true, "org": true}

var (
	zendeskStatuses   = []string{"new", "open", "pending", "hold", "solved", "closed"}
	zendeskPriorities = []string{"low", "normal", "high", "urgent"}
	zendeskTypes      = []string{"question", "incident", "problem", "task"}
)

// nativeStatus writes the status names admins also use for "hold".
func nativeStatus(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "on-hold", "on_hold", "on hold":
		return "hold"
	}
	return s
}

// CheckMappings implements core.MappingChecker: it reads the account's
// ticket fields, forms and groups (also refreshing the catalog used to name
// custom fields) and checks every title, status, priority and type the
// mappings and the config use for this instance. The error names each
// missing one and where it is used.
func (c *Connector) CheckMappings(ctx context.Context, m *core.Mappings) error {
	k, err := c.loadCatalog(ctx)
	if err != nil {
		return fmt.Errorf("zendesk %q: reading ticket fields, forms and groups: %w", c.name, err)
	}
	var probs []string
	add := func(format string, args ...any) {
		p := fmt.Sprintf(format, args...)
		if !slices.Contains(probs, p) {
			probs = append(probs, p)
		}
	}
	missingField := false
	// checkField reports a custom field name that matches no field, or
	// several that differ only in case.
	checkField := func(name, where string) {
		switch f, err := k.resolveField(name); {
		case err != nil:
			add("custom field %v (%s)", err, where)
		case f == nil:
			add("custom field %q not found (%s)", name, where)
			missingField = true
		}
	}
	checkWrite := func(key, value, where string) {
		lk := strings.ToLower(strings.TrimSpace(key))
		literal := value != "" && !strings.Contains(value, "{{")
		switch lk {
		case "group":
			if literal && k.groups[strings.ToLower(value)] == 0 {
				add("group %q not found (%s)", value, where)
			}
		case "form":
			switch {
			case !literal:
			case k.noForms != nil:
				add("ticket form %q: this account has no ticket forms (a plan without them: %v) (%s)", value, k.noForms, where)
			case k.forms[strings.ToLower(value)] == 0:
				add("ticket form %q not found (%s)", value, where)
			}
		case "type":
			if literal && !slices.Contains(zendeskTypes, strings.ToLower(value)) {
				add("ticket type %q is not one of %s (%s)", value, strings.Join(zendeskTypes, ", "), where)
			}
		case "priority":
			if literal && !slices.Contains(zendeskPriorities, strings.ToLower(value)) {
				add("priority %q is not one of %s (%s)", value, strings.Join(zendeskPriorities, ", "), where)
			}
		case "status":
			if literal && !slices.Contains(zendeskStatuses, nativeStatus(value)) {
				add("status %q is not one of %s (%s)", value, strings.Join(zendeskStatuses, ", "), where)
			}
		default:
			if !reservedWrite[lk] {
				checkField(key, where)
			}
		}
	}

	if km := m.Kind(c.name, core.CustomerTicket); km != nil {
		for _, canon := range sortedKeys(km.Fields) {
			native := km.Fields[canon]
			if reservedRead[strings.ToLower(native)] || reservedWrite[strings.ToLower(native)] {
				continue
			}
			checkField(native, "fields."+canon)
		}
		for _, key := range sortedKeys(km.Create) {
			checkWrite(key, km.Create[key], "create."+key)
		}
		for _, native := range sortedKeys(km.Statuses) {
			if !slices.Contains(zendeskStatuses, nativeStatus(native)) {
				add("status %q is not one of %s (statuses)", native, strings.Join(zendeskStatuses, ", "))
			}
		}
		for _, native := range sortedKeys(km.Priorities) {
			if !slices.Contains(zendeskPriorities, strings.ToLower(native)) {
				add("priority %q is not one of %s (priorities)", native, strings.Join(zendeskPriorities, ", "))
			}
		}
	}
	for _, r := range m.Rules {
		for _, a := range r.Then {
			if a.Kind != core.Create && a.Kind != core.SetFields {
				continue
			}
			sel := a.Target
			if sel == (core.Selector{}) {
				sel = r.When
			}
			if !c.selects(m, sel) {
				continue
			}
			for _, key := range sortedKeys(a.Fields) {
				src := ""
				if t := a.Fields[key]; t != nil {
					src = t.Source
				}
				checkWrite(key, src, fmt.Sprintf("rule %q at %s", r.Name, a.Pos))
			}
		}
	}
	// Every other name the rules read may be another system's; it must
	// not be ambiguous here all the same.
	for _, name := range m.FieldNames {
		if _, err := k.resolveField(name); err != nil && !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, err.Error()) }) {
			add("custom field %v (read by the rules)", err)
		}
	}
	for _, f := range c.cfg.Fields {
		if k.field(f) == nil {
			add("custom field %q not found (config fields)", f)
			missingField = true
		}
	}
	if c.cfg.LinkField != "" && k.field(c.cfg.LinkField) == nil {
		add("custom field %q not found (config link_field)", c.cfg.LinkField)
		missingField = true
	}
	for _, f := range c.cfg.Forms {
		switch {
		case k.noForms != nil:
			add("ticket form %q: this account has no ticket forms (a plan without them: %v) (config forms)", f, k.noForms)
		case k.forms[strings.ToLower(f)] == 0:
			add("ticket form %q not found (config forms)", f)
		}
	}
	for _, g := range c.cfg.Groups {
		if k.groups[strings.ToLower(g)] == 0 {
			add("group %q not found (config groups)", g)
		}
	}
	if len(probs) > 0 {
		msg := fmt.Sprintf("zendesk %q: the mappings name what the account does not have:\n  %s",
			c.name, strings.Join(probs, "\n  "))
		if missingField {
			msg += "\n  (custom fields in the account: " + quoteList(k.customTitles(), 20) + ")"
		}
		return fmt.Errorf("%s", msg)
	}
	c.mappings.Store(m)
	return nil
}

// selects reports whether an action target selector can name this
// instance's customer tickets.
func (c *Connector) selects(m *core.Mappings, s core.Selector) bool {
	if s.Kind != "" && s.Kind != core.CustomerTicket {
		return false
	}
	if s.System == c.name {
		return true
	}
	return s.System == "" && s.Kind == core.CustomerTicket && m.Kind(c.name, core.CustomerTicket) != nil
}

func (k *catalog) customTitles() []string {
	var out []string
	for _, fs := range k.fieldByTitle {
		for _, f := range fs {
			if !slices.Contains(out, f.Title) {
				out = append(out, f.Title)
			}
		}
	}
	sort.Strings(out)
	return out
}

func quoteList(s []string, max int) string {
	if len(s) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, v := range s {
		if i == max {
			fmt.Fprintf(&b, ", … %d more", len(s)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", v)
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

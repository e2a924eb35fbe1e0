package mappings

import (
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"text/template/parse"

	"github.com/liaisonhq/liaison/core"
)

// eventTypes are the event types a rule's seen list may name (core's
// constants; core has no list of them).
var eventTypes = []core.EventType{
	core.Created, core.Updated, core.Deleted, core.Commented, core.StatusChange,
	core.Opened, core.Reopened, core.Merged, core.ClosedUnmerged, core.Approved,
	core.ChangesRequested, core.Pushed, core.Mailed, core.Bounced,
}

// roles are the link roles a pattern, create or link action may name.
var roles = []core.Role{core.EscalatedTo, core.Fixes, core.ChangeFor, core.ThreadOf, core.DuplicateOf, core.Mentions}

var policies = []core.SyncPolicy{core.OwnerA, core.OwnerB, core.LastWriter}

// sandboxConnector is the connector kind of the in-process stand-ins
// (connectors/sandbox); a system configured with it matches any connector
// the mappings name.
const sandboxConnector = "sandbox"

// validName is what rule, link and sync names may look like: they become
// part of action keys and log lines, so no spaces or separators.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// compiler validates raw files and builds the core types. It reports every
// problem it finds and goes on, so a load lists them all.
type compiler struct {
	d     *diags
	opts  Options
	m     *core.Mappings
	funcs map[string]any
	x     *extras

	names map[string]map[string]namePlace // name space (see nameSpace) → name → where
	order map[*core.KindMap][]string      // native statuses as listed, for hints
	prios map[*core.KindMap][]string      // native priorities as listed
	// kindPos is where each system's kinds are described.
	kindPos map[string]map[core.Kind]core.Pos
	connBad map[string]bool // a connector value of the wrong type was reported
	// unconfigured are the systems the mappings describe and the
	// configuration does not run; load disables them.
	unconfigured map[string]core.Pos
	// stepNode is the budget step meterRanges copies into every range,
	// parsed once per compile.
	stepNode parse.Node
}

func newCompiler(d *diags, opts Options) *compiler {
	m := &core.Mappings{Systems: map[string]*core.SystemMap{}, Source: opts.Source}
	x := &extras{m: m, checklists: map[string][]checkItem{}}
	return &compiler{d: d, opts: opts, m: m, x: x, funcs: templateFuncs(x), names: map[string]map[string]namePlace{},
		order: map[*core.KindMap][]string{}, prios: map[*core.KindMap][]string{},
		kindPos: map[string]map[core.Kind]core.Pos{}, connBad: map[string]bool{}, unconfigured: map[string]core.Pos{}}
}

func (c *compiler) errf(p core.Pos, format string, args ...any) { c.d.add(p, format, args...) }

// compile builds the mappings from every file's documents: systems first
// (the rest refers to them, in any file), then the rest in file order.
func (c *compiler) compile(files []rawFile) {
	for _, f := range files {
		for _, e := range f.Systems.Entries {
			c.system(e.Key, e.Val)
		}
	}
	// An instance described in several places needs its connector once.
	for name, sm := range c.m.Systems {
		if sm.Connector == "" && !c.connBad[name] {
			c.errf(sm.Pos, "system %q: missing connector: add connector: <kind> (e.g. connector: %s)", name, guessConnector(name))
		}
	}
	c.misnamed()
	// The calendar and the checklists next: sla and rules use them.
	c.calendars(files)
	c.checklists(files)
	for _, f := range files {
		for _, l := range f.Links.Items {
			if p := c.pattern(l); p != nil {
				c.m.Patterns = append(c.m.Patterns, p)
			}
		}
		for _, r := range f.Rules.Items {
			if rule := c.rule(r); rule != nil {
				c.m.Rules = append(c.m.Rules, rule)
			}
		}
		for _, s := range f.Sync.Items {
			if sr := c.sync(s); sr != nil {
				c.m.Sync = append(c.m.Sync, sr)
			}
		}
		for _, s := range f.SLA.Items {
			if sla := c.sla(s); sla != nil {
				c.m.SLAs = append(c.m.SLAs, sla)
			}
		}
		for _, d := range f.Duplicates.Items {
			if dr := c.duplicate(d); dr != nil {
				c.m.Duplicates = append(c.m.Duplicates, dr)
			}
		}
	}
	c.levels(files)
	var people []rawPerson
	for _, f := range files {
		people = append(people, f.People.Items...)
	}
	c.people(people)
	c.m.FieldNames = c.fieldNames()
}

// fieldCall finds the literal names rules give to Field, in templates
// (.Item.Field "Steps to reproduce") and expressions (Item.Field("org")).
var fieldCall = regexp.MustCompile(`\bField\s*\(?\s*"((?:[^"\\]|\\.)*)"`)

// builtinSources are the checklist sources that are not fields.
var builtinSources = []string{"title", "summary", "body", "description", "priority", "reporter", "assignee"}

// canonicalField reports whether name is a canonical field name of some
// kind (a checklist names fields that way too).
func (c *compiler) canonicalField(name string) bool {
	for _, sm := range c.m.Systems {
		for _, km := range sm.Kinds {
			if _, ok := km.Fields[name]; ok {
				return true
			}
		}
	}
	return false
}

// fieldNames lists every field name the mappings use (Mappings.FieldNames).
func (c *compiler) fieldNames() []string {
	names := map[string]bool{}
	add := func(n string) {
		if n = strings.TrimSpace(n); n != "" {
			names[n] = true
		}
	}
	scan := func(src string) {
		for _, m := range fieldCall.FindAllStringSubmatch(src, -1) {
			add(m[1])
		}
	}
	for _, sm := range c.m.Systems {
		for _, km := range sm.Kinds {
			for _, n := range km.Fields {
				add(n)
			}
		}
	}
	for _, items := range c.x.checklists {
		for _, it := range items {
			for _, src := range it.sources {
				if !slices.Contains(builtinSources, strings.ToLower(src)) && !c.canonicalField(src) && !strings.HasPrefix(src, textSource) {
					add(src)
				}
			}
		}
	}
	specs := func(list []*core.ActionSpec) {
		for _, a := range list {
			for k, t := range a.Fields {
				add(k)
				scan(t.Source)
			}
			for _, t := range append([]*core.Text{a.Title, a.Body, a.To}, a.Labels...) {
				if t != nil {
					scan(t.Source)
				}
			}
			if a.If != nil {
				scan(a.If.Source)
			}
		}
	}
	for _, r := range c.m.Rules {
		if r.If != nil {
			scan(r.If.Source)
		}
		specs(r.Then)
	}
	for _, s := range c.m.SLAs {
		specs(s.Breach)
	}
	for _, d := range c.m.Duplicates {
		if d.If != nil {
			scan(d.If.Source)
		}
		specs(d.Then)
	}
	return slices.Sorted(maps.Keys(names))
}

// namePlace is where a name was first given, and to what.
type namePlace struct {
	what string
	pos  core.Pos
}

// nameSpace is the set of names what shares with others: rules, sla and
// duplicate rules name the actions they plan (their action keys start
// with the name), so one name must not serve two of them.
func nameSpace(what string) string {
	switch what {
	case "rule", "sla", "duplicates entry":
		return "rule"
	}
	return what
}

// claim records a name of a rule, link, sync, sla or duplicate rule,
// reporting a duplicate.
func (c *compiler) claim(what string, name str, at core.Pos) bool {
	if name.Bad {
		return false
	}
	if !name.Set || name.V == "" {
		c.errf(at, "%s without a name: add name: <%s-name> (names appear in logs and in `liaison why`)", what, strings.ReplaceAll(what, " ", "-"))
		return false
	}
	if !validName.MatchString(name.V) {
		c.errf(name.Pos, "%s name %q may hold only letters, digits, '-', '_' and '.'", what, name.V)
		return false
	}
	ns := nameSpace(what)
	seen := c.names[ns]
	if seen == nil {
		seen = map[string]namePlace{}
		c.names[ns] = seen
	}
	if first, dup := seen[name.V]; dup {
		switch {
		case first.what == what && what == "duplicates entry":
			c.errf(name.Pos, "two duplicates entries are named %q (the first at %s): give each its own name", name.V, first.pos)
		case first.what == what:
			c.errf(name.Pos, "duplicate %s name %q (first defined at %s): give each %s its own name", what, name.V, first.pos, what)
		default:
			c.errf(name.Pos, "%s name %q is the name of a %s already (at %s): rules, sla and duplicates entries share names, since the names key the actions they take", what, name.V, first.what, first.pos)
		}
		return false
	}
	seen[name.V] = namePlace{what: what, pos: name.Pos}
	return true
}

// ---- systems ----

// system adds one systems entry. An instance may be described in several
// files (its kinds split between them); each kind only once.
func (c *compiler) system(key str, raw rawSystem) {
	name := key.V
	prefix := fmt.Sprintf("system %q: ", name)
	if name == "" || strings.Contains(name, "/") {
		c.errf(key.Pos, "system name %q must be a non-empty instance name without '/'", name)
		return
	}
	sm, seen := c.m.Systems[name]
	if raw.Connector.Bad {
		c.connBad[name] = true
	}
	if seen && sm.Connector != "" && raw.Connector.V != "" && sm.Connector != raw.Connector.V {
		c.errf(raw.Connector.Pos, "%sconnector %q differs from %q given before: an instance has one connector", prefix, raw.Connector.V, sm.Connector)
	}
	if !seen {
		sm = &core.SystemMap{Name: name, Kinds: map[core.Kind]*core.KindMap{}, Pos: key.Pos}
		c.m.Systems[name] = sm
		c.kindPos[name] = map[core.Kind]core.Pos{}
		if _, ok := c.opts.Systems[name]; c.opts.Systems != nil && !ok {
			// Disabled (load drops what names it), unless an instance of
			// the same connector runs under another name: that is a
			// misnaming, not a system the team does without.
			c.unconfigured[name] = key.Pos
		}
	}
	if sm.Connector == "" && raw.Connector.V != "" {
		sm.Connector = raw.Connector.V
		// The sandbox connector stands in for any tracker, under the
		// real instance names, so that the same mappings drive it.
		if kind, ok := c.opts.Systems[name]; ok && kind != raw.Connector.V && kind != sandboxConnector {
			c.errf(raw.Connector.Pos, "%sthe mappings say connector %q but the configuration runs it with connector %q", prefix, raw.Connector.V, kind)
		}
	}
	if len(raw.Kinds.Entries) == 0 && !raw.Kinds.Bad && !seen {
		c.errf(key.Pos, "%sno kinds: add kinds: {<kind>: {statuses: ...}} (known kinds: %s)", prefix, quoteList(core.Kinds))
	}
	for _, e := range raw.Kinds.Entries {
		k := core.Kind(e.Key.V)
		if !k.Known() {
			c.errf(e.Key.Pos, "%sunknown kind %q (known: %s)%s", prefix, e.Key.V, quoteList(core.Kinds), suggest(e.Key.V, core.Kinds))
			continue
		}
		if first, dup := c.kindPos[name][k]; dup {
			c.errf(e.Key.Pos, "%skind %q is already described at %s: describe each kind in one place", prefix, k, first)
			continue
		}
		c.kindPos[name][k] = e.Key.Pos
		km := c.kind(fmt.Sprintf("%skind %q: ", prefix, k), e.Val)
		km.Projects = c.opts.Projects[name][k]
		for _, cr := range e.Val.Create.Entries {
			if cr.Key.V == "project" && c.opts.Projects != nil && !slices.Contains(km.Projects, cr.Val.V) {
				c.errf(cr.Val.Pos, "%skind %q: create project %q is not a project of %s/%s in the configuration (configured: %s): remove it to use the first configured one, or configure it", prefix, k, cr.Val.V, name, k, orNone(km.Projects))
			}
		}
		sm.Kinds[k] = km
	}
}

// misnamed refuses an unconfigured system whose connector runs under
// another name that the mappings do not describe: the admin renamed the
// instance, and disabling the system would quietly drop its rules.
func (c *compiler) misnamed() {
	for _, name := range slices.Sorted(maps.Keys(c.unconfigured)) {
		sm := c.m.Systems[name]
		for _, inst := range slices.Sorted(maps.Keys(c.opts.Systems)) {
			if _, described := c.m.Systems[inst]; !described && c.opts.Systems[inst] == sm.Connector {
				c.errf(c.unconfigured[name], "system %q: not configured, but instance %q runs its connector %q: name the instance %q in the configuration, or the system %q in the mappings",
					name, inst, sm.Connector, name, inst)
			}
		}
	}
}

// unconfiguredSet returns the systems the mappings describe that the
// configuration does not run.
func (c *compiler) unconfiguredSet() map[string]bool {
	out := map[string]bool{}
	for name := range c.unconfigured {
		out[name] = true
	}
	return out
}

func guessConnector(name string) string {
	for _, k := range []string{"jira", "github", "zendesk", "imap"} {
		if strings.Contains(strings.ToLower(name), k) {
			return k
		}
	}
	return "jira"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func (c *compiler) kind(prefix string, raw rawKind) *core.KindMap {
	km := &core.KindMap{
		Statuses:   map[string]core.Status{},
		Native:     map[core.Status]string{},
		Priorities: map[string]string{},
		NativePrio: map[string]string{},
		Fields:     map[string]string{},
		Create:     map[string]string{},
	}
	spelled := map[string]string{} // lower-case native → as listed
	for _, e := range raw.Statuses.Entries {
		native, lower := e.Key.V, strings.ToLower(e.Key.V)
		if native == "" {
			c.errf(e.Key.Pos, "%sempty native status name", prefix)
			continue
		}
		if _, dup := km.Statuses[lower]; dup {
			c.errf(e.Key.Pos, "%snative status %q is listed twice (native statuses compare without case)", prefix, native)
			continue
		}
		st := core.Status(e.Val.V)
		if !st.Known() {
			c.errf(e.Val.Pos, "%sunknown canonical status %q for native status %q (canonical: %s)%s", prefix, e.Val.V, native, quoteList(core.Statuses), suggest(e.Val.V, core.Statuses))
			continue
		}
		km.Statuses[lower] = st
		spelled[lower] = native
		km.Listed = append(km.Listed, native)
		c.order[km] = append(c.order[km], native)
		if _, ok := km.Native[st]; !ok {
			km.Native[st] = native
		}
	}
	for _, e := range raw.WriteStatus.Entries {
		st := core.Status(e.Key.V)
		if !st.Known() {
			c.errf(e.Key.Pos, "%swrite_status: unknown canonical status %q (canonical: %s)%s", prefix, e.Key.V, quoteList(core.Statuses), suggest(e.Key.V, core.Statuses))
			continue
		}
		got, listed := km.Statuses[strings.ToLower(e.Val.V)]
		switch {
		case !listed:
			c.errf(e.Val.Pos, "%swrite_status: native status %q is not in statuses (known: %s): list it there first", prefix, e.Val.V, quoteList(nativeNames(raw.Statuses)))
		case got != st:
			c.errf(e.Val.Pos, "%swrite_status: native status %q maps to %q, not %q: writing it would not reach %q", prefix, e.Val.V, got, st, st)
		default:
			km.Native[st] = spelled[strings.ToLower(e.Val.V)]
		}
	}
	prioSpelled := map[string]string{}
	for _, e := range raw.Priorities.Entries {
		native, lower := e.Key.V, strings.ToLower(e.Key.V)
		if _, dup := km.Priorities[lower]; dup {
			c.errf(e.Key.Pos, "%snative priority %q is listed twice (priorities compare without case)", prefix, native)
			continue
		}
		if !slices.Contains(core.Priorities, e.Val.V) {
			c.errf(e.Val.Pos, "%sunknown canonical priority %q for native priority %q (canonical: %s)%s", prefix, e.Val.V, native, quoteList(core.Priorities), suggest(e.Val.V, core.Priorities))
			continue
		}
		km.Priorities[lower] = e.Val.V
		prioSpelled[lower] = native
		c.prios[km] = append(c.prios[km], native)
		if _, ok := km.NativePrio[e.Val.V]; !ok {
			km.NativePrio[e.Val.V] = native
		}
	}
	for _, e := range raw.WritePriority.Entries {
		if !slices.Contains(core.Priorities, e.Key.V) {
			c.errf(e.Key.Pos, "%swrite_priority: unknown canonical priority %q (canonical: %s)%s", prefix, e.Key.V, quoteList(core.Priorities), suggest(e.Key.V, core.Priorities))
			continue
		}
		got, listed := km.Priorities[strings.ToLower(e.Val.V)]
		switch {
		case !listed:
			c.errf(e.Val.Pos, "%swrite_priority: native priority %q is not in priorities (known: %s): list it there first", prefix, e.Val.V, quoteList(nativeNames(raw.Priorities)))
		case got != e.Key.V:
			c.errf(e.Val.Pos, "%swrite_priority: native priority %q maps to %q, not %q", prefix, e.Val.V, got, e.Key.V)
		default:
			km.NativePrio[e.Key.V] = prioSpelled[strings.ToLower(e.Val.V)]
		}
	}
	for _, e := range raw.Fields.Entries {
		if e.Key.V == "" || e.Val.Name.V == "" {
			c.errf(e.Key.Pos, "%sfields: both the canonical name and the native field name are needed (canonical: \"native name\")", prefix)
			continue
		}
		km.Fields[e.Key.V] = e.Val.Name.V
		c.fieldType(prefix, e.Key.V, e.Val, km)
	}
	for _, e := range raw.Create.Entries {
		km.Create[e.Key.V] = e.Val.V
	}
	c.outcomes(prefix, raw, km)
	return km
}

// fieldType compiles a field declaration's type and options.
func (c *compiler) fieldType(prefix, name string, f rawField, km *core.KindMap) {
	typ := f.Type.V
	switch {
	case !f.Type.Set && f.Options.Set:
		c.errf(f.Options.Pos, "%sfield %q: options without a type: add type: dropdown (or multiselect)", prefix, name)
		return
	case !f.Type.Set:
		return
	case !slices.Contains(core.FieldTypeNames, typ):
		c.errf(f.Type.Pos, "%sfield %q: unknown type %q (types: %s)%s", prefix, name, typ, strings.Join(core.FieldTypeNames, ", "), suggest(typ, core.FieldTypeNames))
		return
	case core.HasOptions(typ) && len(f.Options.Items) == 0:
		c.errf(f.Type.Pos, "%sfield %q: a %s needs its options: options: [a, b]", prefix, name, typ)
		return
	case !core.HasOptions(typ) && f.Options.Set:
		c.errf(f.Options.Pos, "%sfield %q: a %s field has no options (only dropdown and multiselect)", prefix, name, typ)
		return
	}
	ft := core.FieldType{Type: typ}
	for _, o := range f.Options.Items {
		switch {
		case o.V == "":
			c.errf(o.Pos, "%sfield %q: an empty option", prefix, name)
			continue
		case slices.Contains(ft.Options, o.V):
			c.errf(o.Pos, "%sfield %q: option %q listed twice", prefix, name, o.V)
			continue
		}
		ft.Options = append(ft.Options, o.V)
	}
	if km.FieldTypes == nil {
		km.FieldTypes = map[string]core.FieldType{}
	}
	km.FieldTypes[name] = ft
}

// outcomes compiles a kind's resolutions (native → canonical outcome) and
// its validation chain. Without validation:, the chain is the validation
// statuses the kind maps, in canonical order: a tracker that has a QA
// status gets it required unless the admin turns the chain off with
// validation: [].
func (c *compiler) outcomes(prefix string, raw rawKind, km *core.KindMap) {
	for _, e := range raw.Resolutions.Entries {
		native, lower := strings.TrimSpace(e.Key.V), strings.ToLower(strings.TrimSpace(e.Key.V))
		if native == "" {
			c.errf(e.Key.Pos, "%sresolutions: empty resolution name", prefix)
			continue
		}
		if km.Outcomes == nil {
			km.Outcomes = map[string]core.Outcome{}
		}
		if _, dup := km.Outcomes[lower]; dup {
			c.errf(e.Key.Pos, "%sresolution %q is listed twice (resolutions compare without case)", prefix, native)
			continue
		}
		o := core.Outcome(e.Val.V)
		if !slices.Contains(core.Outcomes, o) {
			c.errf(e.Val.Pos, "%sunknown outcome %q for resolution %q (outcomes: %s)%s", prefix, e.Val.V, native, quoteList(core.Outcomes), suggest(e.Val.V, core.Outcomes))
			continue
		}
		km.Outcomes[lower] = o
	}
	if !raw.Validation.Set {
		for _, st := range []core.Status{core.StatusQAValidated, core.StatusPreprodValidated} {
			if _, ok := km.Native[st]; ok {
				km.Validation = append(km.Validation, st)
			}
		}
		return
	}
	for _, v := range raw.Validation.Items {
		st := core.Status(v.V)
		switch {
		case v.Bad:
		case !st.Known():
			c.errf(v.Pos, "%svalidation: unknown status %q (canonical statuses: %s)%s", prefix, v.V, quoteList(core.Statuses), suggest(v.V, core.Statuses))
		case km.Native[st] == "":
			c.errf(v.Pos, "%svalidation: status %q has no native status in this kind: map one to it under statuses", prefix, st)
		case len(km.Validation) > 0 && st.Rank() <= km.Validation[len(km.Validation)-1].Rank():
			c.errf(v.Pos, "%svalidation: %q must come after %q in the canonical order (%s): list the chain in the order it is passed", prefix, st, km.Validation[len(km.Validation)-1], quoteList(core.Statuses))
		case st.Rank() >= core.StatusDone.Rank():
			c.errf(v.Pos, "%svalidation: %q ends the work; the chain lists the steps before it, e.g. [qa_validated, preprod_validated]", prefix, st)
		default:
			km.Validation = append(km.Validation, st)
		}
	}
}

func nativeNames(m omap[str]) []string {
	out := make([]string, 0, len(m.Entries))
	for _, e := range m.Entries {
		out = append(out, e.Key.V)
	}
	return out
}

// ---- selectors ----

// kindRef is one system's map of one kind, as a selector resolves it.
type kindRef struct {
	name string // system/kind
	km   *core.KindMap
}

// resolve returns the kind maps sel selects, by system name.
func (c *compiler) resolve(sel core.Selector) []kindRef {
	var out []kindRef
	for _, name := range slices.Sorted(maps.Keys(c.m.Systems)) {
		if sel.System != "" && sel.System != name {
			continue
		}
		sm := c.m.Systems[name]
		for _, k := range core.Kinds {
			km, ok := sm.Kinds[k]
			if ok && (sel.Kind == "" || sel.Kind == k) {
				out = append(out, kindRef{name: name + "/" + string(k), km: km})
			}
		}
	}
	return out
}

func (c *compiler) systemNames() string { return orNone(slices.Sorted(maps.Keys(c.m.Systems))) }

// selector reads "system/kind" or, unless needSystem, "kind", checking that
// the mappings define it. It reports and returns false when it cannot.
func (c *compiler) selector(s str, prefix, key string, needSystem bool) (core.Selector, bool) {
	example := "jira/dev_ticket"
	if s.Bad {
		return core.Selector{}, false
	}
	if s.V == "" {
		c.errf(s.Pos, "%s%s is empty: write system/kind, e.g. %q", prefix, key, example)
		return core.Selector{}, false
	}
	sys, kind, hasSys := strings.Cut(s.V, "/")
	if !hasSys {
		sys, kind = "", s.V
	}
	if strings.Contains(kind, "/") {
		c.errf(s.Pos, "%s%s %q: expected system/kind, e.g. %q", prefix, key, s.V, example)
		return core.Selector{}, false
	}
	k := core.Kind(kind)
	if !hasSys {
		if _, isSystem := c.m.Systems[kind]; isSystem {
			c.errf(s.Pos, "%s%s %q names a system; name the kind too, e.g. %q", prefix, key, s.V, kind+"/"+string(firstKind(c.m.Systems[kind])))
			return core.Selector{}, false
		}
	}
	if !k.Known() {
		c.errf(s.Pos, "%s%s %q: unknown kind %q (known: %s)%s", prefix, key, s.V, kind, quoteList(core.Kinds), suggest(kind, core.Kinds))
		return core.Selector{}, false
	}
	if !hasSys && needSystem {
		c.errf(s.Pos, "%s%s %q must name the system too: write system/kind, e.g. %q", prefix, key, s.V, exampleFor(c, k))
		return core.Selector{}, false
	}
	sel := core.Selector{System: sys, Kind: k}
	if hasSys {
		sm, ok := c.m.Systems[sys]
		if !ok {
			c.errf(s.Pos, "%s%s %q: unknown system %q (systems in the mappings: %s)%s", prefix, key, s.V, sys, c.systemNames(), suggest(sys, slices.Sorted(maps.Keys(c.m.Systems))))
			return core.Selector{}, false
		}
		if _, ok := sm.Kinds[k]; !ok {
			c.errf(s.Pos, "%s%s %q: system %q has no kind %q in the mappings (its kinds: %s)", prefix, key, s.V, sys, k, quoteList(kindsOf(sm)))
			return core.Selector{}, false
		}
		return sel, true
	}
	if len(c.resolve(sel)) == 0 {
		c.errf(s.Pos, "%s%s %q: no system in the mappings has kind %q", prefix, key, s.V, k)
		return core.Selector{}, false
	}
	return sel, true
}

func kindsOf(sm *core.SystemMap) []core.Kind {
	var out []core.Kind
	for _, k := range core.Kinds {
		if _, ok := sm.Kinds[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

func firstKind(sm *core.SystemMap) core.Kind {
	if ks := kindsOf(sm); len(ks) > 0 {
		return ks[0]
	}
	return "dev_ticket"
}

func exampleFor(c *compiler, k core.Kind) string {
	if refs := c.resolve(core.Selector{Kind: k}); len(refs) > 0 {
		return refs[0].name
	}
	return "jira/" + string(k)
}

// ---- link patterns ----

func (c *compiler) pattern(raw rawLink) *core.Pattern {
	// A duplicate name is reported, and the rest is still checked.
	ok := c.claim("link", raw.Name, raw.Pos)
	prefix := namedPrefix("link", raw.Name)
	p := &core.Pattern{Name: raw.Name.V, Pos: raw.Pos, Prefix: raw.Prefix.V, Role: core.Mentions}
	if !raw.From.Set {
		c.errf(raw.Pos, "%smissing from: the records whose text is searched, e.g. from: github/pull_request", prefix)
		ok = false
	} else if sel, good := c.selector(raw.From, prefix, "from", false); good {
		p.From = sel
	} else {
		ok = false
	}
	if !raw.To.Set {
		c.errf(raw.Pos, "%smissing to: the system/kind of the record the key names, e.g. to: jira/dev_ticket", prefix)
		ok = false
	} else if sel, good := c.selector(raw.To, prefix, "to", true); good {
		p.To = sel
	} else {
		ok = false
	}
	pattern := raw.Pattern.V
	if ok && raw.Pattern.Set {
		var good bool
		pattern, good = c.projectPattern(raw.Pattern, p.To, prefix)
		ok = ok && good
	}
	if !raw.Pattern.Set || raw.Pattern.V == "" {
		c.errf(raw.Pos, `%smissing pattern: a regular expression whose first group is the key, e.g. pattern: '\b({projects}-\d+)\b'`, prefix)
		ok = false
	} else if re, err := regexp.Compile(pattern); err != nil {
		c.errf(raw.Pattern.Pos, "%spattern '%s' does not compile: %s", prefix, raw.Pattern.V, regexpReason(err, raw.Pattern.V))
		ok = false
	} else {
		p.Regexp = re
	}
	if len(raw.In.Items) == 0 {
		p.In = []string{"title", "body"}
	}
	for _, in := range raw.In.Items {
		if in.V == "" {
			c.errf(in.Pos, `%sempty part in "in": name title, body or a field (branch, commits)`, prefix)
			ok = false
			continue
		}
		p.In = append(p.In, in.V)
	}
	if raw.Role.Set {
		if r, good := c.role(raw.Role, prefix); good {
			p.Role = r
		} else {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return p
}

// projectsPlaceholder in a link pattern stands for the configured
// projects of the pattern's to kind.
const projectsPlaceholder = "{projects}"

// anyProject is what {projects} stands for when the configuration does
// not say which projects the system has (liaison check without a config,
// a stand-in): any Jira project key.
const anyProject = `[A-Z][A-Z0-9_]+`

// keyPrefix finds the literal project keys a pattern names: "KBOT-".
var keyPrefix = regexp.MustCompile(`(?:^|[^A-Za-z0-9_\\{])([A-Z][A-Z0-9_]+)-`)

// projectPattern replaces {projects} in a pattern by the configured
// projects of to, and, with a configuration, refuses a pattern that names
// a project key the configuration does not have for to: pull requests
// naming the real keys would stay unlinked without a word.
func (c *compiler) projectPattern(s str, to core.Selector, prefix string) (string, bool) {
	configured := c.opts.Projects[to.System][to.Kind]
	if c.opts.Projects != nil && len(configured) > 0 {
		for _, m := range keyPrefix.FindAllStringSubmatch(strings.NewReplacer(`\b`, " ", `\B`, " ").Replace(s.V), -1) {
			if !slices.Contains(configured, m[1]) {
				c.errf(s.Pos, "%spattern names project %q, which is not a project of %s in the configuration (configured: %s): write {projects} for the configured ones", prefix, m[1], to, strings.Join(configured, ", "))
				return s.V, false
			}
		}
	}
	if !strings.Contains(s.V, projectsPlaceholder) {
		return s.V, true
	}
	alt := anyProject
	switch {
	case len(configured) > 0:
		q := make([]string, len(configured))
		for i, p := range configured {
			q[i] = regexp.QuoteMeta(p)
		}
		alt = "(?:" + strings.Join(q, "|") + ")"
	case c.opts.Projects[to.System] != nil:
		c.errf(s.Pos, "%spattern uses {projects}, but the configuration names no project holding %s (projects: in its connector's section)", prefix, to)
		return s.V, false
	}
	return strings.ReplaceAll(s.V, projectsPlaceholder, alt), true
}

// regexpReason says what is wrong with a pattern, and where when the
// culprit is a part of it. Patterns are shown in single quotes, as YAML
// writes them, so that backslashes read as written.
func regexpReason(err error, pattern string) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	if se.Expr == "" || se.Expr == pattern {
		return se.Code.String()
	}
	return fmt.Sprintf("%s at '%s'", se.Code, se.Expr)
}

func (c *compiler) role(s str, prefix string) (core.Role, bool) {
	if s.Bad {
		return "", false
	}
	r := core.Role(s.V)
	if !slices.Contains(roles, r) {
		c.errf(s.Pos, "%sunknown role %q (known: %s)%s", prefix, s.V, quoteList(roles), suggest(s.V, roles))
		return "", false
	}
	return r, true
}

// ---- rules ----

func (c *compiler) rule(raw rawRule) *core.Rule {
	ok := c.claim("rule", raw.Name, raw.Pos)
	prefix := namedPrefix("rule", raw.Name)
	r := &core.Rule{Name: raw.Name.V, Pos: raw.Pos}
	whenOK := false
	switch {
	case raw.When.Bad || raw.When.Kind.Bad:
	case raw.When.Pos.Line == 0:
		c.errf(raw.Pos, "%smissing when: say which records the rule is about, e.g. when: {kind: zendesk/customer_ticket}", prefix)
	case !raw.When.Kind.Set:
		c.errf(raw.When.Pos, "%swhen: missing kind: write kind: system/kind or kind, e.g. kind: jira/dev_ticket", prefix)
	default:
		r.When, whenOK = c.selector(raw.When.Kind, prefix, "when kind", false)
	}
	ok = ok && whenOK
	for _, s := range raw.When.Seen.Items {
		if s.Bad {
			ok = false
			continue
		}
		et := core.EventType(s.V)
		if !slices.Contains(eventTypes, et) {
			c.errf(s.Pos, "%sunknown event type %q in seen (known: %s)%s", prefix, s.V, quoteList(eventTypes), suggest(s.V, eventTypes))
			ok = false
			continue
		}
		r.Seen = append(r.Seen, et)
	}
	sc := scope{subject: r.When, subjectKnown: whenOK}
	r.If = c.cond(raw.If, sc, prefix)
	if raw.If.Set && r.If == nil && strings.TrimSpace(raw.If.V) != "" {
		ok = false
	}
	if len(raw.Then.Items) == 0 && !raw.Then.Bad {
		c.errf(raw.Pos, "%sno actions: add then: with at least one action (%s)", prefix, quoteList(verbs))
		ok = false
	}
	for i, a := range raw.Then.Items {
		spec := c.action(a, sc, prefix, i)
		if spec == nil {
			ok = false
			continue
		}
		r.Then = append(r.Then, spec)
	}
	if !ok {
		return nil
	}
	return r
}

// target reads an action's target: absent or "item" is the subject.
func (c *compiler) target(s str, prefix string, needSystem bool) (core.Selector, bool) {
	if !s.Set || s.V == "item" {
		return core.Selector{}, true
	}
	return c.selector(s, prefix, "target", needSystem)
}

// targets returns the kind maps an action writes to: its target's, or the
// subject's when the target is the subject.
func (c *compiler) targets(sel core.Selector, sc scope) []kindRef {
	if sel == (core.Selector{}) {
		if !sc.subjectKnown {
			return nil // the rule's when is reported already
		}
		return c.resolve(sc.subject)
	}
	return c.resolve(sel)
}

func (c *compiler) action(a rawAction, sc scope, rulePrefix string, i int) *core.ActionSpec {
	if a.Verb.V == "" {
		return nil // reported while decoding
	}
	prefix := fmt.Sprintf("%s%s: ", rulePrefix, a.Verb.V)
	spec := &core.ActionSpec{Pos: a.Verb.Pos}
	ok := true
	need := func(s str, key, hint string) bool {
		if s.Bad {
			ok = false
			return false
		}
		if !s.Set || strings.TrimSpace(s.V) == "" {
			c.errf(a.Verb.Pos, "%smissing %s: %s", prefix, key, hint)
			ok = false
			return false
		}
		return true
	}
	tgt := func(s str, needSystem bool) {
		sel, good := c.target(s, prefix, needSystem)
		spec.Target = sel
		ok = ok && good
	}
	text := func(s str, name string, asc scope) *Text {
		t := c.text(s, name, asc, prefix)
		if t == nil && s.Set {
			ok = false
		}
		return t
	}
	// A body written to Jira is wiki markup: the values put in it are
	// escaped to read literally (wiki.go).
	body := func(s str, asc scope) *Text {
		t := c.compileText(s, "body", asc, prefix, c.wikiTarget(spec.Target, sc))
		if t == nil && s.Set {
			ok = false
		}
		return t
	}
	cond := func(s str, asc scope) *core.Cond {
		cd := c.cond(s, asc, prefix)
		if cd == nil && s.Set && strings.TrimSpace(s.V) != "" {
			ok = false
		}
		return cd
	}
	// An action's if sees the target (Env.Target) and, for mirror_comments,
	// the comment.
	asc := sc
	asc.inAction = true

	switch {
	case a.Create != nil:
		x := a.Create
		spec.Kind = core.Create
		if need(x.Target, "target", `the system/kind to create, e.g. target: jira/dev_ticket`) {
			tgt(x.Target, true)
		}
		spec.Role = core.Mentions
		if x.Role.Set {
			if r, good := c.role(x.Role, prefix); good {
				spec.Role = r
			} else {
				ok = false
			}
		}
		if need(x.Title, "title", `a template for the new record's title, e.g. title: "{{.Item.Title}}"`) {
			spec.Title = text(x.Title, "title", sc)
		}
		spec.Body = body(x.Body, sc)
		spec.Fields = c.fieldTexts(x.Fields, sc, prefix, &ok)
		for _, e := range x.Fields.Entries {
			// A rule may create in another project than the kind's first
			// one; the configuration must have it.
			if e.Key.V != "project" || strings.Contains(e.Val.V, "{{") || c.opts.Projects == nil || spec.Target.System == "" {
				continue
			}
			// As for patterns: an instance without a projects key (simulate's
			// stand-in for another tracker) has none to check against; one
			// with projects must hold this one for the kind.
			perKind, listed := c.opts.Projects[spec.Target.System]
			if configured := perKind[spec.Target.Kind]; listed && !slices.Contains(configured, e.Val.V) {
				c.errf(e.Val.Pos, "%sproject %q is not a project of %s in the configuration (configured: %s)", prefix, e.Val.V, spec.Target, orNone(configured))
				ok = false
			}
		}
		for _, l := range x.Labels.Items {
			spec.Labels = append(spec.Labels, text(l, "label", sc))
		}
		spec.If = cond(x.If, asc)
	case a.Transition != nil:
		x := a.Transition
		spec.Kind = core.Transition
		tgt(x.Target, false)
		if need(x.Status, "status", "the canonical status to move to, e.g. status: in_review") {
			if st, good := c.canonicalStatus(x.Status, prefix, "status", c.targets(spec.Target, sc)); good {
				spec.Status = st
				c.checkWritable(x.Status, st, prefix, c.targets(spec.Target, sc), &ok)
			} else {
				ok = false
			}
		}
		for _, f := range x.From.Items {
			if st, good := c.canonicalStatus(f, prefix, "from", c.targets(spec.Target, sc)); good {
				spec.From = append(spec.From, st)
			} else {
				ok = false
			}
		}
		spec.OncePer = text(x.OncePer, "once_per", sc)
		asc.target = spec.Target
		spec.If = cond(x.If, asc)
	case a.Comment != nil:
		x := a.Comment
		spec.Kind = core.AddComment
		tgt(x.Target, false)
		if need(x.Body, "body", `a template for the comment, e.g. body: "Escalated to {{(.First \"dev_ticket\").ID}}"`) {
			spec.Body = body(x.Body, sc)
		}
		spec.Public = x.Public.V
		spec.OncePer = text(x.OncePer, "once_per", sc)
		asc.target = spec.Target
		spec.If = cond(x.If, asc)
	case a.Mirror != nil:
		x := a.Mirror
		spec.Kind = core.AddComment
		spec.Mirror = true
		if need(x.Target, "target", "the records that receive copies of the subject's comments, e.g. target: jira/dev_ticket") {
			tgt(x.Target, false)
		}
		msc := sc
		msc.comment = true
		src := x.Body
		if !src.Set {
			src = str{V: "{{.Comment.Body}}", Pos: a.Verb.Pos, Set: true, content: a.Verb.Pos}
		}
		spec.Body = body(src, msc)
		spec.Public = x.Public.V
		asc.target, asc.comment = spec.Target, true
		spec.If = cond(x.If, asc)
		if spec.Public && ok && !guardsPublic(x.If.V) {
			// An internal note must never be published by a mirror: make
			// the admin say so.
			p := a.Verb.Pos
			if x.If.Set {
				p = x.If.Pos
			}
			c.errf(p, "%spublic: true copies comments where the customer sees them; require public sources with if: 'Comment.Public' (and more conditions joined with &&)", prefix)
			ok = false
		}
	case a.SetFields != nil:
		x := a.SetFields
		spec.Kind = core.SetFields
		tgt(x.Target, false)
		if len(x.Fields.Entries) == 0 {
			c.errf(a.Verb.Pos, `%smissing fields: native field name to template, e.g. fields: {"Developer ticket": "{{(.First \"dev_ticket\").ID}}"}`, prefix)
			ok = false
		}
		spec.Fields = c.fieldTexts(x.Fields, sc, prefix, &ok)
		asc.target = spec.Target
		spec.If = cond(x.If, asc)
	case a.Link != nil:
		x := a.Link
		spec.Kind = core.AddLink
		if need(x.Target, "target", "the records to link the subject to, e.g. target: jira/dev_ticket") {
			tgt(x.Target, false)
			if x.Target.V == "item" {
				c.errf(x.Target.Pos, "%sa record cannot be linked to itself: name another kind as target", prefix)
				ok = false
			}
		}
		spec.Role = core.Mentions
		if x.Role.Set {
			if r, good := c.role(x.Role, prefix); good {
				spec.Role = r
			} else {
				ok = false
			}
		}
		asc.target = spec.Target
		spec.If = cond(x.If, asc)
	case a.Notify != nil:
		x := a.Notify
		spec.Kind = core.Notify
		// Without to, the record's own system tells its people (a mail
		// thread: an acknowledgement to its requester, in the mailbox's
		// words unless body is given).
		body := x.Body
		if !x.To.Set && sc.subjectKnown && sc.subject.Kind != core.EmailThread {
			need(x.To, "to", `a mail address or an https URL, e.g. to: "support-leads@example.com" (only a rule about mail threads may leave it out: the thread's requester is told)`)
		}
		if x.To.Set {
			spec.To = text(x.To, "to", sc)
			if !strings.Contains(x.To.V, "{{") {
				if reason := badDestination(x.To.V); reason != "" {
					c.errf(x.To.Pos, "%sto %q %s", prefix, redactURL(x.To.V), reason)
					ok = false
				}
			}
			if !body.Set {
				body = str{V: defaultNotifyBody, Pos: a.Verb.Pos, Set: true, content: a.Verb.Pos}
			}
		}
		spec.Title = text(x.Title, "title", sc)
		spec.Body = text(body, "body", sc)
		spec.Fields = c.fieldTexts(x.Fields, sc, prefix, &ok)
		spec.If = cond(x.If, asc)
	default:
		return nil
	}
	if !ok {
		return nil
	}
	return spec
}

// Text is core.Text; the alias keeps signatures short.
type Text = core.Text

const defaultNotifyBody = `{{.Item.Ref}} "{{.Item.Title}}" is {{.Item.Status}} {{.Item.URL}}`

// redactURL shows a URL's scheme and host only: the path and query of a
// chat or incident webhook URL are its credential.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		// Not a URL, but perhaps one without its scheme.
		if host, _, cut := strings.Cut(s, "/"); cut {
			return host + "/…"
		}
		return s
	}
	host, _, cut := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:] // user:password@
	}
	if cut || strings.ContainsAny(host, "?#") {
		host, _, _ = strings.Cut(host, "?")
		return scheme + "://" + host + "/…"
	}
	return scheme + "://" + host
}

func badDestination(to string) string {
	if strings.Contains(to, "://") {
		u, err := url.Parse(to)
		if err != nil || u.Host == "" {
			return "is not a valid URL"
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return "must be an http(s) URL or a mail address"
		}
		return ""
	}
	if a, err := mail.ParseAddress(to); err != nil || a.Address != to {
		return "is neither a mail address nor an http(s) URL"
	}
	return ""
}

func (c *compiler) fieldTexts(m omap[str], sc scope, prefix string, ok *bool) map[string]*core.Text {
	if len(m.Entries) == 0 {
		return nil
	}
	out := map[string]*core.Text{}
	for _, e := range m.Entries {
		if e.Key.V == "" {
			c.errf(e.Key.Pos, "%sempty field name", prefix)
			*ok = false
			continue
		}
		t := c.text(e.Val, "field", sc, fmt.Sprintf("%sfield %q: ", prefix, e.Key.V))
		if t == nil {
			*ok = false
			continue
		}
		out[e.Key.V] = t
	}
	return out
}

// canonicalStatus checks a status a rule names where a canonical one is
// expected. A native name gets the canonical one it maps to suggested.
func (c *compiler) canonicalStatus(s str, prefix, key string, refs []kindRef) (core.Status, bool) {
	if s.Bad {
		return "", false
	}
	st := core.Status(s.V)
	if st.Known() {
		return st, true
	}
	for _, r := range refs {
		if canon, ok := r.km.Statuses[strings.ToLower(s.V)]; ok {
			c.errf(s.Pos, "%s%s %q is a native status of %s; rules name canonical statuses: write %q", prefix, key, s.V, r.name, canon)
			return "", false
		}
	}
	c.errf(s.Pos, "%sunknown status %q in %s (canonical statuses: %s)%s", prefix, s.V, key, quoteList(core.Statuses), suggest(s.V, core.Statuses))
	return "", false
}

// checkWritable reports a transition to a canonical status that a target
// system has no native status for: the write could never be made.
func (c *compiler) checkWritable(s str, st core.Status, prefix string, refs []kindRef, ok *bool) {
	for _, r := range refs {
		if _, has := r.km.Native[st]; !has {
			c.errf(s.Pos, "%sstatus %q has no native status in %s (its statuses: %s): map a native status to it under systems.%s.statuses", prefix, st, r.name, quoteList(c.nativesOf(r.km)), strings.Replace(r.name, "/", ".kinds.", 1))
			*ok = false
		}
	}
}

// nativesOf lists a kind map's native statuses as the file lists them.
func (c *compiler) nativesOf(km *core.KindMap) []string { return c.order[km] }

// ---- sync ----

func (c *compiler) sync(raw rawSync) *core.SyncRule {
	ok := c.claim("sync", raw.Name, raw.Pos)
	prefix := namedPrefix("sync", raw.Name)
	sr := &core.SyncRule{Name: raw.Name.V, Pos: raw.Pos, Field: raw.Field.V}
	if raw.Field.V == "" && !raw.Field.Bad {
		c.errf(raw.Pos, "%smissing field: priority, assignee or a field named under the kinds' fields", prefix)
		ok = false
	}
	side := func(s str, key string) (core.Selector, []kindRef) {
		if !s.Set {
			c.errf(raw.Pos, "%smissing %s: the system/kind of one side, e.g. %s: zendesk/customer_ticket", prefix, key, key)
			ok = false
			return core.Selector{}, nil
		}
		sel, good := c.selector(s, prefix, key, false)
		if !good {
			ok = false
			return sel, nil
		}
		return sel, c.resolve(sel)
	}
	var ra, rb []kindRef
	sr.A, ra = side(raw.A, "a")
	sr.B, rb = side(raw.B, "b")
	if ok && sr.A == sr.B {
		c.errf(raw.B.Pos, "%sa and b are both %q: a sync joins two different kinds of record", prefix, raw.A.V)
		ok = false
	}
	switch {
	case raw.Owner.Bad:
		ok = false
	case !raw.Owner.Set:
		c.errf(raw.Pos, "%smissing owner: say who wins when the field differs: a, b or last_writer", prefix)
		ok = false
	case !slices.Contains(policies, core.SyncPolicy(raw.Owner.V)):
		c.errf(raw.Owner.Pos, "%sunknown owner %q (expected a, b or last_writer)%s", prefix, raw.Owner.V, suggest(raw.Owner.V, policies))
		ok = false
	default:
		sr.Policy = core.SyncPolicy(raw.Owner.V)
	}
	if raw.Field.V != "" {
		for _, r := range append(ra, rb...) {
			switch raw.Field.V {
			case "assignee":
			case "priority":
				if len(r.km.Priorities) == 0 {
					c.errf(raw.Field.Pos, "%s%s has no priorities to sync: add priorities under its kind", prefix, r.name)
					ok = false
				}
			default:
				if _, mapped := r.km.Fields[raw.Field.V]; !mapped {
					c.errf(raw.Field.Pos, "%sfield %q is not among the fields of %s (its fields: %s): add it under systems.%s.fields", prefix, raw.Field.V, r.name, orNone(slices.Sorted(maps.Keys(r.km.Fields))), strings.Replace(r.name, "/", ".kinds.", 1))
					ok = false
				}
			}
		}
	}
	if !ok {
		return nil
	}
	return sr
}

// ---- people ----

func (c *compiler) people(raws []rawPerson) {
	owner := map[string]map[string]str{} // system → lower-case id → person name
	for _, raw := range raws {
		if !raw.Name.Set || raw.Name.V == "" {
			c.errf(raw.Pos, "person without a name: add name: <full name>")
			continue
		}
		prefix := fmt.Sprintf("person %q: ", raw.Name.V)
		if len(raw.IDs.Entries) == 0 {
			c.errf(raw.Name.Pos, "%sno ids: add ids: {<system>: <identity there>}", prefix)
			continue
		}
		p := core.Person{Name: raw.Name.V, IDs: map[string]string{}}
		good := true
		for _, e := range raw.IDs.Entries {
			if _, ok := c.m.Systems[e.Key.V]; !ok {
				c.errf(e.Key.Pos, "%sunknown system %q (systems in the mappings: %s)%s", prefix, e.Key.V, c.systemNames(), suggest(e.Key.V, slices.Sorted(maps.Keys(c.m.Systems))))
				good = false
				continue
			}
			if e.Val.V == "" {
				c.errf(e.Key.Pos, "%sempty identity for %q", prefix, e.Key.V)
				good = false
				continue
			}
			ids := owner[e.Key.V]
			if ids == nil {
				ids = map[string]str{}
				owner[e.Key.V] = ids
			}
			if other, taken := ids[strings.ToLower(e.Val.V)]; taken {
				c.errf(e.Val.Pos, "%s%s identity %q already belongs to %q (at %s): an identity names one person", prefix, e.Key.V, e.Val.V, other.V, other.Pos)
				good = false
				continue
			}
			ids[strings.ToLower(e.Val.V)] = raw.Name
			p.IDs[e.Key.V] = e.Val.V
		}
		if good {
			c.m.People = append(c.m.People, p)
		}
	}
}

// namedPrefix starts the messages about a named thing: rule "x": .
func namedPrefix(what string, name str) string {
	if name.V == "" {
		return "unnamed " + what + ": "
	}
	return fmt.Sprintf("%s %q: ", what, name.V)
}

package mappings

import (
	"reflect"
	"slices"

	"github.com/goccy/go-yaml/ast"

	"github.com/liaisonhq/liaison/core"
)

// The raw types mirror the mapping files key for key. Decoding fills them
// with positions; compile.go validates them and builds core's types.

type rawFile struct {
	Pos        core.Pos           `yaml:"-"`
	Extends    str                `yaml:"extends"`
	Systems    omap[rawSystem]    `yaml:"systems"`
	Links      list[rawLink]      `yaml:"links"`
	Rules      list[rawRule]      `yaml:"rules"`
	Sync       list[rawSync]      `yaml:"sync"`
	People     list[rawPerson]    `yaml:"people"`
	Checklists omap[rawChecklist] `yaml:"checklists"`
	Calendar   rawCalendar        `yaml:"calendar"`
	Calendars  omap[rawCalendar]  `yaml:"calendars"` // organisations' own, by name
	SLA        list[rawSLA]       `yaml:"sla"`
	Levels     rawLevels          `yaml:"levels"`
	Duplicates list[rawDuplicate] `yaml:"duplicates"`
}

func (*rawFile) what() string { return "a mapping file" }

type rawSystem struct {
	Pos       core.Pos      `yaml:"-"`
	Connector str           `yaml:"connector"`
	Kinds     omap[rawKind] `yaml:"kinds"`
}

func (*rawSystem) what() string      { return "system" }
func (*rawSystem) keyPrefix() string { return "system" }

type rawKind struct {
	Pos           core.Pos       `yaml:"-"`
	Statuses      omap[str]      `yaml:"statuses"`
	WriteStatus   omap[str]      `yaml:"write_status"`
	Priorities    omap[str]      `yaml:"priorities"`
	WritePriority omap[str]      `yaml:"write_priority"`
	Fields        omap[rawField] `yaml:"fields"`
	Create        omap[str]      `yaml:"create"`
	Resolutions   omap[str]      `yaml:"resolutions"`
	Validation    list[str]      `yaml:"validation"`
}

// rawField is a kind's field: its native name, or {name, type, options}
// to say what it must be (`liaison setup` prints it).
type rawField struct {
	Pos     core.Pos  `yaml:"-"`
	Name    str       `yaml:"name"`
	Type    str       `yaml:"type"`
	Options list[str] `yaml:"options"`
}

func (*rawField) what() string { return "field" }

func (f *rawField) decodeNode(d *decoder, n ast.Node) {
	if _, ok := d.resolveQuiet(n).(*ast.MappingNode); ok {
		d.decodeStruct(n, reflect.ValueOf(f).Elem())
		return
	}
	f.Name.decodeNode(d, n)
	f.Pos = f.Name.Pos
}

func (*rawKind) what() string      { return "kind" }
func (*rawKind) keyPrefix() string { return "kind" }

type rawLink struct {
	Pos     core.Pos  `yaml:"-"`
	Name    str       `yaml:"name"`
	From    str       `yaml:"from"`
	In      list[str] `yaml:"in"`
	Pattern str       `yaml:"pattern"`
	To      str       `yaml:"to"`
	Prefix  str       `yaml:"prefix"`
	Role    str       `yaml:"role"`
}

func (*rawLink) what() string       { return "link pattern" }
func (*rawLink) namePrefix() string { return "link" }

type rawRule struct {
	Pos  core.Pos        `yaml:"-"`
	Name str             `yaml:"name"`
	When rawWhen         `yaml:"when"`
	If   str             `yaml:"if"`
	Then list[rawAction] `yaml:"then"`
}

func (*rawRule) what() string       { return "rule" }
func (*rawRule) namePrefix() string { return "rule" }

type rawWhen struct {
	Pos  core.Pos  `yaml:"-"`
	Kind str       `yaml:"kind"`
	Seen list[str] `yaml:"seen"`
	Bad  bool      `yaml:"-"`
}

func (*rawWhen) what() string { return "when" }

// decodeNode reads when: {kind: ..., seen: [...]}, or its shorthand
// when: jira/dev_ticket.
func (w *rawWhen) decodeNode(d *decoder, n ast.Node) {
	r := d.resolveQuiet(n)
	if _, isScalar := r.(*ast.StringNode); isScalar {
		w.Pos = d.pos(n)
		w.Kind.decodeNode(d, n)
		return
	}
	d.decodeStruct(n, reflect.ValueOf(w).Elem())
}

// rawAction is one entry of a rule's then-list: a mapping with exactly one
// key, the verb, whose value holds the verb's keys.
type rawAction struct {
	Pos  core.Pos
	Verb str

	Create     *rawCreate
	Transition *rawTransition
	Comment    *rawComment
	Mirror     *rawMirror
	SetFields  *rawSetFields
	Link       *rawLinkAction
	Notify     *rawNotify
}

// verbs lists the action verbs in the order the README documents them.
var verbs = []string{"create", "transition", "comment", "mirror_comments", "set_fields", "link", "notify"}

func (*rawAction) what() string { return "action" }

func (a *rawAction) slot(verb string) any {
	switch verb {
	case "create":
		a.Create = &rawCreate{}
		return a.Create
	case "transition":
		a.Transition = &rawTransition{}
		return a.Transition
	case "comment":
		a.Comment = &rawComment{}
		return a.Comment
	case "mirror_comments":
		a.Mirror = &rawMirror{}
		return a.Mirror
	case "set_fields":
		a.SetFields = &rawSetFields{}
		return a.SetFields
	case "link":
		a.Link = &rawLinkAction{}
		return a.Link
	case "notify":
		a.Notify = &rawNotify{}
		return a.Notify
	}
	return nil
}

func (a *rawAction) decodeNode(d *decoder, n ast.Node) {
	a.Pos = d.pos(n)
	r := d.resolve(n)
	if r == nil {
		return
	}
	m, ok := r.(*ast.MappingNode)
	if !ok {
		d.errf(n, "expected an action (one of %s, followed by its keys), got %s", quoteList(verbs), nodeKind(r))
		return
	}
	kvs := d.entries(m)
	if len(kvs) == 0 {
		d.errf(n, "expected an action (one of %s), got an empty mapping", quoteList(verbs))
		return
	}
	first := kvs[0]
	slot := a.slot(first.name)
	if slot == nil {
		d.errf(first.key, "unknown action %q (expected one of: %s)%s", first.name, quoteList(verbs), suggest(first.name, verbs))
		return
	}
	switch v := d.resolveQuiet(first.value).(type) {
	case *ast.MappingNode, *ast.NullNode, nil:
	default:
		d.errf(first.value, "%s takes its keys as a mapping (%s), got %s", first.name, quoteList(keysOf(fieldsOf(reflect.TypeOf(slot).Elem()))), nodeKind(v))
		return
	}
	if len(kvs) > 1 {
		// "- transition:" followed by its keys at the same indentation
		// parses as sibling keys; say how to fix it.
		keys := keysOf(fieldsOf(reflect.TypeOf(slot).Elem()))
		if slices.Contains(keys, kvs[1].name) {
			d.errf(kvs[1].key, "key %q belongs to the %s action: indent it under %q", kvs[1].name, first.name, first.name+":")
		} else {
			d.errf(kvs[1].key, "an action has one verb; %q follows %q (start a new action with \"- \")", kvs[1].name, first.name)
		}
		return
	}
	a.Verb = str{V: first.name, Pos: d.pos(first.key), Set: true}
	d.decode(first.value, reflect.ValueOf(slot).Elem())
}

type rawCreate struct {
	Pos    core.Pos  `yaml:"-"`
	Target str       `yaml:"target"`
	Role   str       `yaml:"role"`
	Title  str       `yaml:"title"`
	Body   str       `yaml:"body"`
	Fields omap[str] `yaml:"fields"`
	Labels list[str] `yaml:"labels"`
	If     str       `yaml:"if"`
}

func (*rawCreate) what() string { return "create" }

type rawTransition struct {
	Pos     core.Pos  `yaml:"-"`
	Target  str       `yaml:"target"`
	Status  str       `yaml:"status"`
	From    list[str] `yaml:"from"`
	If      str       `yaml:"if"`
	OncePer str       `yaml:"once_per"`
}

func (*rawTransition) what() string { return "transition" }

type rawComment struct {
	Pos     core.Pos `yaml:"-"`
	Target  str      `yaml:"target"`
	Body    str      `yaml:"body"`
	Public  boolean  `yaml:"public"`
	If      str      `yaml:"if"`
	OncePer str      `yaml:"once_per"`
}

func (*rawComment) what() string { return "comment" }

type rawMirror struct {
	Pos    core.Pos `yaml:"-"`
	Target str      `yaml:"target"`
	Body   str      `yaml:"body"`
	Public boolean  `yaml:"public"`
	If     str      `yaml:"if"`
}

func (*rawMirror) what() string { return "mirror_comments" }

type rawSetFields struct {
	Pos    core.Pos  `yaml:"-"`
	Target str       `yaml:"target"`
	Fields omap[str] `yaml:"fields"`
	If     str       `yaml:"if"`
}

func (*rawSetFields) what() string { return "set_fields" }

type rawLinkAction struct {
	Pos    core.Pos `yaml:"-"`
	Target str      `yaml:"target"`
	Role   str      `yaml:"role"`
	If     str      `yaml:"if"`
}

func (*rawLinkAction) what() string { return "link" }

type rawNotify struct {
	Pos    core.Pos  `yaml:"-"`
	To     str       `yaml:"to"`
	Title  str       `yaml:"title"`
	Body   str       `yaml:"body"`
	Fields omap[str] `yaml:"fields"`
	If     str       `yaml:"if"`
}

func (*rawNotify) what() string { return "notify" }

type rawSync struct {
	Pos   core.Pos `yaml:"-"`
	Name  str      `yaml:"name"`
	Field str      `yaml:"field"`
	A     str      `yaml:"a"`
	B     str      `yaml:"b"`
	Owner str      `yaml:"owner"`
}

func (*rawSync) what() string       { return "sync" }
func (*rawSync) namePrefix() string { return "sync" }

type rawPerson struct {
	Pos  core.Pos  `yaml:"-"`
	Name str       `yaml:"name"`
	IDs  omap[str] `yaml:"ids"`
}

func (*rawPerson) what() string       { return "person" }
func (*rawPerson) namePrefix() string { return "person" }

// rawCalendar is a working-hours calendar: the top-level default, or an
// sla's own. Pos.Line is 0 when the key is absent.
type rawCalendar struct {
	Pos      core.Pos  `yaml:"-"`
	Timezone str       `yaml:"timezone"`
	Weekdays list[str] `yaml:"weekdays"`
	Hours    str       `yaml:"hours"`
	Holidays list[str] `yaml:"holidays"`
	Bad      bool      `yaml:"-"`
}

func (*rawCalendar) what() string { return "calendar" }

// rawSLA is one response-time target.
type rawSLA struct {
	Pos      core.Pos    `yaml:"-"`
	Name     str         `yaml:"name"`
	When     rawWhen     `yaml:"when"`
	Measure  str         `yaml:"measure"`
	Calendar rawCalendar `yaml:"calendar"`
	Targets  omap[str]   `yaml:"targets"`
	PauseIn  list[str]   `yaml:"pause_in"`
	// CountGatewayReplies lets the gateway's own public comments meet a
	// first response.
	CountGatewayReplies boolean         `yaml:"count_gateway_replies"`
	Breach              list[rawAction] `yaml:"breach"`
}

func (*rawSLA) what() string       { return "sla" }
func (*rawSLA) namePrefix() string { return "sla" }

// rawDuplicate is one duplicate rule.
type rawDuplicate struct {
	Pos       core.Pos        `yaml:"-"`
	Name      str             `yaml:"name"`
	When      rawWhen         `yaml:"when"`
	If        str             `yaml:"if"`
	Among     str             `yaml:"among"`
	Threshold str             `yaml:"threshold"`
	Role      str             `yaml:"role"`
	Then      list[rawAction] `yaml:"then"`
}

func (*rawDuplicate) what() string       { return "duplicates entry" }
func (*rawDuplicate) namePrefix() string { return "duplicates entry" }

// rawChecklist is one checklist: what the reporter is asked for → where
// the value is found.
type rawChecklist struct {
	omap[str]
}

func (*rawChecklist) keyPrefix() string { return "checklist" }

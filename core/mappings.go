package core

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Pos is a position in a mapping file, carried by every compiled piece so
// that anything said about it at run time can point the admin at the line.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Mappings is the compiled form of the admin's mapping files (package
// mappings compiles the YAML; core never reads YAML). It is immutable once
// built; a reload builds a new one and swaps it in whole.
type Mappings struct {
	Systems    map[string]*SystemMap
	Patterns   []*Pattern
	Rules      []*Rule
	Sync       []*SyncRule
	SLAs       []*SLA
	Levels     *Levels // nil: no escalation levels
	Duplicates []*DuplicateRule
	People     []Person
	// FieldNames is every field name the mappings read or write, as
	// written (fields maps, checklists, literal names given to Field in
	// rules, field keys of create and set_fields), sorted: connectors check
	// at start that none of them is ambiguous on their system.
	FieldNames []string
	// Source describes where the mappings came from ("embedded defaults"
	// or a folder), for logs.
	Source string
	// Disabled says, a line per system, what was dropped because the
	// system is not configured (Without).
	Disabled []string
	// Overlaid says, for a folder that extends the defaults, which of the
	// defaults' files and entries it replaced and which it added.
	Overlaid []string
}

// Priorities are the canonical priorities, lowest first.
var Priorities = []string{"low", "normal", "high", "urgent"}

// SystemMap is what the mappings say about one connector instance.
type SystemMap struct {
	Name      string // instance name
	Connector string // connector kind, e.g. "jira"
	Kinds     map[Kind]*KindMap
	Pos       Pos
}

// KindMap translates one kind of record in one system to the canonical
// vocabulary and back.
type KindMap struct {
	// Statuses maps a native status name (compared case-insensitively) to
	// its canonical status. Native maps each canonical status to the native
	// name to write; when several natives share a canonical one, the first
	// listed is written.
	Statuses map[string]Status
	Native   map[Status]string
	// Listed is the native statuses as the mappings spell them, in order.
	Listed []string
	// Priorities maps native priority to canonical priority and back.
	Priorities map[string]string
	NativePrio map[string]string
	// Fields maps a canonical field name used by rules to the native field
	// name (Jira "customfield_10010" or its display name, Zendesk field title).
	Fields map[string]string
	// FieldTypes says, by canonical name, what a field must be in its
	// system, for the fields whose declaration gives a type.
	FieldTypes map[string]FieldType
	// Project, issue type and similar defaults a connector needs to create
	// a record of this kind, by native name.
	Create map[string]string
	// Projects are the configured projects that hold this kind (Jira's
	// projects: {dev: [...], change: ...}), first the default; empty when
	// the mappings were loaded without a configuration.
	Projects []string
	// Outcomes maps a native resolution name (lower-cased; Jira's
	// "Cannot Reproduce") to what it means. A resolution not listed has
	// no outcome, which rules read as "not fixed".
	Outcomes map[string]Outcome
	// Validation is the chain of canonical statuses a fix passes, in
	// order, before it counts as validated (qa_validated, then
	// preprod_validated); empty when the chain is off, and then a record
	// done with a fixed outcome counts.
	Validation []Status
}

// Outcome is what a resolved record's resolution means, in Liaison's words.
type Outcome string

// Canonical outcomes. Only Fixed says that something was corrected.
const (
	OutcomeFixed           Outcome = "fixed"
	OutcomeNotFixed        Outcome = "not_fixed"
	OutcomeWontFix         Outcome = "wont_fix"
	OutcomeCannotReproduce Outcome = "cannot_reproduce"
	OutcomeDuplicate       Outcome = "duplicate"
	OutcomeIncomplete      Outcome = "incomplete"
	OutcomeNotABug         Outcome = "not_a_bug"
)

// Outcomes lists the canonical outcomes.
var Outcomes = []Outcome{OutcomeFixed, OutcomeNotFixed, OutcomeWontFix, OutcomeCannotReproduce,
	OutcomeDuplicate, OutcomeIncomplete, OutcomeNotABug}

// Outcome returns the canonical outcome of a native resolution, or "".
func (km *KindMap) Outcome(resolution string) Outcome {
	if km == nil || resolution == "" {
		return ""
	}
	return km.Outcomes[strings.ToLower(strings.TrimSpace(resolution))]
}

// Cycle returns the canonical statuses of the record's current round of
// work, oldest first: its observed path from the last time it was in a
// status before the validation chain (a reopened ticket starts again). A
// step whose native status the mappings do not list is left out.
func (km *KindMap) Cycle(it *Item) []Status {
	if km == nil {
		return nil
	}
	var path []Status
	for _, st := range it.Path {
		if s := km.Canonical(st.Native); s != "" {
			path = append(path, s)
		}
	}
	start := StatusReadyForQA
	if len(km.Validation) > 0 {
		start = km.Validation[0]
	}
	from := 0
	for i, s := range path {
		if s.Rank() < start.Rank() {
			from = i
		}
	}
	return path[from:]
}

// Validated reports whether the record holds a validated fix: it stands at
// the end of the validation chain having passed every step of it in order
// in its current round (Cycle), or it is done (or later) with a fixed
// outcome (any outcome when the kind maps no resolutions) and passed the
// chain before. A step the gateway did not see counts as skipped: the
// customer is told of a correction only when every step was seen.
func (km *KindMap) Validated(it *Item) bool {
	if km == nil {
		return false
	}
	st := it.Status
	if st == "" {
		st = km.Canonical(it.Native)
	}
	switch {
	case st.Rank() >= StatusDone.Rank():
		if len(km.Outcomes) > 0 && km.Outcome(it.Fields["resolution"]) != OutcomeFixed {
			return false
		}
	case len(km.Validation) == 0 || st != km.Validation[len(km.Validation)-1]:
		return false
	}
	next := 0
	for _, s := range km.Cycle(it) {
		if next < len(km.Validation) && s == km.Validation[next] {
			next++
		}
	}
	return next == len(km.Validation)
}

// Kind returns the map of system/kind, or nil.
func (m *Mappings) Kind(system string, k Kind) *KindMap {
	if m == nil {
		return nil
	}
	s := m.Systems[system]
	if s == nil {
		return nil
	}
	return s.Kinds[k]
}

// Canonical returns the canonical status of a native one, or "" when the
// mappings do not say.
func (km *KindMap) Canonical(native string) Status {
	if km == nil {
		return ""
	}
	if s, ok := km.Statuses[strings.ToLower(native)]; ok {
		return s
	}
	return ""
}

// CanonicalPriority returns the canonical priority of a native one, or "".
func (km *KindMap) CanonicalPriority(native string) string {
	if km == nil {
		return ""
	}
	return km.Priorities[strings.ToLower(native)]
}

// Selector picks records by system and kind; an empty part matches any.
type Selector struct {
	System string `json:"system,omitempty"`
	Kind   Kind   `json:"kind,omitempty"`
}

// Matches reports whether r is selected.
func (s Selector) Matches(r Ref) bool {
	return (s.System == "" || s.System == r.System) && (s.Kind == "" || s.Kind == r.Kind)
}

func (s Selector) String() string {
	switch {
	case s.System == "" && s.Kind == "":
		return "any record"
	case s.System == "":
		return string(s.Kind)
	case s.Kind == "":
		return s.System
	}
	return s.System + "/" + string(s.Kind)
}

// Pattern discovers links: it finds another record's key in the text of a
// record (title, body, branch name, commit messages).
type Pattern struct {
	Name string
	Pos  Pos
	// From selects the records whose text is searched; In names the parts:
	// "title", "body" or a field name ("branch", "commits").
	From Selector
	In   []string
	// Regexp's first capture group (or the whole match) is the id of the
	// linked record, of system/kind To; Prefix is prepended (e.g. "" for a
	// Jira key, "" for "#4521" captured as 4521).
	Regexp *regexp.Regexp
	To     Selector
	Prefix string
	Role   Role
}

// Find returns the links p discovers in it, de-duplicated, in text order.
// In an untrusted record's text they are mentions, whatever p's role.
func (p *Pattern) Find(it *Item) []Link {
	if !p.From.Matches(it.Ref) {
		return nil
	}
	role := p.Role
	if it.Untrusted {
		role = Mentions
	}
	var out []Link
	for _, part := range p.In {
		var text string
		switch part {
		case "title":
			text = it.Title
		case "body":
			text = it.Body
		default:
			text = it.Fields[part]
		}
		for _, m := range p.Regexp.FindAllStringSubmatch(text, -1) {
			id := m[0]
			if len(m) > 1 && m[1] != "" {
				id = m[1]
			}
			to := Ref{System: p.To.System, Kind: p.To.Kind, ID: p.Prefix + id}
			if to == it.Ref {
				continue
			}
			l := Link{From: it.Ref, To: to, Role: role, Origin: Discovered}
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}

// Discover runs every pattern over an item.
func (m *Mappings) Discover(it *Item) []Link {
	if m == nil {
		return nil
	}
	var out []Link
	for _, p := range m.Patterns {
		for _, l := range p.Find(it) {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}

// Rule is one "when … if … then …" of the mapping files. The planner
// evaluates it for every record of the case that When selects (the
// rule's subject), against the case's current state.
type Rule struct {
	Name string
	Pos  Pos
	When Selector
	// Seen lists event types of which at least one must have been observed on
	// the subject at some time (order-independent: see Item.Seen). Empty
	// means any.
	Seen []EventType
	If   *Cond
	Then []*ActionSpec
}

// Cond is a compiled boolean expression over Env.
type Cond struct {
	Source string
	Pos    Pos
	Eval   func(*Env) (bool, error)
}

// Text is a compiled template over Env.
type Text struct {
	Source string
	Pos    Pos
	Render func(*Env) (string, error)
}

// ActionSpec is one action of a rule's then-list, before it is bound to a
// case.
type ActionSpec struct {
	Kind ActionKind
	Pos  Pos
	// Target selects the records to act on: the subject itself when zero,
	// otherwise every record of the case it matches. For Create, it names
	// the system and kind to create.
	Target Selector
	// If, when set, must also hold for this action (evaluated per target,
	// with Env.Target set).
	If *Cond

	// Create.
	Title, Body *Text
	Fields      map[string]*Text // by native field name (Notify: as given)
	Labels      []*Text
	Role        Role

	// Transition: to Status, only from one of From (any lower-ranked
	// status when From is empty: transitions only move forward by default,
	// so that the gateway never undoes a person's later decision). A
	// transition is made once per set of records in the case, or, with
	// OncePer, once for each value it renders.
	Status Status
	From   []Status

	// Comment. With Mirror, one comment is made per comment of the subject
	// for which If holds (Env.Comment set), each once; Body then renders
	// per comment. Otherwise the comment is made once, a public one once
	// per fix cycle (see planner.cycle); with OncePer, also once for each
	// value it renders.
	Public  bool
	Mirror  bool
	OncePer *Text

	// Notify: address or URL; nil for the subject's own people, told by
	// the subject's own system (Fields, when set, go with the action).
	To *Text
}

// TargetOf returns the selector of the records a rule whose subject
// subject selects acts on: its target, or the subject itself when zero.
func (a *ActionSpec) TargetOf(subject Selector) Selector {
	if a.Target == (Selector{}) {
		return subject
	}
	return a.Target
}

// SyncPolicy says which side wins a synced field.
type SyncPolicy string

// Sync policies.
const (
	OwnerA     SyncPolicy = "a"           // A owns the field: B follows A
	OwnerB     SyncPolicy = "b"           // B owns the field: A follows B
	LastWriter SyncPolicy = "last_writer" // the side changed since the last sync wins; both changed is a conflict
)

// SyncRule keeps one field the same on two linked kinds of record.
type SyncRule struct {
	Name   string
	Pos    Pos
	Field  string // canonical field name ("priority", "assignee", or a Fields key)
	A, B   Selector
	Policy SyncPolicy
}

// Person is one person's identities across systems (help-desk user, Jira
// account, GitHub login, mail address), so assignees and reporters carry over.
type Person struct {
	Name string
	IDs  map[string]string // system → identity there
}

// Identity translates an identity in one system to another, or returns "".
func (m *Mappings) Identity(from, id, to string) string {
	if m == nil || id == "" {
		return ""
	}
	for _, p := range m.People {
		if strings.EqualFold(p.IDs[from], id) {
			return p.IDs[to]
		}
	}
	return ""
}

// Env is what rule conditions and templates see. Expressions use the same
// names as templates: `Item.Status == "ready_for_qa"` in an if,
// `{{.Item.Title}}` in a template, `Has("dev_ticket")` and
// `{{(.First "dev_ticket").URL}}` in both.
type Env struct {
	Item    ItemView    // the rule's subject
	Target  ItemView    // the record an action is about to write (action-level if)
	Comment CommentView // the comment being mirrored
	Case    CaseView
	Now     time.Time
	SLA     SLAView // the target that was breached, in an sla's breach actions
	// Duplicate is the record a duplicate rule found, in its actions.
	Duplicate ItemView
}

// SLAView describes a breached response-time target.
type SLAView struct {
	Name, Measure, Target string // Target as the handbooks write it: "1 working day"
	Deadline              time.Time
	Waited                string // the clock time the record waited, pauses left out: "9 h 5 min of working time"
}

// ItemView is a record as rules see it: plain strings, canonical names.
type ItemView struct {
	Ref, System, Kind, ID string
	Title, Body           string
	Status                string // canonical
	Native                string // native status
	Priority              string // canonical priority ("" when unmapped)
	NativePriority        string
	Reporter, Assignee    string
	Labels                []string
	Fields                map[string]string
	URL                   string
	Created               time.Time
	Comments              []CommentView
	Events                []string // every event type seen
	// Resolution is the native resolution ("" while unresolved), Outcome
	// its canonical meaning ("" when the mappings do not say), Path the
	// canonical statuses of the current round of work in order (see
	// KindMap.Cycle), and Validated whether the record holds a validated
	// fix (KindMap.Validated): the one condition for telling a customer
	// that their problem was corrected. HistoryGap is set while the
	// tracker's history has a status change the gateway has not received
	// yet (Item.HistoryGap): a step missing from Path may still come.
	Resolution string
	Outcome    string
	Path       []string
	Validated  bool
	HistoryGap bool
	// Said is what the reporter wrote after the description: their public
	// comments on the record and their mails in the case's threads, oldest
	// first per record. Checklists look there for what the fields lack.
	Said   []string
	Exists bool // false for the zero view First returns when there is none
}

// Seen reports whether an event of type t was ever observed on the record.
func (v ItemView) Seen(t string) bool { return slices.Contains(v.Events, t) }

// HasLabel reports whether the record carries label l.
func (v ItemView) HasLabel(l string) bool { return slices.Contains(v.Labels, l) }

// Field returns a custom field's value, or "". The name is matched as
// MatchNamed matches it, so a rule that writes "Steps to reproduce" reads
// the field a site titles "Steps to Reproduce", as check found it.
func (v ItemView) Field(name string) string {
	if s, ok := v.Fields[name]; ok {
		return s
	}
	keys := make([]string, 0, len(v.Fields))
	for k := range v.Fields {
		keys = append(keys, k)
	}
	got, err := MatchNamed(name, keys, func(k string) string { return k })
	if err != nil || len(got) == 0 {
		return "" // none, or two that differ only in case: check refuses those
	}
	return v.Fields[got[0]]
}

// AmbiguousNameError is MatchNamed's error when a name matches two or more
// names that differ only in case, none exactly.
type AmbiguousNameError struct {
	Name       string
	Candidates []string
}

func (e *AmbiguousNameError) Error() string {
	q := make([]string, len(e.Candidates))
	for i, c := range e.Candidates {
		q[i] = fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("%q matches %s, which differ only in case: write one of them exactly (or rename one)", e.Name, strings.Join(q, " and "))
}

// MatchNamed finds the name the mappings wrote among a system's named
// things (fields, by nameOf): those spelled exactly the same, else those
// of the one name equal to it without regard to case. It returns none when
// nothing matches, and an *AmbiguousNameError naming every candidate when
// several names differ from it only in case. Connectors resolve field
// names at start this way, and ItemView.Field reads them the same way, so
// that what check accepts is what rules see.
func MatchNamed[T any](name string, items []T, nameOf func(T) string) ([]T, error) {
	name = strings.TrimSpace(name)
	var exact, folded []T
	var names []string
	for _, it := range items {
		n := nameOf(it)
		switch {
		case n == name:
			exact = append(exact, it)
		case strings.EqualFold(n, name):
			folded = append(folded, it)
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	switch {
	case len(exact) > 0:
		return exact, nil
	case len(names) > 1:
		slices.Sort(names)
		return nil, &AmbiguousNameError{Name: name, Candidates: names}
	}
	return folded, nil
}

// CommentView is a comment as rules see it.
type CommentView struct {
	ID, Author, Body string
	Public           bool
	Created          time.Time
	// Ours: the gateway wrote it of its own (a rule's comment, not a copy
	// of someone's comment from another record).
	Ours bool
}

// Answered returns how many of the gateway's own public comments on the
// record someone answered: a public comment not of its own came after
// them. A rule that reacts to the customer's answer to what the gateway
// said (a reopening) acts once per answer with once_per: '{{.Item.Answered}}'.
func (v ItemView) Answered() int {
	n, open := 0, false
	for _, c := range v.Comments {
		switch {
		case !c.Public:
		case c.Ours:
			open = true
		case open:
			n++
			open = false
		}
	}
	return n
}

// CaseView is the case as rules see it.
type CaseView struct {
	ID    int64
	Items []ItemView
	// Mentions are records of other cases whose text names one of the
	// case's records without linking it (Case.MentionedBy).
	Mentions []ItemView
}

// MentionedBy returns the records of a kind ("github/pull_request") that
// name one of the case's records without being linked to it: an
// outsider's pull request, or a pull request naming a customer's ticket.
func (e *Env) MentionedBy(sel string) []ItemView {
	s := ParseSelector(sel)
	var out []ItemView
	for _, it := range e.Case.Mentions {
		if (s.System == "" || s.System == it.System) && (s.Kind == "" || string(s.Kind) == it.Kind) {
			out = append(out, it)
		}
	}
	return out
}

// Linked returns the case's records of a kind ("dev_ticket") or
// system/kind ("jira/dev_ticket"), other than the subject.
func (e *Env) Linked(sel string) []ItemView {
	s := ParseSelector(sel)
	var out []ItemView
	for _, it := range e.Case.Items {
		if it.Ref != e.Item.Ref && (s.System == "" || s.System == it.System) && (s.Kind == "" || string(s.Kind) == it.Kind) {
			out = append(out, it)
		}
	}
	return out
}

// Has reports whether the case holds a record of the kind, other than the subject.
func (e *Env) Has(sel string) bool { return len(e.Linked(sel)) > 0 }

// First returns the first linked record of the kind, or a view with Exists false.
func (e *Env) First(sel string) ItemView {
	if l := e.Linked(sel); len(l) > 0 {
		return l[0]
	}
	return ItemView{}
}

// ParseSelector reads "kind", "system/kind" or "system".
func ParseSelector(s string) Selector {
	if sys, k, ok := strings.Cut(s, "/"); ok {
		return Selector{System: sys, Kind: Kind(k)}
	}
	if Kind(s).Known() {
		return Selector{Kind: Kind(s)}
	}
	return Selector{System: s}
}

// DuplicateRule links a record to an open record of another case about the
// same problem, instead of letting a rule create a new one: for a subject
// that When selects and whose case has no record Among selects, the most
// similar open candidate scoring at least Threshold is linked (Role), and
// Then runs with Env.Duplicate set (an internal note, say). While such a
// link is planned, no rule creates a record of that kind for the subject.
type DuplicateRule struct {
	Name      string
	Pos       Pos
	When      Selector
	If        *Cond
	Among     Selector
	Threshold float64
	Role      Role
	Then      []*ActionSpec
}

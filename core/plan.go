package core

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"time"
)

// Plan is what reconciling a case decided: the actions that close the
// difference between the case's state and what the rules want, the field
// conflicts found, and the rules that could not be evaluated (reported, and
// skipped without stopping the others).
type Plan struct {
	Actions   []Action
	Conflicts []Conflict
	Errors    []error
	// WakeAt, when set, is the next moment the case must be looked at
	// again even if nothing happens: a response-time target falling due.
	WakeAt time.Time
}

// PlanCase evaluates the mappings' rules and sync rules against a case and
// returns the actions still needed. It is a pure function of the case's
// state: the same state always plans the same actions, whatever events led
// to it, and an action already in the outbox (c.Keys) is never planned
// again. That is what makes duplicate, late and reordered events harmless.
func PlanCase(c *Case, m *Mappings, now time.Time) Plan {
	p := planner{c: c, m: m, now: now, seen: map[string]bool{}, transitioned: map[Ref]bool{}, cycles: -1}
	p.prepare()
	for _, d := range m.Duplicates {
		p.duplicate(d)
	}
	for i := range c.Items {
		subj := &c.Items[i]
		if !subj.Known() || subj.Deleted {
			continue
		}
		for _, r := range m.Rules {
			p.rule(r, subj)
		}
	}
	for _, s := range m.Sync {
		p.sync(s)
	}
	for _, s := range m.SLAs {
		p.sla(s)
	}
	if m.Levels != nil {
		p.levels(m.Levels, p.breached)
	}
	return p.out
}

// Known reports whether the item holds a snapshot, rather than being a
// placeholder for a record known only by a key found in some text.
func (it *Item) Known() bool {
	return !it.UpdatedAt.IsZero() || it.Native != "" || it.Title != ""
}

type planner struct {
	c            *Case
	m            *Mappings
	now          time.Time
	out          Plan
	views        map[Ref]ItemView
	caseView     CaseView
	mirrorCopies map[string]bool // target ref + "#" + comment id of our copies
	seen         map[string]bool // keys planned in this pass
	transitioned map[Ref]bool    // one transition per target per pass: the first rule wins
	refsDigest   string
	cycles       int // see cycle; -1 until counted
	scratch      Env // see env
	// linkingDuplicate holds subject>selector for duplicate links planned
	// or pending, so no rule creates that record meanwhile.
	linkingDuplicate map[string]bool
	// markers holds the markers of the case's planned actions (ours).
	markers map[string]bool
	// breached holds the slas each record breached in this pass, for the
	// escalation levels.
	breached map[Ref][]string
}

// prepare fills canonical statuses from the current mappings (so a reload
// takes effect without re-ingesting) and builds the views rules see.
func (p *planner) prepare() {
	p.mirrorCopies = map[string]bool{}
	for k, id := range p.c.Mirrors {
		if _, target, ok := strings.Cut(k, ">"); ok {
			p.mirrorCopies[target+"#"+id] = true
		}
	}
	p.views = make(map[Ref]ItemView, len(p.c.Items))
	for i := range p.c.Items {
		it := &p.c.Items[i]
		if km := p.m.Kind(it.Ref.System, it.Ref.Kind); km != nil {
			if s := km.Canonical(it.Native); s != "" {
				it.Status = s
			}
		}
		v := p.view(it)
		p.views[it.Ref] = v
		if it.Known() && !it.Deleted {
			p.caseView.Items = append(p.caseView.Items, v)
		}
	}
	p.caseView.ID = int64(p.c.ID)
	for i := range p.c.MentionedBy {
		if it := &p.c.MentionedBy[i]; it.Known() && !it.Deleted {
			p.caseView.Mentions = append(p.caseView.Mentions, p.view(it))
		}
	}
}

func (p *planner) view(it *Item) ItemView {
	km := p.m.Kind(it.Ref.System, it.Ref.Kind)
	v := ItemView{
		Ref: it.Ref.String(), System: it.Ref.System, Kind: string(it.Ref.Kind), ID: it.Ref.ID,
		Title: it.Title, Body: it.Body, Status: string(it.Status), Native: it.Native,
		Priority: km.CanonicalPriority(it.Priority), NativePriority: it.Priority,
		Reporter: it.Reporter, Assignee: it.Assignee, Labels: it.Labels, Fields: it.Fields,
		URL: it.URL, Created: it.CreatedAt, Exists: true,
	}
	if v.Fields == nil {
		v.Fields = map[string]string{}
	}
	v.Resolution = it.Fields["resolution"]
	v.Outcome = string(km.Outcome(v.Resolution))
	for _, s := range km.Cycle(it) {
		v.Path = append(v.Path, string(s))
	}
	v.Validated = km.Validated(it)
	v.HistoryGap = it.HistoryGap()
	v.Said = p.said(it)
	for _, s := range it.Seen {
		v.Events = append(v.Events, string(s))
	}
	for _, c := range it.Comments {
		if !c.Deleted {
			v.Comments = append(v.Comments, CommentView{ID: c.ID, Author: c.Author, Body: c.Body, Public: c.Public, Created: c.CreatedAt,
				Ours: c.Marker != "" && !p.mirrorCopies[it.Ref.String()+"#"+c.ID]})
		}
	}
	return v
}

// said gathers what the record's reporter wrote after its description:
// their public comments on it, and their mails in the case's mail threads
// (a reply by mail reaches a help-desk ticket as the gateway's comment,
// which does not count). The gateway's own comments never count: its
// question to the reporter names every item it asks for.
func (p *planner) said(it *Item) []string {
	if it.Reporter == "" {
		return nil
	}
	var out []string
	add := func(from *Item) {
		for _, c := range from.Comments {
			if c.Public && !c.Deleted && c.Marker == "" && strings.EqualFold(strings.TrimSpace(c.Author), strings.TrimSpace(it.Reporter)) {
				out = append(out, c.Body)
			}
		}
	}
	add(it)
	for i := range p.c.Items {
		if other := &p.c.Items[i]; other.Ref != it.Ref && other.Ref.Kind == EmailThread && !other.Deleted {
			add(other)
		}
	}
	return out
}

// env returns the environment of expressions and templates about subj.
// It is one value, reset for each use: planning a case evaluates dozens
// of rules, which only read it, and each use ends before the next begins.
func (p *planner) env(subj *Item) *Env {
	p.scratch = Env{Item: p.views[subj.Ref], Case: p.caseView, Now: p.now}
	return &p.scratch
}

func (p *planner) fail(r *Rule, pos Pos, err error) {
	p.out.Errors = append(p.out.Errors, fmt.Errorf("%s: rule %q: %w", pos, r.Name, err))
}

func (p *planner) rule(r *Rule, subj *Item) {
	if !r.When.Matches(subj.Ref) {
		return
	}
	if len(r.Seen) > 0 && !slices.ContainsFunc(r.Seen, subj.HasSeen) {
		return
	}
	env := p.env(subj)
	if r.If != nil {
		ok, err := r.If.Eval(env)
		if err != nil {
			p.fail(r, r.If.Pos, err)
			return
		}
		if !ok {
			return
		}
	}
	reason := "when " + r.When.String()
	if r.If != nil {
		reason += " if " + r.If.Source
	}
	p.then(r, subj, env, reason)
}

// then plans a rule's actions for a subject whose condition held.
func (p *planner) then(r *Rule, subj *Item, env *Env, reason string) {
	for _, spec := range r.Then {
		if spec.Kind == Create {
			p.create(r, spec, subj, env, reason)
			continue
		}
		for _, tgt := range p.targets(spec, subj) {
			env.Target = p.views[tgt.Ref]
			// A mirror's if is about each comment; mirror evaluates it.
			if spec.If != nil && !spec.Mirror {
				ok, err := spec.If.Eval(env)
				if err != nil {
					p.fail(r, spec.If.Pos, err)
					continue
				}
				if !ok {
					continue
				}
			}
			switch spec.Kind {
			case Transition:
				p.transition(r, spec, subj, tgt, env, reason)
			case AddComment:
				if spec.Mirror {
					p.mirror(r, spec, subj, tgt, env, reason)
				} else {
					p.comment(r, spec, subj, tgt, env, reason)
				}
			case SetFields:
				p.setFields(r, spec, subj, tgt, env, reason)
			case AddLink:
				p.add(Action{Kind: AddLink, Rule: r.Name, Target: tgt.Ref, Subject: subj.Ref, Reason: reason,
					Other: subj.Ref, OtherURL: subj.URL, Title: subj.Title, Role: spec.Role},
					// A link between two records is one fact, whichever rule
					// asks for it: the key names the records only.
					"link", tgt.Ref.String(), subj.Ref.String())
			case Notify:
				to, err := render(spec.To, env)
				if err != nil {
					p.fail(r, spec.Pos, err)
					continue
				}
				body, err := render(spec.Body, env)
				if err != nil {
					p.fail(r, spec.Pos, err)
					continue
				}
				title, err := render(spec.Title, env)
				if err != nil {
					p.fail(r, spec.Pos, err)
					continue
				}
				var fields map[string]string
				failed := false
				for k, t := range spec.Fields {
					v, err := render(t, env)
					if err != nil {
						p.fail(r, spec.Pos, err)
						failed = true
						break
					}
					if fields == nil {
						fields = map[string]string{}
					}
					fields[k] = v
				}
				if failed {
					continue
				}
				a := Action{Kind: Notify, Rule: r.Name, Target: tgt.Ref, Subject: subj.Ref, Reason: reason, To: to, Title: title, Body: body, Fields: fields}
				if strings.TrimSpace(to) != "" && !strings.Contains(to, "://") {
					rcpt, err := ParseRecipient(to)
					if err != nil {
						p.fail(r, spec.Pos, fmt.Errorf("notify: to: %w", err))
						continue
					}
					a.Recipients = []mail.Address{rcpt}
				}
				p.add(a, "notify", r.Name, subj.Ref.String(), to)
			}
		}
		env.Target = ItemView{}
	}
}

// targets returns the live, known records an action writes to: the subject
// when the spec names no target, otherwise the case's other records it
// selects.
func (p *planner) targets(spec *ActionSpec, subj *Item) []*Item {
	if spec.Target == (Selector{}) {
		return []*Item{subj}
	}
	var out []*Item
	for i := range p.c.Items {
		it := &p.c.Items[i]
		if it.Ref != subj.Ref && spec.Target.Matches(it.Ref) && it.Known() && !it.Deleted {
			out = append(out, it)
		}
	}
	return out
}

// add keeps an action unless its key was planned before, in the outbox or
// in this pass.
func (p *planner) add(a Action, keyParts ...string) {
	a.Key = ActionKey(keyParts...)
	if _, ok := p.c.Keys[a.Key]; ok || p.seen[a.Key] {
		return
	}
	p.seen[a.Key] = true
	a.Case = p.c.ID
	p.out.Actions = append(p.out.Actions, a)
}

func (p *planner) create(r *Rule, spec *ActionSpec, subj *Item, env *Env, reason string) {
	sel := spec.Target
	// One record of a kind per case: if the case has one already (made by
	// us, linked by a person, or found as a duplicate), or a create of that
	// kind is still in the outbox, there is nothing to create.
	if len(p.c.OfKind(sel.System, sel.Kind)) > 0 {
		return
	}
	prefix := ActionKey("create", sel.String(), "")
	for k, st := range p.c.Keys {
		if st != Dead && strings.HasPrefix(k, prefix) {
			return
		}
	}
	for k := range p.seen {
		if strings.HasPrefix(k, prefix) {
			return
		}
	}
	if p.linkingDuplicate[subj.Ref.String()+">"+sel.String()] {
		return // a duplicate is being linked instead
	}
	if spec.If != nil {
		ok, err := spec.If.Eval(env)
		if err != nil {
			p.fail(r, spec.If.Pos, err)
			return
		}
		if !ok {
			return
		}
	}
	km := p.m.Kind(sel.System, sel.Kind)
	a := Action{Kind: Create, Rule: r.Name, Target: Ref{System: sel.System, Kind: sel.Kind}, Subject: subj.Ref,
		Reason: reason, Role: spec.Role, Fields: map[string]string{}, Files: p.withContent(reportedFiles(subj))}
	if km != nil {
		maps.Copy(a.Fields, km.Create)
	}
	var err error
	if a.Title, err = render(spec.Title, env); err != nil {
		p.fail(r, spec.Pos, err)
		return
	}
	if a.Body, err = render(spec.Body, env); err != nil {
		p.fail(r, spec.Pos, err)
		return
	}
	if err := p.renderFields(spec.Fields, env, km, a.Fields); err != nil {
		p.fail(r, spec.Pos, err)
		return
	}
	for _, l := range spec.Labels {
		s, err := render(l, env)
		if err != nil {
			p.fail(r, spec.Pos, err)
			return
		}
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(a.Labels, s) {
			a.Labels = append(a.Labels, s)
		}
	}
	p.add(a, "create", sel.String(), r.Name, subj.Ref.String())
}

// reportedFiles are the files of what was first reported on a record (a
// thread's first mail, a ticket's description): its earliest public
// comment's. A record made from it carries them, as its text carries the
// report's.
func reportedFiles(it *Item) []Attachment {
	for _, c := range it.Comments {
		if c.Public && !c.Deleted {
			return c.Files
		}
	}
	return nil
}

// withContent names, for each file known only by its URL at its source
// (a help-desk comment's), the kept content of the same file elsewhere in
// the case, where it has any: the customer's mail that the help desk got
// it from. A record made or written from the help desk then carries the
// customer's file rather than a link to it.
func (p *planner) withContent(files []Attachment) []Attachment {
	var out []Attachment
	for i, f := range files {
		if f.Hash != "" || f.Over {
			continue
		}
		if h := p.keptHash(f.Name, f.Size); h != "" {
			if out == nil {
				out = slices.Clone(files)
			}
			out[i].Hash = h
		}
	}
	if out == nil {
		return files
	}
	return out
}

// keptHash is the hash of a kept file of the case with this name and size.
func (p *planner) keptHash(name string, size int64) string {
	for _, it := range p.c.Items {
		for _, c := range it.Comments {
			for _, f := range c.Files {
				if f.Hash != "" && f.Name == name && f.Size == size {
					return f.Hash
				}
			}
		}
	}
	return ""
}

// renderFields renders field templates into out. A field named "priority"
// whose value is a canonical priority is written as the target's native one.
func (p *planner) renderFields(specs map[string]*Text, env *Env, km *KindMap, out map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		v, err := render(specs[name], env)
		if err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
		if name == "priority" && km != nil {
			if n, ok := km.NativePrio[v]; ok {
				v = n
			}
		}
		out[name] = v
	}
	return nil
}

func (p *planner) transition(r *Rule, spec *ActionSpec, subj, tgt *Item, env *Env, reason string) {
	cur, want := tgt.Status, spec.Status
	if cur == want || p.transitioned[tgt.Ref] {
		return
	}
	if len(spec.From) > 0 {
		if !slices.Contains(spec.From, cur) {
			return
		}
	} else if cur != "" && cur.Rank() >= want.Rank() {
		// Forward only: never undo a later decision a person made.
		return
	}
	km := p.m.Kind(tgt.Ref.System, tgt.Ref.Kind)
	native := ""
	if km != nil {
		native = km.Native[want]
	}
	if native == "" {
		p.fail(r, spec.Pos, fmt.Errorf("no native status of %s/%s maps to %q", tgt.Ref.System, tgt.Ref.Kind, want))
		return
	}
	// The key names the records the case holds: a transition happens once
	// per situation, so a person who moves the ticket back by hand is not
	// overruled, but a new record (a second pull request after the first
	// was abandoned) may move it again. With once_per the rule names the
	// situation itself (a reopening: once per answer of the customer's).
	situation := p.situation()
	if spec.OncePer != nil {
		per, err := render(spec.OncePer, env)
		if err != nil {
			p.fail(r, spec.Pos, err)
			return
		}
		situation = "per " + strings.TrimSpace(per)
	}
	key := []string{"transition", r.Name, subj.Ref.String(), tgt.Ref.String(), string(want), situation}
	if cur != "" && cur.Rank() > want.Rank() {
		key = append(key, backward) // counted by cycle
	}
	p.transitioned[tgt.Ref] = true
	p.add(Action{Kind: Transition, Rule: r.Name, Target: tgt.Ref, Subject: subj.Ref, Reason: reason,
		Status: want, Native: native}, key...)
}

// backward ends the key of a transition that moved a record back.
const backward = "back"

// cycle is the case's fix cycle: how many times the gateway has sent one
// of its records back (a done transition that moved it back, as when the
// customer answers a correction with "still broken"). A public comment is
// made once per cycle, so the customer hears of the second fix too; the
// rule's condition, false while the record is back at work, keeps it from
// repeating what was already said.
func (p *planner) cycle() int {
	if p.cycles < 0 {
		p.cycles = 0
		for k, st := range p.c.Keys {
			if st == Done && strings.HasPrefix(k, "transition|") && strings.HasSuffix(k, "|"+backward) {
				p.cycles++
			}
		}
	}
	return p.cycles
}

// situation is a short digest of the refs of the case's live records.
func (p *planner) situation() string {
	if p.refsDigest == "" {
		h := sha256.New()
		for _, v := range p.caseView.Items {
			h.Write([]byte(v.Ref))
			h.Write([]byte{0})
		}
		p.refsDigest = hex.EncodeToString(h.Sum(nil)[:6])
	}
	return p.refsDigest
}

func (p *planner) comment(r *Rule, spec *ActionSpec, subj, tgt *Item, env *Env, reason string) {
	body, err := render(spec.Body, env)
	if err != nil {
		p.fail(r, spec.Pos, err)
		return
	}
	if strings.TrimSpace(body) == "" {
		return
	}
	key := []string{"comment", r.Name, subj.Ref.String(), tgt.Ref.String()}
	if n := p.cycle(); spec.Public && n > 0 {
		key = append(key, fmt.Sprintf("cycle %d", n))
	}
	if spec.OncePer != nil {
		per, err := render(spec.OncePer, env)
		if err != nil {
			p.fail(r, spec.Pos, err)
			return
		}
		key = append(key, "per "+strings.TrimSpace(per))
	}
	p.add(Action{Kind: AddComment, Rule: r.Name, Target: tgt.Ref, Subject: subj.Ref, Reason: reason,
		Body: body, Public: spec.Public}, key...)
}

// mirror copies each of the subject's comments to the target once. A
// comment the gateway wrote (it carries a marker, or it is a known copy) is
// never copied back: that is what stops comment ping-pong.
func (p *planner) mirror(r *Rule, spec *ActionSpec, subj, tgt *Item, env *Env, reason string) {
	for _, c := range subj.Comments {
		if c.Deleted || c.Marker != "" || p.mirrorCopies[subj.Ref.String()+"#"+c.ID] {
			continue
		}
		mk := MirrorKey(subj.Ref, c.ID, tgt.Ref)
		if _, done := p.c.Mirrors[mk]; done {
			continue
		}
		env.Comment = CommentView{ID: c.ID, Author: c.Author, Body: c.Body, Public: c.Public, Created: c.CreatedAt}
		ok := true
		if spec.If != nil {
			var err error
			if ok, err = spec.If.Eval(env); err != nil {
				p.fail(r, spec.If.Pos, err)
				continue
			}
		}
		if !ok {
			continue
		}
		body := c.Body
		if spec.Body != nil {
			var err error
			if body, err = render(spec.Body, env); err != nil {
				p.fail(r, spec.Pos, err)
				continue
			}
		}
		p.add(Action{Kind: AddComment, Rule: r.Name, Target: tgt.Ref, Subject: subj.Ref, Reason: reason,
			Body: body, Public: spec.Public, SourceComment: c.ID, Files: p.withContent(c.Files), Author: c.Author},
			"mirror", r.Name, mk)
	}
	env.Comment = CommentView{}
}

func (p *planner) setFields(r *Rule, spec *ActionSpec, subj, tgt *Item, env *Env, reason string) {
	want := map[string]string{}
	if err := p.renderFields(spec.Fields, env, p.m.Kind(tgt.Ref.System, tgt.Ref.Kind), want); err != nil {
		p.fail(r, spec.Pos, err)
		return
	}
	for k, v := range want {
		if tgt.Field(k) == v {
			delete(want, k)
		}
	}
	if len(want) == 0 {
		return
	}
	p.add(Action{Kind: SetFields, Rule: r.Name, Target: tgt.Ref, Subject: subj.Ref, Reason: reason, Fields: want},
		"fields", r.Name, tgt.Ref.String(), digest(want))
}

func digest(m map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(h, "%s=%s\x00", k, m[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func render(t *Text, env *Env) (string, error) {
	if t == nil {
		return "", nil
	}
	return t.Render(env)
}

// sync keeps one field equal on every pair of records the rule selects.
func (p *planner) sync(s *SyncRule) {
	var as, bs []*Item
	for i := range p.c.Items {
		it := &p.c.Items[i]
		if !it.Known() || it.Deleted {
			continue
		}
		if s.A.Matches(it.Ref) {
			as = append(as, it)
		} else if s.B.Matches(it.Ref) {
			bs = append(bs, it)
		}
	}
	for _, a := range as {
		for _, b := range bs {
			p.syncPair(s, a, b)
		}
	}
}

func (p *planner) syncPair(s *SyncRule, a, b *Item) {
	va, vb := p.canonicalField(a, s.Field), p.canonicalField(b, s.Field)
	if va == vb {
		return
	}
	last, synced := p.c.Synced[SyncKey(a.Ref, b.Ref, s.Field)]
	from, to := a, b
	switch s.Policy {
	case OwnerB:
		from, to = b, a
	case LastWriter:
		aChanged, bChanged := va != last, vb != last
		switch {
		case synced && aChanged && bChanged:
			p.out.Conflicts = append(p.out.Conflicts, Conflict{At: p.now, Case: p.c.ID, Rule: s.Name, Field: s.Field,
				A: a.Ref, AVal: va, B: b.Ref, BVal: vb, Last: last})
			return
		case synced && bChanged:
			from, to = b, a
		case !synced && Newer(b, a):
			from, to = b, a
		}
	}
	v := p.canonicalField(from, s.Field)
	if v == "" {
		return // nothing to copy; an empty owner does not erase the other side
	}
	name, native := p.nativeField(to, s.Field, v)
	if name == "" {
		return
	}
	p.add(Action{Kind: SetFields, Rule: s.Name, Target: to.Ref, Subject: from.Ref,
		Reason: fmt.Sprintf("sync %s from %s (%s)", s.Field, from.Ref, s.Policy),
		Fields: map[string]string{name: native}, SyncField: s.Field, SyncValue: v},
		"sync", s.Name, from.Ref.String(), to.Ref.String(), s.Field, v)
}

// canonicalField reads a synced field in canonical form: priorities through
// the priority map, people through the identity map, other fields through
// the kind's field map.
func (p *planner) canonicalField(it *Item, field string) string {
	km := p.m.Kind(it.Ref.System, it.Ref.Kind)
	switch field {
	case "priority":
		return km.CanonicalPriority(it.Priority)
	case "assignee":
		for _, per := range p.m.People {
			if strings.EqualFold(per.IDs[it.Ref.System], it.Assignee) && it.Assignee != "" {
				return per.Name
			}
		}
		return ""
	}
	if km != nil {
		if n, ok := km.Fields[field]; ok {
			return it.Fields[n]
		}
	}
	return it.Fields[field]
}

// nativeField returns the native field name and value to write.
func (p *planner) nativeField(it *Item, field, v string) (string, string) {
	km := p.m.Kind(it.Ref.System, it.Ref.Kind)
	switch field {
	case "priority":
		if km == nil {
			return "", ""
		}
		return "priority", km.NativePrio[v]
	case "assignee":
		for _, per := range p.m.People {
			if per.Name == v {
				return "assignee", per.IDs[it.Ref.System]
			}
		}
		return "", ""
	}
	if km != nil {
		if n, ok := km.Fields[field]; ok {
			return n, v
		}
	}
	return field, v
}

// SortActions orders actions so that writes to one target keep their
// planned order and creates come first.
func SortActions(as []Action) {
	sort.SliceStable(as, func(i, j int) bool { return as[i].Kind == Create && as[j].Kind != Create })
}

// Searches reports whether the rule looks for a duplicate of one of c's
// records: one its when selects, known and not deleted, in a case without
// a record of the kind it looks among. Only then does the planner need
// Case.Candidates.
func (d *DuplicateRule) Searches(c *Case) bool {
	for i := range c.Items {
		if d.subject(c, &c.Items[i]) {
			return true
		}
	}
	return false
}

func (d *DuplicateRule) subject(c *Case, it *Item) bool {
	return d.When.Matches(it.Ref) && it.Known() && !it.Deleted && len(c.OfKind(d.Among.System, d.Among.Kind)) == 0
}

// duplicate links subjects to the most similar open record of another
// case, when their own case has none of that kind.
func (p *planner) duplicate(d *DuplicateRule) {
	if p.linkingDuplicate == nil {
		p.linkingDuplicate = map[string]bool{}
	}
	for i := range p.c.Items {
		subj := &p.c.Items[i]
		if !d.subject(p.c, subj) {
			continue
		}
		for k, st := range p.c.Keys {
			if st == Pending && strings.HasPrefix(k, "link|") && strings.HasSuffix(k, "|"+subj.Ref.String()) {
				p.linkingDuplicate[subj.Ref.String()+">"+d.Among.String()] = true
			}
		}
		env := p.env(subj)
		if d.If != nil {
			ok, err := d.If.Eval(env)
			if err != nil {
				p.out.Errors = append(p.out.Errors, fmt.Errorf("%s: duplicates entry %q: %w", d.If.Pos, d.Name, err))
				continue
			}
			if !ok {
				continue
			}
		}
		var best *Item
		bestScore := d.Threshold
		for j := range p.c.Candidates {
			cand := &p.c.Candidates[j]
			if !d.Among.Matches(cand.Ref) || cand.Deleted || p.c.Item(cand.Ref) != nil || !p.open(cand) || p.ours(cand) {
				continue
			}
			if s := Similarity(subj, cand); s >= bestScore {
				best, bestScore = cand, s
			}
		}
		if best == nil {
			continue
		}
		p.linkingDuplicate[subj.Ref.String()+">"+d.Among.String()] = true
		reason := fmt.Sprintf("duplicate of %s (similarity %.2f >= %.2f)", best.Ref, bestScore, d.Threshold)
		p.add(Action{Kind: AddLink, Rule: d.Name, Target: best.Ref, Subject: subj.Ref, Reason: reason,
			Other: subj.Ref, OtherURL: subj.URL, Title: subj.Title, Role: d.Role},
			"link", best.Ref.String(), subj.Ref.String())
		dup := *best
		if km := p.m.Kind(dup.Ref.System, dup.Ref.Kind); km != nil {
			if st := km.Canonical(dup.Native); st != "" {
				dup.Status = st
			}
		}
		env.Duplicate = p.view(&dup)
		p.then(&Rule{Name: d.Name, Pos: d.Pos, When: d.When, Then: d.Then}, subj, env, reason)
	}
}

// ours reports whether a candidate carries the marker of one of this
// case's own actions: a record the gateway made for this very case (a
// create whose answer was lost) is found by its marker and adopted, never
// offered as another case's problem.
func (p *planner) ours(it *Item) bool {
	if it.Marker == "" {
		return false
	}
	if p.markers == nil {
		p.markers = make(map[string]bool, len(p.c.Keys))
		for k := range p.c.Keys {
			p.markers[MarkerFor(k)] = true
		}
	}
	return p.markers[it.Marker]
}

// open reports whether a candidate is still being worked on.
func (p *planner) open(it *Item) bool {
	st := it.Status
	if km := p.m.Kind(it.Ref.System, it.Ref.Kind); km != nil {
		if s := km.Canonical(it.Native); s != "" {
			st = s
		}
	}
	return st != StatusDone && st != StatusSolved && st != StatusClosed
}

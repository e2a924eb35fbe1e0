package core

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func cond(src string, f func(*Env) bool) *Cond {
	return &Cond{Source: src, Eval: func(e *Env) (bool, error) { return f(e), nil }}
}

func text(f func(*Env) string) *Text {
	return &Text{Render: func(e *Env) (string, error) { return f(e), nil }}
}

func lit(s string) *Text { return text(func(*Env) string { return s }) }

// testMappings is a small process: PRs move dev tickets, a bug ticket is
// escalated, dev comments reach the customer as internal notes, priority is
// owned by the help desk.
func testMappings() *Mappings {
	return &Mappings{
		Systems: map[string]*SystemMap{
			"zendesk": {Name: "zendesk", Kinds: map[Kind]*KindMap{CustomerTicket: {
				Statuses:   map[string]Status{"new": StatusNew, "open": StatusOpen, "pending": StatusPending, "solved": StatusSolved},
				Native:     map[Status]string{StatusNew: "new", StatusOpen: "open", StatusPending: "pending", StatusSolved: "solved"},
				Priorities: map[string]string{"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"},
				NativePrio: map[string]string{"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"},
			}}},
			"jira": {Name: "jira", Kinds: map[Kind]*KindMap{DevTicket: {
				Statuses: map[string]Status{"to do": StatusOpen, "in progress": StatusInProgress, "in review": StatusInReview,
					"ready for qa": StatusReadyForQA, "done": StatusDone},
				Native: map[Status]string{StatusOpen: "To Do", StatusInProgress: "In Progress", StatusInReview: "In Review",
					StatusReadyForQA: "Ready for QA", StatusDone: "Done"},
				Priorities: map[string]string{"low": "low", "medium": "normal", "high": "high", "highest": "urgent"},
				NativePrio: map[string]string{"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"},
				Create:     map[string]string{"project": "KBOT", "issue_type": "Bug"},
			}}},
			"github": {Name: "github", Kinds: map[Kind]*KindMap{PullRequest: {
				Statuses: map[string]Status{"open": StatusInReview, "merged": StatusDone, "closed": StatusClosed},
				Native:   map[Status]string{},
			}}},
		},
		Patterns: []*Pattern{{Name: "jira-key", From: Selector{System: "github", Kind: PullRequest}, In: []string{"title", "branch"},
			Regexp: regexp.MustCompile(`\b(KBOT-\d+)\b`), To: Selector{System: "jira", Kind: DevTicket}, Role: Fixes}},
		Rules: []*Rule{
			{Name: "pr-opened", When: Selector{System: "github", Kind: PullRequest},
				If:   cond(`Item.Native == "open"`, func(e *Env) bool { return e.Item.Native == "open" }),
				Then: []*ActionSpec{{Kind: Transition, Target: Selector{Kind: DevTicket}, Status: StatusInReview}}},
			{Name: "pr-merged", When: Selector{System: "github", Kind: PullRequest}, Seen: []EventType{Merged},
				Then: []*ActionSpec{
					{Kind: Transition, Target: Selector{Kind: DevTicket}, Status: StatusReadyForQA},
					{Kind: AddComment, Target: Selector{Kind: CustomerTicket}, Body: text(func(e *Env) string { return "fix merged: " + e.Item.URL })},
				}},
			{Name: "pr-closed", When: Selector{System: "github", Kind: PullRequest}, Seen: []EventType{ClosedUnmerged},
				Then: []*ActionSpec{{Kind: Transition, Target: Selector{Kind: DevTicket}, Status: StatusInProgress, From: []Status{StatusInReview}}}},
			{Name: "escalate", When: Selector{System: "zendesk", Kind: CustomerTicket},
				If: cond(`"bug" in Item.Labels`, func(e *Env) bool { return e.Item.HasLabel("bug") }),
				Then: []*ActionSpec{
					{Kind: Create, Target: Selector{System: "jira", Kind: DevTicket}, Role: EscalatedTo,
						Title: text(func(e *Env) string { return e.Item.Title }), Fields: map[string]*Text{"priority": text(func(e *Env) string { return e.Item.Priority })}},
					{Kind: SetFields, Target: Selector{}, Fields: map[string]*Text{"dev_key": text(func(e *Env) string { return e.First("dev_ticket").ID })}},
				}},
			{Name: "dev-notes", When: Selector{System: "jira", Kind: DevTicket},
				Then: []*ActionSpec{{Kind: AddComment, Mirror: true, Target: Selector{Kind: CustomerTicket}, Public: false}}},
			{Name: "customer-replies", When: Selector{System: "zendesk", Kind: CustomerTicket},
				Then: []*ActionSpec{{Kind: AddComment, Mirror: true, Target: Selector{Kind: DevTicket}, Public: true,
					If: cond("Comment.Public", func(e *Env) bool { return e.Comment.Public })}}},
		},
		Sync: []*SyncRule{{Name: "priority", Field: "priority", A: Selector{System: "zendesk", Kind: CustomerTicket},
			B: Selector{System: "jira", Kind: DevTicket}, Policy: OwnerA}},
	}
}

func ticket(id, native string, labels ...string) Item {
	return Item{Ref: Ref{"zendesk", CustomerTicket, id}, Title: "Login broken", Native: native, Priority: "high",
		Labels: labels, UpdatedAt: t0, Fields: map[string]string{}}
}

func dev(key, native string) Item {
	return Item{Ref: Ref{"jira", DevTicket, key}, Title: "Login broken", Native: native, Priority: "High", UpdatedAt: t0}
}

func pr(n, native string, seen ...EventType) Item {
	return Item{Ref: Ref{"github", PullRequest, "acme/app#" + n}, Title: "KBOT-1 fix", Native: native, Seen: seen,
		URL: "https://github.com/acme/app/pull/" + n, UpdatedAt: t0}
}

func kinds(as []Action) []string {
	var out []string
	for _, a := range as {
		s := string(a.Kind) + " " + a.Target.String()
		if a.Native != "" {
			s += " → " + a.Native
		}
		out = append(out, s)
	}
	return out
}

func TestPlanCase(t *testing.T) {
	cases := []struct {
		name  string
		items []Item
		keys  map[string]ActionState
		want  []string
	}{
		{"open PR moves the ticket to review",
			[]Item{dev("KBOT-1", "In Progress"), pr("1", "open", Opened)},
			nil, []string{"transition jira/dev_ticket/KBOT-1 → In Review"}},
		{"never moves a ticket backwards by default",
			[]Item{dev("KBOT-1", "Done"), pr("1", "open", Opened)},
			nil, nil},
		{"merged PR: ready for QA and a note on the customer ticket",
			[]Item{ticket("7", "open"), dev("KBOT-1", "In Review"), pr("1", "merged", Opened, Merged)},
			nil, []string{"transition jira/dev_ticket/KBOT-1 → Ready for QA", "comment zendesk/customer_ticket/7"}},
		{"from-guard: closed PR returns the ticket only from review",
			[]Item{dev("KBOT-1", "In Review"), pr("1", "closed", Opened, ClosedUnmerged)},
			nil, []string{"transition jira/dev_ticket/KBOT-1 → In Progress"}},
		{"from-guard holds otherwise",
			[]Item{dev("KBOT-1", "Ready for QA"), pr("1", "closed", Opened, ClosedUnmerged)},
			nil, nil},
		{"an action in the outbox is not planned again",
			[]Item{dev("KBOT-1", "In Progress"), pr("1", "open", Opened)},
			map[string]ActionState{ActionKey("transition", "pr-opened", "github/pull_request/acme/app#1", "jira/dev_ticket/KBOT-1", "in_review",
				situation("github/pull_request/acme/app#1", "jira/dev_ticket/KBOT-1")): Done},
			nil},
		{"a new pull request is a new situation: the ticket moves again",
			[]Item{dev("KBOT-1", "In Progress"), pr("1", "open", Opened), pr("2", "open", Opened)},
			map[string]ActionState{ActionKey("transition", "pr-opened", "github/pull_request/acme/app#1", "jira/dev_ticket/KBOT-1", "in_review",
				situation("github/pull_request/acme/app#1", "jira/dev_ticket/KBOT-1")): Done},
			[]string{"transition jira/dev_ticket/KBOT-1 → In Review"}},
		{"a bug ticket is escalated once, with the native priority",
			[]Item{ticket("7", "open", "bug")},
			nil, []string{"create jira/dev_ticket/"}},
		{"no second developer ticket while a create is pending",
			[]Item{ticket("7", "open", "bug"), ticket("8", "open", "bug")},
			map[string]ActionState{ActionKey("create", "jira/dev_ticket", "escalate", "zendesk/customer_ticket/7"): Pending},
			nil},
		{"escalated ticket gets the key and the priority follows the owner",
			[]Item{ticket("7", "open", "bug"), dev("KBOT-1", "To Do")},
			nil, []string{"set_fields zendesk/customer_ticket/7"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := &Case{ID: 1, Items: c.items, Keys: c.keys}
			cs.Sort()
			p := PlanCase(cs, testMappings(), t0)
			if len(p.Errors) > 0 {
				t.Fatal(p.Errors)
			}
			if got := kinds(p.Actions); !slices.Equal(got, c.want) {
				t.Fatalf("planned\n  %q\nwant\n  %q", got, c.want)
			}
		})
	}
}

func situation(refs ...string) string {
	p := planner{}
	for _, r := range refs {
		p.caseView.Items = append(p.caseView.Items, ItemView{Ref: r})
	}
	return p.situation()
}

func TestPlanCase_CreateCarriesNativeFieldsAndMarker(t *testing.T) {
	cs := &Case{ID: 3, Items: []Item{ticket("7", "open", "bug")}}
	p := PlanCase(cs, testMappings(), t0)
	if len(p.Actions) != 1 {
		t.Fatalf("planned %v", kinds(p.Actions))
	}
	a := p.Actions[0]
	if a.Fields["priority"] != "High" || a.Fields["project"] != "KBOT" || a.Title != "Login broken" || a.Role != EscalatedTo {
		t.Fatalf("create = %+v", a)
	}
	if m := a.Marker(); !regexp.MustCompile(`^liaison-[0-9a-f]{12}$`).MatchString(m) || m != MarkerFor(a.Key) {
		t.Fatalf("marker %q", m)
	}
}

func TestPlanCase_PrioritySyncFollowsOwner(t *testing.T) {
	d := dev("KBOT-1", "To Do")
	d.Priority = "Low"
	tk := ticket("7", "open")
	tk.Fields["dev_key"] = "KBOT-1"
	cs := &Case{ID: 1, Items: []Item{tk, d}}
	cs.Sort()
	p := PlanCase(cs, testMappings(), t0)
	if len(p.Actions) != 1 || p.Actions[0].Target != d.Ref || p.Actions[0].Fields["priority"] != "High" || p.Actions[0].SyncValue != "high" {
		t.Fatalf("planned %+v", p.Actions)
	}
}

func TestPlanCase_LastWriterConflict(t *testing.T) {
	m := testMappings()
	m.Sync[0].Policy = LastWriter
	m.Rules = nil
	d := dev("KBOT-1", "To Do")
	d.Priority = "Low" // canonical low
	tk := ticket("7", "open")
	tk.Priority = "urgent"
	key := SyncKey(tk.Ref, d.Ref, "priority")
	cases := []struct {
		name      string
		last      string
		wantSet   string
		conflicts int
	}{
		{"only the help desk changed", "low", "jira/dev_ticket/KBOT-1", 0},
		{"only jira changed", "urgent", "zendesk/customer_ticket/7", 0},
		{"both changed", "normal", "", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := &Case{ID: 1, Items: []Item{tk, d}, Synced: map[string]string{key: c.last}}
			cs.Sort()
			p := PlanCase(cs, m, t0)
			if len(p.Conflicts) != c.conflicts {
				t.Fatalf("conflicts %+v", p.Conflicts)
			}
			got := ""
			if len(p.Actions) == 1 {
				got = p.Actions[0].Target.String()
			}
			if got != c.wantSet {
				t.Fatalf("set on %q; want %q (%+v)", got, c.wantSet, p.Actions)
			}
		})
	}
}

func TestPlanCase_MirrorsOnceAndNeverBack(t *testing.T) {
	d := dev("KBOT-1", "In Progress")
	d.Comments = []Comment{
		{ID: "10", Body: "root cause found", Public: false, CreatedAt: t0},
		{ID: "11", Body: "mirrored from help desk", Marker: "liaison-0123456789ab", CreatedAt: t0},
		{ID: "12", Body: "a copy we made", CreatedAt: t0},
	}
	tk := ticket("7", "open")
	cs := &Case{ID: 1, Items: []Item{tk, d}, Mirrors: map[string]string{
		MirrorKey(tk.Ref, "99", d.Ref): "12",
	}}
	cs.Sort()
	m := testMappings()
	m.Sync = nil
	p := PlanCase(cs, m, t0)
	if len(p.Actions) != 1 || p.Actions[0].SourceComment != "10" || p.Actions[0].Public {
		t.Fatalf("planned %+v", p.Actions)
	}
	cs.Mirrors[MirrorKey(d.Ref, "10", tk.Ref)] = "500"
	if p := PlanCase(cs, m, t0); len(p.Actions) != 0 {
		t.Fatalf("mirrored twice: %+v", p.Actions)
	}
	// The customer's public reply goes the other way; the internal note we
	// made on the ticket (a known copy) and a private comment do not.
	cs.Item(tk.Ref).Comments = []Comment{
		{ID: "500", Body: "root cause found", CreatedAt: t0},
		{ID: "501", Body: "It also happens on mobile.", Public: true, CreatedAt: t0},
		{ID: "502", Body: "agent aside", Public: false, CreatedAt: t0},
	}
	p = PlanCase(cs, m, t0)
	if len(p.Actions) != 1 || p.Actions[0].SourceComment != "501" || p.Actions[0].Target != d.Ref || !p.Actions[0].Public {
		t.Fatalf("customer reply: planned %+v", p.Actions)
	}
}

func TestPlanCase_RuleErrorDoesNotStopOthers(t *testing.T) {
	m := testMappings()
	m.Rules = append([]*Rule{{Name: "broken", Pos: Pos{File: "rules.yaml", Line: 3, Col: 5}, When: Selector{Kind: PullRequest},
		If: &Cond{Source: "x", Pos: Pos{File: "rules.yaml", Line: 4, Col: 9}, Eval: func(*Env) (bool, error) { return false, errBoom }}}}, m.Rules...)
	cs := &Case{ID: 1, Items: []Item{dev("KBOT-1", "In Progress"), pr("1", "open", Opened)}}
	cs.Sort()
	p := PlanCase(cs, m, t0)
	if len(p.Errors) != 1 || !strings.HasPrefix(p.Errors[0].Error(), `rules.yaml:4:9: rule "broken": boom`) {
		t.Fatalf("errors %v", p.Errors)
	}
	if len(p.Actions) != 1 {
		t.Fatalf("other rules stopped: %v", kinds(p.Actions))
	}
}

type boom struct{}

func (boom) Error() string { return "boom" }

var errBoom error = boom{}

func TestPattern_FindAndPlaceholders(t *testing.T) {
	m := testMappings()
	it := pr("3", "open")
	it.Fields = map[string]string{"branch": "feature/KBOT-88-login"}
	it.Title = "KBOT-88 and KBOT-88 again, not XKBOT-9"
	got := m.Discover(&it)
	if len(got) != 1 || got[0].To != (Ref{"jira", DevTicket, "KBOT-88"}) || got[0].Origin != Discovered {
		t.Fatalf("discovered %+v", got)
	}
	ph := Item{Ref: Ref{"jira", DevTicket, "KBOT-88"}}
	if ph.Known() {
		t.Fatal("a placeholder counts as known")
	}
}

func TestMerge(t *testing.T) {
	old := Item{Ref: Ref{"jira", DevTicket, "K-1"}, Title: "a", Native: "To Do", UpdatedAt: t0, Seen: []EventType{Created},
		Comments: []Comment{{ID: "1", Body: "x", CreatedAt: t0}}}
	newer := old
	newer.Native, newer.UpdatedAt, newer.Seen, newer.Comments = "Done", t0.Add(time.Minute), []EventType{StatusChange}, nil
	commentOnly := Item{Ref: old.Ref, UpdatedAt: t0.Add(2 * time.Minute), Comments: []Comment{{ID: "2", Body: "y", CreatedAt: t0.Add(time.Minute)}}}

	got := Merge(&old, newer)
	if got.Native != "Done" || !slices.Equal(got.Seen, []EventType{Created, StatusChange}) || len(got.Comments) != 1 {
		t.Fatalf("newer: %+v", got)
	}
	late := Merge(&got, old) // the older snapshot arrives last
	if late.Native != "Done" {
		t.Fatalf("a late older snapshot won: %+v", late)
	}
	c := Merge(&late, commentOnly)
	if c.Native != "Done" || c.Title != "a" || len(c.Comments) != 2 {
		t.Fatalf("a comment-only event erased fields: %+v", c)
	}
	del := Merge(&c, Item{Ref: old.Ref, UpdatedAt: t0, Comments: []Comment{{ID: "1", Deleted: true}}})
	if !del.Comments[0].Deleted {
		t.Fatalf("deletion lost: %+v", del.Comments)
	}
}

func TestMerge_CreatedAtDoesNotDependOnArrivalOrder(t *testing.T) {
	a := Item{Ref: Ref{"jira", DevTicket, "K-1"}, Title: "a", UpdatedAt: t0.Add(time.Hour)}
	b := Item{Ref: a.Ref, Title: "b", UpdatedAt: t0}
	x, y := Merge(nil, a), Merge(nil, b)
	ab, ba := Merge(&x, b), Merge(&y, a)
	if !ab.CreatedAt.Equal(t0) || !ba.CreatedAt.Equal(t0) {
		t.Fatalf("created at %v and %v; want %v both ways", ab.CreatedAt, ba.CreatedAt, t0)
	}
}

func TestParseRef(t *testing.T) {
	for _, s := range []string{"jira/dev_ticket/KBOT-88", "github/pull_request/acme/kbot#341", "imap/email_thread/<a/b@c>"} {
		r, err := ParseRef(s)
		if err != nil || r.String() != s {
			t.Fatalf("ParseRef(%q) = %v, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "jira", "jira/dev_ticket", "jira/bug/KBOT-1", "/dev_ticket/x"} {
		if _, err := ParseRef(s); err == nil {
			t.Fatalf("ParseRef(%q) accepted", s)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	for _, got := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if strings.Contains(got, "hunter2") {
			t.Fatalf("secret printed: %q", got)
		}
	}
	if b, _ := s.MarshalText(); strings.Contains(string(b), "hunter2") {
		t.Fatal("secret marshalled")
	}
}

// TestPlanCase_DuplicateIsLinkedNotCreated: a bug ticket about a problem an
// open developer ticket already tracks is linked to it, with a note, and
// no second developer ticket is created; a closed or unrelated one does not
// count.
func TestPlanCase_DuplicateIsLinkedNotCreated(t *testing.T) {
	m := testMappings()
	m.Sync = nil
	m.Duplicates = []*DuplicateRule{{Name: "known-problem", When: Selector{System: "zendesk", Kind: CustomerTicket},
		Among: Selector{System: "jira", Kind: DevTicket}, Threshold: 0.5, Role: DuplicateOf,
		Then: []*ActionSpec{{Kind: AddComment, Body: text(func(e *Env) string { return "Known problem: " + e.Duplicate.ID + " " + e.Duplicate.Status })}}}}
	tk := ticket("7", "open", "bug")
	tk.Title, tk.Body = "Password reset link gives error 500", "The reset link opens an error page."
	same := dev("KBOT-12", "In Progress")
	same.Title, same.Body = "Error 500 on password reset link", "Reset link handler crashes."
	other := dev("KBOT-13", "In Progress")
	other.Title = "CSV export drops the last row"
	cases := []struct {
		name       string
		candidates []Item
		want       []string
	}{
		{"an open duplicate is linked, with a note", []Item{other, same}, []string{"link jira/dev_ticket/KBOT-12", "comment zendesk/customer_ticket/7"}},
		{"a done one is not a duplicate", []Item{func() Item { d := same; d.Native = "Done"; return d }()}, []string{"create jira/dev_ticket/"}},
		{"an unrelated one is not", []Item{other}, []string{"create jira/dev_ticket/"}},
	}
	// The create of this case's developer ticket timed out and is still
	// pending: the ticket it made anyway carries its marker.
	create := PlanCase(&Case{ID: 1, Items: []Item{tk}}, m, t0).Actions[0]
	orphan := same
	orphan.Ref.ID, orphan.Marker = "KBOT-14", create.Marker()
	cases = append(cases, struct {
		name       string
		candidates []Item
		want       []string
	}{"our own orphan is no known problem", []Item{orphan}, nil})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := &Case{ID: 1, Items: []Item{tk}, Candidates: c.candidates}
			if c.candidates != nil && c.candidates[0].Marker != "" {
				cs.Keys = map[string]ActionState{create.Key: Pending}
			}
			p := PlanCase(cs, m, t0)
			if got := kinds(p.Actions); !slices.Equal(got, c.want) {
				t.Fatalf("planned %q; want %q", got, c.want)
			}
			if len(p.Actions) == 2 && (p.Actions[0].Role != DuplicateOf || p.Actions[0].Other != tk.Ref || p.Actions[1].Body != "Known problem: KBOT-12 in_progress") {
				t.Fatalf("link %+v note %+v", p.Actions[0], p.Actions[1])
			}
		})
	}
	if s := Similarity(&tk, &same); s < 0.5 {
		t.Fatalf("similarity of the same problem %.2f", s)
	}
	if s := Similarity(&tk, &other); s > 0.2 {
		t.Fatalf("similarity of different problems %.2f", s)
	}
}

func TestPlanCase_CreateIfAndLinkRole(t *testing.T) {
	m := testMappings()
	m.Sync = nil
	esc := m.Rules[3]
	esc.Then = []*ActionSpec{
		{Kind: Create, Target: Selector{System: "jira", Kind: DevTicket}, Role: EscalatedTo, Title: lit("t"),
			If: cond("Item.Priority == \"urgent\"", func(e *Env) bool { return e.Item.Priority == "urgent" })},
	}
	m.Rules = append(m.Rules, &Rule{Name: "link-back", When: Selector{System: "zendesk", Kind: CustomerTicket},
		Then: []*ActionSpec{{Kind: AddLink, Target: Selector{Kind: DevTicket}, Role: Mentions}}})
	if p := PlanCase(&Case{ID: 1, Items: []Item{ticket("7", "open", "bug")}}, m, t0); len(p.Actions) != 0 {
		t.Fatalf("a create whose if fails was planned: %v", kinds(p.Actions))
	}
	cs := &Case{ID: 1, Items: []Item{ticket("7", "open"), dev("KBOT-1", "To Do")}}
	cs.Sort()
	p := PlanCase(cs, m, t0)
	if len(p.Actions) != 1 || p.Actions[0].Kind != AddLink || p.Actions[0].Role != Mentions || p.Actions[0].Other.ID != "7" {
		t.Fatalf("link: %+v", p.Actions)
	}
}

// TestDuplicateRule_Searches: the candidates are needed only for a case
// holding a record the rule selects, known and live, and none of the kind
// it looks among.
func TestDuplicateRule_Searches(t *testing.T) {
	d := &DuplicateRule{Name: "bug-duplicates", When: Selector{System: "zendesk", Kind: CustomerTicket},
		Among: Selector{System: "jira", Kind: DevTicket}}
	tk := Item{Ref: Ref{System: "zendesk", Kind: CustomerTicket, ID: "4521"}, Title: "Export fails", Native: "open"}
	dev := Item{Ref: Ref{System: "jira", Kind: DevTicket, ID: "KBOT-88"}, Title: "Export 500", Native: "To Do"}
	mail := Item{Ref: Ref{System: "imap", Kind: EmailThread, ID: "<m@x>"}, Title: "Export fails"}
	placeholder := Item{Ref: tk.Ref}
	deleted := tk
	deleted.Deleted = true
	for _, tc := range []struct {
		name  string
		items []Item
		want  bool
	}{
		{"a ticket alone", []Item{tk}, true},
		{"a ticket already escalated", []Item{tk, dev}, false},
		{"a mail thread only", []Item{mail}, false},
		{"a ticket known only by a link", []Item{placeholder}, false},
		{"a deleted ticket", []Item{deleted}, false},
		{"no records", nil, false},
	} {
		if got := d.Searches(&Case{Items: tc.items}); got != tc.want {
			t.Errorf("%s: Searches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A created record carries the files of its subject's first public
// comment (the report); a file known there only by URL gets the content
// the case keeps of the same file (name and size), as the thread of the
// mail it came from has it.
func TestPlanCase_CreateCarriesTheReportsFiles(t *testing.T) {
	tk := ticket("7", "open", "bug")
	tk.Comments = []Comment{
		{ID: "c0", Body: "agents only", CreatedAt: t0, Files: []Attachment{{Name: "notes.txt", Size: 9, URL: "https://z/notes"}}},
		{ID: "c1", Body: "it crashes", Public: true, CreatedAt: t0.Add(time.Minute), Files: []Attachment{
			{Name: "photo.jpg", Size: 9000, URL: "https://z/photo"},
			{Name: "trace.log", Size: 40, URL: "https://z/trace"},
		}},
		{ID: "c2", Body: "later", Public: true, CreatedAt: t0.Add(time.Hour), Files: []Attachment{{Name: "later.png", Size: 5}}},
	}
	mailThread := Item{Ref: Ref{"imap", EmailThread, "m1@example.com"}, UpdatedAt: t0, Comments: []Comment{
		{ID: "m1@example.com", Public: true, CreatedAt: t0, Files: []Attachment{{Name: "photo.jpg", Size: 9000, Hash: "sha256:ab"}}},
	}}
	p := PlanCase(&Case{ID: 3, Items: []Item{tk, mailThread}}, testMappings(), t0)
	var create *Action
	for i := range p.Actions {
		if p.Actions[i].Kind == Create {
			create = &p.Actions[i]
		}
	}
	if create == nil {
		t.Fatalf("planned %v", kinds(p.Actions))
	}
	got := create.Files
	if len(got) != 2 || got[0].Name != "photo.jpg" || got[0].Hash != "sha256:ab" || got[1].Name != "trace.log" || got[1].Hash != "" {
		t.Fatalf("create files %+v; want photo.jpg with the mail's hash and trace.log by URL", got)
	}
	if tk.Comments[1].Files[0].Hash != "" {
		t.Fatal("planning wrote the hash into the ticket's snapshot")
	}
}

// TestItemView_Answered: a public comment of the gateway's own counts once
// someone else's public comment follows it; notes and copies do not.
func TestItemView_Answered(t *testing.T) {
	ours := CommentView{Public: true, Ours: true}
	theirs := CommentView{Public: true}
	note := CommentView{Ours: true}
	cases := []struct {
		name string
		cs   []CommentView
		want int
	}{
		{"nothing said", []CommentView{theirs}, 0},
		{"said, not answered", []CommentView{theirs, ours}, 0},
		{"said and answered", []CommentView{theirs, ours, theirs}, 1},
		{"answered twice counts once", []CommentView{ours, theirs, theirs}, 1},
		{"a note is not said to anyone", []CommentView{note, theirs}, 0},
		{"two fixes, two answers", []CommentView{ours, theirs, ours, theirs}, 2},
	}
	for _, c := range cases {
		if got := (ItemView{Comments: c.cs}).Answered(); got != c.want {
			t.Errorf("%s: Answered() = %d; want %d", c.name, got, c.want)
		}
	}
}

package mantis

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/connectors/mantis/fake"
	"github.com/liaisonhq/liaison/core"
)

func createAction(key string, fields map[string]string) core.Action {
	return core.Action{
		Key: key, Kind: core.Create, Rule: "escalate-bug",
		Target: core.Ref{System: "mantis", Kind: core.DevTicket},
		Title:  "Export to CSV drops the last row", Body: "Customer ticket 4521: the last row is missing.",
		Fields: fields, Labels: []string{"from-support"},
	}
}

// TestCreateWritesEveryFieldAndTheMarker: the issue lands in the named
// project with its category, priority, severity, reproducibility, handler,
// custom field, tag, and the action's marker in the marker field.
func TestCreateWritesEveryFieldAndTheMarker(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	a := createAction("case-1|escalate-bug", map[string]string{
		"project": projBugs, "category": "Reports", "priority": "high", "severity": "major",
		"reproducibility": "always", "handler": "dana", "Customer ticket": "4521", "steps_to_reproduce": "1. Export\n2. Count",
	})
	res, err := e.conn.Apply(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(res.Created.ID)
	iss, ok := e.fake.Issue(n)
	if !ok || res.Created.Kind != core.DevTicket {
		t.Fatalf("created %v", res.Created)
	}
	got := []string{iss.Category, iss.Priority, iss.Severity, iss.Reproducibility, strconv.Itoa(iss.Handler), iss.Custom["Customer ticket"], iss.Custom[markerField], iss.Steps, strings.Join(iss.Tags, ",")}
	want := []string{"Reports", "high", "major", "always", strconv.Itoa(e.dev), "4521", a.Marker(), "1. Export\n2. Count", "from-support"}
	if !slices.Equal(got, want) {
		t.Fatalf("issue fields %q; want %q", got, want)
	}
	if res.Item == nil || res.Item.Marker != a.Marker() || res.Item.Fields["Customer ticket"] != "4521" || res.Item.Assignee != "dana@acme.example" {
		t.Fatalf("result item %+v", res.Item)
	}
}

// TestCreateRefusesWhatMantisWouldNot: a project of another kind, a
// custom field not linked to the project: permanent, nothing created.
func TestCreateRefusesWhatMantisWouldNot(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	for _, f := range []map[string]string{
		{"project": projDevOps},
		{"project": projOther},
		{"project": projMisc, "Reproducible": "yes"},
		{"project": projBugs, "priority": "whenever"},
	} {
		_, err := e.conn.Apply(context.Background(), createAction("k", f))
		var ae *core.ApplyError
		if !errors.As(err, &ae) || !ae.Permanent {
			t.Errorf("fields %v: err %v; want a permanent error", f, err)
		}
	}
	if n := e.fake.Count(); n != 0 {
		t.Fatalf("%d issues created", n)
	}
}

// TestFindByMarkerBeforeCreate: the issue a create made is found by its
// marker (as after a lost database); another marker is not found.
func TestFindByMarkerBeforeCreate(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	// Issues people made, and older ones of ours, fill the first pages.
	a := createAction("case-7|escalate-bug", map[string]string{"project": projChange})
	res, err := e.conn.Apply(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e.clock.Add(60e9)
		e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "by a person", Reporter: e.dev})
		if _, err := e.conn.Apply(context.Background(), createAction("other-"+strconv.Itoa(i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.conn.FindByMarker(context.Background(), core.DevTicket, a.Marker())
	if err != nil || got != res.Created {
		t.Fatalf("FindByMarker = %v, %v; want %v", got, err, res.Created)
	}
	if _, err := e.conn.FindByMarker(context.Background(), core.ChangeTicket, a.Marker()); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("marker of a dev ticket found as a change ticket: %v", err)
	}
	if _, err := e.conn.FindByMarker(context.Background(), core.DevTicket, core.MarkerFor("never")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown marker: %v; want ErrNotFound", err)
	}
}

// TestTransitionSetsStatusAndResolution: moving to the mapped "resolved"
// writes the configured resolution; a second move finds it there and does
// not write; Applied says so too.
func TestTransitionSetsStatusAndResolution(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	id := e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "s"})
	a := core.Action{Key: "t", Kind: core.Transition, Target: devRef(strconv.Itoa(id)), Status: core.StatusDone}
	if _, err := e.conn.Apply(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	iss, _ := e.fake.Issue(id)
	if iss.Status != "resolved" || iss.Resolution != "fixed" {
		t.Fatalf("status %q resolution %q; want resolved/fixed", iss.Status, iss.Resolution)
	}
	e.calls()
	res, err := e.conn.Apply(context.Background(), a)
	if err != nil || !strings.Contains(res.Note, "already") {
		t.Fatalf("second move: %+v, %v", res, err)
	}
	for _, c := range e.calls() {
		if strings.HasPrefix(c, "PATCH") {
			t.Fatalf("second move wrote: %s", c)
		}
	}
	if _, done, err := e.conn.Applied(context.Background(), a); !done || err != nil {
		t.Fatalf("Applied = %v, %v", done, err)
	}
	// An explicit resolution wins over the configured one.
	won := core.Action{Key: "t2", Kind: core.Transition, Target: a.Target, Native: "closed", Fields: map[string]string{"resolution": "won't fix"}}
	if _, err := e.conn.Apply(context.Background(), won); err != nil {
		t.Fatal(err)
	}
	if iss, _ := e.fake.Issue(id); iss.Status != "closed" || iss.Resolution != "won't fix" {
		t.Fatalf("status %q resolution %q; want closed/won't fix", iss.Status, iss.Resolution)
	}
}

// TestNoteIsPublicOrPrivateAndMarked: a public and a private note keep
// their view state; each ends with its marker, which the connector strips
// when reading and Applied finds.
func TestNoteIsPublicOrPrivateAndMarked(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	id := e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "s"})
	for _, public := range []bool{true, false} {
		a := core.Action{Key: "n-" + strconv.FormatBool(public), Kind: core.AddComment, Target: devRef(strconv.Itoa(id)), Body: "Fixed in 4.3.", Public: public}
		if _, done, _ := e.conn.Applied(context.Background(), a); done {
			t.Fatal("Applied before the note exists")
		}
		res, err := e.conn.Apply(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		iss, _ := e.fake.Issue(id)
		n := iss.Notes[len(iss.Notes)-1]
		if strconv.Itoa(n.ID) != res.CommentID || n.Private == public || !strings.HasSuffix(n.Text, "["+a.Marker()+"]") {
			t.Fatalf("note %+v (result %+v)", n, res)
		}
		got, done, err := e.conn.Applied(context.Background(), a)
		if !done || err != nil || got.CommentID != res.CommentID {
			t.Fatalf("Applied = %+v %v %v", got, done, err)
		}
		item, err := e.conn.Fetch(context.Background(), a.Target)
		if err != nil {
			t.Fatal(err)
		}
		cm := item.Comments[len(item.Comments)-1]
		if cm.Body != "Fixed in 4.3." || cm.Marker != a.Marker() || cm.Public != public {
			t.Fatalf("comment read back %+v", cm)
		}
	}
}

// TestSetFieldsWritesOwnAndCustomFields.
func TestSetFieldsWritesOwnAndCustomFields(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	id := e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "s"})
	a := core.Action{Key: "f", Kind: core.SetFields, Target: devRef(strconv.Itoa(id)), Fields: map[string]string{"Priority": "urgent", "Customer ticket": "4600", "handler": "dana"}}
	res, err := e.conn.Apply(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := e.fake.Issue(id)
	if iss.Priority != "urgent" || iss.Custom["Customer ticket"] != "4600" || iss.Handler != e.dev || res.Item == nil || res.Item.Priority != "urgent" {
		t.Fatalf("issue %+v, result %+v", iss, res.Item)
	}
}

// TestLinkRelatesTwoIssues: a link between two Mantis issues is a
// "related-to" relationship, seen from both sides; a repeat is found by
// Applied and changes nothing; the relationship comes back as a link.
func TestLinkRelatesTwoIssues(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	bug := e.fake.AddIssue(fake.IssueSpec{Project: projBugs, Summary: "bug"})
	chg := e.fake.AddIssue(fake.IssueSpec{Project: projDevOps, Summary: "change"})
	a := core.Action{Key: "l", Kind: core.AddLink, Target: devRef(strconv.Itoa(bug)),
		Other: core.Ref{System: "mantis", Kind: core.ChangeTicket, ID: strconv.Itoa(chg)}}
	if _, err := e.conn.Apply(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	b, _ := e.fake.Issue(bug)
	c, _ := e.fake.Issue(chg)
	if len(b.Relations) != 1 || b.Relations[0].Target != chg || b.Relations[0].Type != "related-to" || len(c.Relations) != 1 {
		t.Fatalf("relations %+v / %+v", b.Relations, c.Relations)
	}
	if _, done, err := e.conn.Applied(context.Background(), a); !done || err != nil {
		t.Fatalf("Applied = %v, %v", done, err)
	}
	item, err := e.conn.Fetch(context.Background(), a.Other)
	if err != nil {
		t.Fatal(err)
	}
	_ = item
	cur := e.conn.CursorAt(e.clock.Now().Add(-e.conn.overlap() - 1))
	evs, _ := e.pollAll(cur)
	for _, ev := range evs {
		if ev.Item.Ref == a.Target {
			want := core.Link{From: a.Other, To: a.Target, Role: core.ChangeFor, Origin: core.Explicit}
			if !slices.Contains(ev.Links, want) {
				t.Fatalf("links %+v; want %+v", ev.Links, want)
			}
			return
		}
	}
	t.Fatalf("the bug was not polled: %v", ids(evs))
}

// TestFetchOfAnotherKindIsNotFound: an issue that sits in a project of
// another kind (moved by a person) is not the ref asked for.
func TestFetchOfAnotherKindIsNotFound(t *testing.T) {
	e := newEnv(t, envOpts{})
	id := e.fake.AddIssue(fake.IssueSpec{Project: projDevOps, Summary: "s"})
	if _, err := e.conn.Fetch(context.Background(), devRef(strconv.Itoa(id))); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("err %v; want ErrNotFound", err)
	}
	if _, err := e.conn.Fetch(context.Background(), devRef("999")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing issue: %v; want ErrNotFound", err)
	}
}

// A title becomes a one-line summary of at most Mantis's 128 characters.
func TestSummaryOf(t *testing.T) {
	long := strings.Repeat("é", 200)
	for _, tc := range []struct{ in, want string }{
		{"Export\tto CSV\n drops  rows ", "Export to CSV drops rows"},
		{strings.Repeat("é", maxSummary), strings.Repeat("é", maxSummary)},
		{long, strings.Repeat("é", maxSummary-1) + "…"},
	} {
		if got := summaryOf(tc.in); got != tc.want {
			t.Errorf("summaryOf(%.20q) = %.20q… (%d runes); want %.20q…", tc.in, got, len([]rune(got)), tc.want)
		}
	}
}

package jira

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
)

// TestApply_CreateWalkCommentLink_ExactCalls is the developer ticket's
// life in one go: created, moved To Do → Ready for QA through a workflow
// that only goes one step at a time, commented, linked to its pull request.
// The list of requests is exactly what is needed: no read before a write
// that does not need it, no write twice.
func TestApply_CreateWalkCommentLink_ExactCalls(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	ctx := context.Background()

	create := core.Action{Key: "create|jira/dev_ticket|escalate|zendesk/customer_ticket/4521", Kind: core.Create,
		Target: core.Ref{System: "jira", Kind: core.DevTicket}, Title: "Checkout fails\nwith 500",
		Body: "Customer reports a 500 on checkout.", Labels: []string{"acme corp"},
		Fields: map[string]string{"project": "KBOT", "issue_type": "Bug", "priority": "High", "Steps to reproduce": "1. pay"}}
	res, err := e.conn.Apply(ctx, create)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if res.Created != devRef("KBOT-1") {
		t.Fatalf("created %v; want jira/dev_ticket/KBOT-1", res.Created)
	}
	ref := res.Created
	move := core.Action{Key: "t1", Kind: core.Transition, Target: ref, Status: core.StatusReadyForQA, Native: "Ready for QA"}
	if _, err := e.conn.Apply(ctx, move); err != nil {
		t.Fatalf("transition: %v", err)
	}
	comment := core.Action{Key: "c1", Kind: core.AddComment, Target: ref, Body: "Fixed in PR 341.", Public: false}
	cres, err := e.conn.Apply(ctx, comment)
	if err != nil {
		t.Fatalf("comment: %v", err)
	}
	link := core.Action{Key: "l1", Kind: core.AddLink, Target: ref,
		Other: core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/kbot#341"}, OtherURL: "https://github.com/acme/kbot/pull/341"}
	if _, err := e.conn.Apply(ctx, link); err != nil {
		t.Fatalf("link: %v", err)
	}

	want := []string{
		"POST /rest/api/2/issue",
		"GET /rest/api/2/issue/KBOT-1?expand=transitions&fields=status,project,issuetype",
		"POST /rest/api/2/issue/KBOT-1/transitions",
		"GET /rest/api/2/issue/KBOT-1/transitions",
		"POST /rest/api/2/issue/KBOT-1/transitions",
		"GET /rest/api/2/issue/KBOT-1/transitions",
		"POST /rest/api/2/issue/KBOT-1/transitions",
		"POST /rest/api/2/issue/KBOT-1/comment",
		"POST /rest/api/2/issue/KBOT-1/remotelink",
	}
	if got := e.calls(); !slices.Equal(got, want) {
		t.Fatalf("calls:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	iss, _ := e.fake.Issue("KBOT-1")
	if iss.Summary != "Checkout fails with 500" || iss.Type != "Bug" || iss.Priority != "High" || iss.Status != "Ready for QA" {
		t.Errorf("issue = %q %q %q %q", iss.Summary, iss.Type, iss.Priority, iss.Status)
	}
	if !slices.Equal(iss.Labels, []string{"acme-corp", create.Marker()}) {
		t.Errorf("labels %v; want [acme-corp %s]", iss.Labels, create.Marker())
	}
	if iss.Fields["customfield_10103"] != "1. pay" {
		t.Errorf("Steps to reproduce = %v", iss.Fields["customfield_10103"])
	}
	if len(iss.Comments) != 1 || !iss.Comments[0].Internal || !strings.HasSuffix(iss.Comments[0].Body, comment.Marker()+"{color}") {
		t.Fatalf("comments %+v; want one internal comment ending with the marker", iss.Comments)
	}
	if cres.CommentID != iss.Comments[0].ID || cres.Item == nil || cres.Item.Comments[0].Marker != comment.Marker() || cres.Item.Comments[0].Public {
		t.Errorf("comment result %+v", cres)
	}
	if len(iss.RemoteLinks) != 1 || iss.RemoteLinks[0].GlobalID != "github/pull_request/acme/kbot#341" || iss.RemoteLinks[0].URL != link.OtherURL {
		t.Errorf("remote links %+v", iss.RemoteLinks)
	}

	// Applying again: the transition finds the status reached (one read, no
	// write); the remote link is updated in place by its global id.
	res2, err := e.conn.Apply(ctx, move)
	if err != nil || !strings.Contains(res2.Note, "already in status") {
		t.Fatalf("second transition: %+v, %v", res2, err)
	}
	if _, err := e.conn.Apply(ctx, link); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"GET /rest/api/2/issue/KBOT-1?expand=transitions&fields=status,project,issuetype",
		"POST /rest/api/2/issue/KBOT-1/remotelink",
	}
	if got := e.calls(); !slices.Equal(got, want) {
		t.Fatalf("calls on re-apply: %q; want %q", got, want)
	}
	if iss, _ := e.fake.Issue("KBOT-1"); len(iss.RemoteLinks) != 1 {
		t.Fatalf("%d remote links after re-apply; want 1", len(iss.RemoteLinks))
	}
}

func TestCreate_RequestBody(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	a := core.Action{Key: "k", Kind: core.Create, Target: core.Ref{System: "jira", Kind: core.ChangeTicket},
		Title: "Resize the checkout database", Body: "Disk at 91%.",
		Fields: map[string]string{
			"project": "DO", "issue_type": "Change", "priority": "Highest", "components": "db, infra",
			"Target resources": "db-eu-1", "Approvers": "5b10a2844c20165700ede21g, 5b10a2844c20165700ede21h",
			"Target date": "2026-03-09", "assignee": "5b10a2844c20165700ede21g",
		}}
	res, err := e.conn.Apply(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != changeRef("DO-1") {
		t.Fatalf("created %v", res.Created)
	}
	calls := e.fake.Calls()
	var body struct{ Fields map[string]any }
	if err := json.Unmarshal(calls[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"project":           map[string]any{"key": "DO"},
		"issuetype":         map[string]any{"id": "10004"},
		"summary":           "Resize the checkout database",
		"description":       "Disk at 91%.",
		"priority":          map[string]any{"id": "1"},
		"components":        []any{map[string]any{"name": "db"}, map[string]any{"name": "infra"}},
		"assignee":          map[string]any{"accountId": "5b10a2844c20165700ede21g"},
		"labels":            []any{a.Marker()},
		"customfield_10100": "db-eu-1",
		"customfield_10101": []any{map[string]any{"accountId": "5b10a2844c20165700ede21g"}, map[string]any{"accountId": "5b10a2844c20165700ede21h"}},
		"customfield_10102": "2026-03-09",
	}
	gotJSON, _ := json.Marshal(body.Fields)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("create fields:\n %s\nwant\n %s", gotJSON, wantJSON)
	}
	iss, _ := e.fake.Issue("DO-1")
	if iss.DueDate != "" || iss.Fields["customfield_10102"] != "2026-03-09" || len(iss.Components) != 2 {
		t.Errorf("stored %+v", iss)
	}
}

func TestCreate_Refusals(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]string
		title  string
		kind   core.Kind
		want   string
	}{
		{"unknown field", map[string]string{"Customer mood": "grim"}, "t", core.DevTicket, `field "Customer mood" does not exist`},
		{"wrong project for kind", map[string]string{"project": "DO"}, "t", core.DevTicket, `project "DO" does not hold dev_ticket records`},
		{"unknown issue type", map[string]string{"issue_type": "Epic"}, "t", core.DevTicket, `issue type "Epic" is not in project "KBOT"`},
		{"unknown priority", map[string]string{"priority": "Blocker"}, "t", core.DevTicket, `priority "Blocker" does not exist`},
		{"no title", nil, "  ", core.DevTicket, "no title"},
		{"not a date", map[string]string{"Target date": "next week"}, "t", core.ChangeTicket, `field "Target date" wants a date`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOpts{}).checked()
			_, err := e.conn.Apply(context.Background(), core.Action{Key: "k", Kind: core.Create, Target: core.Ref{System: "jira", Kind: c.kind}, Title: c.title, Fields: c.fields})
			perm, _ := classify(t, err)
			if !perm || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (permanent %v); want permanent with %q", err, perm, c.want)
			}
			if calls := e.calls(); len(calls) != 0 {
				t.Fatalf("refused create still called Jira: %q", calls)
			}
		})
	}
}

func TestTransition(t *testing.T) {
	cases := []struct {
		name     string
		from     string
		to       string
		status   core.Status
		mappings bool
		learn    [][2]string // status changes seen in changelogs before
		want     string      // status after, or "" for a permanent error
		posts    int
		errHas   string
	}{
		{"one step", "To Do", "In Progress", core.StatusInProgress, true, nil, "In Progress", 1, ""},
		{"three steps forward, guided by the mappings", "To Do", "Ready for QA", core.StatusReadyForQA, true, nil, "Ready for QA", 3, ""},
		{"back one step", "Ready for QA", "In Progress", core.StatusInProgress, true, nil, "In Progress", 1, ""},
		{"already there", "In Review", "In Review", core.StatusInReview, true, nil, "In Review", 0, ""},
		{"case-insensitive", "To Do", "in progress", core.StatusInProgress, true, nil, "In Progress", 1, ""},
		{"no mappings, path learned from changelogs", "To Do", "In Review", "", false,
			[][2]string{{"To Do", "In Progress"}, {"In Progress", "In Review"}}, "In Review", 2, ""},
		{"no mappings, nothing learned", "To Do", "In Review", "", false, nil, "", 0,
			`status "In Review" is not reachable from "To Do" (reachable in one step: "In Progress")`},
		{"not in the workflow", "To Do", "Won't Do", "", true, nil, "", 0, `reachable in one step: "In Progress"`},
		{"backwards past the target rank stops", "Done", "In Review", core.StatusInReview, true, nil, "", 0, `reachable in one step: "To Do"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			if c.mappings {
				e.checked()
			}
			key := e.mustCreate(fake.IssueSpec{Summary: "s"})
			if err := e.fake.SetStatus(key, c.from); err != nil {
				t.Fatal(err)
			}
			for _, l := range c.learn {
				e.conn.flows.learn("KBOT", "Bug", l[0], l[1])
			}
			e.fake.ResetCalls()
			_, err := e.conn.Apply(context.Background(), core.Action{Key: "k", Kind: core.Transition, Target: devRef(key), Status: c.status, Native: c.to})
			iss, _ := e.fake.Issue(key)
			posts := 0
			for _, call := range e.calls() {
				if strings.HasPrefix(call, "POST ") {
					posts++
				}
			}
			if c.want == "" {
				perm, _ := classify(t, err)
				if !perm || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("err = %v; want permanent containing %q", err, c.errHas)
				}
				if iss.Status != c.from {
					t.Errorf("status moved to %q on a failed transition", iss.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if iss.Status != c.want || posts != c.posts {
				t.Fatalf("status %q after %d transitions; want %q after %d", iss.Status, posts, c.want, c.posts)
			}
		})
	}
}

func TestComment_InternalModes(t *testing.T) {
	cases := []struct {
		mode   string
		public bool
		want   string // the JSON the POST carries beyond the body
	}{
		{"", false, `"properties":[{"key":"sd.public.comment","value":{"internal":true}}]`},
		{"role:Developers", false, `"visibility":{"type":"role","value":"Developers"}`},
		{"group:jira-developers", false, `"visibility":{"type":"group","value":"jira-developers"}`},
		{"role:Developers", true, ""},
	}
	for _, c := range cases {
		t.Run(c.mode+map[bool]string{true: " public", false: " internal"}[c.public], func(t *testing.T) {
			e := newEnv(t, envOpts{cfg: func(cfg *Config) { cfg.InternalComments = c.mode }})
			key := e.mustCreate(fake.IssueSpec{Summary: "s"})
			e.fake.ResetCalls()
			a := core.Action{Key: "c", Kind: core.AddComment, Target: devRef(key), Body: "Looking into it.", Public: c.public}
			if _, err := e.conn.Apply(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			body := string(e.fake.Calls()[0].Body)
			if c.want != "" && !strings.Contains(body, c.want) {
				t.Fatalf("body %s; want %s", body, c.want)
			}
			if c.want == "" && (strings.Contains(body, "visibility") || strings.Contains(body, "properties")) {
				t.Fatalf("public comment restricted: %s", body)
			}
			// Read back, the comment is ours and has the right audience.
			it, err := e.conn.Fetch(context.Background(), devRef(key))
			if err != nil {
				t.Fatal(err)
			}
			cm := it.Comments[0]
			if cm.Marker != a.Marker() || cm.Body != "Looking into it." || cm.Public != c.public {
				t.Fatalf("read back %+v", cm)
			}
		})
	}
}

func TestSetFields(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	ctx := context.Background()
	res, err := e.conn.Apply(ctx, core.Action{Key: "mk", Kind: core.Create, Target: core.Ref{System: "jira", Kind: core.DevTicket}, Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	e.fake.ResetCalls()
	a := core.Action{Key: "sf", Kind: core.SetFields, Target: res.Created, Fields: map[string]string{
		"priority": "Low", "Reproducible": "Yes", "labels": "customer acme", "Help desk ticket": "4521",
	}}
	if _, err := e.conn.Apply(ctx, a); err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Calls()
	if len(calls) != 1 || calls[0].String() != "PUT /rest/api/2/issue/KBOT-1" {
		t.Fatalf("calls %v", calls)
	}
	iss, _ := e.fake.Issue("KBOT-1")
	if iss.Priority != "Low" || !slices.Contains(iss.Labels, "customer-acme") || !slices.Contains(iss.Labels, core.MarkerFor("mk")) {
		t.Fatalf("after set_fields: priority %q labels %v (the marker must stay)", iss.Priority, iss.Labels)
	}
	if opt, _ := iss.Fields["customfield_10104"].(map[string]any); opt["value"] != "Yes" || iss.Fields["customfield_10105"] != "4521" {
		t.Fatalf("custom fields %v", iss.Fields)
	}
	_, err = e.conn.Apply(ctx, core.Action{Key: "sf2", Kind: core.SetFields, Target: res.Created, Fields: map[string]string{"project": "DO"}})
	if perm, _ := classify(t, err); !perm {
		t.Fatalf("changing the project: %v; want permanent", err)
	}
}

func TestAddLink_IssueLinkBetweenDevAndChangeTicket(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	dev := e.mustCreate(fake.IssueSpec{Project: "KBOT", Summary: "bug"})
	chg := e.mustCreate(fake.IssueSpec{Project: "DO", Type: "Change", Summary: "resize"})
	e.fake.ResetCalls()
	a := core.Action{Key: "l", Kind: core.AddLink, Target: devRef(dev), Other: changeRef(chg)}
	if _, err := e.conn.Apply(ctx, a); err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Calls()
	if len(calls) != 1 || calls[0].String() != "POST /rest/api/2/issueLink" ||
		string(calls[0].Body) != `{"type":{"name":"Relates"},"inwardIssue":{"key":"KBOT-1"},"outwardIssue":{"key":"DO-1"}}`+"\n" {
		t.Fatalf("calls %q %s", calls[0].String(), calls[0].Body)
	}
	// Applied sees the link; a poll reports it as an explicit link, the
	// change ticket being the change for the developer ticket.
	if _, done, err := e.conn.Applied(ctx, a); err != nil || !done {
		t.Fatalf("Applied = %v, %v; want true", done, err)
	}
	evs, _, _, err := e.conn.Poll(ctx, e.conn.CursorAt(e.clock.Now().Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	want := core.Link{From: changeRef(chg), To: devRef(dev), Role: core.ChangeFor, Origin: core.Explicit}
	for _, ev := range evs {
		if len(ev.Links) != 1 || ev.Links[0] != want {
			t.Errorf("%s links %+v; want %+v", ev.Item.Ref, ev.Links, want)
		}
	}
}

func TestFindByMarkerAndFetch(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	ctx := context.Background()
	a := core.Action{Key: "create|x", Kind: core.Create, Target: core.Ref{System: "jira", Kind: core.DevTicket}, Title: "t"}
	if _, err := e.conn.FindByMarker(ctx, core.DevTicket, a.Marker()); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("before create: %v; want ErrNotFound", err)
	}
	res, err := e.conn.Apply(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	e.fake.ResetCalls()
	got, err := e.conn.FindByMarker(ctx, core.DevTicket, a.Marker())
	if err != nil || got != res.Created {
		t.Fatalf("FindByMarker = %v, %v; want %v", got, err, res.Created)
	}
	want := `GET /rest/api/2/search/jql?fields=labels&jql=project in (KBOT) AND labels = "` + a.Marker() + `"&maxResults=1`
	if calls := e.calls(); len(calls) != 1 || calls[0] != want {
		t.Fatalf("calls %q; want %q", calls, want)
	}
	if _, err := e.conn.FindByMarker(ctx, core.DevTicket, `x" OR project = SECRET`); err == nil {
		t.Fatal("a marker that is not one was used in JQL")
	}
	it, err := e.conn.Fetch(ctx, res.Created)
	if err != nil {
		t.Fatal(err)
	}
	if it.Marker != a.Marker() || it.Native != "To Do" || it.Title != "t" || it.URL != e.srv.URL+"/browse/KBOT-1" {
		t.Fatalf("fetched %+v", it)
	}
	if _, err := e.conn.Fetch(ctx, devRef("KBOT-99")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing issue: %v; want ErrNotFound", err)
	}
	if _, err := e.conn.Fetch(ctx, changeRef("KBOT-1")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("wrong kind: %v; want ErrNotFound", err)
	}
}

func TestApplied_CommentFoundByMarker(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	key := e.mustCreate(fake.IssueSpec{Summary: "s"})
	a := core.Action{Key: "c", Kind: core.AddComment, Target: devRef(key), Body: "b", Public: true}
	if _, done, err := e.conn.Applied(ctx, a); err != nil || done {
		t.Fatalf("before: %v %v", done, err)
	}
	res, err := e.conn.Apply(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.Comment(key, "a person's reply", false); err != nil {
		t.Fatal(err)
	}
	e.fake.ResetCalls()
	got, done, err := e.conn.Applied(ctx, a)
	if err != nil || !done || got.CommentID != res.CommentID {
		t.Fatalf("Applied = %+v %v %v; want comment %s", got, done, err, res.CommentID)
	}
	if calls := e.calls(); len(calls) != 1 || calls[0] != "GET /rest/api/2/issue/"+key+"/comment?maxResults=100&orderBy=-created" {
		t.Fatalf("calls %q", calls)
	}
}

func TestApply_RefusesForeignTargets(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, a := range []core.Action{
		{Kind: core.AddComment, Target: core.Ref{System: "other", Kind: core.DevTicket, ID: "KBOT-1"}},
		{Kind: core.AddComment, Target: devRef("OPS-1")},
		{Kind: core.AddComment, Target: changeRef("KBOT-1")},
		{Kind: core.Notify, Target: devRef("KBOT-1")},
		{Kind: core.AddLink, Target: devRef("KBOT-1"), Other: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "1"}},
	} {
		_, err := e.conn.Apply(context.Background(), a)
		if perm, _ := classify(t, err); !perm {
			t.Errorf("%+v: %v; want permanent", a.Target, err)
		}
	}
	if calls := e.calls(); len(calls) != 0 {
		t.Fatalf("calls %q", calls)
	}
}

// TestCreate_TextAreaReadsLiterally: a custom text area shows wiki markup,
// so what is written there (a customer's steps to reproduce) is escaped;
// a one-line text field, which shows none, is written as it is.
func TestCreate_TextAreaReadsLiterally(t *testing.T) {
	e := newEnv(t, envOpts{}).checked()
	steps := "h1. Steps\n{panel}open [~accountid:5b10ac8d82e05b22cc7d4ef5] !http://x.example/p.png!{panel}"
	a := core.Action{Key: "k", Kind: core.Create, Target: core.Ref{System: "jira", Kind: core.DevTicket},
		Title: "Login fails", Body: "Escalated.",
		Fields: map[string]string{"project": "KBOT", "issue_type": "Bug", "Steps to reproduce": steps, "Help desk ticket": "[4521]"}}
	if _, err := e.conn.Apply(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	iss, _ := e.fake.Issue("KBOT-1")
	want := "\u200bh1. Steps\n\\{panel\\}open \\[\\~accountid:5b10ac8d82e05b22cc7d4ef5\\] \\!http://x.example/p.png\\!\\{panel\\}"
	if got := iss.Fields["customfield_10103"]; got != want {
		t.Errorf("text area = %q; want %q", got, want)
	}
	if got := iss.Fields["customfield_10105"]; got != "[4521]" {
		t.Errorf("text field = %q; want it as written", got)
	}
}

// TestTransition_UsesTheFetchedState: a transition right after a Fetch
// takes the status and transitions the Fetch read (one GET, one POST); a
// read too old is not used; an issue moved since is refused by Jira and
// walked from a fresh read.
func TestTransition_UsesTheFetchedState(t *testing.T) {
	cases := []struct {
		name    string
		after   time.Duration // clock moved between Fetch and transition
		movedTo string        // status someone set in between
		want    []string      // calls of the transition, method and path
	}{
		{"fresh", 0, "", []string{"POST /rest/api/2/issue/KBOT-1/transitions"}},
		{"too old", 6 * time.Second, "", []string{"GET /rest/api/2/issue/KBOT-1", "POST /rest/api/2/issue/KBOT-1/transitions"}},
		{"moved since", 0, "Ready for QA", []string{"POST /rest/api/2/issue/KBOT-1/transitions", "GET /rest/api/2/issue/KBOT-1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOpts{}).checked()
			ctx := context.Background()
			key := e.mustCreate(fake.IssueSpec{Summary: "s"})
			if err := e.fake.SetStatus(key, "In Review"); err != nil {
				t.Fatal(err)
			}
			e.fake.ResetCalls()
			if _, err := e.conn.Fetch(ctx, devRef(key)); err != nil {
				t.Fatal(err)
			}
			if calls := e.calls(); len(calls) != 1 || !strings.Contains(calls[0], "expand=transitions") {
				t.Fatalf("fetch calls %q; want one GET with its transitions", calls)
			}
			e.clock.Add(c.after)
			if c.movedTo != "" {
				if err := e.fake.SetStatus(key, c.movedTo); err != nil {
					t.Fatal(err)
				}
				e.fake.ResetCalls()
			}
			_, err := e.conn.Apply(ctx, core.Action{Key: "k", Kind: core.Transition, Target: devRef(key), Status: core.StatusQAValidated, Native: "QA Validated"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, call := range e.calls() {
				got = append(got, strings.SplitN(call, "?", 2)[0])
			}
			if !slices.Equal(got[:min(len(got), len(c.want))], c.want) {
				t.Fatalf("calls %q; want them to start %q", got, c.want)
			}
			if iss, _ := e.fake.Issue(key); iss.Status != "QA Validated" {
				t.Fatalf("status %q; want QA Validated", iss.Status)
			}
		})
	}
}

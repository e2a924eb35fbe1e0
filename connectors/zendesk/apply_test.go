package zendesk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/core"
)

var target = core.Ref{System: "zendesk", Kind: core.CustomerTicket}

func ticketRef(id int64) core.Ref {
	r := target
	r.ID = itoa(id)
	return r
}

func createAction() core.Action {
	return core.Action{
		Key: "case-7|mail-to-ticket|imap/email_thread/<m1@x>", Kind: core.Create, Target: target,
		Title: "Export fails on large files", Body: "Hello,\nexport fails.\nAda", Labels: []string{"from-mail"},
		Fields: map[string]string{
			"requester": "ada@example.com", "requester_name": "Ada Lovelace", "collaborators": "bob@example.com",
			"priority": "high", "type": "problem", "group": "Escalations",
			"Developer ticket": "KBOT-88", "Reproducible": "yes", "Product area": "Export",
		},
	}
}

// TestApplyCreate: the ticket belongs to the reporting person (requester
// and author of the first comment), not to the gateway's account; it
// carries the marker, and the exact calls are made.
func TestApplyCreate(t *testing.T) {
	e := newEnv(t, nil)
	e.zd.SetWebhook("", "")
	a := createAction()
	res, err := e.c.Apply(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	calls := e.zd.Calls()
	sameLines(t, "create calls", e.calls(), concat(
		[]string{
			"GET /api/v2/users/search.json?query=ada@example.com",
			"POST /api/v2/users/create_or_update.json",
		},
		catalogCalls,
		[]string{"POST /api/v2/tickets.json"}))
	id := mustAtoi(t, res.Created.ID)
	tk, ok := e.zd.Ticket(id)
	if !ok {
		t.Fatalf("created %s does not exist", res.Created)
	}
	if tk.Requester != "ada@example.com" || tk.Comments[0].Author != "ada@example.com" || tk.Submitter != testEmail {
		t.Fatalf("requester %q, first comment by %q, submitter %q; want the reporter, the reporter, the gateway",
			tk.Requester, tk.Comments[0].Author, tk.Submitter)
	}
	if _, role, _ := e.zd.User("ada@example.com"); role != "end-user" {
		t.Fatalf("requester created with role %q", role)
	}
	if !slices.Contains(tk.Tags, a.Marker()) || !slices.Contains(tk.Tags, "from-mail") {
		t.Fatalf("tags %v lack the marker or the labels", tk.Tags)
	}
	if tk.Priority != "high" || tk.Type != "problem" || tk.Group != "Escalations" || tk.Subject != a.Title ||
		tk.Description != a.Body || !slices.Equal(tk.Collaborators, []string{"bob@example.com"}) ||
		tk.Fields["Developer ticket"] != "KBOT-88" || tk.Fields["Reproducible"] != "yes" || tk.Fields["Product area"] != "export" {
		t.Fatalf("ticket = %+v", tk)
	}
	if res.Item == nil || res.Item.Marker != a.Marker() || res.Item.Reporter != "ada@example.com" ||
		len(res.Item.Comments) != 1 || res.Item.Fields["Developer ticket"] != "KBOT-88" {
		t.Fatalf("result item = %+v", res.Item)
	}
	if got := calls[len(calls)-1]; !json.Valid(got.Body) || !strings.Contains(string(got.Body), `"author_id":`) {
		t.Fatalf("create body %s", got.Body)
	}

	// A retried create (the answer was lost) returns the same ticket:
	// the marker is the Idempotency-Key. The requester is cached.
	res2, err := e.c.Apply(context.Background(), a)
	if err != nil || res2.Created != res.Created || len(e.zd.Tickets()) != 1 {
		t.Fatalf("retried create: %v, %s vs %s, %d tickets", err, res2.Created, res.Created, len(e.zd.Tickets()))
	}
	sameLines(t, "retried create calls", e.calls(), []string{"POST /api/v2/tickets.json"})

	// The marker finds it, and the engine's Applied check says so.
	ref, err := e.c.FindByMarker(context.Background(), core.CustomerTicket, a.Marker())
	if err != nil || ref != res.Created {
		t.Fatalf("FindByMarker = %s, %v", ref, err)
	}
	sameLines(t, "marker search", e.calls(), []string{"GET /api/v2/search.json?query=type:ticket tags:" + a.Marker()})
	r, done, err := e.c.Applied(context.Background(), a)
	if err != nil || !done || r.Created != res.Created {
		t.Fatalf("Applied = %+v, %v, %v", r, done, err)
	}
	other := a
	other.Key = "another"
	if _, done, err := e.c.Applied(context.Background(), other); err != nil || done {
		t.Fatalf("Applied for an action never applied: %v, %v", done, err)
	}
	if _, err := e.c.FindByMarker(context.Background(), core.CustomerTicket, other.Marker()); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("FindByMarker of an unknown marker: %v", err)
	}
}

// TestApplyCreateRefusesGatewayAsRequester: a ticket is never created as
// the gateway's own account, nor without a requester.
func TestApplyCreateRefusesGatewayAsRequester(t *testing.T) {
	e := newEnv(t, nil)
	for name, requester := range map[string]string{"gateway": strings.ToUpper(testEmail), "none": ""} {
		t.Run(name, func(t *testing.T) {
			a := createAction()
			a.Fields = map[string]string{"requester": requester}
			_, err := e.c.Apply(context.Background(), a)
			if perm, _ := core.Classify(err); !perm {
				t.Fatalf("err %v; want a permanent error", err)
			}
			if len(e.zd.Tickets()) != 0 || len(e.calls()) != 0 {
				t.Fatal("a ticket was attempted")
			}
		})
	}
}

// TestApplyCommentPublicAndInternal: Public=false reaches Zendesk as
// "public": false; both carry the marker line, which is recognised (and
// stripped) when the comment comes back.
func TestApplyCommentPublicAndInternal(t *testing.T) {
	e := newEnv(t, nil)
	e.zd.SetWebhook("", "")
	id, _ := e.zd.CreateTicket("ada@example.com", "Export fails", "body", nil, nil)
	cases := []struct {
		name   string
		public bool
	}{{"public reply", true}, {"internal note", false}}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := core.Action{Key: "k-comment-" + tc.name, Kind: core.AddComment, Target: ticketRef(id),
				Body: "Fixed in 4.2 (KBOT-88).", Public: tc.public}
			e.calls()
			res, err := e.c.Apply(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			calls := e.zd.Calls()
			sameLines(t, "comment calls", e.calls(), []string{"PUT /api/v2/tickets/" + itoa(id) + ".json"})
			var sent struct {
				Ticket struct {
					Comment map[string]any `json:"comment"`
				} `json:"ticket"`
			}
			if err := json.Unmarshal(calls[0].Body, &sent); err != nil {
				t.Fatal(err)
			}
			if pub, ok := sent.Ticket.Comment["public"].(bool); !ok || pub != tc.public {
				t.Fatalf("sent public = %v (present %v); want %v", sent.Ticket.Comment["public"], ok, tc.public)
			}
			tk, _ := e.zd.Ticket(id)
			cm := tk.Comments[1+i]
			// What the customer reads is the body alone; the marker is
			// there, in characters that are drawn as nothing.
			if cm.Public != tc.public || cm.Author != testEmail || visible(cm.Body) != a.Body || MarkerOf(cm.Body) != a.Marker() {
				t.Fatalf("fake comment = %+v (reads %q, marker %q)", cm, visible(cm.Body), MarkerOf(cm.Body))
			}
			if html := e.zd.CommentHTML(id, cm.ID); html == "" || strings.Contains(visible(html), "liaison-") || strings.Contains(html, "(ref") {
				t.Fatalf("html_body %q shows the marker", html)
			}
			if res.CommentID != itoa(cm.ID) || res.Item == nil || !res.Item.UpdatedAt.IsZero() || res.Item.Comments[0].Marker != a.Marker() {
				t.Fatalf("result = %+v", res)
			}
			// On the way back.
			it, err := e.c.Fetch(context.Background(), ticketRef(id))
			if err != nil {
				t.Fatal(err)
			}
			back := it.Comments[len(it.Comments)-1]
			if back.Marker != a.Marker() || back.Body != a.Body || back.Public != tc.public {
				t.Fatalf("comment came back as %+v", back)
			}
			if _, done, err := e.c.Applied(context.Background(), a); !done || err != nil {
				t.Fatalf("Applied does not find the comment: %v", err)
			}
		})
	}
	// A person's comment has no marker.
	it, _ := e.c.Fetch(context.Background(), ticketRef(id))
	if it.Comments[0].Marker != "" {
		t.Fatal("the customer's comment was taken for the gateway's")
	}
}

// TestApplyCommentAttachments: files within the limit are uploaded and
// attached; larger ones (and ones without content) are named in the text.
func TestApplyCommentAttachments(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AttachmentLimit = 1024 })
	e.zd.SetWebhook("", "")
	id, _ := e.zd.CreateTicket("ada@example.com", "Export fails", "body", nil, nil)
	e.calls()
	a := core.Action{Key: "k-files", Kind: core.AddComment, Target: ticketRef(id), Body: "Logs attached.", Public: false,
		Files: []core.Attachment{
			{Name: "app.log", ContentType: "text/plain", Content: []byte("line 1\nline 2\n")},
			{Name: "trace.txt", ContentType: "text/plain", Content: []byte("trace")},
			{Name: "dump.bin", Size: 5 << 20, Content: make([]byte, 2048)},
			{Name: "video.mp4", Size: 80 << 20, URL: "https://files.example/video.mp4", Over: true},
		}}
	if _, err := e.c.Apply(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "attachment calls", e.calls(), []string{
		"POST /api/v2/uploads.json?filename=app.log",
		"POST /api/v2/uploads.json?filename=trace.txt&token=upload-token-0001",
		"PUT /api/v2/tickets/" + itoa(id) + ".json",
	})
	tk, _ := e.zd.Ticket(id)
	cm := tk.Comments[1]
	if len(cm.Attachments) != 2 || string(cm.Attachments[0].Content) != "line 1\nline 2\n" || cm.Attachments[1].Name != "trace.txt" {
		t.Fatalf("attachments = %+v", cm.Attachments)
	}
	for _, want := range []string{"Attachments not carried over", "dump.bin (2.0 KB)", "video.mp4 (80.0 MB) https://files.example/video.mp4"} {
		if !strings.Contains(cm.Body, want) {
			t.Errorf("comment text lacks %q:\n%s", want, cm.Body)
		}
	}
}

// TestApplyTransition: a status change is written once; a second time is
// a no-op without a write.
func TestApplyTransition(t *testing.T) {
	e := newEnv(t, nil)
	e.zd.SetWebhook("", "")
	id, _ := e.zd.CreateTicket("ada@example.com", "Export fails", "body", nil, nil)
	e.calls()
	a := core.Action{Key: "k-solve", Kind: core.Transition, Target: ticketRef(id), Status: core.StatusOnHold, Native: "On-hold"}
	res, err := e.c.Apply(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	get := "GET /api/v2/tickets/" + itoa(id) + ".json?include=users,organizations"
	sameLines(t, "transition calls", e.calls(), concat([]string{get}, catalogCalls, []string{"PUT /api/v2/tickets/" + itoa(id) + ".json"}))
	if tk, _ := e.zd.Ticket(id); tk.Status != "hold" || res.Item.Native != "hold" || res.Item.Reporter != "ada@example.com" {
		t.Fatalf("status %q, item %+v", tk.Status, res.Item)
	}
	res, err = e.c.Apply(context.Background(), a)
	if err != nil || !strings.Contains(res.Note, "already") {
		t.Fatalf("second transition: %+v, %v", res, err)
	}
	sameLines(t, "no-op transition calls", e.calls(), []string{get})
	a.Native = "waiting"
	if _, err := e.c.Apply(context.Background(), a); err == nil {
		t.Fatal("an unknown status was accepted")
	} else if perm, _ := core.Classify(err); !perm {
		t.Fatalf("unknown status not permanent: %v", err)
	}
}

// TestApplySetFieldsAndLink: only what differs is written; the link field
// gets the developer ticket key once; without a link field the link is an
// internal note.
func TestApplySetFieldsAndLink(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LinkField = "Developer ticket" })
	e.zd.SetWebhook("", "")
	id, _ := e.zd.CreateTicket("ada@example.com", "Export fails", "body", []string{"vip"}, nil)
	e.calls()
	ctx := context.Background()
	set := core.Action{Key: "k-set", Kind: core.SetFields, Target: ticketRef(id), Fields: map[string]string{
		"priority": "urgent", "group": "Escalations", "assignee": testEmail, "tags": "vip escalated",
		"Steps to reproduce": "1. export\n2. wait", "Reproducible": "no",
	}}
	if _, err := e.c.Apply(ctx, set); err != nil {
		t.Fatal(err)
	}
	calls := e.zd.Calls()
	var sent map[string]map[string]any
	_ = json.Unmarshal(calls[len(calls)-1].Body, &sent)
	if _, has := sent["ticket"]["tags"]; has || sent["ticket"]["additional_tags"] == nil {
		t.Fatalf("tags must be added, not replaced: %s", calls[len(calls)-1].Body)
	}
	tk, _ := e.zd.Ticket(id)
	if tk.Priority != "urgent" || tk.Group != "Escalations" || tk.Assignee != testEmail ||
		!slices.Equal(tk.Tags, []string{"vip", "escalated"}) || tk.Fields["Reproducible"] != "no" {
		t.Fatalf("ticket = %+v", tk)
	}
	e.calls()
	res, err := e.c.Apply(ctx, set)
	if err != nil || res.Note != "fields already set" {
		t.Fatalf("second set: %+v, %v", res, err)
	}
	sameLines(t, "no-op set calls", e.calls(), []string{"GET /api/v2/tickets/" + itoa(id) + ".json?include=users,organizations"})

	link := core.Action{Key: "k-link", Kind: core.AddLink, Target: ticketRef(id),
		Other: core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}, OtherURL: "https://jira.example/browse/KBOT-88"}
	for i := 0; i < 2; i++ {
		if _, err := e.c.Apply(ctx, link); err != nil {
			t.Fatal(err)
		}
	}
	if tk, _ := e.zd.Ticket(id); tk.Fields["Developer ticket"] != "KBOT-88" {
		t.Fatalf("link field = %v", tk.Fields["Developer ticket"])
	}

	// Without a link field: an internal note with the marker.
	c := e.connector(nil)
	if _, err := c.Apply(ctx, link); err != nil {
		t.Fatal(err)
	}
	tk, _ = e.zd.Ticket(id)
	note := tk.Comments[len(tk.Comments)-1]
	if note.Public || !strings.Contains(note.Body, "Linked to jira/dev_ticket/KBOT-88: https://jira.example/browse/KBOT-88") {
		t.Fatalf("note = %+v", note)
	}

	bad := core.Action{Key: "k-bad", Kind: core.SetFields, Target: ticketRef(id), Fields: map[string]string{"Root cause": "x"}}
	if _, err := e.c.Apply(ctx, bad); err == nil || !strings.Contains(err.Error(), `custom field "Root cause" not found`) {
		t.Fatalf("unknown field: %v", err)
	}
}

// TestRetryAfterHonoured: a 429 with a short Retry-After is waited out in
// place; a long one and 5xx come back as temporary with the wait; a 404 is
// permanent.
func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, nil)
	e.zd.SetWebhook("", "")
	id, _ := e.zd.CreateTicket("ada@example.com", "Export fails", "body", nil, nil)
	ctx := context.Background()
	a := core.Action{Key: "k-c", Kind: core.AddComment, Target: ticketRef(id), Body: "hi", Public: true}
	e.calls()
	e.zd.FailNext(1, http.StatusTooManyRequests, time.Second)
	if _, err := e.c.Apply(ctx, a); err != nil {
		t.Fatal(err)
	}
	calls := e.zd.Calls()
	if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
		t.Fatalf("calls %+v", e.calls())
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Fatalf("retried after %v; Retry-After said 1s", gap)
	}
	e.calls()

	cases := []struct {
		name      string
		status    int
		after     time.Duration
		n         int
		permanent bool
		wait      time.Duration
		calls     int
	}{
		{"long Retry-After goes back to the outbox", 429, 2 * time.Minute, 1, false, 2 * time.Minute, 1},
		{"5xx retried, then temporary", 503, 0, 3, false, 0, 3},
		{"404 permanent", 404, 0, 1, true, 0, 1},
		{"422 permanent", 422, 0, 1, true, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.zd.FailNext(tc.n, tc.status, tc.after)
			_, err := e.c.Apply(ctx, a)
			perm, wait := core.Classify(err)
			if err == nil || perm != tc.permanent || wait != tc.wait {
				t.Fatalf("err %v: permanent %v wait %v; want %v %v", err, perm, wait, tc.permanent, tc.wait)
			}
			if n := len(e.calls()); n != tc.calls {
				t.Fatalf("%d calls; want %d", n, tc.calls)
			}
			want := "PUT /api/v2/tickets/" + itoa(id) + ".json: " + itoa(int64(tc.status))
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
		})
	}
}

// TestApplyRejectsForeignTargets: actions for other systems or kinds are
// permanent errors without a call.
func TestApplyRejectsForeignTargets(t *testing.T) {
	e := newEnv(t, nil)
	for _, a := range []core.Action{
		{Kind: core.AddComment, Target: core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-1"}, Body: "x"},
		{Kind: core.AddComment, Target: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "abc"}, Body: "x"},
		{Kind: core.Notify, Target: ticketRef(1)},
	} {
		_, err := e.c.Apply(context.Background(), a)
		if perm, _ := core.Classify(err); !perm {
			t.Errorf("%s %s: err %v; want permanent", a.Kind, a.Target, err)
		}
	}
	if len(e.calls()) != 0 {
		t.Fatal("calls were made")
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatalf("id %q: %v", s, err)
	}
	return n
}

// TestOwnCommentComesBackMarked: Zendesk fires the trigger on the
// gateway's own update too; the comment in that webhook carries the
// action's marker, so it is never mirrored back.
func TestOwnCommentComesBackMarked(t *testing.T) {
	e := newEnv(t, nil, fake.WithEchoWebhooks())
	id, err := e.zd.CreateTicket("ada@example.com", "Export fails", "body", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.takeEvents()
	a := core.Action{Key: "k-mirror", Kind: core.AddComment, Target: ticketRef(id), Body: "Dev says: fixed.", Public: true}
	if _, err := e.c.Apply(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	e.zd.Flush()
	evs := e.takeEvents()
	if len(evs) != 1 {
		t.Fatalf("%d events came back; want 1", len(evs))
	}
	cs := evs[0].Item.Comments
	if len(cs) != 2 || cs[1].Marker != a.Marker() || cs[1].Body != a.Body || cs[0].Marker != "" {
		t.Fatalf("comments came back as %+v", cs)
	}
}

// visible is what a reader sees of a text: every character but the
// invisible format characters (Unicode category Cf).
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

// TestCommentMarker: the marker written into a comment is read back from
// it and nothing of it is visible; the marker must end the comment (a
// reply that quotes one of ours above its own text is the replier's);
// comments written with the earlier visible marker line are still ours.
func TestCommentMarker(t *testing.T) {
	m := core.MarkerFor("comment|correction-explained|x|y")
	ours := withMarker("Hello,\n\nFixed.\n", m)
	cases := []struct {
		name, body, wantBody, wantMarker string
	}{
		{"ours", ours, "Hello,\n\nFixed.", m},
		{"ours, trailing space added on the way", ours + "\n ", "Hello,\n\nFixed.", m},
		{"a reply quoting ours above its text", "Still broken.\n> " + ours + "\nThanks", "Still broken.\n> " + ours + "\nThanks", ""},
		{"the earlier visible line", "Fixed.\n\n(ref " + m + ")", "Fixed.", m},
		{"a person's comment", "Fixed, (ref liaison-nothex) ok", "Fixed, (ref liaison-nothex) ok", ""},
	}
	for _, c := range cases {
		body, marker := splitMarker(c.body)
		if body != c.wantBody || marker != c.wantMarker {
			t.Errorf("%s: splitMarker = %q, %q; want %q, %q", c.name, body, marker, c.wantBody, c.wantMarker)
		}
	}
	if v := visible(ours); v != "Hello,\n\nFixed." {
		t.Errorf("a reader sees %q", v)
	}
	if hiddenMarker("not-a-marker") != "" {
		t.Error("hiddenMarker encoded something that is not a marker")
	}
}

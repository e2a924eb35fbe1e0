package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	jirafake "github.com/liaisonhq/liaison/connectors/jira/fake"
	zdfake "github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/internal/sandbox"
)

const (
	customer     = "ada@customer.example"
	bugSubject   = "Password reset link gives error 500"
	bugStatement = "Since this morning the password reset link opens an error page (500). I expected the form to set a new password."
	bugSteps     = "1. Request a password reset\n2. Open the link in the mail"
)

// bugReport is what a customer fills in on the help center's bug form:
// everything triage asks for, so the ticket goes to the developers as is.
var bugReport = map[string]string{"priority": "high", "Steps to reproduce": bugSteps, "Reproducible": "yes"}

// escalation is a customer ticket and the developer ticket the gateway
// escalated it to.
type escalation struct {
	ticket int64
	key    string
}

// escalate has a customer write in through the help center with a
// complete bug report tagged bug, and waits for the gateway to escalate it
// to a developer ticket and note its key on the customer ticket.
func escalate(t *testing.T, w *sandbox.World) escalation {
	t.Helper()
	id, err := w.Zendesk.CreateTicket(customer, bugSubject, bugStatement, []string{"bug"}, bugReport)
	if err != nil {
		t.Fatal(err)
	}
	var key string
	eventually(t, "a developer ticket noted on the customer ticket", func() bool {
		tk, _ := w.Zendesk.Ticket(id)
		key, _ = tk.Fields["Developer ticket"].(string)
		return key != ""
	})
	settle(t, w)
	return escalation{ticket: id, key: key}
}

// gatewayComments returns the comments the gateway's agent account wrote
// on a ticket, public or not.
func gatewayComments(w *sandbox.World, id int64, public bool) []zdfake.Comment {
	tk, _ := w.Zendesk.Ticket(id)
	var out []zdfake.Comment
	for _, c := range tk.Comments {
		if c.Author == zdfake.Agent && c.Public == public {
			out = append(out, c)
		}
	}
	return out
}

// A customer's bug is escalated to a developer ticket linked both ways;
// the developer ticket's progress reaches the customer as the mapped
// status and exactly one public comment from the mapping's template.
func TestEscalatedBugIsLinkedBothWaysAndItsFixReachesTheCustomer(t *testing.T) {
	w := startWorld(t)
	waitPolled(t, w)
	ctx := context.Background()
	e := escalate(t, w)

	is, ok := w.Jira.Issue(e.key)
	if !ok {
		t.Fatalf("no issue %s in Jira", e.key)
	}
	if is.Project != "KBOT" || is.Summary != bugSubject || is.Priority != "High" {
		t.Errorf("developer ticket %s: project %q, summary %q, priority %q; want KBOT, %q, High", e.key, is.Project, is.Summary, is.Priority, bugSubject)
	}
	if want := fmt.Sprintf("Escalated from help-desk ticket #%d", e.ticket); !strings.Contains(is.Description, want) || !strings.Contains(is.Description, bugStatement) {
		t.Errorf("developer ticket description %q: want %q and the customer's statement", is.Description, want)
	}
	ticketItem, err := w.Daemon.Store.Item(ctx, customerTicket(e.ticket))
	if err != nil {
		t.Fatal(err)
	}
	if ticketItem.URL == "" || !strings.Contains(is.Description, ticketItem.URL) {
		t.Errorf("developer ticket description %q does not point to the customer ticket %q", is.Description, ticketItem.URL)
	}
	t1, t2 := w.Daemon.Store.CaseOf(ctx, customerTicket(e.ticket))
	d1, d2 := w.Daemon.Store.CaseOf(ctx, devTicket(e.key))
	if t2 != nil || d2 != nil || t1 != d1 {
		t.Errorf("customer ticket in case %d (%v), developer ticket in case %d (%v): want one case", t1, t2, d1, d2)
	}
	tk, _ := w.Zendesk.Ticket(e.ticket)
	if got := tk.Fields["Developer ticket"]; got != e.key {
		t.Errorf("customer ticket's Developer ticket field %q, want %q", got, e.key)
	}
	notes := gatewayComments(w, e.ticket, false)
	if len(notes) != 1 || !strings.Contains(notes[0].Body, "Developer ticket "+e.key+" tracks this problem") {
		t.Errorf("internal notes on the customer ticket: %+v; want one naming %s", notes, e.key)
	}

	if len(is.RemoteLinks) != 1 || is.RemoteLinks[0].URL != ticketItem.URL {
		t.Errorf("remote links of %s: %+v; want one to the customer ticket %q", e.key, is.RemoteLinks, ticketItem.URL)
	}
	if got := jiraField(is, "Help desk ticket"); got != fmt.Sprint(e.ticket) {
		t.Errorf("%s's Help desk ticket field %q, want %d", e.key, got, e.ticket)
	}

	// The developers work; nothing reaches the customer until the fix is
	// validated in pre-production.
	for _, st := range []string{"In Progress", "In Review", "Ready for QA", "QA Validated"} {
		if err := w.Jira.Transition(e.key, st); err != nil {
			t.Fatal(err)
		}
		settle(t, w)
		if tk, _ := w.Zendesk.Ticket(e.ticket); tk.Status != "new" || len(gatewayComments(w, e.ticket, true)) != 0 {
			t.Fatalf("with %s in %q the customer ticket is %q with public comments %+v; want it untouched",
				e.key, st, tk.Status, gatewayComments(w, e.ticket, true))
		}
	}
	for _, step := range []struct{ status, ticket string }{
		{"Preprod Validated", "pending"}, // the customer is told and the ticket waits for them
		{"Done", "solved"},               // deployed: solved, and no second comment
	} {
		if err := w.Jira.Transition(e.key, step.status); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the customer ticket "+step.ticket, func() bool {
			tk, _ := w.Zendesk.Ticket(e.ticket)
			return tk.Status == step.ticket
		})
		settle(t, w)
		public := gatewayComments(w, e.ticket, true)
		if len(public) != 1 {
			t.Fatalf("with %s %q: public comments from the gateway %+v; want exactly one", e.key, step.status, public)
		}
		want := "Hello,\n\nOur developers have corrected the problem you reported (" + bugSubject + ")."
		if !strings.HasPrefix(public[0].Body, want) || !strings.Contains(public[0].Body, "will be deployed shortly") {
			t.Errorf("public comment %q: want the correction-explained template (%q...)", public[0].Body, want)
		}
	}
	// Exactly these writes, each once: the gateway's own writes came
	// back as webhooks and changed nothing.
	wantZendesk := []string{"internal note", "Developer ticket = " + e.key, "public comment", "status pending", "tag fix_explained", "status solved"}
	if got := zendeskWrites(t, w, e.ticket); !slices.Equal(got, wantZendesk) {
		t.Errorf("writes to the customer ticket:\n got %q\nwant %q", got, wantZendesk)
	}
	wantJira := []string{"jira POST /rest/api/2/issue", "jira POST /rest/api/2/issue/" + e.key + "/remotelink"}
	var gotJira []string
	for _, l := range allWrites(w) {
		if !strings.HasPrefix(l, "zendesk ") {
			gotJira = append(gotJira, l)
		}
	}
	if !slices.Equal(gotJira, wantJira) {
		t.Errorf("writes elsewhere than Zendesk:\n got %q\nwant %q", gotJira, wantJira)
	}
}

// A developer's comment on the developer ticket reaches the agents as an
// internal note, once; it never becomes a public reply to the customer,
// whether Jira marks it internal or not.
func TestDeveloperCommentsNeverBecomePublicReplies(t *testing.T) {
	w := startWorld(t)
	waitPolled(t, w)
	e := escalate(t, w)
	for _, tc := range []struct {
		name     string
		internal bool
		body     string
	}{
		{"internal comment", true, "Root cause: reset tokens are compared in local time. Customer data in the logs, do not forward."},
		{"comment visible to all Jira users", false, "Fix is on branch fix/reset-token; needs a UTC test."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.Jira.Comment(e.key, tc.body, tc.internal); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the comment mirrored to the customer ticket", func() bool { return len(commentsWith(w, e.ticket, tc.body)) > 0 })
			settle(t, w)
			got := commentsWith(w, e.ticket, tc.body)
			if len(got) != 1 || got[0].Public {
				t.Errorf("customer ticket comments carrying the developer's comment: %+v; want one, public false", got)
			}
		})
	}
	tk, _ := w.Zendesk.Ticket(e.ticket)
	for _, c := range tk.Comments {
		if c.Public && c.Author != customer {
			t.Errorf("public comment by %s on the customer ticket: %q", c.Author, c.Body)
		}
	}
}

func commentsWith(w *sandbox.World, id int64, text string) []zdfake.Comment {
	tk, _ := w.Zendesk.Ticket(id)
	var out []zdfake.Comment
	for _, c := range tk.Comments {
		if strings.Contains(c.Body, text) {
			out = append(out, c)
		}
	}
	return out
}

// jiraField returns the text of an issue's custom field, by name.
func jiraField(is jirafake.Issue, name string) string {
	for _, f := range jirafake.DefaultFields() {
		if f.Name == name {
			return fmt.Sprint(is.Fields[f.ID])
		}
	}
	return ""
}

// zendeskWrites lists the writes the Zendesk fake received about a ticket,
// in order, each update in a few words: "internal note", "public comment",
// "status pending", "tag <tag>", "<field title> = <value>"; "" for an
// update of none of these.
func zendeskWrites(t *testing.T, w *sandbox.World, id int64) []string {
	t.Helper()
	titles := map[int64]string{}
	for _, f := range []string{"Developer ticket", "Steps to reproduce", "Reproducible", "Product area"} {
		titles[w.Zendesk.FieldID(f)] = f
	}
	var out []string
	for _, c := range w.Zendesk.Calls() {
		if c.Method == http.MethodGet || c.Path != fmt.Sprintf("/api/v2/tickets/%d.json", id) {
			continue
		}
		var body struct {
			Ticket struct {
				Comment *struct {
					Public bool `json:"public"`
				} `json:"comment"`
				Status         string   `json:"status"`
				AdditionalTags []string `json:"additional_tags"`
				CustomFields   []struct {
					ID    int64 `json:"id"`
					Value any   `json:"value"`
				} `json:"custom_fields"`
			} `json:"ticket"`
		}
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		var parts []string
		if cm := body.Ticket.Comment; cm != nil {
			parts = append(parts, map[bool]string{true: "public comment", false: "internal note"}[cm.Public])
		}
		if body.Ticket.Status != "" {
			parts = append(parts, "status "+body.Ticket.Status)
		}
		if tags := body.Ticket.AdditionalTags; len(tags) > 0 {
			parts = append(parts, "tag "+strings.Join(tags, " "))
		}
		for _, f := range body.Ticket.CustomFields {
			parts = append(parts, fmt.Sprintf("%s = %v", titles[f.ID], f.Value))
		}
		out = append(out, strings.Join(parts, ", "))
	}
	return out
}

package mappings

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// The default process, run through core's planner on hand-built cases:
// what each step plans, and what it must not.

var (
	ticketRef = core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
	devRef    = core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}
	changeRef = core.Ref{System: "jira", Kind: core.ChangeTicket, ID: "DO-12"}
	mailRef   = core.Ref{System: "imap", Kind: core.EmailThread, ID: "<a1@customer.example>"}
	prRef     = core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/app#7"}
	// monday is Monday 23 November 2026, 10:00 in Paris.
	monday = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
)

// complete is a bug report that has everything the checklist asks for.
func complete() core.Item {
	return core.Item{Ref: ticketRef, Title: "Password reset link gives error 500",
		Body: "Since this morning the reset link opens an error page.", Native: "open", Priority: "normal",
		Reporter: "ada@customer.example", Labels: []string{"bug"}, URL: "https://help.example/4521",
		Fields: map[string]string{"org": "Customer Corp", "Steps to reproduce": "Ask for a reset, open the link.", "Reproducible": "yes"}}
}

func devTicket(native string) core.Item {
	return core.Item{Ref: devRef, Title: "Password reset link gives error 500", Native: native, Priority: "Medium",
		URL: "https://jira.example/browse/KBOT-88"}
}

// answered is a bug report lacking its steps whose reporter was asked and
// replied reply (the ticket open again).
func answered(reply string) core.Item {
	return with(complete(), func(it *core.Item) {
		delete(it.Fields, "Steps to reproduce")
		it.Labels = []string{"bug", "triage_asked"}
		it.Comments = []core.Comment{
			{ID: "1", Author: "agent@liaison.example", Body: "Hello, could you tell us…", Public: true, Marker: "liaison-000000000001", CreatedAt: monday.Add(-2 * time.Hour)},
			{ID: "2", Author: "ada@customer.example", Body: reply, Public: true, CreatedAt: monday.Add(-time.Hour)},
		}
	})
}

// walked is it having passed through the native statuses path (one an
// hour, ending an hour before monday), in the status it stands in now.
func walked(it core.Item, path ...string) core.Item {
	at := monday.Add(-time.Duration(len(path)+1) * time.Hour)
	for _, native := range path {
		it.Path = append(it.Path, core.StatusStep{Native: native, At: at})
		at = at.Add(time.Hour)
	}
	return it
}

// with returns a copy of it changed by f.
func with(it core.Item, f func(*core.Item)) core.Item {
	it.Labels = slices.Clone(it.Labels)
	it.Fields = maps.Clone(it.Fields)
	it.Comments = slices.Clone(it.Comments)
	f(&it)
	return it
}

// summary is one planned action in a line: rule, kind, target and what it
// writes (status, fields, labels, link).
func summary(a core.Action) string {
	s := fmt.Sprintf("%s %s %s", a.Rule, a.Kind, a.Target)
	switch a.Kind {
	case core.Transition:
		s += " → " + a.Native
	case core.SetFields:
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(a.Fields)) {
			kv = append(kv, k+"="+a.Fields[k])
		}
		s += " " + strings.Join(kv, ", ")
	case core.Create:
		s += " labels=" + strings.Join(a.Labels, ",")
	case core.AddLink:
		s += " ↔ " + a.Other.String()
	case core.AddComment:
		if a.Public {
			s += " public"
		}
	case core.Notify:
		s += " to " + a.To
	}
	return s
}

type processCase struct {
	name string
	// before are earlier states of the case: what they planned is in the
	// outbox, done, when items is planned.
	before     [][]core.Item
	items      []core.Item
	candidates []core.Item
	now        time.Time // default monday
	want       []string  // summaries, in plan order
	check      func(t *testing.T, plan core.Plan)
}

func runProcess(t *testing.T, cases []processCase) {
	t.Helper()
	m := loadDefaults(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = monday
			}
			keys := map[string]core.ActionState{}
			caseOf := func(items []core.Item) *core.Case {
				c := &core.Case{ID: 1, Items: slices.Clone(items), Candidates: tc.candidates, Keys: keys}
				for i := range c.Items {
					if c.Items[i].UpdatedAt.IsZero() {
						c.Items[i].UpdatedAt = monday.Add(-time.Hour)
					}
				}
				c.Sort()
				return c
			}
			for _, items := range tc.before {
				for _, a := range core.PlanCase(caseOf(items), m, now).Actions {
					keys[a.Key] = core.Done
				}
			}
			plan := core.PlanCase(caseOf(tc.items), m, now)
			for _, err := range plan.Errors {
				t.Errorf("plan error: %v", err)
			}
			var got []string
			for _, a := range plan.Actions {
				got = append(got, summary(a))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("planned:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if tc.check != nil {
				tc.check(t, plan)
			}
		})
	}
}

func actionOf(t *testing.T, plan core.Plan, rule string, kind core.ActionKind) core.Action {
	t.Helper()
	for _, a := range plan.Actions {
		if a.Rule == rule && a.Kind == kind {
			return a
		}
	}
	t.Fatalf("no %s action of %s planned", kind, rule)
	return core.Action{}
}

func TestProcess_Triage(t *testing.T) {
	fresh := core.Item{Ref: ticketRef, Title: "Password reset link gives error 500",
		Body: "Since this morning the reset link opens an error page.", Native: "new", Reporter: "ada@customer.example"}
	runProcess(t, []processCase{
		{name: "a new ticket is classified by its words",
			items: []core.Item{fresh},
			want:  []string{"triage-classify set_fields zendesk/customer_ticket/4521 tags=bug"}},
		{name: "a how-to question that mentions an error: not a bug, an agent is asked",
			items: []core.Item{with(fresh, func(it *core.Item) {
				it.Title, it.Body = "How do I hide the error column?", "Is there a way to hide the error column of the report?"
			})},
			want: []string{"triage-classify set_fields zendesk/customer_ticket/4521 tags=needs_triage"}},
		{name: "unsure: the agents are asked once, nothing else",
			items: []core.Item{with(fresh, func(it *core.Item) { it.Labels = []string{"needs_triage"} })},
			want:  []string{"triage-unsure comment zendesk/customer_ticket/4521"}},
		{name: "unsure, then an agent says bug: the reporter is asked",
			items: []core.Item{with(fresh, func(it *core.Item) { it.Labels = []string{"needs_triage", "bug"} })},
			want: []string{
				"triage-ask-reporter comment zendesk/customer_ticket/4521 public",
				"triage-ask-reporter transition zendesk/customer_ticket/4521 → pending",
				"triage-ask-reporter set_fields zendesk/customer_ticket/4521 tags=triage_asked",
			}},
		{name: "a question is misc",
			items: []core.Item{with(fresh, func(it *core.Item) { it.Title, it.Body = "How do I add a user?", "We hired someone." })},
			want:  []string{"triage-classify set_fields zendesk/customer_ticket/4521 tags=misc"}},
		{name: "a wish is a change request",
			items: []core.Item{with(fresh, func(it *core.Item) { it.Title, it.Body = "Export to Excel", "We would like an Excel export." })},
			want:  []string{"triage-classify set_fields zendesk/customer_ticket/4521 tags=change_request"}},
		{name: "the bug report form says bug, whatever the words",
			items: []core.Item{with(fresh, func(it *core.Item) {
				it.Title, it.Body, it.Fields = "Totals", "The totals look odd.", map[string]string{"form": "Bug report"}
			})},
			want: []string{"triage-classify set_fields zendesk/customer_ticket/4521 tags=bug"}},
		{name: "an agent's tag is kept: no classification",
			items: []core.Item{with(fresh, func(it *core.Item) { it.Labels = []string{"change_request"} })},
			want:  nil},
		{name: "a bug missing steps, reproducibility and priority: one ask for exactly those",
			items: []core.Item{with(fresh, func(it *core.Item) { it.Labels = []string{"bug"} })},
			want: []string{
				"triage-ask-reporter comment zendesk/customer_ticket/4521 public",
				"triage-ask-reporter transition zendesk/customer_ticket/4521 → pending",
				"triage-ask-reporter set_fields zendesk/customer_ticket/4521 tags=triage_asked",
			},
			check: func(t *testing.T, plan core.Plan) {
				body := actionOf(t, plan, "triage-ask-reporter", core.AddComment).Body
				var asked []string
				for _, l := range strings.Split(body, "\n") {
					if strings.HasPrefix(l, "- ") {
						asked = append(asked, l[2:])
					}
				}
				want := []string{"the steps to reproduce the problem, one by one", "whether the problem happens every time (yes or no)",
					"how urgent it is for you (low, normal, high or urgent)"}
				if !slices.Equal(asked, want) {
					t.Errorf("asked for %q\nwant %q\n%s", asked, want, body)
				}
			}},
		{name: "only the steps missing: only the steps asked for",
			items: []core.Item{with(complete(), func(it *core.Item) { delete(it.Fields, "Steps to reproduce") })},
			want: []string{
				"triage-ask-reporter comment zendesk/customer_ticket/4521 public",
				"triage-ask-reporter transition zendesk/customer_ticket/4521 → pending",
				"triage-ask-reporter set_fields zendesk/customer_ticket/4521 tags=triage_asked",
			},
			check: func(t *testing.T, plan core.Plan) {
				body := actionOf(t, plan, "triage-ask-reporter", core.AddComment).Body
				if strings.Count(body, "\n- ") != 1 || !strings.Contains(body, "\n- the steps to reproduce the problem, one by one\n") {
					t.Errorf("ask:\n%s", body)
				}
			}},
		{name: "asked already, waiting, an agent changes the priority: no second ask, no escalation",
			items: []core.Item{with(complete(), func(it *core.Item) {
				delete(it.Fields, "Steps to reproduce")
				it.Native, it.Priority, it.Labels = "pending", "high", []string{"bug", "triage_asked"}
				it.Comments = []core.Comment{{ID: "1", Author: "agent@liaison.example", Body: "Hello, could you tell us…", Public: true, Marker: "liaison-000000000001"}}
			})},
			want: nil},
		{name: "the reporter answered with the steps (the ticket is open again): escalated without a second ask",
			items: []core.Item{answered("Steps: ask for a reset, open the link.")},
			want:  []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog"}},
		{name: "the reporter answered with a numbered list, in French: escalated",
			items: []core.Item{answered("Voici :\n1. Demander un nouveau mot de passe\n2. Ouvrir le lien reçu")},
			want:  []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog"}},
		{name: "a reply that does not give what was asked: not escalated, the agents are asked",
			items: []core.Item{answered("It is not a bug.")},
			want: []string{
				"triage-reply-incomplete comment zendesk/customer_ticket/4521",
				"triage-reply-incomplete set_fields zendesk/customer_ticket/4521 tags=needs_triage",
			},
			check: func(t *testing.T, plan core.Plan) {
				if body := actionOf(t, plan, "triage-reply-incomplete", core.AddComment).Body; !strings.Contains(body, "- the steps to reproduce the problem, one by one\n") {
					t.Errorf("the note does not say what is missing:\n%s", body)
				}
			}},
		{name: "the gateway's own question names every item: it is not an answer",
			items: []core.Item{with(answered("Thanks"), func(it *core.Item) {
				it.Comments[0].Body = "Could you tell us:\n- the steps to reproduce the problem, one by one\n- whether the problem happens every time (yes or no)\n- how urgent it is for you (low, normal, high or urgent)"
				it.Comments[0].Author = it.Reporter
			})},
			want: []string{
				"triage-reply-incomplete comment zendesk/customer_ticket/4521",
				"triage-reply-incomplete set_fields zendesk/customer_ticket/4521 tags=needs_triage",
			}},
		{name: "a quoted question in a mail reply is not an answer",
			items: []core.Item{answered("Thanks, see below.\n\n> Steps: the steps to reproduce the problem, one by one\n> 1. a\n> 2. b")},
			want: []string{
				"triage-reply-incomplete comment zendesk/customer_ticket/4521",
				"triage-reply-incomplete set_fields zendesk/customer_ticket/4521 tags=needs_triage",
			}},
		{name: "an agent forces the escalation: escalated as it is",
			items: []core.Item{with(answered("It is not a bug."), func(it *core.Item) { it.Labels = append(it.Labels, "needs_triage", "escalate") })},
			want:  []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog"}},
		{name: "an agent stops the escalation of a complete report",
			items: []core.Item{with(complete(), func(it *core.Item) { it.Labels = []string{"bug", "do_not_escalate"} })},
			want:  nil},
		{name: "a complete report in the text alone: no questions, escalated",
			items: []core.Item{with(complete(), func(it *core.Item) {
				it.Fields, it.Priority = map[string]string{"org": "Customer Corp"}, ""
				it.Body = "The reset link opens an error page.\n\n- Ask for a reset\n- Open the link\n\nIt happens every time and it is blocking us."
			})},
			want: []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog"}},
		{name: "the reporter filled the fields in, the ticket still pending: escalated",
			items: []core.Item{with(complete(), func(it *core.Item) {
				it.Native, it.Labels = "pending", []string{"bug", "triage_asked"}
			})},
			want: []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog"}},
		{name: "a site that titles its fields in another case: the checklist finds them, escalated, steps copied",
			items: []core.Item{with(complete(), func(it *core.Item) {
				it.Fields = map[string]string{"org": "Customer Corp", "Steps To Reproduce": "Ask for a reset, open the link.", "REPRODUCIBLE": "yes"}
			})},
			want: []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog"},
			check: func(t *testing.T, plan core.Plan) {
				if a := actionOf(t, plan, "escalate-bug", core.Create); a.Fields["Steps to reproduce"] != "Ask for a reset, open the link." {
					t.Errorf("steps not copied: %v", a.Fields)
				}
			}},
		{name: "a complete urgent report is escalated at once, into the current sprint",
			items: []core.Item{with(complete(), func(it *core.Item) { it.Priority = "urgent" })},
			want:  []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,current-sprint"},
			check: func(t *testing.T, plan core.Plan) {
				a := plan.Actions[0]
				if a.Fields["priority"] != "Highest" || a.Fields["project"] != "" || a.Fields["Help desk ticket"] != "4521" ||
					a.Fields["Steps to reproduce"] != "Ask for a reset, open the link." || a.Role != core.EscalatedTo {
					t.Errorf("create = %+v", a)
				}
			}},
		{name: "an infrastructure problem is not asked about",
			items: []core.Item{with(fresh, func(it *core.Item) { it.Labels = []string{"bug", "infra"} })},
			want:  []string{"escalate-infrastructure create jira/change_ticket/ labels="}},
		{name: "an agent stops the escalation of an infrastructure problem",
			items: []core.Item{with(fresh, func(it *core.Item) { it.Labels = []string{"bug", "infra", "do_not_escalate"} })},
			want:  nil},
	})
}

func TestProcess_Duplicates(t *testing.T) {
	known := devTicket("In Progress")
	known.Body = "The password reset link opens an error page (HTTP 500) for every user."
	elsewhere := func(it core.Item) []core.Item { return []core.Item{it} }
	runProcess(t, []processCase{
		{name: "an open developer ticket about the same problem is linked, not created",
			items:      []core.Item{complete()},
			candidates: elsewhere(known),
			want: []string{
				"known-problem link jira/dev_ticket/KBOT-88 ↔ zendesk/customer_ticket/4521",
				"known-problem comment zendesk/customer_ticket/4521",
				"known-problem set_fields zendesk/customer_ticket/4521 Developer ticket=KBOT-88",
			},
			check: func(t *testing.T, plan core.Plan) {
				note := actionOf(t, plan, "known-problem", core.AddComment)
				if note.Public || !strings.Contains(note.Body, `developer ticket KBOT-88 ("Password reset link gives error 500", In Progress): https://jira.example/browse/KBOT-88`) {
					t.Errorf("note (public %v):\n%s", note.Public, note.Body)
				}
			}},
		{name: "a done one is not a duplicate: a new developer ticket",
			items:      []core.Item{complete()},
			candidates: elsewhere(with(known, func(it *core.Item) { it.Native = "Done" })),
			want:       []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog"}},
		{name: "another problem is not a duplicate",
			items:      []core.Item{complete()},
			candidates: elsewhere(with(known, func(it *core.Item) { it.Title, it.Body = "CSV export drops the last row", "Exports miss a line." })),
			want:       []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog"}},
		{name: "an agent said it is not a duplicate",
			items:      []core.Item{with(complete(), func(it *core.Item) { it.Labels = []string{"bug", "not_duplicate"} })},
			candidates: elsewhere(known),
			want:       []string{"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog"}},
		{name: "not searched before the report is complete: the reporter is asked first",
			items:      []core.Item{with(complete(), func(it *core.Item) { delete(it.Fields, "Steps to reproduce") })},
			candidates: elsewhere(known),
			want: []string{
				"triage-ask-reporter comment zendesk/customer_ticket/4521 public",
				"triage-ask-reporter transition zendesk/customer_ticket/4521 → pending",
				"triage-ask-reporter set_fields zendesk/customer_ticket/4521 tags=triage_asked",
			}},
		{name: "once linked, the agents are not told twice and the developer ticket's priority rises to the customer's",
			items: []core.Item{
				with(complete(), func(it *core.Item) {
					it.Priority = "high"
					it.Fields["Developer ticket"] = "KBOT-88"
					it.Comments = []core.Comment{{ID: "5", Body: "This looks like the problem of developer ticket KBOT-88", Marker: "liaison-000000000002"}}
				}),
				known,
			},
			want: []string{
				"dev-ticket-priority set_fields jira/dev_ticket/KBOT-88 priority=High",
				"help-desk-ticket-linked link jira/dev_ticket/KBOT-88 ↔ zendesk/customer_ticket/4521",
			}},
	})
}

func TestProcess_ChangeTicket(t *testing.T) {
	infra := with(complete(), func(it *core.Item) {
		it.Labels, it.Priority = []string{"infra"}, "high"
		it.Fields["org"] = "Tenant AG"
	})
	runProcess(t, []processCase{
		{name: "an infrastructure cause gets a change ticket with resources, approvers and a target date",
			items: []core.Item{infra},
			want:  []string{"escalate-infrastructure create jira/change_ticket/ labels=tenant-ag"},
			check: func(t *testing.T, plan core.Plan) {
				a := plan.Actions[0]
				want := map[string]string{"issue_type": "Change", "priority": "High",
					"Target resources": "the production tenant of Tenant AG", "Approvers": "",
					// Two working days after Monday 23 November.
					"Target date": "2026-11-25", "Help desk ticket": "4521"}
				if !maps.Equal(a.Fields, want) || a.Role != core.EscalatedTo {
					t.Errorf("fields = %v\nwant     %v", a.Fields, want)
				}
			}},
		{name: "linked to the help-desk ticket and to the developer ticket",
			items: []core.Item{infra, devTicket("In Progress"), {Ref: changeRef, Title: "Restore backups", Native: "Open", Priority: "High"}},
			want: []string{
				// Subjects in order: the change ticket, the developer
				// ticket, the help-desk ticket.
				"change-ticket-linked link jira/dev_ticket/KBOT-88 ↔ jira/change_ticket/DO-12",
				"dev-ticket-priority set_fields jira/dev_ticket/KBOT-88 priority=High",
				"dev-ticket-noted comment zendesk/customer_ticket/4521",
				"dev-ticket-noted set_fields zendesk/customer_ticket/4521 Developer ticket=KBOT-88",
				"change-ticket-noted comment zendesk/customer_ticket/4521",
				"help-desk-ticket-linked link jira/dev_ticket/KBOT-88 ↔ zendesk/customer_ticket/4521",
				"help-desk-ticket-linked link jira/change_ticket/DO-12 ↔ zendesk/customer_ticket/4521",
			}},
		{name: "the change done: the customer hears once, and the ticket is solved",
			items: []core.Item{with(infra, func(it *core.Item) { it.Comments = nil }), {Ref: changeRef, Title: "Restore backups", Native: "Done"}},
			want: []string{
				"change-ticket-noted comment zendesk/customer_ticket/4521",
				"help-desk-ticket-linked link jira/change_ticket/DO-12 ↔ zendesk/customer_ticket/4521",
				"change-explained comment zendesk/customer_ticket/4521 public",
				"change-explained set_fields zendesk/customer_ticket/4521 tags=fix_explained",
				"deployed-solves-ticket transition zendesk/customer_ticket/4521 → solved",
			}},
	})
}

func TestProcess_ValidationAndReopen(t *testing.T) {
	escalated := with(complete(), func(it *core.Item) {
		it.Fields["Developer ticket"] = "KBOT-88"
		it.Comments = []core.Comment{{ID: "5", Body: "Developer ticket KBOT-88 tracks this problem", Marker: "liaison-000000000003"}}
	})
	quiet := func(items ...core.Item) []core.Item { return items }
	validated := walked(devTicket("Preprod Validated"), "In Review", "Ready for QA", "QA Validated", "Preprod Validated")
	skipped := walked(devTicket("Preprod Validated"), "In Review", "Ready for QA", "Preprod Validated")
	shipped := with(walked(devTicket("Done"), "Ready for QA", "QA Validated", "Preprod Validated", "Done"),
		func(it *core.Item) { it.Fields = map[string]string{"resolution": "Fixed"} })
	explained := with(escalated, func(it *core.Item) { it.Native, it.Labels = "pending", []string{"bug", "fix_explained"} })
	runProcess(t, []processCase{
		{name: "pre-production validated: one explanation, pending, and the mark",
			items: quiet(escalated, validated),
			want: []string{
				"help-desk-ticket-linked link jira/dev_ticket/KBOT-88 ↔ zendesk/customer_ticket/4521",
				"correction-explained comment zendesk/customer_ticket/4521 public",
				"correction-explained transition zendesk/customer_ticket/4521 → pending",
				"correction-explained set_fields zendesk/customer_ticket/4521 tags=fix_explained",
			}},
		{name: "pre-production validated without QA: the agents are told, the customer is not",
			items: quiet(escalated, skipped),
			want: []string{
				"help-desk-ticket-linked link jira/dev_ticket/KBOT-88 ↔ zendesk/customer_ticket/4521",
				"validation-skipped comment zendesk/customer_ticket/4521",
			}},
		{name: "closed as Cannot Reproduce: the agents are told, the customer is not, the ticket stays open",
			items: quiet(escalated, with(walked(devTicket("Done"), "In Progress", "Done"),
				func(it *core.Item) { it.Fields = map[string]string{"resolution": "Cannot Reproduce"} })),
			want: []string{
				"help-desk-ticket-linked link jira/dev_ticket/KBOT-88 ↔ zendesk/customer_ticket/4521",
				"resolution-explained-to-agents comment zendesk/customer_ticket/4521",
			}},
		{name: "the customer reopens the solved ticket: the developer ticket goes back to work, with a note",
			before: [][]core.Item{quiet(escalated, validated), quiet(explained, shipped)},
			items: quiet(with(escalated, func(it *core.Item) {
				it.Labels = []string{"bug", "fix_explained"}
				it.Comments = append(it.Comments, core.Comment{ID: "9", Author: "ada@customer.example", Body: "Still broken.", Public: true})
			}), shipped),
			want: []string{
				"customer-reopened transition jira/dev_ticket/KBOT-88 → In Progress",
				"customer-reopened comment jira/dev_ticket/KBOT-88",
				"customer-replies-to-dev-ticket comment jira/dev_ticket/KBOT-88 public",
			}},
		{name: "pending after the explanation is not a reopening, and nothing is said twice",
			before: [][]core.Item{quiet(escalated, validated)},
			items:  quiet(explained, validated),
			want:   nil},
		{name: "a mail reply to a pending ticket opens it again",
			items: quiet(
				core.Item{Ref: mailRef, Title: "Reset broken", Body: "It fails.", Native: "received", Reporter: "ada@customer.example",
					Comments: []core.Comment{
						{ID: mailRef.ID, Author: "ada@customer.example", Body: "It fails.", Public: true, CreatedAt: monday.Add(-3 * time.Hour)},
						{ID: "<a2@customer.example>", Author: "ada@customer.example", Body: "Open the link twice.", Public: true, CreatedAt: monday.Add(-time.Hour)},
					}},
				with(complete(), func(it *core.Item) {
					it.Native, it.Labels = "pending", []string{"bug", "triage_asked"}
					it.Comments = []core.Comment{{ID: "1", Author: "agent@liaison.example", Body: "Could you tell us…", Public: true,
						Marker: "liaison-000000000004", CreatedAt: monday.Add(-2 * time.Hour)}}
				})),
			want: []string{
				"mail-acknowledged notify imap/email_thread/<a1@customer.example> to ",
				"mail-replies-to-ticket comment zendesk/customer_ticket/4521 public",
				"mail-replies-to-ticket transition zendesk/customer_ticket/4521 → open",
				"escalate-bug create jira/dev_ticket/ labels=customer-corp,backlog",
			}},
		{name: "a bounce after the agent's question is an internal note and reopens nothing",
			items: quiet(
				core.Item{Ref: mailRef, Title: "Reset broken", Body: "It fails.", Native: "received", Reporter: "ada@customer.example",
					Comments: []core.Comment{
						{ID: mailRef.ID, Author: "ada@customer.example", Body: "It fails.", Public: true, CreatedAt: monday.Add(-3 * time.Hour)},
						{ID: "<dsn@mx.example>", Author: "mailer-daemon@mx.example", Body: "Delivery of message <liaison.1@example.com> failed.\n- ada@customer.example: failed 5.2.2 mailbox full",
							Public: false, CreatedAt: monday.Add(-time.Hour)},
					}},
				with(complete(), func(it *core.Item) {
					it.Native, it.Labels = "pending", []string{"misc"}
					it.Comments = []core.Comment{{ID: "1", Author: "agent@liaison.example", Body: "Could you tell us…", Public: true,
						Marker: "liaison-000000000004", CreatedAt: monday.Add(-2 * time.Hour)}}
				})),
			want: []string{
				"mail-acknowledged notify imap/email_thread/<a1@customer.example> to ",
				"mail-replies-to-ticket comment zendesk/customer_ticket/4521",
			}},
		{name: "the pull request links the developer ticket to itself",
			items: quiet(devTicket("To Do"), core.Item{Ref: prRef, Title: "KBOT-88: fix", Native: "open", URL: "https://github.example/acme/app/pull/7"}),
			want: []string{
				"pull-request-linked link jira/dev_ticket/KBOT-88 ↔ github/pull_request/acme/app#7",
				"pr-opened transition jira/dev_ticket/KBOT-88 → In Review",
			}},
	})
}

func TestProcess_ResponseTimeTargets(t *testing.T) {
	// A high ticket in on Friday 27 November at 15:00, after 14:00: due by
	// noon of the next working day, Monday 30 November.
	created := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	due := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	high := with(complete(), func(it *core.Item) {
		it.Priority, it.CreatedAt, it.Labels = "high", created, []string{"misc"}
	})
	breached := []string{
		"first-response comment zendesk/customer_ticket/4521",
		"first-response set_fields zendesk/customer_ticket/4521 priority=urgent, tags=breached-first-response",
		"first-response notify zendesk/customer_ticket/4521 to escalations@example.com",
	}
	runProcess(t, []processCase{
		{name: "not yet due: woken at the deadline",
			items: []core.Item{high}, now: due.Add(-time.Minute),
			check: func(t *testing.T, plan core.Plan) {
				if !plan.WakeAt.Equal(due) {
					t.Errorf("WakeAt = %v, want %v", plan.WakeAt, due)
				}
			}},
		{name: "missed: a note, the priority up one step, and a notification",
			items: []core.Item{high}, now: due.Add(time.Minute),
			want: breached,
			check: func(t *testing.T, plan core.Plan) {
				note := actionOf(t, plan, "first-response", core.AddComment)
				want := "Response-time target missed: first response (same working day, or next working morning if received after 14:00), due Mon 30 Nov 12:00 UTC; the customer has waited 5 h 1 min of working time. The priority is raised to urgent.\n"
				if note.Public || note.Body != want {
					t.Errorf("note (public %v) = %q\nwant %q", note.Public, note.Body, want)
				}
				n := actionOf(t, plan, "first-response", core.Notify)
				if !strings.Contains(n.Body, `Help-desk ticket #4521 "Password reset link gives error 500" (high) missed its first response target`) {
					t.Errorf("notification = %q", n.Body)
				}
			}},
		{name: "answered publicly in time: no breach",
			items: []core.Item{with(high, func(it *core.Item) {
				it.Comments = []core.Comment{{ID: "1", Author: "agent@liaison.example", Body: "Looking into it.", Public: true, CreatedAt: created.Add(time.Hour)}}
			})}, now: due.Add(time.Minute)},
		{name: "raised once: a later pass after the bump raises no further",
			items: []core.Item{with(high, func(it *core.Item) {
				it.Priority, it.Labels = "urgent", []string{"misc", "breached-first-response"}
			})}, now: due.Add(time.Minute),
			want: []string{
				// A high-priority ticket that missed a target is urgent now:
				// the on-call team is paged (paging.yaml).
				"page-missed-target create opsgenie/page/ labels=",
				"page-missed-target create pagerduty/page/ labels=",
				"first-response comment zendesk/customer_ticket/4521",
				"first-response notify zendesk/customer_ticket/4521 to escalations@example.com",
			}},
	})
}

// Package digesttest holds a week of support work, written into a store
// through its API, for the digest's tests and the CLI's: customer tickets
// of two organisations with their status histories, developer and change
// tickets linked to them, and a transition the gateway made itself (seen
// only in the audit).
package digesttest

import (
	"context"
	"fmt"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Week is the week the fixture is about: Monday 16 to Sunday 22 November 2026.
const Week = "2026-W47"

// Org is the organisation most of the tickets belong to; Other the second.
const (
	Org   = "Acme Corp"
	Other = "Globex"
)

// Now is a moment after the week (and after the records that changed since).
var Now = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

func day(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, time.UTC) }

func zendesk(id string) core.Ref {
	return core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: id}
}
func dev(id string) core.Ref    { return core.Ref{System: "jira", Kind: core.DevTicket, ID: id} }
func change(id string) core.Ref { return core.Ref{System: "jira", Kind: core.ChangeTicket, ID: id} }

// record is one record's fixed parts; its states are added per event.
type record struct {
	ref      core.Ref
	title    string
	org      string
	priority string
	assignee string
	created  time.Time
}

func (r record) at(native string, t time.Time) core.Item {
	it := core.Item{Ref: r.ref, Title: r.title, Body: r.title + ".", Native: native, Priority: r.priority,
		Assignee: r.assignee, CreatedAt: r.created, UpdatedAt: t}
	switch r.ref.System {
	case "zendesk":
		it.URL = "https://acme-support.zendesk.com/agent/tickets/" + r.ref.ID
		it.Reporter = "reporter@customer.example"
		if r.org != "" {
			it.Fields = map[string]string{"org": r.org}
		}
	case "jira":
		it.URL = "https://acme.atlassian.net/browse/" + r.ref.ID
	}
	return it
}

type builder struct {
	batch []core.Ingest
	n     int
}

func (b *builder) event(typ core.EventType, it core.Item, links ...core.Link) {
	b.n++
	b.batch = append(b.batch, core.Ingest{Event: core.Event{Source: it.Ref.System, DeliveryID: fmt.Sprintf("seed-%03d", b.n),
		Via: core.ViaWebhook, Type: typ, Item: it, Links: links, At: it.UpdatedAt}})
}

func escalated(from, to core.Ref) core.Link {
	return core.Link{From: from, To: to, Role: core.EscalatedTo, Origin: core.Explicit}
}

// Seed writes the fixture into st. The digest of Org for Week then holds:
//   - raised: 4510, 4512, 4513, 4515 (not 4520, raised the week after);
//   - done: 4512 (solved the day it came), 4490 (solved by the gateway,
//     seen only in the audit) — not 4480, solved the week before and only
//     closed in this one, nor 4513, solved and reopened;
//   - scheduled: 4501 (its developer ticket In Review at the week's end,
//     Ready for QA only since), 4510, 4513, 4515 (a change ticket awaiting
//     approval) and 4470 (pending for weeks, its org spelt in lower case);
//   - maintenance done: DO-11 (for 4515);
//   - planned next week: DO-15 (Tuesday, its own org field names Acme) and
//     DO-12 (Thursday, for 4515, with a downtime window); not DO-16,
//     planned for the week after.
//
// Other's digest holds 4600 only.
func Seed(ctx context.Context, st core.Store) error {
	b := &builder{}

	// 4490: escalated in W45, its fix done in W46, solved by the gateway in W47.
	t4490 := record{ref: zendesk("4490"), title: "Invoice PDF shows the wrong VAT rate", org: Org, priority: "high", created: day(3, 10, 0)}
	k80 := record{ref: dev("KBOT-80"), title: "VAT rate taken from the billing country instead of the shipping country", priority: "High", assignee: "grace", created: day(3, 11, 5)}
	b.event(core.Created, t4490.at("new", day(3, 10, 0)))
	b.event(core.Created, k80.at("To Do", day(3, 11, 5)))
	b.event(core.StatusChange, t4490.at("open", day(3, 11, 6)), escalated(t4490.ref, k80.ref))
	b.event(core.StatusChange, k80.at("In Progress", day(5, 9, 0)))
	b.event(core.StatusChange, k80.at("Done", day(13, 16, 0)))

	// 4501: escalated in W46; its developer ticket moves on in W47 and after.
	t4501 := record{ref: zendesk("4501"), title: "Export to CSV fails for large reports", org: Org, priority: "urgent", created: day(11, 9, 30)}
	k88 := record{ref: dev("KBOT-88"), title: "CSV export runs out of memory over 50k rows", priority: "Highest", assignee: "ada", created: day(11, 10, 5)}
	b.event(core.Created, t4501.at("new", day(11, 9, 30)))
	b.event(core.Created, k88.at("To Do", day(11, 10, 5)))
	b.event(core.StatusChange, t4501.at("open", day(11, 10, 6)), escalated(t4501.ref, k88.ref))
	b.event(core.StatusChange, k88.at("In Progress", day(16, 9, 0)))
	// A comment-only event says nothing about the status.
	b.event(core.Commented, core.Item{Ref: t4501.ref, UpdatedAt: day(17, 14, 0),
		Comments: []core.Comment{{ID: "c1", Author: "reporter@customer.example", Body: "Any news?", Public: true, CreatedAt: day(17, 14, 0)}}})
	b.event(core.StatusChange, k88.at("In Review", day(19, 15, 0)))
	b.event(core.StatusChange, k88.at("Ready for QA", day(24, 11, 0)))

	// 4510: raised and escalated in W47.
	t4510 := record{ref: zendesk("4510"), title: "Login page times out after the upgrade", org: Org, priority: "high", created: day(16, 9, 12)}
	k91 := record{ref: dev("KBOT-91"), title: "Session store lookup blocks the login handler", priority: "High", created: day(16, 10, 5)}
	b.event(core.Created, t4510.at("new", day(16, 9, 12)))
	b.event(core.Created, k91.at("To Do", day(16, 10, 5)))
	b.event(core.StatusChange, t4510.at("open", day(16, 10, 6)), escalated(t4510.ref, k91.ref))
	// An agent answers at 11:30: 2 h 18 min of working time after it came.
	answered := t4510.at("open", day(16, 11, 30))
	answered.Comments = []core.Comment{{ID: "c2", Author: "agent@acme.example", Body: "We are on it.", Public: true, CreatedAt: day(16, 11, 30)}}
	b.event(core.Commented, answered)

	// 4512: a question, answered and solved the day it came.
	t4512 := record{ref: zendesk("4512"), title: "How do I add a user to our account?", org: Org, priority: "low", created: day(17, 11, 0)}
	b.event(core.Created, t4512.at("new", day(17, 11, 0)))
	b.event(core.StatusChange, t4512.at("solved", day(17, 15, 40)))

	// 4513: solved, then reopened by the customer.
	t4513 := record{ref: zendesk("4513"), title: "Dashboard charts are empty since Monday", org: Org, priority: "normal", created: day(17, 8, 0)}
	b.event(core.Created, t4513.at("new", day(17, 8, 0)))
	b.event(core.StatusChange, t4513.at("solved", day(18, 12, 0)))
	b.event(core.Reopened, t4513.at("open", day(19, 9, 0)))

	// 4515: an infrastructure cause, with a change ticket awaiting approval.
	t4515 := record{ref: zendesk("4515"), title: "Database disk almost full", org: Org, priority: "urgent", created: day(19, 7, 45)}
	do12 := record{ref: change("DO-12"), title: "Grow the reporting database volume to 2 TB", priority: "Highest", assignee: "linus", created: day(19, 8, 30)}
	b.event(core.Created, t4515.at("new", day(19, 7, 45)))
	b.event(core.StatusChange, t4515.at("open", day(19, 8, 0)))
	// It is planned for Thursday of the next week, with a downtime window.
	grow := do12.at("Awaiting Approval", day(19, 8, 30))
	grow.Fields = map[string]string{"Target date": "2026-11-26", "downtime": "Thu 26 Nov 22:00-23:00 UTC, reports unavailable"}
	b.event(core.Created, grow, core.Link{From: do12.ref, To: t4515.ref, Role: core.ChangeFor, Origin: core.Explicit})
	// DO-11, the first aid for 4515, was completed in W47.
	do11 := record{ref: change("DO-11"), title: "Purge reporting logs older than 90 days", priority: "High", assignee: "linus", created: day(19, 8, 20)}
	b.event(core.Created, do11.at("In Progress", day(19, 8, 20)),
		core.Link{From: do11.ref, To: t4515.ref, Role: core.ChangeFor, Origin: core.Explicit})
	b.event(core.StatusChange, do11.at("Done", day(19, 17, 5)))

	// DO-15: maintenance of Acme's platform that no ticket asked for (its
	// own org field names the organisation), planned for Tuesday of the
	// next week without downtime; DO-16, the week after, is not next week's.
	do15 := record{ref: change("DO-15"), title: "Apply the November security patches", priority: "Medium", assignee: "linus", created: day(20, 10, 0)}
	patches := do15.at("Approved", day(20, 10, 0))
	patches.Fields = map[string]string{"org": Org, "Target date": "2026-11-24"}
	b.event(core.Created, patches)
	do16 := record{ref: change("DO-16"), title: "Move backups to the new region", priority: "Medium", created: day(20, 11, 0)}
	later := do16.at("Open", day(20, 11, 0))
	later.Fields = map[string]string{"org": Org, "Target date": "2026-12-03", "downtime": "Thu 3 Dec 21:00-21:30 UTC"}
	b.event(core.Created, later)

	// 4480: solved in W46, closed automatically in W47: not done this week.
	t4480 := record{ref: zendesk("4480"), title: "Password reset mail not arriving", org: Org, priority: "normal", created: day(4, 13, 0)}
	b.event(core.Created, t4480.at("new", day(4, 13, 0)))
	b.event(core.StatusChange, t4480.at("solved", day(12, 16, 20)))
	b.event(core.StatusChange, t4480.at("closed", day(16, 0, 30)))

	// 4470: pending on the customer for weeks; the org spelt differently.
	t4470 := record{ref: zendesk("4470"), title: "Monthly report takes minutes to load", org: "acme corp ", priority: "low", created: time.Date(2026, 10, 27, 9, 0, 0, 0, time.UTC)}
	b.event(core.Created, t4470.at("new", t4470.created))
	b.event(core.StatusChange, t4470.at("pending", time.Date(2026, 10, 30, 11, 0, 0, 0, time.UTC)))

	// 4520: raised the week after.
	t4520 := record{ref: zendesk("4520"), title: "Single sign-on redirects in a loop", org: Org, priority: "high", created: day(23, 8, 15)}
	b.event(core.Created, t4520.at("new", day(23, 8, 15)))

	// 4600: another organisation's.
	t4600 := record{ref: zendesk("4600"), title: "API rate limit too low for the nightly sync", org: Other, priority: "normal", created: day(17, 16, 0)}
	b.event(core.Created, t4600.at("open", day(17, 16, 0)))

	// 4610: no organisation at all.
	t4610 := record{ref: zendesk("4610"), title: "Question from a trial user", priority: "low", created: day(18, 9, 0)}
	b.event(core.Created, t4610.at("new", day(18, 9, 0)))

	if _, err := st.Ingest(ctx, b.batch); err != nil {
		return fmt.Errorf("digesttest: ingest: %w", err)
	}

	// The gateway solves 4490 once its fix is deployed. The connector's
	// answer carried no snapshot: only the audit and the outbox know.
	c, err := st.CaseOf(ctx, t4490.ref)
	if err != nil {
		return fmt.Errorf("digesttest: %w", err)
	}
	a := core.Action{Key: core.ActionKey("deployed-solves-customer-ticket", "transition", t4490.ref.String(), "solved"), Case: c,
		Rule: "deployed-solves-customer-ticket", Kind: core.Transition, Target: t4490.ref, Subject: k80.ref,
		Status: core.StatusSolved, Native: "solved", Reason: "jira/dev_ticket/KBOT-80 is done"}
	if _, err := st.Enqueue(ctx, []core.Action{a}); err != nil {
		return fmt.Errorf("digesttest: enqueue: %w", err)
	}
	audit := core.AuditEntry{At: day(18, 10, 0), Case: c, Target: t4490.ref, Rule: a.Rule, Kind: a.Kind, Key: a.Key, Detail: "status → solved"}
	if err := st.Complete(ctx, a, core.Result{}, audit); err != nil {
		return fmt.Errorf("digesttest: complete: %w", err)
	}
	return nil
}

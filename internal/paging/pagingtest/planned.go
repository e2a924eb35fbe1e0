package pagingtest

import (
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/mappings"
)

// Create is the create the default rule page-urgent-escalation plans for
// system's page, on an urgent ticket escalated to a developer ticket: the
// action the connectors' tests send, as the rules really make it.
func Create(t testing.TB, system string) core.Action {
	t.Helper()
	create, _ := planned(t, system)
	return create
}

// Close is the transition the default rule page-resolved plans for that
// page once the ticket is solved.
func Close(t testing.TB, system string) core.Action {
	t.Helper()
	_, close := planned(t, system)
	return close
}

// Permanent reports whether err is classified permanent for the outbox.
func Permanent(err error) bool {
	permanent, _ := core.Classify(err)
	return err != nil && permanent
}

// planned plans the defaults on the escalated ticket, then on it solved
// with the page open.
func planned(t testing.TB, system string) (create, close core.Action) {
	t.Helper()
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ticket := core.Item{Ref: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"},
		Title: "Login fails for every user", Body: "Since this morning nobody can log in.", Native: "open", Priority: "urgent",
		Reporter: "kim@bakery.example", URL: "https://acme.zendesk.com/agent/tickets/4521",
		Fields: map[string]string{"org": "Bakery SA"}, UpdatedAt: at}
	dev := core.Item{Ref: core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}, Title: "Login fails for every user",
		Native: "In Progress", URL: "https://acme.atlassian.net/browse/KBOT-88", UpdatedAt: at}
	create = plannedFor(t, m, at, system, core.Create, ticket, dev)
	km := m.Kind(system, core.Page)
	page := core.Item{Ref: core.Ref{System: system, Kind: core.Page, ID: create.Marker()}, Title: create.Title,
		Native: km.Native[core.StatusOpen], UpdatedAt: at}
	ticket.Native = "solved"
	close = plannedFor(t, m, at, system, core.Transition, ticket, dev, page)
	return create, close
}

// plannedFor plans the case of items and returns its one action of kind
// on system's pages.
func plannedFor(t testing.TB, m *core.Mappings, at time.Time, system string, kind core.ActionKind, items ...core.Item) core.Action {
	t.Helper()
	c := &core.Case{ID: 4521, Items: items, Keys: map[string]core.ActionState{}}
	c.Sort()
	plan := core.PlanCase(c, m, at)
	for _, err := range plan.Errors {
		t.Fatalf("plan: %v", err)
	}
	for _, a := range plan.Actions {
		if a.Target.System == system && a.Target.Kind == core.Page && a.Kind == kind {
			return a
		}
	}
	t.Fatalf("the defaults plan no %s of a %s page for %v", kind, system, items)
	return core.Action{}
}

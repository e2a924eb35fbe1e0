package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// The support story's records as the console and its tests name them: a
// customer's mail thread, the help-desk ticket it became, the developer
// ticket the ticket was escalated to and the pull request that fixes it;
// and Stray, another customer's ticket linked to none of them.
var (
	StoryMail   = core.Ref{System: "imap", Kind: core.EmailThread, ID: "reset-500@customer.example"}
	StoryTicket = core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
	StoryIssue  = core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}
	StoryPR     = core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/app#12"}
	Stray       = core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4600"}
)

// Story stores the support story's records, linked as the gateway links
// them (the mail's thread stated, the escalation ours, the pull request's
// key discovered in its title), and the stray ticket, as received at at.
// Records carry loopback URLs, as the sandbox's fakes give them.
func Story(t testing.TB, s core.Store, at time.Time) {
	t.Helper()
	ev := func(id string, it core.Item, links ...core.Link) core.Ingest {
		it.UpdatedAt = at
		return core.Ingest{Event: core.Event{Source: it.Ref.System, DeliveryID: id, Via: core.ViaWebhook, Type: core.Created, Item: it, Links: links, At: at}}
	}
	pr := ev("5", core.Item{Ref: StoryPR, Title: "KBOT-88: expire reset tokens in UTC", Native: "open", URL: "http://127.0.0.1:9/acme/app/pull/12"})
	pr.Discovered = []core.Link{{From: StoryPR, To: StoryIssue, Role: core.Fixes, Origin: core.Discovered}}
	batch := []core.Ingest{
		ev("1", core.Item{Ref: StoryMail, Title: "Password reset link gives error 500", Reporter: "ada@customer.example"}),
		ev("2", core.Item{Ref: StoryTicket, Title: "Password reset link gives error 500", Reporter: "Ada@Customer.example", Native: "open",
			URL: "http://127.0.0.1:9/agent/tickets/4521"},
			core.Link{From: StoryMail, To: StoryTicket, Role: core.ThreadOf, Origin: core.Explicit}),
		ev("3", core.Item{Ref: StoryIssue, Title: "Reset tokens expire at once", Native: "In Review", URL: "http://localhost:9/browse/KBOT-88"},
			core.Link{From: StoryTicket, To: StoryIssue, Role: core.EscalatedTo, Origin: core.Ours}),
		ev("4", core.Item{Ref: Stray, Title: "Invoice PDF is empty", Native: "new"}),
		pr,
	}
	if _, err := s.Ingest(context.Background(), batch); err != nil {
		t.Fatalf("store the story: %v", err)
	}
}

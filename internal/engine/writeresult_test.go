package engine

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
)

// helpDesk answers writes as Zendesk's update does: with the ticket as it
// now is, fields only, no comments. Before each write it lets a person act
// (react), as a reporter may between two writes of one pass.
type helpDesk struct {
	*sandbox.Connector
	strip bool
	react func(core.Action)
}

func (h *helpDesk) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if h.react != nil {
		h.react(a)
	}
	res, err := h.Connector.Apply(ctx, a)
	if h.strip && res.Item != nil && (a.Kind == core.Transition || a.Kind == core.SetFields) {
		it := *res.Item
		it.Comments = nil
		res.Item = &it
	}
	return res, err
}

// The reporter answers, completely, while the gateway is writing its
// question's tag: the ticket is reopened before the tag lands. The tag
// write's answer shows the ticket open, but (from a help desk's update)
// not the reply that reopened it. The agents must not be told that the
// answer lacks something, and the bug is escalated once the reply's own
// event arrives.
func TestReconcile_WriteResultShowingAReplyItDoesNotCarry(t *testing.T) {
	tests := []struct {
		name  string
		strip bool
	}{
		{"update answers without comments", true},
		{"update answers with the whole ticket", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var zd *helpDesk
			w := newWorld(t, defaults(t), func(name string, c core.Connector) core.Connector {
				if name != "zendesk" {
					return c
				}
				zd = &helpDesk{Connector: c.(*sandbox.Connector), strip: tt.strip}
				return zd
			})
			tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
			const reporter = "ada@customer.example"
			w.submit(t, w.put(t, core.Item{Ref: tk, Title: "Password reset link gives error 500", Native: "new", Priority: "high",
				Reporter: reporter, Labels: []string{"bug"}, Fields: map[string]string{"org": "customer-corp"},
				Body: "Hello, since this morning the password reset link in your e-mail opens an error page (500).\nAda"}, core.Created))
			var reply []core.Event
			zd.react = func(a core.Action) {
				if a.Kind != core.SetFields || !strings.Contains(a.Fields["tags"], "triage_asked") || reply != nil {
					return
				}
				ctx := context.Background()
				it, err := w.sys["zendesk"].Update(ctx, tk, core.Commented, func(it *core.Item) {
					it.Native = "open" // an end user's reply reopens the ticket
					it.Comments = append(slices.Clone(it.Comments), core.Comment{ID: "reply-1", Author: reporter, Public: true,
						Body: "1. Request a password reset.\n2. Open the link in the mail.\nIt happens every time: yes."})
				})
				if err != nil {
					t.Error(err)
				}
				reply = append(reply, core.Event{Source: "zendesk", Via: core.ViaWebhook, Type: core.Commented, Item: it,
					DeliveryID: "reply-1", At: w.clock.Now()})
			}
			w.drain(t)
			if reply == nil {
				t.Fatal("the gateway never tagged the ticket triage_asked; the reporter could not answer")
			}
			w.submit(t, reply...)
			w.drain(t)
			got, _ := w.sys["zendesk"].Record(tk)
			for _, c := range got.Comments {
				if strings.Contains(c.Body, "The reporter answered, but") {
					t.Errorf("false note to the agents: %q", c.Body)
				}
			}
			if devs := w.sys["jira"].Records(core.DevTicket); len(devs) != 1 {
				t.Errorf("%d developer tickets, want the bug escalated once", len(devs))
			}
		})
	}
}

// An agent sets the priority while the gateway tags the ticket bug, and
// the agent's webhook is stored before the tag write completes, with the
// same update time (Zendesk's times are in seconds). The tag write's
// answer shows the new priority; whatever the store keeps must not lose
// it, or the triage the priority starts waits for an event that has
// already come.
func TestReconcile_WriteResultNeverLosesAnAgentsChangeStoredMeanwhile(t *testing.T) {
	var zd *helpDesk
	w := newWorld(t, defaults(t), func(name string, c core.Connector) core.Connector {
		if name != "zendesk" {
			return c
		}
		zd = &helpDesk{Connector: c.(*sandbox.Connector), strip: true}
		return zd
	})
	tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
	w.submit(t, w.put(t, core.Item{Ref: tk, Title: "Password reset link gives error 500", Native: "new",
		Reporter: "ada@customer.example", Fields: map[string]string{"org": "customer-corp"},
		Body: "Hello, since this morning the password reset link in your e-mail opens an error page (500).\nAda"}, core.Created))
	agent := false
	zd.react = func(a core.Action) {
		if agent || a.Kind != core.SetFields || !strings.Contains(a.Fields["tags"], "bug") {
			return
		}
		agent = true
		ctx := context.Background()
		it, err := w.sys["zendesk"].Update(ctx, tk, core.Updated, func(it *core.Item) { it.Priority = "high" })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.eng.Submit(ctx, []core.Event{{Source: "zendesk", Via: core.ViaWebhook, Type: core.Updated, Item: it,
			DeliveryID: "agent-1", At: w.clock.Now()}}); err != nil {
			t.Fatal(err)
		}
	}
	w.drain(t)
	if !agent {
		t.Fatal("the gateway never tagged the ticket bug")
	}
	got, _ := w.sys["zendesk"].Record(tk)
	if got.Native != "pending" || !slices.Contains(got.Labels, "triage_asked") {
		t.Errorf("ticket %s %v: want the reporter asked (pending, triage_asked) once the agent set the priority", got.Native, got.Labels)
	}
}

// TestWriteResult: which snapshot of a write's target the store keeps.
func TestWriteResult(t *testing.T) {
	tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
	t0, t1 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 9, 0, 5, 0, time.UTC)
	known := core.Item{Ref: tk, Native: "pending", Priority: "high", Labels: []string{"bug"}, UpdatedAt: t0,
		Comments: []core.Comment{{ID: "1", Body: "asked"}}}
	tag := core.Action{Kind: core.SetFields, Target: tk, Fields: map[string]string{"tags": "triage_asked"}}
	snap := func(native, priority string) *core.Item {
		return &core.Item{Ref: tk, Native: native, Priority: priority, Labels: []string{"bug", "triage_asked"}, UpdatedAt: t1}
	}
	kept := func(native string, at time.Time) string { return native + "@" + at.Format("15:04:05") }
	for _, tc := range []struct {
		name string
		got  *core.Item
		done []core.Completion
		a    core.Action
		want string // status and update time of the snapshot kept; "" for none
	}{
		{"the API's snapshot, nothing else changed", snap("pending", "high"), nil, tag, kept("pending", t1)},
		{"reopened meanwhile: the write alone", snap("open", "high"), nil, tag, kept("pending", t0)},
		{"priority changed meanwhile: the write alone", snap("pending", "urgent"), nil, tag, kept("pending", t0)},
		{"the priority it writes comes back", snap("pending", "urgent"),
			nil, core.Action{Kind: core.SetFields, Target: tk, Fields: map[string]string{"priority": "urgent"}}, kept("pending", t1)},
		{"its own transition", snap("solved", "high"), nil, core.Action{Kind: core.Transition, Target: tk, Native: "solved"}, kept("solved", t1)},
		{"after its own transition of the same pass", snap("open", "high"),
			[]core.Completion{{Result: core.Result{Item: snap("open", "high")}}}, tag, kept("open", t1)},
		{"no snapshot returned: the write alone", nil, nil, tag, kept("pending", t0)},
		{"a comment's answer is kept as it is", &core.Item{Ref: tk, Comments: []core.Comment{{ID: "2"}}},
			nil, core.Action{Kind: core.AddComment, Target: tk}, kept("", time.Time{})},
	} {
		c := &core.Case{Items: []core.Item{known.Clone()}}
		res := writeResult(tc.got, c, tc.done, tc.a)
		got := ""
		if res != nil {
			got = kept(res.Native, res.UpdatedAt)
		}
		if got != tc.want {
			t.Errorf("%s: kept %q, want %q", tc.name, got, tc.want)
		}
		if res != nil && res.UpdatedAt.Equal(t0) && !slices.Contains(res.Labels, "triage_asked") {
			t.Errorf("%s: the write's tag is not on the snapshot kept: %v", tc.name, res.Labels)
		}
	}
}

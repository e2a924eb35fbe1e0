package engine

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// TestSLA_TimerSurvivesRestart: a ticket's response target falls due while
// the gateway is down. The due time is stored with the case, so the
// gateway that starts afterwards breaches it once, on time, with nothing
// new arriving.
func TestSLA_TimerSurvivesRestart(t *testing.T) {
	m := defaults(t)
	// Only the target under test acts: the default rules would answer.
	m.Rules, m.Sync, m.Duplicates = nil, nil, nil
	m.SLAs = []*core.SLA{{Name: "first-response", When: core.Selector{System: "zendesk", Kind: core.CustomerTicket},
		Measure: core.FirstResponse, Calendar: core.DefaultCalendar(),
		Targets: map[string]core.SLATarget{"high": {NextWorkingDay: true}},
		Breach: []*core.ActionSpec{{Kind: core.AddComment, Body: &core.Text{Render: func(e *core.Env) (string, error) {
			return "No first response by " + e.SLA.Deadline.Format("Mon 15:04") + ".", nil
		}}}}}}
	w := newWorld(t, m)
	w.clock.Set(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)) // a Friday
	tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "77"}
	w.submit(t, w.put(t, core.Item{Ref: tk, Title: "Cannot log in", Native: "open", Priority: "high", Reporter: "ada@customer.example"}, core.Created))
	w.drain(t)
	if n := len(w.sys["zendesk"].Writes()); n != 0 {
		t.Fatalf("%d writes before the deadline", n)
	}
	path := w.path
	w.st.Close()

	// The gateway is down over the weekend; it starts again on Tuesday.
	w.clock.Set(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	st, err := store.Open(context.Background(), "sqlite://"+path, store.Options{Clock: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var conns []core.Connector
	for _, c := range w.sys {
		conns = append(conns, c)
	}
	eng, err := New(Options{Store: st, Connectors: conns, Mappings: m, Clock: w.clock, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	it, _ := w.sys["zendesk"].Record(tk)
	if len(it.Comments) != 1 || !strings.Contains(it.Comments[0].Body, "No first response by Mon 17:00") || it.Comments[0].Public {
		t.Fatalf("after restart: comments %+v; want one internal breach note due Mon 17:00", it.Comments)
	}
	w.clock.Add(24 * time.Hour)
	eng.Drain(context.Background())
	if it, _ := w.sys["zendesk"].Record(tk); len(it.Comments) != 1 {
		t.Fatalf("breach noted %d times", len(it.Comments))
	}
}

func TestDescribe_NotifyNamesNoCredential(t *testing.T) {
	cases := map[string]string{
		"https://hooks.slack.example/services/T000/B000/XXXXSECRET": "notified https://hooks.slack.example",
		"escalations@example.com":                                   "notified escalations@example.com",
		"https://user:pass@chat.example/hook?token=abc":             "notified https://chat.example",
	}
	for to, want := range cases {
		got := describe(core.Action{Kind: core.Notify, To: to}, core.Result{})
		if got != want {
			t.Errorf("describe(%q) = %q; want %q", to, got, want)
		}
	}
}

// TestSubmit_RefusesAMalformedEventAlone: an event no store could ever
// de-duplicate is refused as bad input with its own request; the next
// request is stored as usual.
func TestSubmit_RefusesAMalformedEventAlone(t *testing.T) {
	w := newWorld(t, defaults(t))
	good := core.Event{Source: "zendesk", DeliveryID: "d1", Via: core.ViaWebhook, Type: core.Created,
		Item: core.Item{Ref: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "1"}, Title: "t", UpdatedAt: w.clock.Now()}}
	for _, bad := range []core.Event{
		{Source: "zendesk", Item: good.Item},
		{DeliveryID: "d2", Item: good.Item},
		{Source: "zendesk", DeliveryID: "d3", Item: core.Item{Ref: core.Ref{System: "zendesk", Kind: "bug", ID: "1"}}},
	} {
		_, err := w.eng.Submit(context.Background(), []core.Event{good, bad})
		var bi *core.BadInput
		if !errors.As(err, &bi) {
			t.Fatalf("Submit(%+v) = %v; want bad input", bad, err)
		}
	}
	if _, err := w.st.Item(context.Background(), good.Item.Ref); err == nil {
		t.Fatal("the refused request's good event was stored anyway")
	}
	if fresh, err := w.eng.Submit(context.Background(), []core.Event{good}); err != nil || !fresh[0] {
		t.Fatalf("a good request after a refused one: %v %v", fresh, err)
	}
}

package github

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// TestRedeliver_FailedDeliveriesComeBack: deliveries GitHub could not make
// are listed on the hook and redelivered once, with their delivery ids.
func TestRedeliver_FailedDeliveriesComeBack(t *testing.T) {
	for _, scope := range []string{"repo", "org"} {
		t.Run(scope, func(t *testing.T) {
			h := newHarness(t, "repos: [acme/kbot]\n")
			if err := h.gh.AddRepo("acme/kbot"); err != nil {
				t.Fatal(err)
			}
			key, id, base := "acme/kbot", h.gh.HookID("acme/kbot"), "/repos/acme/kbot/hooks/"
			if scope == "org" {
				key, id, base = "acme", h.gh.OrgHookID("acme"), "/orgs/acme/hooks/"
			}
			h.c = h.connector(fmt.Sprintf("base_url: %s\ntoken_env: GH_TOKEN\nwebhook_secret_env: GH_SECRET\nrepos: [acme/kbot]\nhook_id: {%s: %d}\n", h.api.URL, key, id))

			h.gh.FailNextDeliveries(2)
			if _, err := h.gh.OpenPR("acme/kbot", "KBOT-88 fix login", "", "kbot-88"); err != nil {
				t.Fatal(err)
			}
			if _, err := h.gh.Comment("acme/kbot", 1, "please review"); err != nil {
				t.Fatal(err)
			}
			if err := h.gh.Review("acme/kbot", 1, "approved", ""); err != nil {
				t.Fatal(err)
			}
			if evs := acknowledged(h.take()); len(evs) != 1 || evs[0].Type != core.Approved {
				t.Fatalf("before redelivery: %+v", evs)
			}
			failed := h.gh.Deliveries("acme/kbot")[:2]
			h.gh.ResetCalls()

			n, err := h.c.Redeliver(ctx(t))
			if err != nil || n != 2 {
				t.Fatalf("Redeliver = %d, %v; want 2", n, err)
			}
			want := []string{
				"GET " + base + fmt.Sprint(id) + "/deliveries?per_page=100",
				// Newest first, as listed. The opened delivery's snapshot
				// needs no request: the review read the commits already.
				fmt.Sprintf("POST %s%d/deliveries/%d/attempts", base, id, failed[1].ID),
				fmt.Sprintf("POST %s%d/deliveries/%d/attempts", base, id, failed[0].ID),
			}
			if got := h.calls(); !slices.Equal(got, want) {
				t.Fatalf("calls\n%q\nwant\n%q", got, want)
			}
			evs := h.take()
			if len(evs) != 2 {
				t.Fatalf("%d events redelivered; want 2", len(evs))
			}
			ids := []string{evs[0].DeliveryID, evs[1].DeliveryID}
			if !slices.Contains(ids, failed[0].GUID) || !slices.Contains(ids, failed[1].GUID) {
				t.Fatalf("redelivered ids %v; want the failed deliveries' %s %s", ids, failed[0].GUID, failed[1].GUID)
			}

			// They succeeded: the next sweep asks for nothing.
			h.clock.Add(time.Hour)
			if n, err := h.c.Redeliver(ctx(t)); err != nil || n != 0 {
				t.Fatalf("second sweep = %d, %v; want 0", n, err)
			}
		})
	}
}

// TestRedeliver_OnlyTransientRecentAndBounded: an answer that would repeat
// (401 forged, 400) is not redelivered, nor a delivery older than three
// days, nor one tried five times; one asked for is not asked again within
// the interval.
func TestRedeliver_OnlyTransientRecentAndBounded(t *testing.T) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	_ = h.gh.AddRepo("acme/kbot")
	h.c = h.connector(fmt.Sprintf("base_url: %s\ntoken_env: GH_TOKEN\nwebhook_secret_env: GH_SECRET\nrepos: [acme/kbot]\nhook_id: {acme/kbot: %d}\nredeliver_interval: 1m\n", h.api.URL, h.gh.HookID("acme/kbot")))

	// Signed with another secret: our endpoint answers 401.
	h.gh.SetWebhook(h.hook.URL, "not-the-secret")
	if _, err := h.gh.OpenPR("acme/kbot", "one", "", "one"); err == nil {
		t.Fatal("a forged delivery was accepted")
	}
	h.gh.SetWebhook(h.hook.URL, testSecret)
	// Old: failed four days ago.
	h.gh.FailNextDeliveries(1)
	if _, err := h.gh.OpenPR("acme/kbot", "two", "", "two"); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(4 * 24 * time.Hour)
	// Recent and transient: redelivered, and again after each failure until
	// five attempts were made.
	h.gh.FailNextDeliveries(1)
	if _, err := h.gh.OpenPR("acme/kbot", "three", "", "three"); err != nil {
		t.Fatal(err)
	}
	for attempt := 2; attempt <= 6; attempt++ {
		h.gh.FailNextDeliveries(1)
		n, err := h.c.Redeliver(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if attempt > 5 {
			want = 0
		}
		if n != want {
			t.Fatalf("sweep for attempt %d asked %d redeliveries; want %d", attempt, n, want)
		}
		// Asked for already: not again within the interval.
		if n, _ := h.c.Redeliver(ctx(t)); n != 0 {
			t.Fatalf("asked twice within the interval")
		}
		h.clock.Add(2 * time.Minute)
	}
	var three int
	for _, d := range h.gh.Deliveries("acme/kbot") {
		if d.StatusCode == http.StatusUnauthorized && d.Redelivery {
			t.Fatal("a 401 was redelivered")
		}
		if !d.At.Before(h.clock.Now().Add(-72*time.Hour)) && d.StatusCode == 0 {
			three++
		}
	}
	if three != 5 {
		t.Fatalf("%d attempts of the recent delivery; want 5", three)
	}
	if len(h.take()) != 0 {
		t.Fatal("events arrived from deliveries that all failed")
	}
}

// TestStart_SweepsInTheBackground: Start returns at once and its sweep
// redelivers without being called.
func TestStart_SweepsInTheBackground(t *testing.T) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	_ = h.gh.AddRepo("acme/kbot")
	h.c = h.connector(fmt.Sprintf("base_url: %s\ntoken_env: GH_TOKEN\nwebhook_secret_env: GH_SECRET\nrepos: [acme/kbot]\nhook_id: {acme/kbot: %d}\n", h.api.URL, h.gh.HookID("acme/kbot")))
	h.gh.FailNextDeliveries(1)
	if _, err := h.gh.OpenPR("acme/kbot", "KBOT-1", "", "k1"); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.c.Start(c); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.events)
		h.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no redelivery within 10s; calls %v", h.gh.Calls())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package sandbox

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	// The connectors the world runs, as the binary links them.
	_ "github.com/liaisonhq/liaison/connectors/github"
	_ "github.com/liaisonhq/liaison/connectors/imap"
	_ "github.com/liaisonhq/liaison/connectors/mantis"
	_ "github.com/liaisonhq/liaison/connectors/opsgenie"
	_ "github.com/liaisonhq/liaison/connectors/pagerduty"
	_ "github.com/liaisonhq/liaison/connectors/zendesk"

	"github.com/liaisonhq/liaison/internal/logtest"
)

// TestWorld_StoryCompletesWithMantis: `liaison sandbox --dev-tracker
// mantis` plays the whole story with the Mantis connector against the
// Mantis fake in Jira's place, on the shipped Mantis mappings: the bug
// lands in Bugs InBox, the pull request naming Mantis#N moves it, QA's
// statuses reach the customer, resolving it solves the ticket; nothing
// goes to Jira.
func TestWorld_StoryCompletesWithMantis(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs logtest.Buffer
	w, err := StartWorld(ctx, Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(&logs, nil)), IdleWait: 10 * time.Millisecond},
		WithEchoWebhooks(), WithDevTracker("mantis"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.Play(ctx)
	if stopErr := w.Stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, logs.String())
	}
	id, _ := strconv.Atoi(out.IssueKey)
	is, ok := w.Mantis.Issue(id)
	if !ok || is.Status != "resolved" || is.Resolution != "fixed" || is.Custom["Liaison marker"] == "" {
		t.Errorf("Mantis issue %s: %+v", out.IssueKey, is)
	}
	if n := len(w.Jira.Issues()); n != 0 {
		t.Errorf("%d Jira issues; the world's tracker is Mantis", n)
	}
	tk, _ := w.Zendesk.Ticket(out.TicketID)
	if tk.Status != "solved" {
		t.Errorf("ticket %d is %s", out.TicketID, tk.Status)
	}
	if !strings.Contains(logs.String(), "embedded mappings for dev_tracker mantis") {
		t.Error("the daemon does not say it runs the Mantis mappings")
	}
}

// TestWorld_UnknownDevTracker: a tracker the sandbox has no fake of is
// refused before anything starts.
func TestWorld_UnknownDevTracker(t *testing.T) {
	_, err := StartWorld(context.Background(), Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)}, WithDevTracker("bugzilla"))
	if err == nil || !strings.Contains(err.Error(), `dev tracker "bugzilla"`) {
		t.Fatalf("err %v", err)
	}
}

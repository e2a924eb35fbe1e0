package e2e_test

import (
	"context"
	"slices"
	"testing"

	"github.com/liaisonhq/liaison/internal/sandbox"
)

// A pull request that names a developer ticket moves it: opened → In
// Review, merged → Ready for QA, each status entered exactly once, and
// nothing else is written anywhere. GitHub's redelivery of a webhook
// (same X-GitHub-Delivery, body and signature) is a duplicate that
// changes nothing.
func TestPullRequestMovesItsTicketOnceToEachStatusAndARedeliveryChangesNothing(t *testing.T) {
	w := startWorld(t)
	waitPolled(t, w)
	tap := newHookTap(t, w, true)
	tap.route(w, "github")
	ctx := context.Background()

	key := newIssue(t, w, "Password reset link gives error 500")
	if got := allWrites(w); len(got) != 0 {
		t.Fatalf("writes before any pull request: %q", got)
	}
	n, err := w.GitHub.OpenPR(w.Repo, key+": expire reset tokens in UTC", "Reset tokens were compared in local time.", "fix/"+key+"-reset-token")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, key+" in review", func() bool { return jiraStatus(w, key) == "In Review" })
	opened := tap.last(t)
	if err := w.GitHub.MergePR(w.Repo, n); err != nil {
		t.Fatal(err)
	}
	eventually(t, key+" ready for QA", func() bool { return jiraStatus(w, key) == "Ready for QA" })
	merged := tap.last(t)
	settle(t, w)

	// The developer ticket links to the pull request once, and the
	// workflow reaches In Review only through In Progress: the connector
	// walks it, one transition per status.
	want := append(remoteLinks(key, prURL(t, w, n)), transitions(key, "In Progress", "In Review", "Ready for QA")...)
	if got := jiraWrites(w, key); !slices.Equal(got, want) {
		t.Errorf("Jira writes to %s:\n got %q\nwant %q", key, got, want)
	}
	wantAll := append([]string{"jira POST /rest/api/2/issue/" + key + "/remotelink"},
		slices.Repeat([]string{"jira POST /rest/api/2/issue/" + key + "/transitions"}, 3)...)
	if got := allWrites(w); !slices.Equal(got, wantAll) {
		t.Errorf("writes anywhere (GitHub and Zendesk should have none):\n got %q\nwant %q", got, wantAll)
	}
	pr := pullRequest(w.Repo, n)
	prCase, err1 := w.Daemon.Store.CaseOf(ctx, pr)
	devCase, err2 := w.Daemon.Store.CaseOf(ctx, devTicket(key))
	if err1 != nil || err2 != nil || prCase != devCase {
		t.Errorf("pull request in case %d (%v), %s in case %d (%v): want one case", prCase, err1, key, devCase, err2)
	}

	// GitHub redelivers both deliveries, byte for byte: each is
	// acknowledged as a replay of one stored, without an event.
	writes := allWrites(w)
	events, err := w.Daemon.Store.Events(ctx, pr, 100)
	if err != nil {
		t.Fatal(err)
	}
	replays := replayedDeliveries(t, w)
	for _, d := range []delivery{opened, merged} {
		if d.Header.Get("X-GitHub-Event") != "pull_request" || d.Header.Get("X-GitHub-Delivery") == "" {
			t.Fatalf("tapped delivery is not a pull_request event with a delivery id: %v", d.Header)
		}
		if got := resend(t, w, d); got != (intakeAnswer{Accepted: 0}) {
			t.Errorf("redelivery of %s: answer %+v, want it acknowledged as a replay", d.Header.Get("X-GitHub-Delivery"), got)
		}
	}
	settle(t, w)
	if got := replayedDeliveries(t, w) - replays; got != 2 {
		t.Errorf("%v re-deliveries recognised, want 2", got)
	}
	if got := allWrites(w); !slices.Equal(got, writes) {
		t.Errorf("writes after the redeliveries:\n got %q\nwant %q (unchanged)", got, writes)
	}
	if again, _ := w.Daemon.Store.Events(ctx, pr, 100); len(again) != len(events) {
		t.Errorf("events about %s: %d after the redeliveries, %d before", pr, len(again), len(events))
	}
	if st := jiraStatus(w, key); st != "Ready for QA" {
		t.Errorf("%s is %q after the redeliveries, want Ready for QA", key, st)
	}
}

// prStep is what a developer does to one of a ticket's pull requests,
// and the ticket's status once the gateway is done with it.
type prStep struct {
	do   string // open, merge or close
	pr   int    // which of the ticket's pull requests, from 0
	want string
}

type prCase struct {
	name   string
	steps  []prStep
	writes []string // the statuses the ticket is transitioned to, in order
}

var severalPullRequests = []prCase{
	{
		name: "merged, then the other closed unmerged",
		steps: []prStep{
			{"open", 0, "In Review"}, {"open", 1, "In Review"},
			{"merge", 0, "In Review"}, // the other one is still open
			{"close", 1, "Ready for QA"},
		},
		writes: []string{"In Progress", "In Review", "Ready for QA"},
	},
	{
		name: "both merged",
		steps: []prStep{
			{"open", 0, "In Review"}, {"open", 1, "In Review"},
			{"merge", 1, "In Review"},
			{"merge", 0, "Ready for QA"},
		},
		writes: []string{"In Progress", "In Review", "Ready for QA"},
	},
	{
		name: "both closed unmerged",
		steps: []prStep{
			{"open", 0, "In Review"}, {"open", 1, "In Review"},
			{"close", 0, "In Review"},
			{"close", 1, "In Progress"}, // back to work, never ready for QA
		},
		writes: []string{"In Progress", "In Review", "In Progress"},
	},
}

// With several pull requests on one ticket, it moves to Ready for QA only
// once every one of them is merged or closed and at least one is merged;
// all closed unmerged sends it back to work.
func TestSeveralPullRequestsMoveTheirTicketOnlyWhenAllAreDone(t *testing.T) {
	w := startWorld(t)
	waitPolled(t, w)
	for _, tc := range severalPullRequests {
		t.Run(tc.name, func(t *testing.T) { playPullRequests(t, w, tc) })
	}
}

// The same, with a Jira that does not send webhooks for the gateway's own
// writes (a webhook filtered to people's changes, or lost deliveries):
// the gateway must not depend on its writes coming back to know where it
// left a ticket.
func TestSeveralPullRequestsMoveTheirTicketWithoutEchoOfOwnWrites(t *testing.T) {
	w := startWorldEcho(t, false)
	waitPolled(t, w)
	for _, tc := range severalPullRequests {
		t.Run(tc.name, func(t *testing.T) { playPullRequests(t, w, tc) })
	}
}

func playPullRequests(t *testing.T, w *sandbox.World, tc prCase) {
	key := newIssue(t, w, "Export fails: "+tc.name)
	prs := map[int]int{}
	for _, s := range tc.steps {
		act(t, w, key, prs, s.do, s.pr)
		settle(t, w)
		if got := jiraStatus(w, key); got != s.want {
			t.Fatalf("after %s of pull request %d: %s is %q, want %q", s.do, s.pr, key, got, s.want)
		}
	}
	// Each status once, in order; one remote link per pull request; and
	// nothing else.
	writes := jiraWrites(w, key)
	if got, want := only(writes, "/transitions"), transitions(key, tc.writes...); !slices.Equal(got, want) {
		t.Errorf("transitions of %s:\n got %q\nwant %q", key, got, want)
	}
	var urls []string
	for i := range prs {
		urls = append(urls, prURL(t, w, prs[i]))
	}
	links := only(writes, "/remotelink")
	slices.Sort(links)
	if want := remoteLinks(key, slices.Sorted(slices.Values(urls))...); !slices.Equal(links, want) {
		t.Errorf("remote links of %s:\n got %q\nwant %q", key, links, want)
	}
	if len(writes) != len(tc.writes)+len(prs) {
		t.Errorf("other writes to %s: %q", key, writes)
	}
}

// act does what a developer does to the i-th pull request of a ticket.
func act(t *testing.T, w *sandbox.World, key string, prs map[int]int, do string, i int) {
	t.Helper()
	var err error
	switch do {
	case "open":
		prs[i], err = w.GitHub.OpenPR(w.Repo, "Part "+string(rune('A'+i))+" of the fix", "Fixes "+key+".", "fix/export-"+key+"-"+string(rune('a'+i)))
	case "merge":
		err = w.GitHub.MergePR(w.Repo, prs[i])
	case "close":
		err = w.GitHub.ClosePR(w.Repo, prs[i])
	default:
		t.Fatalf("unknown step %q", do)
	}
	if err != nil {
		t.Fatalf("%s pull request %d: %v", do, i, err)
	}
}

package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/internal/logtest"
	"github.com/liaisonhq/liaison/internal/sandbox"
)

// TestMakeRun_StoryCompletesAndLinksShowTheCase plays the story of `make
// run` (the real connectors against their fakes), then reads the case back
// the way an admin would.
func TestMakeRun_StoryCompletesAndLinksShowTheCase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// With the fakes echoing the gateway's writes, as make run has them.
	var logs logtest.Buffer
	w, err := sandbox.StartWorld(ctx, sandbox.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(&logs, nil)), IdleWait: 10 * time.Millisecond},
		sandbox.WithEchoWebhooks())
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.Play(ctx)
	if err != nil {
		w.Stop()
		t.Fatal(err)
	}
	// Every webhook arrived, so polling found nothing they had not brought.
	var counts bytes.Buffer
	if err := printEventCounts(ctx, &counts, w.Addr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(counts.String(), "liaison_poll_found_missed_total 0 for every source") {
		t.Errorf("event counts:\n%s", counts.String())
	}
	t.Logf("event counts:\n%s", counts.String())
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Count(line, " connector=") > 1 {
			t.Errorf("a log line names its connector twice: %s", line)
		}
		// The fakes are set up as the default mappings declare: an admin
		// trying make run must not be told to check anything by hand.
		if strings.Contains(line, "check by hand") {
			t.Errorf("the sandbox's systems differ from the default mappings: %s", line)
		}
		// The reporter's answer is complete: a note saying it lacks
		// something would be false.
		if strings.Contains(line, "rule=triage-reply-incomplete") {
			t.Errorf("a false note to the agents: %s", line)
		}
	}
	ticket := "zendesk/customer_ticket/" + strconv.FormatInt(out.TicketID, 10)
	var buf bytes.Buffer
	e := &env{stdout: &buf, stderr: &buf}
	if err := links(ctx, e, []string{"--store", "sqlite://" + w.DBPath, ticket}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"case 1: 4 records",
		"* " + ticket,
		"jira/dev_ticket/" + out.IssueKey + " ",
		"github/pull_request/acme/app#" + strconv.Itoa(out.PR) + " —fixes→ jira/dev_ticket/" + out.IssueKey + "  (discovered)",
		ticket + " —escalated_to→ jira/dev_ticket/" + out.IssueKey + "  (ours)",
		"dead letters:\n  none",
		"deployed-solves-ticket",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("links output lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := why(ctx, e, []string{"--store", "sqlite://" + w.DBPath, ticket}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"status: solved", `set to "solved" by rule "deployed-solves-ticket"`, "Developer ticket: " + out.IssueKey} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("why output lacks %q:\n%s", want, buf.String())
		}
	}

	// The short forms an admin types name the same records.
	dev := "jira/dev_ticket/" + out.IssueKey
	pr := "github/pull_request/acme/app#" + strconv.Itoa(out.PR)
	for short, want := range map[string]string{
		out.IssueKey:                                               dev,
		strconv.FormatInt(out.TicketID, 10):                        ticket,
		"acme/app#" + strconv.Itoa(out.PR):                         pr,
		"https://github.com/acme/app/pull/" + strconv.Itoa(out.PR): pr,
	} {
		buf.Reset()
		if err := why(ctx, e, []string{"--store", w.DBPath, short}); err != nil {
			t.Errorf("why %s: %v", short, err)
			continue
		}
		if !strings.HasPrefix(buf.String(), want+"  ") {
			t.Errorf("why %s names %q, want %s", short, strings.SplitN(buf.String(), "\n", 2)[0], want)
		}
	}
	err = why(ctx, e, []string{"--store", w.DBPath, "NOPE-9"})
	if err == nil || !strings.Contains(err.Error(), `no record has the id "NOPE-9"`) || !strings.Contains(err.Error(), "jira/dev_ticket/KBOT-1") {
		t.Errorf("an unknown short form: %v; want a hint with an example", err)
	}
}

// TestStandIns_StoryCompletes plays the same story against the in-process
// stand-ins (`liaison sandbox --stand-ins`).
func TestStandIns_StoryCompletes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler), IdleWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	out, err := s.Play(ctx)
	if err != nil {
		t.Fatal(err)
	}
	it, _ := s.Systems["zendesk"].Record(out.Ticket)
	// The customer hears from the gateway twice: the triage question and
	// the one explanation of the correction.
	var ours []string
	explained := 0
	for _, c := range it.Comments {
		if c.Public && c.Marker != "" {
			ours = append(ours, c.Body)
			if strings.Contains(c.Body, "corrected the problem") {
				explained++
			}
		}
	}
	if it.Native != "solved" || len(ours) != 2 || explained != 1 {
		t.Fatalf("customer ticket ends %q with public comments from the gateway %q; want solved, one question and one explanation", it.Native, ours)
	}
}

func TestMain_UsageAndUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "liaison simulate") {
		t.Fatalf("help: %d %q", code, out.String())
	}
	if code := Main([]string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := Main([]string{"links"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: liaison links") {
		t.Fatalf("links without a ref: %d %q", code, errb.String())
	}
}

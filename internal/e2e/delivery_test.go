package e2e_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	jirafake "github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/cli"
	"github.com/liaisonhq/liaison/internal/sandbox"
)

// A Jira that answers 5xx for longer than the outbox retries ends the
// action in the dead-letter list with its error; once Jira is back,
// `liaison replay` puts it back in the outbox and the running daemon
// completes it, writing it once.
func TestJiraOutageDeadLettersTheActionAndReplayCompletesIt(t *testing.T) {
	w := startWorld(t, sandbox.WithMaxAttempts(2))
	waitPolled(t, w)
	ctx := context.Background()
	e := escalate(t, w)

	// The customer adds to their report while Jira is down: the reply is
	// for the developers (customer-replies-to-dev-ticket).
	w.Jira.FailNext(1_000_000, http.StatusInternalServerError, 0)
	const reply = "It also happens with the link from the second reset mail."
	if _, err := w.Zendesk.Reply(e.ticket, customer, reply, true); err != nil {
		t.Fatal(err)
	}
	var dead []core.Action
	eventually(t, "the comment in the dead-letter list", func() bool {
		dead, _ = w.Daemon.Store.DeadLetters(ctx)
		return len(dead) > 0
	})
	if len(dead) != 1 {
		t.Fatalf("dead letters: %+v; want one", dead)
	}
	if a := dead[0]; a.Rule != "customer-replies-to-dev-ticket" || a.Kind != core.AddComment || a.Target != devTicket(e.key) ||
		a.Attempts != 2 || !strings.Contains(a.LastError, "500 Internal Server Error") {
		t.Errorf("dead letter: rule %q, %s on %s after %d attempts, error %q; want the reply's copy to %s after 2 attempts with the 500",
			a.Rule, a.Kind, a.Target, a.Attempts, a.LastError, e.key)
	}
	if is, _ := w.Jira.Issue(e.key); len(is.Comments) != 0 {
		t.Errorf("comments on %s during the outage: %+v", e.key, is.Comments)
	}

	w.Jira.FailNext(0, 0, 0) // Jira is back
	refused := len(jiraWrites(w, e.key))
	var stdout, stderr bytes.Buffer
	if code := cli.Main([]string{"replay", "--store", "sqlite://" + w.DBPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("liaison replay exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "re-queued 1 ") {
		t.Errorf("liaison replay said %q; want it to re-queue 1 action", stdout.String())
	}
	eventually(t, "the reply on "+e.key+" after the replay", func() bool {
		is, _ := w.Jira.Issue(e.key)
		return len(is.Comments) > 0
	})
	settle(t, w)
	if got, want := jiraWrites(w, e.key)[refused:], []string{"POST /rest/api/2/issue/" + e.key + "/comment"}; !slices.Equal(got, want) {
		t.Errorf("Jira writes to %s after the replay:\n got %q\nwant %q", e.key, got, want)
	}
	if is, _ := w.Jira.Issue(e.key); len(is.Comments) != 1 || !strings.Contains(is.Comments[0].Body, reply) {
		t.Errorf("comments on %s: %+v; want one carrying the customer's reply", e.key, is.Comments)
	}
	if dead, _ := w.Daemon.Store.DeadLetters(ctx); len(dead) != 0 {
		t.Errorf("dead letters after the replay: %+v", dead)
	}
}

// An action dead-lettered does not hold back the actions queued behind it
// on the same record: once Jira answers again, the pull request's move to
// review is made without anyone replaying the failed link.
func TestActionsQueuedBehindADeadLetterStillRun(t *testing.T) {
	w := startWorld(t, sandbox.WithMaxAttempts(2))
	waitPolled(t, w)
	ctx := context.Background()
	key := newIssue(t, w, "Invoices export as empty PDF")
	w.Jira.FailNext(1_000_000, http.StatusInternalServerError, 0)
	if _, err := w.GitHub.OpenPR(w.Repo, key+": render invoices before export", "", "fix/"+key); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the remote link to the pull request dead-lettered", func() bool {
		dead, _ := w.Daemon.Store.DeadLetters(ctx)
		return len(dead) > 0
	})
	w.Jira.FailNext(0, 0, 0) // Jira is back
	eventually(t, key+" in review", func() bool { return jiraStatus(w, key) == "In Review" })
}

// A 429 with Retry-After is waited out, not turned into an error: the
// write lands once, no sooner than Jira asked. Jira's per-issue write
// limit holds back writes to that issue only.
func TestJiraRetryAfterIsWaitedOut(t *testing.T) {
	const wait = 2 * time.Second
	t.Run("429 on any request", func(t *testing.T) {
		w := startWorld(t)
		waitPolled(t, w)
		key := newIssue(t, w, "Login page loops")
		w.Jira.FailNext(1, http.StatusTooManyRequests, wait)
		start := time.Now()
		n, err := w.GitHub.OpenPR(w.Repo, key+": stop the redirect loop", "", "fix/"+key)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, key+" in review", func() bool { return jiraStatus(w, key) == "In Review" })
		if took := time.Since(start); took < wait {
			t.Errorf("%s in review after %s; Jira asked for %s", key, took, wait)
		}
		settle(t, w)
		// The refused request (the remote link to the pull request) is
		// made again once; then one walk through the workflow.
		link := remoteLinks(key, prURL(t, w, n))[0]
		want := []string{link, link, "GET /rest/api/2/issue/" + key + "?expand=transitions&fields=status,project,issuetype",
			"POST /rest/api/2/issue/" + key + "/transitions → In Progress",
			"GET /rest/api/2/issue/" + key + "/transitions", "POST /rest/api/2/issue/" + key + "/transitions → In Review"}
		if got := jiraCalls(w, key, true); !slices.Equal(got, want) {
			t.Errorf("Jira calls about %s:\n got %q\nwant %q", key, got, want)
		}
	})
	t.Run("per-issue write limit holds back that issue only", func(t *testing.T) {
		w := startWorld(t)
		waitPolled(t, w)
		limited := newIssue(t, w, "Search ignores accents")
		other := newIssue(t, w, "Avatars upload sideways")
		w.Jira.RateLimitIssue(limited, 1, wait)
		start := time.Now()
		prs := map[string]int{}
		for _, key := range []string{limited, other} {
			n, err := w.GitHub.OpenPR(w.Repo, key+": fix", "", "fix/"+key)
			if err != nil {
				t.Fatal(err)
			}
			prs[key] = n
		}
		reached := map[string]time.Duration{}
		eventually(t, "both issues in review", func() bool {
			for _, key := range []string{limited, other} {
				if _, ok := reached[key]; !ok && jiraStatus(w, key) == "In Review" {
					reached[key] = time.Since(start)
				}
			}
			return len(reached) == 2
		})
		if reached[limited] < wait || reached[other] >= reached[limited] {
			t.Errorf("in review after: limited %s %s, other %s %s; want the limited one after %s, the other before it",
				limited, reached[limited], other, reached[other], wait)
		}
		settle(t, w)
		// The refused write is made again once, after the wait.
		for key, want := range map[string][]string{
			limited: append(remoteLinks(limited, prURL(t, w, prs[limited]), prURL(t, w, prs[limited])), transitions(limited, "In Progress", "In Review")...),
			other:   append(remoteLinks(other, prURL(t, w, prs[other])), transitions(other, "In Progress", "In Review")...),
		} {
			if got := jiraWrites(w, key); !slices.Equal(got, want) {
				t.Errorf("Jira writes to %s:\n got %q\nwant %q", key, got, want)
			}
		}
	})
}

// signer re-signs a delivery the way one service does.
type signer struct {
	headers []string // the signature headers, removed to send it unsigned
	sign    func(d delivery, secret string)
}

func hmacHex(h func() hash.Hash, secret string, parts ...[]byte) string {
	m := hmac.New(h, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

var signers = map[string]signer{
	"github": {[]string{"X-Hub-Signature-256", "X-Hub-Signature"}, func(d delivery, secret string) {
		d.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(sha256.New, secret, d.Body))
		d.Header.Set("X-Hub-Signature", "sha1="+hmacHex(sha1.New, secret, d.Body))
	}},
	"jira": {[]string{"X-Hub-Signature"}, func(d delivery, secret string) {
		d.Header.Set("X-Hub-Signature", "sha256="+hmacHex(sha256.New, secret, d.Body))
	}},
	"zendesk": {[]string{"X-Zendesk-Webhook-Signature"}, func(d delivery, secret string) {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(d.Header.Get("X-Zendesk-Webhook-Signature-Timestamp")))
		m.Write(d.Body)
		d.Header.Set("X-Zendesk-Webhook-Signature", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}},
}

// A webhook whose signature is wrong, missing or stale is refused with
// 401 and nothing of it is stored; the same delivery correctly signed is
// then accepted, which shows the refusal was about the signature alone.
func TestForgedOrUnsignedWebhooksAreRefusedAndNothingIsStored(t *testing.T) {
	w := startWorld(t)
	waitPolled(t, w)
	ctx := context.Background()
	tap := newHookTap(t, w, false) // keeps the real deliveries from the daemon
	for _, system := range []string{"github", "jira", "zendesk"} {
		tap.route(w, system)
	}
	// One real record of each system, known to the daemon only by the
	// delivery the tap kept.
	type source struct {
		system string
		ref    core.Ref
		real   delivery
	}
	var sources []source
	n, err := w.GitHub.OpenPR(w.Repo, "Speed up the invoice list", "", "perf/invoices")
	if err != nil {
		t.Fatal(err)
	}
	sources = append(sources, source{"github", pullRequest(w.Repo, n), tap.last(t)})
	key, err := w.Jira.CreateIssue(jiraIssue("Timezone of reset tokens"))
	if err != nil {
		t.Fatal(err)
	}
	sources = append(sources, source{"jira", devTicket(key), tap.last(t)})
	id, err := w.Zendesk.CreateTicket(customer, "Cannot log in", "Since Monday.", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sources = append(sources, source{"zendesk", customerTicket(id), tap.last(t)})

	forgeries := []struct {
		name    string
		systems []string // those it applies to
		forge   func(d delivery, s signer, secret string) delivery
	}{
		{"signed with another secret", nil, func(d delivery, s signer, secret string) delivery {
			s.sign(d, "not-"+secret)
			return d
		}},
		{"unsigned", nil, func(d delivery, s signer, _ string) delivery {
			for _, h := range s.headers {
				d.Header.Del(h)
			}
			return d
		}},
		{"body changed after signing", nil, func(d delivery, _ signer, _ string) delivery {
			d.Body = append(d.Body, ' ') // still valid JSON
			return d
		}},
		{"signed ten minutes ago", []string{"zendesk"}, func(d delivery, s signer, secret string) delivery {
			d.Header.Set("X-Zendesk-Webhook-Signature-Timestamp", time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339))
			s.sign(d, secret)
			return d
		}},
		{"signed, dated a year ahead", []string{"jira"}, func(d delivery, s signer, secret string) delivery {
			var body map[string]any
			if err := json.Unmarshal(d.Body, &body); err != nil {
				t.Fatal(err)
			}
			body["timestamp"] = time.Now().AddDate(1, 0, 0).UnixMilli()
			d.Body, _ = json.Marshal(body)
			s.sign(d, secret)
			return d
		}},
		{"signed, from two hours ago", []string{"jira"}, func(d delivery, s signer, secret string) delivery {
			var body map[string]any
			if err := json.Unmarshal(d.Body, &body); err != nil {
				t.Fatal(err)
			}
			body["timestamp"] = time.Now().Add(-2 * time.Hour).UnixMilli()
			d.Body, _ = json.Marshal(body)
			s.sign(d, secret)
			return d
		}},
	}
	for _, src := range sources {
		s, secret := signers[src.system], w.WebhookSecret(src.system)
		// The signer reproduces the real signature, so a forgery differs
		// from a real delivery by what it names only.
		resigned := src.real.clone()
		s.sign(resigned, secret)
		for _, h := range s.headers {
			if resigned.Header.Get(h) != src.real.Header.Get(h) {
				t.Fatalf("%s: re-signing gives %s %q, the fake sent %q", src.system, h, resigned.Header.Get(h), src.real.Header.Get(h))
			}
		}
		for _, f := range forgeries {
			if f.systems != nil && !slices.Contains(f.systems, src.system) {
				continue
			}
			t.Run(src.system+"/"+f.name, func(t *testing.T) {
				status, answer, err := f.forge(src.real.clone(), s, secret).send("http://" + w.Addr)
				if err != nil || status != http.StatusUnauthorized {
					t.Errorf("answered %d %q (%v), want 401", status, answer, err)
				}
				if bytes.Contains(answer, src.real.Body[:min(40, len(src.real.Body))]) {
					t.Errorf("the answer echoes the body: %q", answer)
				}
				if evs, err := w.Daemon.Store.Events(ctx, src.ref, 10); err != nil || len(evs) != 0 {
					t.Errorf("events about %s: %+v (%v); want none", src.ref, evs, err)
				}
				if it, err := w.Daemon.Store.Item(ctx, src.ref); !isNotFound(err) {
					t.Errorf("the store knows %s: %+v (%v)", src.ref, it, err)
				}
			})
		}
	}
	settle(t, w)
	if got := allWrites(w); len(got) != 0 {
		t.Errorf("writes after the forgeries: %q; want none", got)
	}
	for _, src := range sources {
		t.Run(src.system+"/the real delivery", func(t *testing.T) {
			if got := resend(t, w, src.real); got.Accepted != 1 {
				t.Errorf("answer %+v, want it accepted", got)
			}
			// Accepted is durable (journaled); the store takes it in behind.
			settle(t, w)
			// A GitHub delivery whose commits could name a key brings
			// them in a further event of its own (<delivery>/commits).
			evs, err := w.Daemon.Store.Events(ctx, src.ref, 10)
			evs = slices.DeleteFunc(evs, func(e core.Event) bool { return strings.HasSuffix(e.DeliveryID, "/commits") })
			if err != nil || len(evs) != 1 {
				t.Errorf("events about %s: %d (%v); want one", src.ref, len(evs), err)
			}
		})
	}
}

// A webhook the service never delivered is caught up by the next poll,
// and what it should have caused happens then.
func TestDroppedWebhookIsCaughtUpByPolling(t *testing.T) {
	for _, tc := range []struct {
		name   string
		source string
		// act sets the scene, then makes the change whose webhook is lost;
		// missed checks that the gateway did not see it; caught waits for
		// its effect.
		act func(t *testing.T, w *sandbox.World) (missed func() bool, caught func() bool)
	}{
		{"jira: pre-production validation reaches the customer", "jira", func(t *testing.T, w *sandbox.World) (func() bool, func() bool) {
			e := escalate(t, w)
			if err := w.Jira.SetStatus(e.key, "QA Validated"); err != nil { // an admin's edit: no webhook
				t.Fatal(err)
			}
			w.Jira.DropWebhooks(1)
			if err := w.Jira.Transition(e.key, "Preprod Validated"); err != nil {
				t.Fatal(err)
			}
			if ds := w.Jira.Deliveries(); !ds[len(ds)-1].Dropped {
				t.Fatalf("the transition's webhook was not dropped: %+v", ds[len(ds)-1])
			}
			missed := func() bool {
				it, err := w.Daemon.Store.Item(context.Background(), devTicket(e.key))
				tk, _ := w.Zendesk.Ticket(e.ticket)
				return err == nil && it.Native == "To Do" && tk.Status == "new" && len(gatewayComments(w, e.ticket, true)) == 0
			}
			caught := func() bool {
				tk, _ := w.Zendesk.Ticket(e.ticket)
				return tk.Status == "pending" && len(gatewayComments(w, e.ticket, true)) == 1
			}
			return missed, caught
		}},
		{"github: an opened pull request moves its ticket", "github", func(t *testing.T, w *sandbox.World) (func() bool, func() bool) {
			key := newIssue(t, w, "Reports time out")
			w.GitHub.DropWebhooks(1)
			n, err := w.GitHub.OpenPR(w.Repo, key+": paginate the report query", "", "fix/"+key)
			if err != nil {
				t.Fatal(err)
			}
			missed := func() bool {
				_, err := w.Daemon.Store.Item(context.Background(), pullRequest(w.Repo, n))
				return isNotFound(err) && jiraStatus(w, key) == "To Do"
			}
			return missed, func() bool { return jiraStatus(w, key) == "In Review" }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := startWorld(t)
			waitPolled(t, w)
			missed, caught := tc.act(t, w)
			settle(t, w)
			if !missed() {
				t.Fatal("the gateway saw the change whose webhook was dropped before any poll")
			}
			if n := poll(t, w, tc.source); n == 0 {
				t.Errorf("the %s poll found nothing new", tc.source)
			}
			eventually(t, "the change's effect after the poll", caught)
		})
	}
}

func jiraIssue(summary string) jirafake.IssueSpec {
	return jirafake.IssueSpec{Project: "KBOT", Summary: summary}
}

// A signed delivery sent again, byte for byte or under a fresh delivery
// id, is answered without being decoded again: no fetch, no API call, no
// second event stored. (Zendesk's deliveries are completed by reading the
// ticket, so each replay used to cost an API call; a GitHub delivery re-sent
// under a fresh X-GitHub-Delivery used to be stored again.)
func TestReplayedDeliveriesCostNoAPICallAndAreNotStoredAgain(t *testing.T) {
	w := startWorld(t)
	waitPolled(t, w)
	ctx := context.Background()
	tap := newHookTap(t, w, true)
	for _, system := range []string{"github", "zendesk"} {
		tap.route(w, system)
	}
	first := func(path string, from int) delivery {
		t.Helper()
		w.Zendesk.Flush()
		for _, d := range tap.deliveries()[from:] {
			if d.Path == path {
				return d
			}
		}
		t.Fatalf("no delivery to %s went through the tap", path)
		return delivery{}
	}
	from := len(tap.deliveries())
	id, err := w.Zendesk.CreateTicket(customer, "Cannot log in", "Since Monday.", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	zd := first("/webhooks/zendesk/zendesk", from)
	from = len(tap.deliveries())
	n, err := w.GitHub.OpenPR(w.Repo, "Speed up the invoice list", "", "perf/invoices")
	if err != nil {
		t.Fatal(err)
	}
	gh := first("/webhooks/github/github", from)
	settle(t, w)
	// The triage of the new ticket may still be due a moment later (a case
	// put back behind another write): the counts below are taken after it.
	eventually(t, "the new ticket triaged", func() bool {
		tk, ok := w.Zendesk.Ticket(id)
		return ok && len(tk.Tags) > 0
	})
	settle(t, w)

	type before struct {
		calls  int
		events int
	}
	count := func(ref core.Ref, calls int) before {
		evs, err := w.Daemon.Store.Events(ctx, ref, 100)
		if err != nil {
			t.Fatal(err)
		}
		return before{calls, len(evs)}
	}
	zdBefore := count(customerTicket(id), len(w.Zendesk.Calls()))
	ghBefore := count(pullRequest(w.Repo, n), len(w.GitHub.Calls()))
	accepted := 0
	for range 50 {
		accepted += resend(t, w, zd).Accepted
	}
	for i := range 5 {
		fresh := gh.clone()
		fresh.Header.Set("X-GitHub-Delivery", fmt.Sprintf("8a3b5c6d-0000-11f0-9000-%012d", i))
		accepted += resend(t, w, fresh).Accepted
	}
	if accepted != 0 {
		t.Errorf("the replays made %d events, want none", accepted)
	}
	settle(t, w)
	if got := count(customerTicket(id), len(w.Zendesk.Calls())); got != zdBefore {
		t.Errorf("after 50 replays of a Zendesk delivery: %d API calls and %d events, before %d and %d",
			got.calls, got.events, zdBefore.calls, zdBefore.events)
	}
	if got := count(pullRequest(w.Repo, n), len(w.GitHub.Calls())); got != ghBefore {
		t.Errorf("after a GitHub delivery re-sent under fresh ids: %d API calls and %d events, before %d and %d",
			got.calls, got.events, ghBefore.calls, ghBefore.events)
	}
}

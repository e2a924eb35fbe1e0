package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liaisonhq/liaison/core"
)

const testdataRepos = "repos: [Codertocat/Hello-World, chhsia0/knative-route-demo, runatlantis/atlantis-tests, bradrydzewski/drone-test-go, Octocoders/Hello-World]\n"

// TestTestdata_EveryPayloadDecodesAndNormalizes feeds every real payload
// through ReceiveWebhook: handled ones give the expected event, the others
// are acknowledged with no events and counted as ignored, none fails.
func TestTestdata_EveryPayloadDecodesAndNormalizes(t *testing.T) {
	h := newHarness(t, testdataRepos)
	if err := h.gh.ImportPR(readTestdata(t, "pull_request-opened.json")); err != nil {
		t.Fatal(err)
	}
	pr := "github/pull_request/Codertocat/Hello-World#2"
	cases := map[string]struct {
		typ     core.EventType // "" for no event
		ref     string
		native  string
		ignored bool // counted in liaison_github_webhooks_ignored_total
		comment string
	}{
		"issue_comment-created-on-issue.json":                 {ignored: true},
		"issue_comment-created-on-pull-request-atlantis.json": {typ: core.Commented, ref: "github/pull_request/runatlantis/atlantis-tests#1", comment: "396926483"},
		"issue_comment-created-on-pull-request.json":          {typ: core.Commented, ref: "github/pull_request/chhsia0/knative-route-demo#3", comment: "546616131"},
		"issue_comment-deleted.json":                          {ignored: true},
		"issue_comment-edited.json":                           {ignored: true},
		"ping-github-app.json":                                {},
		"ping-org-hook.json":                                  {},
		"ping.json":                                           {},
		"pull_request-closed-ghes-3.5.json":                   {typ: core.ClosedUnmerged, ref: pr, native: "closed"},
		"pull_request-closed-not-merged.json":                 {typ: core.ClosedUnmerged, ref: pr, native: "closed"},
		"pull_request-opened-null-body.json":                  {typ: core.Opened, ref: pr, native: "open"},
		"pull_request-opened-org.json":                        {typ: core.Opened, ref: pr, native: "open"},
		"pull_request-opened.json":                            {typ: core.Opened, ref: pr, native: "open"},
		"pull_request-reopened.json":                          {typ: core.Reopened, ref: pr, native: "open"},
		"pull_request-synchronize.json":                       {typ: core.Pushed, ref: pr, native: "open"},
		"push-branch-deleted.json":                            {ignored: true},
		"push-new-branch.json":                                {}, // no open pull request on master
		"push-no-username-committer.json":                     {},
		"push-tag.json":                                       {ignored: true},
		"push-with-installation.json":                         {ignored: true},
		"push.json":                                           {ignored: true},
	}
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) != len(cases) {
		t.Fatalf("%d payloads in testdata, %d cases: every payload needs a case", len(files), len(cases))
	}
	for _, f := range files {
		name := filepath.Base(f)
		want, ok := cases[name]
		if !ok {
			t.Fatalf("no case for %s", name)
		}
		t.Run(name, func(t *testing.T) {
			event := eventOf(name)
			before := testutil.ToFloat64(webhooksIgnored.WithLabelValues(event))
			h.gh.ResetCalls()
			evs, err := h.c.ReceiveWebhook(ctx(t), webhook(event, "d-"+name, readTestdata(t, name)))
			if err != nil {
				t.Fatalf("ReceiveWebhook: %v", err)
			}
			if calls := h.calls(); len(calls) != 0 {
				t.Fatalf("calls %q before the answer; want none", calls)
			}
			if got := testutil.ToFloat64(webhooksIgnored.WithLabelValues(event)) - before; got != b2f(want.ignored) {
				t.Errorf("ignored counter moved by %v; want %v", got, b2f(want.ignored))
			}
			if want.typ == "" {
				if len(evs) != 0 {
					t.Fatalf("%d events; want none", len(evs))
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("%d events; want 1", len(evs))
			}
			e := evs[0]
			if e.Type != want.typ || e.Item.Ref.String() != want.ref || e.Item.Native != want.native {
				t.Fatalf("event %s %s %q; want %s %s %q", e.Type, e.Item.Ref, e.Item.Native, want.typ, want.ref, want.native)
			}
			if e.Source != "github" || e.DeliveryID != "d-"+name || e.Via != core.ViaWebhook || !e.Item.HasSeen(want.typ) || len(e.Raw) == 0 {
				t.Fatalf("event envelope %+v", e)
			}
			if e.Item.Status != "" {
				t.Fatalf("Item.Status %q: the engine maps it, not the connector", e.Item.Status)
			}
			if want.comment != "" {
				if len(e.Item.Comments) != 1 || e.Item.Comments[0].ID != want.comment || e.Item.Comments[0].Public || e.Item.Title != "" {
					t.Fatalf("comment-only snapshot %+v", e.Item)
				}
				return
			}
			it := e.Item
			if it.Fields["branch"] != "changes" || it.Fields["repo"] != "Codertocat/Hello-World" || it.Fields["org"] != "Codertocat" ||
				it.Fields["base"] != "master" || len(it.Fields["head_sha"]) != 40 || it.Reporter != "Codertocat" ||
				!strings.HasSuffix(it.URL, "/Codertocat/Hello-World/pull/2") || it.UpdatedAt.IsZero() {
				t.Fatalf("snapshot %+v", it)
			}
			// The commits come inline when known for the head sha, else
			// from the read deferred past the answer, as a further event.
			if it.Fields["commits"] == "" {
				later := h.take()
				if len(later) != 1 || later[0].DeliveryID != "d-"+name+"/commits" || later[0].Item.Ref != it.Ref {
					t.Fatalf("deferred read: %+v", later)
				}
				it = later[0].Item
			}
			if it.Fields["commits"] != "Update the README with new information." {
				t.Fatalf("commits %q; want the fake's commit message", it.Fields["commits"])
			}
			if !slices.Equal(it.Labels, []string{"bug"}) && name != "pull_request-closed-ghes-3.5.json" {
				t.Fatalf("labels %v", it.Labels)
			}
		})
	}
	// Reopened also counts as opened, so "opened" rules apply to it.
	evs, err := h.c.ReceiveWebhook(ctx(t), webhook("pull_request", "again", readTestdata(t, "pull_request-reopened.json")))
	if err != nil || !evs[0].Item.HasSeen(core.Opened) {
		t.Fatalf("reopened: %v, seen %v", err, evs[0].Item.Seen)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestWebhook_NullBodyAndEdits checks what a payload's details become.
func TestWebhook_NullBodyAndEdits(t *testing.T) {
	h := newHarness(t, testdataRepos)
	if err := h.gh.ImportPR(readTestdata(t, "pull_request-opened.json")); err != nil {
		t.Fatal(err)
	}
	evs, err := h.c.ReceiveWebhook(ctx(t), webhook("pull_request", "x1", readTestdata(t, "pull_request-opened-null-body.json")))
	if err != nil || len(evs) != 1 || evs[0].Item.Body != "" || evs[0].Item.Title == "" {
		t.Fatalf("null body: %v %+v", err, evs)
	}
	want, _ := time.Parse(time.RFC3339, "2019-05-15T15:20:33Z")
	if !evs[0].Item.UpdatedAt.Equal(want) {
		t.Fatalf("UpdatedAt %v; want the payload's %v", evs[0].Item.UpdatedAt, want)
	}
}

// TestWebhook_Signatures: only a delivery signed with the secret is read.
func TestWebhook_Signatures(t *testing.T) {
	h := newHarness(t, testdataRepos)
	body := readTestdata(t, "issue_comment-created-on-pull-request.json")
	good := webhook("issue_comment", "sig-1", body)
	cases := []struct {
		name   string
		mutate func(r *core.WebhookRequest)
		forged bool
	}{
		{"good", func(r *core.WebhookRequest) {}, false},
		{"missing", func(r *core.WebhookRequest) { r.Header.Del("X-Hub-Signature-256") }, true},
		{"wrong secret", func(r *core.WebhookRequest) { r.Header.Set("X-Hub-Signature-256", Sign("other", body)) }, true},
		{"sha1 only", func(r *core.WebhookRequest) {
			r.Header.Del("X-Hub-Signature-256")
			r.Header.Set("X-Hub-Signature", "sha1=0000000000000000000000000000000000000000")
		}, true},
		{"not hex", func(r *core.WebhookRequest) { r.Header.Set("X-Hub-Signature-256", "sha256=zz") }, true},
		{"truncated", func(r *core.WebhookRequest) { r.Header.Set("X-Hub-Signature-256", Sign(testSecret, body)[:40]) }, true},
		{"body altered", func(r *core.WebhookRequest) {
			b := append([]byte{}, body...)
			b[10] ^= 1
			r.Body = b
		}, true},
		{"no prefix", func(r *core.WebhookRequest) {
			r.Header.Set("X-Hub-Signature-256", strings.TrimPrefix(Sign(testSecret, body), "sha256="))
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := core.WebhookRequest{Header: good.Header.Clone(), Body: body}
			c.mutate(&r)
			evs, err := h.c.ReceiveWebhook(ctx(t), r)
			if c.forged {
				if !errors.Is(err, core.ErrForged) || evs != nil {
					t.Fatalf("got %d events, %v; want ErrForged", len(evs), err)
				}
				return
			}
			if err != nil || len(evs) != 1 {
				t.Fatalf("got %d events, %v; want 1", len(evs), err)
			}
		})
	}

	t.Run("webhooks off refuses everything", func(t *testing.T) {
		c := h.connector("base_url: " + h.api.URL + "\ntoken_env: GH_TOKEN\nwebhooks: false\n" + testdataRepos)
		if _, err := c.ReceiveWebhook(ctx(t), good); !errors.Is(err, core.ErrForged) {
			t.Fatalf("err %v; want ErrForged", err)
		}
	})
}

// TestWebhook_RedeliveredSameID: GitHub keeps the delivery id on redelivery;
// the event's DeliveryID is that id, on which the store de-duplicates.
func TestWebhook_RedeliveredSameID(t *testing.T) {
	h := newHarness(t, testdataRepos)
	body := readTestdata(t, "issue_comment-created-on-pull-request.json")
	var ids []string
	for range 2 {
		evs, err := h.c.ReceiveWebhook(ctx(t), webhook("issue_comment", "72d3162e-cc78-11e3-81ab-4c9367dc0958", body))
		if err != nil || len(evs) != 1 {
			t.Fatalf("%d events, %v", len(evs), err)
		}
		ids = append(ids, evs[0].Source+"|"+evs[0].DeliveryID)
	}
	if ids[0] != "github|72d3162e-cc78-11e3-81ab-4c9367dc0958" || ids[0] != ids[1] {
		t.Fatalf("delivery ids %v; want the same X-GitHub-Delivery twice", ids)
	}
}

// TestWebhook_BadInput: what cannot be processed as sent is *core.BadInput
// and says nothing of what was received.
func TestWebhook_BadInput(t *testing.T) {
	h := newHarness(t, testdataRepos)
	const secretish = "SENSITIVE-VALUE-42"
	cases := []struct {
		name  string
		event string
		id    string
		body  string
		says  string
	}{
		{"no delivery id", "pull_request", "", `{"action":"opened"}`, "X-GitHub-Delivery header"},
		{"delivery id with newline", "pull_request", "abc\n" + secretish, `{}`, "X-GitHub-Delivery header"},
		{"no event", "", "d1", `{}`, "X-GitHub-Event header"},
		{"broken json", "pull_request", "d2", `{"action":"opened","pull_request":{"title":"` + secretish, "pull_request delivery: invalid JSON"},
		{"broken json of a review", "pull_request_review", "d2r", `{"action":"submitted",}`, "pull_request_review delivery: invalid JSON at byte"},
		{"wrong type", "pull_request", "d3", `{"action":"opened","pull_request":{"number":"` + secretish + `"}}`, "has the wrong type"},
		{"no number", "pull_request", "d4", `{"action":"opened","pull_request":{"title":"` + secretish + `"},"repository":{"full_name":"Codertocat/Hello-World"}}`, "without pull request number"},
		{"comment without comment", "issue_comment", "d5", `{"action":"created","issue":{"number":1,"pull_request":{}},"repository":{"full_name":"Codertocat/Hello-World"}}`, "without comment"},
		{"broken json of a comment", "issue_comment", "d6", `{"action":`, "issue_comment delivery: invalid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := webhook(c.event, c.id, []byte(c.body))
			if c.event == "" {
				r.Header.Del("X-GitHub-Event")
			}
			_, err := h.c.ReceiveWebhook(ctx(t), r)
			var bad *core.BadInput
			if !errors.As(err, &bad) {
				t.Fatalf("err %v; want *core.BadInput", err)
			}
			if strings.Contains(err.Error(), secretish) {
				t.Fatalf("error %q echoes what was received", err)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %q does not say %q", err, c.says)
			}
		})
	}
}

// TestWebhook_UnknownEventsCounted: an event type not handled is
// acknowledged and counted under "other", whatever its name, so that
// event names cannot grow the series.
func TestWebhook_UnknownEventsCounted(t *testing.T) {
	h := newHarness(t, testdataRepos)
	before := testutil.ToFloat64(webhooksIgnored.WithLabelValues("other"))
	series := testutil.CollectAndCount(webhooksIgnored)
	for i := range 1000 {
		event := fmt.Sprintf("made_up_%c%c", 'a'+i%26, 'a'+i/26%26)
		evs, err := h.c.ReceiveWebhook(ctx(t), webhook(event, fmt.Sprintf("s%d", i), []byte(`{"action":"created"}`)))
		if err != nil || len(evs) != 0 {
			t.Fatalf("%d events, %v", len(evs), err)
		}
	}
	if got := testutil.ToFloat64(webhooksIgnored.WithLabelValues("other")) - before; got != 1000 {
		t.Fatalf("counter moved by %v; want 1000", got)
	}
	if got := testutil.CollectAndCount(webhooksIgnored); got > series+1 {
		t.Fatalf("%d series after 1000 event names, %d before", got, series)
	}
	// A repository not configured is ignored too: an organization hook
	// sends them all.
	h2 := newHarness(t, "repos: [acme/other]\n")
	evs, err := h2.c.ReceiveWebhook(ctx(t), webhook("pull_request", "s2", readTestdata(t, "pull_request-opened.json")))
	if err != nil || len(evs) != 0 || len(h2.gh.Calls()) != 0 {
		t.Fatalf("%d events, %v, calls %v", len(evs), err, h2.gh.Calls())
	}
}

// TestWebhook_FakeFlow follows a pull request through the fake's people:
// every delivery is signed, normalized, and costs only the API calls
// listed (commits are read once per head sha).
func TestWebhook_FakeFlow(t *testing.T) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	n, err := h.gh.OpenPR("acme/kbot", "Fix login timeout", "Fixes the timeout.", "KBOT-88-login")
	if err != nil {
		t.Fatal(err)
	}
	evs := h.take()
	if len(evs) != 2 || evs[0].Type != core.Opened || evs[0].Item.Ref.ID != "acme/kbot#1" || n != 1 || evs[0].Item.Fields["commits"] != "" {
		t.Fatalf("opened: %+v", evs)
	}
	// The commits are read after the answer; the further event of the
	// same delivery carries them.
	if got := h.calls(); !slices.Equal(got, []string{"GET /repos/acme/kbot/pulls/1/commits?per_page=100&page=1"}) {
		t.Fatalf("calls %q", got)
	}
	if evs[1].DeliveryID != evs[0].DeliveryID+"/commits" || evs[1].Item.Fields["commits"] != "Fix login timeout" || evs[1].Item.Fields["branch"] != "KBOT-88-login" {
		t.Fatalf("deferred read %+v", evs[1])
	}

	// A push to the branch: the push delivery fans out to the open pull
	// request (fresh snapshot, read after the answer); its synchronize
	// comes with the commits read at the older head (they stand in, so
	// that no link found in them is dropped), then with all of them.
	if err := h.gh.Push("acme/kbot", "KBOT-88-login", "KBOT-88 retry the session refresh"); err != nil {
		t.Fatal(err)
	}
	evs = h.take()
	if len(evs) != 3 || evs[0].Item.Fields["commits"] != "Fix login timeout" {
		t.Fatalf("%d events after push; want synchronize, push fan-out and synchronize with commits: %+v", len(evs), evs)
	}
	for _, e := range evs[1:] {
		if e.Type != core.Pushed || e.Item.Fields["commits"] != "Fix login timeout\nKBOT-88 retry the session refresh" {
			t.Fatalf("pushed event %s commits %q", e.Type, e.Item.Fields["commits"])
		}
	}
	if !strings.HasSuffix(evs[1].DeliveryID, "/acme/kbot#1") {
		t.Fatalf("push fan-out DeliveryID %q; want <delivery>/<pull request>", evs[1].DeliveryID)
	}
	if got := h.calls(); !slices.Equal(got, []string{"GET /repos/acme/kbot/pulls/1", "GET /repos/acme/kbot/pulls/1/commits?per_page=100&page=1"}) {
		t.Fatalf("calls %q", got)
	}

	if _, err := h.gh.Comment("acme/kbot", 1, "Looks good"); err != nil {
		t.Fatal(err)
	}
	if err := h.gh.Review("acme/kbot", 1, "approved", ""); err != nil {
		t.Fatal(err)
	}
	if err := h.gh.Review("acme/kbot", 1, "commented", "nit"); err != nil {
		t.Fatal(err)
	}
	if err := h.gh.MergePR("acme/kbot", 1); err != nil {
		t.Fatal(err)
	}
	evs = h.take()
	var types []core.EventType
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []core.EventType{core.Commented, core.Approved, core.Merged}) {
		t.Fatalf("types %v", types)
	}
	if c := evs[0].Item.Comments; len(c) != 1 || c[0].Body != "Looks good" || c[0].Author != "octocat" {
		t.Fatalf("comment %+v", c)
	}
	if evs[2].Item.Native != "merged" || !evs[2].Item.HasSeen(core.Merged) {
		t.Fatalf("merged %+v", evs[2].Item)
	}
	if got := h.calls(); len(got) != 0 {
		t.Fatalf("calls %q; want none (commits cached for the head sha)", got)
	}
	// A merged pull request leaves the branch index: a later push to the
	// branch touches nothing.
	if err := h.gh.Push("acme/kbot", "KBOT-88-login", "after merge"); err != nil {
		t.Fatal(err)
	}
	if evs := h.take(); len(evs) != 0 {
		t.Fatalf("%d events for a push to a merged branch", len(evs))
	}
}

// TestWebhook_DraftAndReady: draft is a native status of its own.
func TestWebhook_DraftAndReady(t *testing.T) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	if _, err := h.gh.OpenDraftPR("acme/kbot", "WIP KBOT-9", "", "kbot-9"); err != nil {
		t.Fatal(err)
	}
	if err := h.gh.ReadyForReview("acme/kbot", 1); err != nil {
		t.Fatal(err)
	}
	if err := h.gh.EditPR("acme/kbot", 1, "KBOT-10 instead", "now"); err != nil {
		t.Fatal(err)
	}
	evs := acknowledged(h.take())
	if len(evs) != 3 || evs[0].Item.Native != "draft" || evs[1].Type != core.StatusChange || evs[1].Item.Native != "open" {
		t.Fatalf("events %+v", evs)
	}
	if evs[2].Type != core.Updated || len(evs[2].Changes) != 2 || evs[2].Changes[0] != (core.Change{Field: "title", From: "WIP KBOT-9", To: "KBOT-10 instead"}) {
		t.Fatalf("edited %+v", evs[2])
	}
}

// TestWebhook_APIFailureAfterTheAnswer: the delivery is answered without
// the API; a read that then keeps failing is given up (the poll reads the
// pull request again), and one GitHub refuses for good leaves the event
// without commits.
func TestWebhook_APIFailureAfterTheAnswer(t *testing.T) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	h.c.laterWait = time.Millisecond
	h.gh.FailNext(100, http.StatusBadGateway, 0)
	if _, err := h.gh.OpenPR("acme/kbot", "KBOT-1", "", "kbot-1"); err != nil {
		t.Fatalf("delivery failed while the API failed: %v", err)
	}
	if evs := h.take(); len(evs) != 1 || evs[0].Type != core.Opened {
		t.Fatalf("events %+v; want the acknowledged one alone", evs)
	}
	if !strings.Contains(h.logs.String(), "deferred read given up") {
		t.Fatalf("log %q", h.logs.String())
	}

	h3 := newHarness(t, testdataRepos) // the fake has no such pull request: 404
	evs, err := h3.c.ReceiveWebhook(ctx(t), webhook("pull_request", "p1", readTestdata(t, "pull_request-opened.json")))
	if err != nil || len(evs) != 1 || evs[0].Item.Fields["commits"] != "" {
		t.Fatalf("%v %+v", err, evs)
	}
	if later := h3.take(); len(later) != 0 {
		t.Fatalf("deferred read gave %+v; want nothing new", later)
	}
	if !strings.Contains(h3.logs.String(), "without commits") {
		t.Fatalf("log %q", h3.logs.String())
	}
}

// TestNoSecretsInErrorsOrLogs: no token, secret, body or header value
// reaches an error or a log line.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	h := newHarness(t, testdataRepos)
	body := readTestdata(t, "pull_request-opened.json")
	var errs []string
	add := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	r := webhook("pull_request", "n1", body)
	r.Header.Set("X-Hub-Signature-256", Sign("wrong", body))
	_, err := h.c.ReceiveWebhook(ctx(t), r)
	add(err)
	_, err = h.c.ReceiveWebhook(ctx(t), webhook("pull_request", "n2", append(body[:100:100], []byte(testSecret)...)))
	add(err)
	_, err = h.c.ReceiveWebhook(ctx(t), webhook("pull_request", "n3", body)) // 404 commits: logged
	add(err)
	h.gh.FailNext(1, http.StatusForbidden, 30*time.Second)
	_, err = h.c.Apply(ctx(t), core.Action{Key: "k", Kind: core.AddComment, Target: h.c.prRef("Codertocat/Hello-World", 2), Body: testSecret})
	add(err)
	h.gh.FailNext(1, http.StatusForbidden, 0)
	_, err = h.c.Apply(ctx(t), core.Action{Key: "k", Kind: core.SetFields, Target: h.c.prRef("Codertocat/Hello-World", 2), Fields: map[string]string{"labels+": testSecret}})
	add(err)

	// A config naming an unreadable token file, and one with a bad token.
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "tok"), []byte("ghp_wrong_token_value\n"), 0o600)
	_, err = newConnector(setup("github", "token_file: "+filepath.Join(dir, "missing")+"\nwebhooks: false\nrepos: [a/b]\n", h.clock, h.logs), fastRetries)
	add(err)
	bad := h.connector("base_url: " + h.api.URL + "\ntoken_file: " + filepath.Join(dir, "tok") + "\nwebhooks: false\nrepos: [acme/kbot]\n")
	_, err = bad.Fetch(ctx(t), bad.prRef("acme/kbot", 1))
	add(err)

	if len(errs) < 5 {
		t.Fatalf("only %d errors: the test lost its teeth", len(errs))
	}
	all := strings.Join(errs, "\n") + "\n" + h.logs.String()
	for _, s := range []string{testToken, testSecret, "ghp_wrong_token_value", "Update the README", Sign(testSecret, body), "Codertocat@users"} {
		if strings.Contains(all, s) {
			t.Fatalf("%q leaked into errors or logs:\n%s", s, all)
		}
	}
	if strings.Contains(strings.Join(strings.Fields(h.c.set.token.String()+h.c.set.secret.String()), ""), testToken) {
		t.Fatal("settings print their secrets")
	}
}

// TestWebhook_CommitsReadOnlyWhereAKeyCouldBe: a delivery defers a read of
// the commits only when a pattern searches them and no pattern finds a key
// anywhere else; no delivery calls the API before its answer.
func TestWebhook_CommitsReadOnlyWhereAKeyCouldBe(t *testing.T) {
	titleOnly := keyPatterns()
	for _, p := range titleOnly {
		p.In = []string{"title", "body", "branch"}
	}
	for _, tc := range []struct {
		name          string
		patterns      []*core.Pattern // nil: mappings not checked yet
		title, branch string
		read          bool
	}{
		{name: "key in the title", patterns: keyPatterns(), title: "KBOT-88 fix login", branch: "fix-login", read: false},
		{name: "key in the branch", patterns: keyPatterns(), title: "Fix login", branch: "KBOT-88-login", read: false},
		{name: "no key anywhere", patterns: keyPatterns(), title: "Fix login", branch: "fix-login", read: true},
		{name: "no pattern reads commits", patterns: titleOnly, title: "Fix login", branch: "fix-login", read: false},
		{name: "mappings not checked", title: "KBOT-88 fix login", branch: "fix-login", read: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "repos: [acme/kbot]\n")
			if tc.patterns != nil {
				if err := h.c.CheckMappings(ctx(t), &core.Mappings{Patterns: tc.patterns}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := h.gh.OpenPR("acme/kbot", tc.title, "", tc.branch); err != nil {
				t.Fatal(err)
			}
			if calls := h.calls(); len(calls) != 0 {
				t.Fatalf("calls %q before the answer", calls)
			}
			evs := h.take()
			calls := h.calls()
			if read := len(calls) > 0; read != tc.read || len(evs) != 1+b2i(tc.read) {
				t.Fatalf("calls %q, %d events; want a read: %v", calls, len(evs), tc.read)
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// failingSink refuses its first n Ingest calls (temporarily), then hands
// the events to the harness.
type failingSink struct {
	*harness
	n int
}

func (s *failingSink) Ingest(ctx context.Context, evs []core.Event) error {
	if s.n > 0 {
		s.n--
		return errors.New("store busy")
	}
	return s.harness.Ingest(ctx, evs)
}

// TestWebhook_DeferredReadIngestRetry: when the sink refuses a deferred
// read's events for a while, they are ingested again as read, without
// asking the API again.
func TestWebhook_DeferredReadIngestRetry(t *testing.T) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	h.c.laterWait = time.Millisecond
	if _, err := h.gh.OpenPR("acme/kbot", "Fix login timeout", "", "KBOT-88-login"); err != nil {
		t.Fatal(err)
	}
	h.take()
	if err := h.gh.Push("acme/kbot", "KBOT-88-login", "KBOT-88 retry the session refresh"); err != nil {
		t.Fatal(err)
	}
	h.gh.ResetCalls()
	h.c.drainLater(ctx(t), &failingSink{harness: h, n: 2})
	evs := slices.DeleteFunc(h.take(), func(e core.Event) bool { return !strings.HasSuffix(e.DeliveryID, "/acme/kbot#1") })
	if len(evs) != 1 || evs[0].Type != core.Pushed {
		t.Fatalf("%d push fan-out events; want one", len(evs))
	}
	var reads int
	for _, c := range h.calls() {
		if c == "GET /repos/acme/kbot/pulls/1" {
			reads++
		}
	}
	if reads != 1 {
		t.Fatalf("%d reads of the pull request; want 1 (a retry ingests what was read)", reads)
	}
}

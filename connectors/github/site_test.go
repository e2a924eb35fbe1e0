package github

import (
	"testing"

	"github.com/liaisonhq/liaison/connectors/connectortest"
	"github.com/liaisonhq/liaison/connectors/github/fake"
)

// TestCheckSite_AccessAndWebhooks: each repository must be visible and
// writable, and have (itself or through its organization) an active JSON
// webhook to the gateway; what the credentials cannot list is left to
// check by hand.
func TestCheckSite_AccessAndWebhooks(t *testing.T) {
	const public = "https://gw.example.org"
	for _, tc := range []struct {
		name    string
		access  string
		scopes  []string // a classic token's; nil for another token
		hook    string   // the receiver the fake's hooks name; "" for none
		repos   string
		missing []string
		unsure  []string
	}{
		{name: "complete", access: "admin", hook: public + "/webhooks/github/github", repos: "[acme/app]"},
		{name: "no webhook", access: "admin", repos: "[acme/app]",
			missing: []string{"repository acme/app: no active webhook to the gateway: in the repository's (or acme's) Settings → Webhooks, payload URL https://gw.example.org/webhooks/github/github"}},
		{name: "webhook to another gateway", access: "admin", hook: "https://old.example.org/webhooks/github/github", repos: "[acme/app]",
			missing: []string{"repository acme/app: no active webhook to the gateway"}},
		{name: "write access cannot list hooks", access: "write", hook: public + "/webhooks/github/github", repos: "[acme/app]",
			unsure: []string{"repository acme/app: cannot list its webhooks nor acme's (GET /repos/acme/app/hooks: 404"}},
		{name: "read only", access: "read", hook: public + "/webhooks/github/github", repos: "[acme/app]",
			missing: []string{"repository acme/app: the credentials may read it but not write"}, unsure: []string{"cannot list its webhooks"}},
		{name: "classic token with repo", access: "admin", scopes: []string{"repo", "read:org"}, hook: public + "/webhooks/github/github", repos: "[acme/app]"},
		{name: "classic token without repo", access: "admin", scopes: []string{"read:org", "gist"}, hook: public + "/webhooks/github/github", repos: "[acme/app, acme/lib]",
			missing: []string{`the token (classic) has the scopes "read:org, gist"; it needs repo (or public_repo`}},
		{name: "repository not there", access: "admin", hook: public + "/webhooks/github/github", repos: "[acme/app, acme/gone]",
			missing: []string{"repository acme/gone: not found, or the credentials cannot see it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []fake.Option{fake.WithRepoAccess(tc.access)}
			if tc.scopes != nil {
				opts = append(opts, fake.WithScopes(tc.scopes...))
			}
			h := newHarness(t, "repos: "+tc.repos+"\n", opts...)
			for _, repo := range []string{"acme/app", "acme/lib"} {
				if err := h.gh.AddRepo(repo); err != nil {
					t.Fatal(err)
				}
			}
			h.gh.SetWebhook(tc.hook, testSecret)
			r := h.c.CheckSite(ctx(t), nil, public)
			connectortest.SiteReport(t, r, tc.missing, tc.unsure)
		})
	}
}

// TestHookProblem_NamesWhatIsWrong: a hook to the gateway that sends form
// data or lacks events is named; "*" is every event.
func TestHookProblem_NamesWhatIsWrong(t *testing.T) {
	hook := func(ct string, events ...string) wireHook {
		h := wireHook{ID: 7, Active: true, Events: events}
		h.Config.URL, h.Config.ContentType = "https://gw.example.org/webhooks/github/github", ct
		return h
	}
	for _, tc := range []struct {
		hook wireHook
		want string
	}{
		{hook("json", "*"), ""},
		{hook("json", hookEvents...), ""},
		{hook("form", "*"), "webhook 7 sends form, not JSON"},
		{hook("json", "pull_request", "push"), "webhook 7 lacks the events issue_comment, pull_request_review"},
	} {
		if got := hookProblem([]wireHook{tc.hook}, "https://gw.example.org", "github"); got != tc.want {
			t.Errorf("hookProblem(%+v) = %q, want %q", tc.hook, got, tc.want)
		}
	}
}

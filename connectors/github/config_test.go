package github

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/github/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
)

// TestConfig_Errors: every problem is reported, at once, naming the key.
func TestConfig_Errors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	_ = os.WriteFile(key, []byte("not a key"), 0o600)
	cases := []struct {
		name string
		cfg  string
		want []string // substrings of the error, all required
	}{
		{"webhooks without secret fail closed", "token_env: GH_TOKEN\nrepos: [a/b]\n", []string{"webhooks are on but no secret"}},
		{"no credentials", "webhooks: false\nrepos: [a/b]\n", []string{"no credentials"}},
		{"empty env", "token_env: NOPE\nwebhooks: false\nrepos: [a/b]\n", []string{`token_env: environment variable "NOPE" is empty`}},
		{"token and app", "token_env: GH_TOKEN\napp_id: 1\ninstallation_id: 2\nprivate_key_file: " + key + "\nwebhooks: false\nrepos: [a/b]\n", []string{"choose a token or a GitHub App"}},
		{"app incomplete", "app_id: 1\nwebhooks: false\nrepos: [a/b]\n", []string{"needs app_id, installation_id and private_key_file"}},
		{"no repos", "token_env: GH_TOKEN\nwebhooks: false\n", []string{"repos: list at least one"}},
		{"bad repo and duplicate", "token_env: GH_TOKEN\nwebhooks: false\nrepos: [a/b, A/B, nope]\n", []string{`"A/B" listed twice`, `"nope" is not owner/name`}},
		{"bad hook", "token_env: GH_TOKEN\nwebhooks: false\nrepos: [a/b]\nhook_id: {a/b/c: 1, x: 0}\n", []string{`hook_id "a/b/c"`, `hook_id "x": 0`}},
		{"bad durations", "token_env: GH_TOKEN\nwebhooks: false\nrepos: [a/b]\npoll_interval: soon\nredeliver_interval: 1ms\n", []string{`poll_interval "soon"`, `redeliver_interval "1ms"`}},
		{"bad base url", "base_url: ftp://x\ntoken_env: GH_TOKEN\nwebhooks: false\nrepos: [a/b]\n", []string{`base_url "ftp://x"`}},
		{"unknown key", "token_env: GH_TOKEN\nwebhooks: false\nrepos: [a/b]\nrepo: a/b\n", []string{"repo"}},
		{"unknown association", "token_env: GH_TOKEN\nwebhooks: false\nrepos: [a/b]\ntrusted_authors: [OWNER, STRANGER]\n", []string{`trusted_authors: "STRANGER" is not an author association`}},
		{"trust for another repo", "token_env: GH_TOKEN\nwebhooks: false\nrepos: [a/b]\ntrusted_authors_by_repo: {c/d: [OWNER]}\n", []string{`trusted_authors_by_repo: "c/d" is not one of repos`}},
		{"both secret sources", "token_env: GH_TOKEN\nwebhook_secret_env: GH_SECRET\nwebhook_secret_file: /x\nrepos: [a/b]\n", []string{"webhook_secret_env and webhook_secret_file are both set"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(setup("github", c.cfg, new(clock.Manual), &bytes.Buffer{}))
			if err == nil {
				t.Fatal("config accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error %q carries a secret", err)
			}
		})
	}
}

// TestConfig_Registered: the factory is registered as "github" and a
// minimal config works, with the defaults documented.
func TestConfig_Registered(t *testing.T) {
	f, ok := core.Lookup("github")
	if !ok {
		t.Fatal(`"github" is not registered`)
	}
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	_ = os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600)
	c, err := f(setup("gh-main", "token_env: GH_TOKEN\nwebhook_secret_file: "+secretFile+"\nrepos: [acme/kbot]\n", new(clock.Manual), &bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	g := c.(*Connector)
	if g.Name() != "gh-main" || g.PollInterval() != 5*time.Minute || g.set.redeliverInterval != 10*time.Minute ||
		g.set.statusContext != "liaison" || g.gh.BaseURL.String() != "https://api.github.com/" || g.set.secret.Reveal() != testSecret {
		t.Fatalf("defaults: %s %v %v %q %s", g.Name(), g.PollInterval(), g.set.redeliverInterval, g.set.statusContext, g.gh.BaseURL)
	}
	if fmt.Sprintf("%v %+v", g.set.token, *g.set) == "" || strings.Contains(fmt.Sprintf("%v %+v %#v", g.set.token, *g.set, g.set.secret), testToken) {
		t.Fatal("settings print the token")
	}
	if r := g.prRef("acme/kbot", 341); r.String() != "gh-main/pull_request/acme/kbot#341" {
		t.Fatalf("ref %s", r)
	}
	if _, _, _, err := g.parsePRRef(core.Ref{System: "gh-main", Kind: core.PullRequest, ID: "acme/kbot#x"}); err == nil {
		t.Fatal("a malformed ref was accepted")
	}
}

// TestGitHubApp_InstallationToken: with app_id, the connector signs a JWT
// with the private key, gets an installation token from base_url and uses
// it for API calls.
func TestGitHubApp_InstallationToken(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(t.TempDir(), "app.pem")
	_ = os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)

	h := newHarness(t, "repos: [acme/kbot]\n", fake.WithToken("only-installation-tokens"))
	h.clock.Set(time.Now()) // ghinstallation judges expiry by the wall clock
	h.gh.SetWebhook("", "")
	if _, err := h.gh.OpenPR("acme/kbot", "KBOT-5", "", "k5"); err != nil {
		t.Fatal(err)
	}
	h.gh.ResetCalls()
	c := h.connector(fmt.Sprintf("base_url: %s/api/v3\napp_id: 42\ninstallation_id: 7\nprivate_key_file: %s\nwebhooks: false\nrepos: [acme/kbot]\n", h.api.URL, pemFile))
	for range 2 {
		if _, err := c.Fetch(ctx(t), c.prRef("acme/kbot", 1)); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
	}
	want := []string{
		"POST /app/installations/7/access_tokens",
		"GET /repos/acme/kbot/pulls/1",
		"GET /repos/acme/kbot/pulls/1/commits?per_page=100&page=1",
		"GET /repos/acme/kbot/issues/1/comments?per_page=100&page=1",
		// The token is reused; the commits are known for this head sha.
		"GET /repos/acme/kbot/pulls/1",
		"GET /repos/acme/kbot/issues/1/comments?per_page=100&page=1",
	}
	if got := h.calls(); !slices.Equal(got, want) {
		t.Fatalf("calls\n%q\nwant\n%q", got, want)
	}

	_ = os.WriteFile(pemFile, []byte("garbage"), 0o600)
	if _, err := New(setup("github", fmt.Sprintf("app_id: 42\ninstallation_id: 7\nprivate_key_file: %s\nwebhooks: false\nrepos: [a/b]\n", pemFile), new(clock.Manual), &bytes.Buffer{})); err == nil {
		t.Fatal("a bad private key was accepted")
	}
}

// TestCheckMappings: only pull_request with GitHub's statuses.
func TestCheckMappings(t *testing.T) {
	h := newHarness(t, "repos: [acme/kbot]\n")
	m := &core.Mappings{Systems: map[string]*core.SystemMap{
		"github": {Name: "github", Connector: "github", Pos: core.Pos{File: "github.yaml", Line: 3, Col: 3}, Kinds: map[core.Kind]*core.KindMap{
			core.PullRequest: {Statuses: map[string]core.Status{"open": core.StatusInReview, "merged": core.StatusReadyForQA, "approved": core.StatusDone}},
			core.DevTicket:   {},
		}},
	}}
	err := h.c.CheckMappings(ctx(t), m)
	if err == nil || !strings.Contains(err.Error(), `github.yaml:3:3: github "github": unknown pull request status "approved"`) || !strings.Contains(err.Error(), `not "dev_ticket"`) {
		t.Fatalf("CheckMappings: %v", err)
	}
	delete(m.Systems["github"].Kinds, core.DevTicket)
	delete(m.Systems["github"].Kinds[core.PullRequest].Statuses, "approved")
	if err := h.c.CheckMappings(ctx(t), m); err != nil {
		t.Fatalf("valid mappings refused: %v", err)
	}
	if err := h.c.CheckMappings(ctx(t), &core.Mappings{}); err != nil || errors.Is(err, core.ErrNotFound) {
		t.Fatalf("no github section: %v", err)
	}
}

package github

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/connectortest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// A redirect to another host is followed without the token.
func TestCredentials_NotSentAcrossHostsOnRedirect(t *testing.T) {
	connectortest.CredentialsStayHome(t, core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/app#1"}, func(api string) (core.Fetcher, error) {
		return newConnector(setup("github", "base_url: "+api+"\ntoken_env: GH_TOKEN\nwebhook_secret_env: GH_SECRET\nrepos: [acme/app]\n",
			clock.NewManual(time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)), io.Discard), retryhttp.Options{RetryMax: -1})
	})
}

// An http:// base URL is refused for a host other than loopback, unless
// insecure_http says the admin means it.
func TestConfig_PlainHTTPRefusedOffLoopback(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"base_url: http://ghe.acme.example/api/v3\n", `base_url "http://ghe.acme.example/api/v3/": plain http would send the credentials in clear`},
		{"base_url: http://ghe.acme.example/api/v3\ninsecure_http: true\n", ""},
		{"base_url: http://localhost:9/api/v3\n", ""},
	} {
		_, err := newConnector(setup("github", tc.cfg+"token_env: GH_TOKEN\nwebhook_secret_env: GH_SECRET\nrepos: [acme/app]\n", nil, io.Discard), retryhttp.Options{})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: error %v; want %q", tc.cfg, err, tc.want)
		}
	}
}

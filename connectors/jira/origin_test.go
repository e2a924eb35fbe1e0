package jira

import (
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/connectortest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// A redirect to another host is followed without the credentials, for
// both the Basic (cloud) and the Bearer (data center) forms.
func TestCredentials_NotSentAcrossHostsOnRedirect(t *testing.T) {
	for _, cloud := range []bool{true, false} {
		t.Run(map[bool]string{true: "cloud", false: "data center"}[cloud], func(t *testing.T) {
			connectortest.CredentialsStayHome(t, core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-1"}, func(api string) (core.Fetcher, error) {
				cfg := testConfig(api, cloud)
				return newConnector(core.Setup{Name: "jira", Decode: func(v any) error { *v.(*Config) = cfg; return nil }, Env: testEnv},
					retryhttp.Options{RetryMax: -1, MinWait: time.Millisecond, MaxWait: time.Millisecond})
			})
		})
	}
}

// An http:// base URL is refused for a host other than loopback, unless
// insecure_http says the admin means it.
func TestConfig_PlainHTTPRefusedOffLoopback(t *testing.T) {
	base := "email: bot@acme.example\ntoken_env: JIRA_TOKEN\nwebhook_secret_env: JIRA_HOOK\nprojects: {dev: [KBOT], change: DO}\n"
	env := map[string]string{"JIRA_TOKEN": "t", "JIRA_HOOK": "h"}
	for _, tc := range []struct{ src, want string }{
		{"base_url: http://jira.acme.example\n", `base_url "http://jira.acme.example": plain http would send the credentials in clear`},
		{"base_url: http://jira.acme.example\ninsecure_http: true\n", ""},
		{"base_url: http://127.0.0.1:8080\n", ""},
		{"base_url: http://[::1]:8080\n", ""},
		{"base_url: https://jira.acme.example\n", ""},
	} {
		_, err := New(yamlSetup(tc.src+base, env))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: error %v; want %q", tc.src, err, tc.want)
		}
	}
}

package zendesk

import (
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/connectors/connectortest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// A redirect to another host is followed without the credentials.
func TestCredentials_NotSentAcrossHostsOnRedirect(t *testing.T) {
	vars := map[string]string{"T": testToken, "S": testSecret}
	connectortest.CredentialsStayHome(t, core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "1"}, func(api string) (core.Fetcher, error) {
		return newConnector(core.Setup{Name: "zendesk", Env: func(k string) string { return vars[k] }},
			Config{BaseURL: api, Email: testEmail, TokenEnv: "T", WebhookSecretEnv: "S"}, retryhttp.Options{RetryMax: -1})
	})
}

// An http:// base URL is refused for a host other than loopback, unless
// insecure_http says the admin means it.
func TestConfig_PlainHTTPRefusedOffLoopback(t *testing.T) {
	vars := map[string]string{"T": testToken, "S": testSecret}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{BaseURL: "http://help.acme.example"}, `base_url "http://help.acme.example": plain http would send the credentials in clear`},
		{Config{BaseURL: "http://help.acme.example", InsecureHTTP: true}, ""},
		{Config{BaseURL: "http://127.0.0.1:9"}, ""},
	} {
		cfg := tc.cfg
		cfg.Email, cfg.TokenEnv, cfg.WebhookSecretEnv = testEmail, "T", "S"
		_, err := newConnector(core.Setup{Name: "zendesk", Env: func(k string) string { return vars[k] }}, cfg, retryhttp.Options{})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: error %v; want %q", tc.cfg.BaseURL, err, tc.want)
		}
	}
}

package mantis

import (
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/connectortest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// A redirect to another host is followed without the token.
func TestToken_NotSentAcrossHostsOnRedirect(t *testing.T) {
	connectortest.CredentialsStayHome(t, core.Ref{System: "mantis", Kind: core.DevTicket, ID: "1"}, func(api string) (core.Fetcher, error) {
		cfg := Config{BaseURL: api, TokenEnv: "MANTIS_TOKEN", Projects: Projects{Dev: []string{projBugs}}}
		return newConnector(core.Setup{Name: "mantis", Decode: func(v any) error { *v.(*Config) = cfg; return nil }, Env: testEnv},
			retryhttp.Options{RetryMax: -1, MinWait: time.Millisecond, MaxWait: time.Millisecond})
	})
}

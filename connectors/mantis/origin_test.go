package mantis

import (
	"context"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/httpfake"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// A redirect to another host is followed without the token.
func TestToken_NotSentAcrossHostsOnRedirect(t *testing.T) {
	for _, host := range httpfake.RedirectHosts {
		r := httpfake.NewRedirect(t, host)
		cfg := Config{BaseURL: r.API, TokenEnv: "MANTIS_TOKEN", Projects: Projects{Dev: []string{projBugs}}}
		conn, err := newConnector(core.Setup{Name: "mantis", Decode: func(v any) error { *v.(*Config) = cfg; return nil }, Env: testEnv},
			retryhttp.Options{RetryMax: -1, MinWait: time.Millisecond, MaxWait: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Fetch(context.Background(), core.Ref{System: "mantis", Kind: core.DevTicket, ID: "1"})
		if p := r.Problem(); p != "" {
			t.Errorf("other host %s: %s", host, p)
		}
	}
}

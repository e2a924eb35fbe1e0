package connectortest

import (
	"context"
	"testing"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/httpfake"
)

// CredentialsStayHome reads ref through a connector that open builds on
// an API redirecting every request to another host, once for each of
// httpfake.RedirectHosts, and fails t if the API got no credentials or
// the other host got them.
func CredentialsStayHome(t *testing.T, ref core.Ref, open func(api string) (core.Fetcher, error)) {
	t.Helper()
	for _, other := range httpfake.RedirectHosts {
		r := httpfake.NewRedirect(t, other)
		c, err := open(r.API)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Fetch(context.Background(), ref)
		if p := r.Problem(); p != "" {
			t.Errorf("other host %s: %s", other, p)
		}
	}
}

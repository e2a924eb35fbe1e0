package retryhttp

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// SameOrigin reports whether u has base's scheme, host and port: the only
// place a connector's credentials may go.
func SameOrigin(base, u *url.URL) bool {
	return strings.EqualFold(base.Scheme, u.Scheme) && strings.EqualFold(base.Hostname(), u.Hostname()) &&
		portOf(base) == portOf(u)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// ForOrigin sends the requests for base's origin through authed, which
// adds credentials, and every other request through plain. A connector's
// API client follows redirects, and a transport that adds credentials sees
// each hop as a new request: net/http strips Authorization from a
// cross-host redirect only when the header was on the original request.
// Under ForOrigin, a redirect to another host goes without credentials.
func ForOrigin(base *url.URL, authed, plain http.RoundTripper) http.RoundTripper {
	return &originGuard{base: base, authed: authed, plain: plain}
}

type originGuard struct {
	base          *url.URL
	authed, plain http.RoundTripper
}

func (g *originGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if SameOrigin(g.base, r.URL) {
		return g.authed.RoundTrip(r)
	}
	if r.Header.Get("Authorization") != "" {
		r = r.Clone(r.Context())
		r.Header.Del("Authorization")
	}
	return g.plain.RoundTrip(r)
}

// CheckBaseURL refuses a plain-http API address for a host other than
// loopback, where the token would cross the network in clear, unless the
// connector's config says insecure_http: true.
func CheckBaseURL(u *url.URL, insecureHTTP bool) error {
	if !strings.EqualFold(u.Scheme, "http") || insecureHTTP || loopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("base_url %q: plain http would send the credentials in clear to %s; use https, or set insecure_http: true", u.Redacted(), u.Hostname())
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package httpfake

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
)

// Redirect is an API that redirects every request to another host, and
// that host, which keeps the Authorization header of each request it gets:
// what a test of "credentials never follow a redirect to another host"
// needs.
type Redirect struct {
	// API is the base URL to configure (http://127.0.0.1:port).
	API string
	// AtAPI and Elsewhere hold the Authorization each host received, one
	// entry per request ("" when it carried none).
	AtAPI, Elsewhere Recorder[string]
}

// RedirectHosts name the other host two ways: by another host name
// (localhost, where the API is 127.0.0.1), and by the same name on another
// port, which net/http treats as the same host when it decides whether a
// redirect keeps Authorization.
var RedirectHosts = []string{"localhost", "127.0.0.1"}

// NewRedirect starts both servers on loopback, the other one named
// otherHost (one of RedirectHosts); they stop when the test ends.
func NewRedirect(t interface{ Cleanup(func()) }, otherHost string) *Redirect {
	r := &Redirect{}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Elsewhere.Record(req.Header.Get("Authorization"))
		http.Error(w, `{"error":"gone"}`, http.StatusNotFound)
	}))
	t.Cleanup(other.Close)
	otherURL := strings.Replace(other.URL, "127.0.0.1", otherHost, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.AtAPI.Record(req.Header.Get("Authorization"))
		http.Redirect(w, req, otherURL+req.URL.RequestURI(), http.StatusFound)
	}))
	t.Cleanup(api.Close)
	r.API = api.URL
	return r
}

// Problem says what went wrong in a test of credentials and redirects, or
// returns "": the API must have received credentials, and the redirect
// must have been followed without them.
func (r *Redirect) Problem() string {
	at, elsewhere := r.AtAPI.All(), r.Elsewhere.All()
	switch {
	case len(at) == 0 || at[0] == "":
		return fmt.Sprintf("the API received Authorization %q; want the credentials there", at)
	case len(elsewhere) == 0:
		return "the redirect was not followed"
	}
	for _, h := range elsewhere {
		if h != "" {
			return fmt.Sprintf("the other host received Authorization %q", h)
		}
	}
	return ""
}

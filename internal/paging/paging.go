// Package paging holds what the on-call connectors (connectors/opsgenie,
// connectors/pagerduty) share: where they may send a page, the guarded
// retrying client they send it with, and how an answer is classified for
// the outbox.
//
// A page goes to the vendor's API hosts, named in the connector, and
// nowhere else: a configured url on another host is refused unless the
// connector's allow list names it (a test fake, the sandbox, a relay in
// the team's network). Every connection is checked at dial time by the
// webhook guard (internal/notify), so a name that resolves to a private
// address is refused all the same, and redirects are never followed: the
// APIs do not redirect, and a redirect would carry the key elsewhere.
package paging

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/notify"
	"github.com/liaisonhq/liaison/internal/retryhttp"
	"github.com/liaisonhq/liaison/internal/secret"
)

// Vendor is what the on-call connectors differ by when an instance is
// set up: the name of its credential's config key, what that credential
// is, and the vendor's API host in each region.
type Vendor struct {
	Name    string            // the connector kind, which starts its errors: "opsgenie"
	Key     string            // the credential's config key: "api_key" (api_key_env, api_key_file)
	KeyHelp string            // what the credential is and where an admin finds it
	Regions map[string]string // region → API host; "us" when the config names none
}

// Account is an instance's configuration of where its pages go.
type Account struct {
	KeyEnv, KeyFile string
	Region, URL     string
	Allow           []string
}

// Open reads an instance's credential (required) and builds the endpoint its
// pages go through. Errors start with the vendor and instance and never
// hold the credential.
func (v Vendor) Open(s core.Setup, a Account, ro retryhttp.Options) (core.Secret, *Endpoint, error) {
	fail := func(err error) (core.Secret, *Endpoint, error) {
		return "", nil, fmt.Errorf("%s %q: config: %w", v.Name, s.Name, err)
	}
	key, err := secret.Read(s.Env, v.Key, a.KeyEnv, a.KeyFile)
	if err != nil {
		return fail(err)
	}
	if key == "" {
		return fail(fmt.Errorf("%s_env or %s_file is required (%s)", v.Key, v.Key, v.KeyHelp))
	}
	host, ok := v.Regions[strings.ToLower(cmp.Or(a.Region, "us"))]
	if !ok {
		return fail(fmt.Errorf("region %q: want %s", a.Region, strings.Join(slices.Sorted(maps.Keys(v.Regions)), " or ")))
	}
	api, err := NewEndpoint(EndpointConfig{URL: a.URL, Default: "https://" + host,
		Vendor: slices.Sorted(maps.Values(v.Regions)), Allow: a.Allow, Key: key, Retry: ro})
	if err != nil {
		return fail(err)
	}
	return key, api, nil
}

// Priority is the vendor's spelling of the priority a rule gave a page
// (field, compared without case), def when it gave none; a priority the
// vendor does not have is an error, for a permanent failure before any
// request.
func (v Vendor) Priority(field, def string, known []string) (string, error) {
	p := strings.TrimSpace(field)
	if p == "" {
		return def, nil
	}
	i := slices.IndexFunc(known, func(k string) bool { return strings.EqualFold(k, p) })
	if i < 0 {
		return "", fmt.Errorf("priority %q: %s knows %s", field, v.Name, strings.Join(known, ", "))
	}
	return known[i], nil
}

// Endpoint is one vendor API base URL with the client that reaches it.
type Endpoint struct {
	base *url.URL
	hc   *http.Client
	// key is scrubbed from whatever the vendor answers before it reaches
	// an error message.
	key core.Secret
}

// EndpointConfig says where an Endpoint may send.
type EndpointConfig struct {
	// URL is the configured base URL; empty means Default.
	URL string
	// Default is the vendor's base URL for the configured region.
	Default string
	// Vendor lists the host names the vendor's API is served from.
	Vendor []string
	// Allow is the connector's allow list (notify.ParseAllow's syntax):
	// what a URL off the vendor's hosts may reach.
	Allow []string
	// Key is the credential, scrubbed from the vendor's answers.
	Key core.Secret
	// Retry tunes the retrying client (tests shorten its waits).
	Retry retryhttp.Options
}

// NewEndpoint checks the URL against the vendor's hosts and the allow list
// and builds the guarded client.
func NewEndpoint(c EndpointConfig) (*Endpoint, error) {
	g, err := notify.ParseAllow(c.Allow)
	if err != nil {
		return nil, fmt.Errorf("allow: %w", err)
	}
	raw := c.URL
	if raw == "" {
		raw = c.Default
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("url %q: want an https URL such as %s", notify.Redact(raw), c.Default)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("url %s: must not carry credentials, a query or a fragment", notify.Redact(raw))
	}
	host := strings.ToLower(u.Hostname())
	vendor := slices.Contains(c.Vendor, host)
	if !vendor && !g.Permits(host) {
		return nil, fmt.Errorf("url %s: host %q is not one of the vendor's API hosts (%s); list it under allow to send pages there", notify.Redact(raw), host, strings.Join(c.Vendor, ", "))
	}
	if u.Scheme != "https" && !g.Permits(host) {
		return nil, fmt.Errorf("url %s: plain http would send the key in clear; use https", notify.Redact(raw))
	}
	ro := c.Retry
	timeout := ro.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if ro.Transport == nil {
		ro.Transport = g.Transport(timeout)
	}
	// A 307 would re-send the body, which carries PagerDuty's routing key,
	// to wherever it points: a redirect is the answer, and Classify makes
	// it a permanent error.
	ro.NoRedirect = true
	return &Endpoint{base: u, hc: retryhttp.New(ro), key: c.Key}, nil
}

// Host is the endpoint's scheme and host, for logs and the setup guide.
func (e *Endpoint) Host() string { return e.base.Scheme + "://" + e.base.Host }

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 1 << 20

// Call sends one request with a JSON body (none when body is nil) and
// decodes a 2xx answer into out (when non-nil). header carries the
// credential when the API wants it there. It returns the status of the
// answer, and an error the outbox understands (retryhttp.Classify): 429 and
// 5xx are retried later with the server's wait, other statuses are
// permanent, and a request that may have reached the vendor without an
// answer is uncertain. A write answered 2xx succeeds even when its body
// does not decode (out is then left as it was). Errors name the method
// and path, never the key.
func (e *Endpoint) Call(ctx context.Context, method, path string, query url.Values, header http.Header, body, out any) (int, error) {
	u := *e.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, core.Permanent(fmt.Errorf("encode %s %s: %w", method, path, err))
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, core.Permanent(fmt.Errorf("%s %s: cannot build the request", method, path))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "liaison")
	resp, err := e.hc.Do(req)
	if err != nil {
		var ref *notify.RefusedError
		if errors.As(err, &ref) {
			return 0, core.Permanent(fmt.Errorf("%s %s: %w", method, path, ref))
		}
		return 0, fmt.Errorf("%s %s: %w", method, path, retryhttp.Classify(nil, err, ""))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil && resp.StatusCode/100 == 2 {
		// The vendor answered 2xx: the write was taken, whatever the rest of
		// the body says.
		b = nil
	}
	if cerr := retryhttp.Classify(resp, nil, e.detail(b)); cerr != nil {
		return resp.StatusCode, cerr
	}
	if out != nil && len(b) > 0 {
		// A write the vendor answered 2xx was taken, whatever its body
		// says: failing it would leave a raised page unrecorded, to be
		// raised again. A read that does not decode has told nothing.
		if err := json.Unmarshal(b, out); err != nil && method == http.MethodGet {
			return resp.StatusCode, core.Permanent(fmt.Errorf("%s %s: answer is not the documented JSON: %w", method, path, err))
		}
	}
	return resp.StatusCode, nil
}

// detail is the vendor's own word on a refused request (OpsGenie's
// "message", PagerDuty's "message" and "errors"), shortened, with the key
// taken out should the vendor ever repeat it.
func (e *Endpoint) detail(b []byte) string {
	var v struct {
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	s := strings.Join(append([]string{v.Message}, v.Errors...), "; ")
	s = strings.Trim(s, "; ")
	if k := e.key.Reveal(); k != "" {
		s = strings.ReplaceAll(s, k, core.Secret("").String())
	}
	return core.Clip(s, 200)
}

// Use is what the mappings in force do with one paging system: the rules
// that raise a page (with the priority each gives, as written) and those
// that close one, for its setup guide.
type Use struct {
	Raise []string // "P1 (rule page-urgent-escalation)"
	Close []string // "rule page-resolved"
}

// Raised lists the priorities pages are raised at, with their rules, or
// says none.
func (u Use) Raised() string { return orNone(u.Raise) }

// Closed lists the rules that close pages, or says none.
func (u Use) Closed() string { return orNone(u.Close) }

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// UseOf reads the rules' actions on system's pages.
func UseOf(system string, m *core.Mappings) Use {
	var u Use
	for _, r := range m.Rules {
		for _, a := range r.Then {
			if a.Target.System != system || a.Target.Kind != core.Page {
				continue
			}
			switch a.Kind {
			case core.Create:
				prio := "the default priority"
				if t := a.Fields["priority"]; t != nil {
					prio = t.Source
				}
				u.Raise = append(u.Raise, fmt.Sprintf("%s (rule %s)", prio, r.Name))
			case core.Transition:
				u.Close = append(u.Close, "rule "+r.Name)
			}
		}
	}
	return u
}

// CheckNames lists what the mappings name for system's pages that the
// vendor does not have: native statuses other than statuses, native
// priorities other than priorities, and a priority a rule writes as it
// stands (no template) that is not one of them. The connectors' start-up
// check (core.MappingChecker) reports them, so a typo fails at start, not
// when someone must be paged.
func CheckNames(system string, m *core.Mappings, statuses, priorities []string) []string {
	km := m.Kind(system, core.Page)
	if km == nil {
		return nil
	}
	var bad []string
	for _, s := range km.Listed {
		if !slices.Contains(statuses, strings.ToLower(s)) {
			bad = append(bad, fmt.Sprintf("page status %q is not one the vendor has (known: %s)", s, strings.Join(statuses, ", ")))
		}
	}
	// Priorities are keyed in lower case, as the mappings compare them.
	for _, p := range slices.Sorted(maps.Keys(km.Priorities)) {
		if !slices.ContainsFunc(priorities, func(q string) bool { return strings.EqualFold(p, q) }) {
			bad = append(bad, fmt.Sprintf("page priority %q is not one the vendor has (known: %s)", p, strings.Join(priorities, ", ")))
		}
	}
	for _, r := range m.Rules {
		for _, a := range r.Then {
			t := a.Fields["priority"]
			if a.Target.System != system || a.Target.Kind != core.Page || t == nil || strings.Contains(t.Source, "{{") {
				continue
			}
			if !slices.ContainsFunc(priorities, func(q string) bool { return strings.EqualFold(t.Source, q) }) {
				bad = append(bad, fmt.Sprintf("%s: rule %q: priority %q is not one the vendor has (known: %s)", t.Pos, r.Name, t.Source, strings.Join(priorities, ", ")))
			}
		}
	}
	return bad
}

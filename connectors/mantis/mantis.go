// Package mantis connects Liaison to a MantisBT 2.x installation through its
// REST API (/api/rest): developer tickets and, optionally, change tickets
// kept as Mantis issues in named projects.
//
// MantisBT sends no webhooks, so the connector polls: the issue list comes
// newest-updated first, and a poll pages through it until it is past the
// stored cursor (less an overlap). It fetches single issues and applies the
// gateway's actions: create an issue (project, category, summary,
// description, priority, severity, reproducibility, handler, custom
// fields), change its status (and resolution), add a public or private
// note, set fields, and relate it to another issue. Every request goes
// through retryhttp; the API token travels in the Authorization header.
//
// Configuration (snake_case YAML, decoded strictly):
//
//	base_url: https://mantis.acme.example  # required: the installation, without /api/rest
//	token_env: MANTIS_TOKEN                # or token_file: an API token of the gateway's Mantis user
//	projects:                              # Mantis project names holding each kind
//	  dev: [Bugs InBox, Change InBox, Support Misc]
//	  change: DevOps                       # optional
//	marker_field: Liaison marker           # the custom field holding the creation marker
//	resolutions: {resolved: fixed, closed: fixed} # resolution written with a move to these statuses
//	poll_interval: 1m                      # how often the engine polls (default 1m)
//	poll_overlap: 2m                       # re-read window below the cursor (default 2m)
//	page_size: 50                          # issues per page (max 100)
//	marker_lookup_pages: 10                # pages of the API user's reported issues searched for a marker
//	insecure_http: false                   # allow an http:// base_url off loopback (token in clear)
//
// Reserved action fields (Action.Fields keys, besides custom field names):
// project, category, priority, severity, reproducibility, handler (a
// Mantis user name), view_state (public | private), steps_to_reproduce,
// additional_information, resolution.
package mantis

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
	"github.com/liaisonhq/liaison/internal/secret"
)

func init() { core.Register("mantis", New) }

// Config is the connector's configuration section.
type Config struct {
	BaseURL           string            `yaml:"base_url" json:"base_url"`
	TokenEnv          string            `yaml:"token_env" json:"token_env"`
	TokenFile         string            `yaml:"token_file" json:"token_file"`
	Projects          Projects          `yaml:"projects" json:"projects"`
	MarkerField       string            `yaml:"marker_field" json:"marker_field"`
	Resolutions       map[string]string `yaml:"resolutions" json:"resolutions"`
	PollInterval      time.Duration     `yaml:"poll_interval" json:"poll_interval"`
	PollOverlap       time.Duration     `yaml:"poll_overlap" json:"poll_overlap"`
	PageSize          int               `yaml:"page_size" json:"page_size"`
	MarkerLookupPages int               `yaml:"marker_lookup_pages" json:"marker_lookup_pages"`
	// InsecureHTTP allows an http:// base_url for a host other than
	// loopback, where the token would cross the network in clear.
	InsecureHTTP bool `yaml:"insecure_http" json:"insecure_http"`
}

// Projects says which Mantis projects (by name) hold which kind of record.
type Projects struct {
	Dev    []string `yaml:"dev" json:"dev"`
	Change string   `yaml:"change" json:"change"`
}

// Defaults.
const (
	defaultPollInterval = time.Minute
	defaultPollOverlap  = 2 * time.Minute
	defaultPageSize     = 50
	defaultLookupPages  = 10
	defaultMarkerField  = "Liaison marker"
)

// Connector is one configured MantisBT installation. Its methods are safe
// for concurrent use.
type Connector struct {
	name         string
	cfg          Config
	base         *url.URL
	token        *core.Secret // behind a pointer, so that printing a Connector never shows it
	log          *slog.Logger
	clock        core.Clock
	hc           *http.Client
	projects     []string               // as the config names them, developer projects first
	projectKind  map[string]core.Kind   // lower-cased project name → the kind it holds
	kindProjects map[core.Kind][]string // kind → its projects, as the config names them
	resolution   map[string]string      // lower-case status → resolution name

	cat     core.Catalogue[catalog]
	maps    atomic.Pointer[core.Mappings]
	kinds   issueKinds // issue id → kind, for relationships (whose far end carries no project)
	metrics *instanceMetrics
}

// String names the connector, for logs; its token never prints.
func (c *Connector) String() string { return fmt.Sprintf("mantis connector %q (%s)", c.name, c.base) }

// New builds a Mantis connector from its configuration section. It reads
// the token at once and fails on anything missing or inconsistent; it makes
// no request (names are resolved by CheckMappings, at start and on reload).
func New(s core.Setup) (core.Connector, error) {
	return newConnector(s, retryhttp.Options{})
}

// newConnector is New with the retrying client's options exposed, so that
// tests can shorten backoffs.
func newConnector(s core.Setup, ro retryhttp.Options) (*Connector, error) {
	var cfg Config
	if s.Decode != nil {
		if err := s.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("mantis %q: config: %w", s.Name, err)
		}
	}
	c := &Connector{
		name:  s.Name,
		cfg:   cfg,
		token: new(core.Secret),
		log:   cmp.Or(s.Log, slog.New(slog.DiscardHandler)),
		clock: cmp.Or[core.Clock](s.Clock, core.SystemClock{}),
	}
	// secret.Read falls back to the process environment when s.Env is nil.
	if err := c.configure(s.Env); err != nil {
		return nil, fmt.Errorf("mantis %q: config: %w", s.Name, err)
	}
	c.metrics = metricsFor(s.Name)
	plain := cmp.Or[http.RoundTripper](ro.Transport, retryhttp.NewTransport())
	ro.Transport = retryhttp.ForOrigin(c.base, &authTransport{base: plain, conn: c}, plain)
	c.hc = retryhttp.New(ro)
	return c, nil
}

func (c *Connector) configure(env func(string) string) error {
	cfg := &c.cfg
	if cfg.BaseURL == "" {
		return errors.New("base_url is required (the MantisBT installation, such as https://mantis.acme.example)")
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("base_url %q: want an http(s) URL", cfg.BaseURL)
	}
	if u.User != nil || u.RawQuery != "" {
		return errors.New("base_url must not carry credentials or a query; use token_env or token_file")
	}
	if err := retryhttp.CheckBaseURL(u, cfg.InsecureHTTP); err != nil {
		return err
	}
	u.Path = strings.TrimSuffix(u.Path, "/api/rest")
	c.base = u
	tok, err := secret.Read(env, "token", cfg.TokenEnv, cfg.TokenFile)
	if err != nil {
		return err
	}
	if tok == "" {
		return errors.New("token_env or token_file is required (an API token made under My Account → API Tokens)")
	}
	*c.token = tok
	c.projectKind = map[string]core.Kind{}
	c.kindProjects = map[core.Kind][]string{}
	add := func(key, p string, k core.Kind) error {
		p = strings.TrimSpace(p)
		if p == "" {
			return fmt.Errorf("%s: a project name is empty", key)
		}
		switch prev, dup := c.projectKind[strings.ToLower(p)]; {
		case dup && prev == k:
			return fmt.Errorf("%s: %q is listed twice", key, p)
		case dup:
			return fmt.Errorf("projects: %q holds both developer and change tickets; give change tickets their own project", p)
		}
		c.projectKind[strings.ToLower(p)] = k
		c.projects = append(c.projects, p)
		c.kindProjects[k] = append(c.kindProjects[k], p)
		return nil
	}
	for _, p := range cfg.Projects.Dev {
		if err := add("projects.dev", p, core.DevTicket); err != nil {
			return err
		}
	}
	if cfg.Projects.Change != "" {
		if err := add("projects.change", cfg.Projects.Change, core.ChangeTicket); err != nil {
			return err
		}
	}
	if len(c.projects) == 0 {
		return errors.New("projects: name at least one project, e.g. projects: {dev: [Bugs InBox]}")
	}
	if cfg.MarkerField == "" {
		cfg.MarkerField = defaultMarkerField
	}
	c.resolution = map[string]string{"resolved": "fixed", "closed": "fixed"}
	if cfg.Resolutions != nil {
		c.resolution = map[string]string{}
		for st, res := range cfg.Resolutions {
			c.resolution[strings.ToLower(st)] = res
		}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.PollOverlap == 0 {
		cfg.PollOverlap = defaultPollOverlap
	}
	if cfg.PollInterval < 0 || cfg.PollOverlap < 0 {
		return errors.New("poll_interval and poll_overlap must not be negative")
	}
	if cfg.PollOverlap < time.Second {
		// Mantis times have second precision: less would skip changes.
		return fmt.Errorf("poll_overlap %s: must be at least 1s, Mantis times have second precision", cfg.PollOverlap)
	}
	switch {
	case cfg.PageSize == 0:
		cfg.PageSize = defaultPageSize
	case cfg.PageSize < 1 || cfg.PageSize > 100:
		return fmt.Errorf("page_size %d: want 1 to 100", cfg.PageSize)
	}
	switch {
	case cfg.MarkerLookupPages == 0:
		cfg.MarkerLookupPages = defaultLookupPages
	case cfg.MarkerLookupPages < 1 || cfg.MarkerLookupPages > 100:
		return fmt.Errorf("marker_lookup_pages %d: want 1 to 100", cfg.MarkerLookupPages)
	}
	return nil
}

// Name implements core.Connector.
func (c *Connector) Name() string { return c.name }

// PollInterval is how often the engine should call Poll.
func (c *Connector) PollInterval() time.Duration { return c.cfg.PollInterval }

// kindOf returns the kind of record a project holds (names compare
// case-insensitively, as Mantis's do).
func (c *Connector) kindOf(project string) (core.Kind, bool) {
	k, ok := c.projectKind[strings.ToLower(project)]
	return k, ok
}

// projectsOf returns the projects holding kind k, as the config names them
// (not to be modified).
func (c *Connector) projectsOf(k core.Kind) []string { return c.kindProjects[k] }

func (c *Connector) viewURL(id int64) string {
	return c.base.String() + "/view.php?id=" + strconv.FormatInt(id, 10)
}

// issueID parses a Ref's id: a positive decimal issue number.
func issueID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatInt(n, 10) == s
}

// issueKinds remembers the kind of the issues the connector has read, so
// that a relationship (which names only the far issue's id) can be turned
// into a link with the right kind.
type issueKinds struct {
	mu sync.Mutex
	m  map[int64]core.Kind
}

// maxKinds bounds the remembered issues.
const maxKinds = 20000

func (k *issueKinds) remember(id int64, kind core.Kind) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= maxKinds {
		k.m = map[int64]core.Kind{}
	}
	k.m[id] = kind
}

func (k *issueKinds) lookup(id int64) (core.Kind, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	kind, ok := k.m[id]
	return kind, ok
}

// authTransport adds the token to every attempt and counts them. It sits
// under the retrying client so that each retry is authenticated, and
// behind retryhttp.ForOrigin so that a redirect to another host is not.
type authTransport struct {
	base http.RoundTripper
	conn *Connector
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	// The bare token is what every MantisBT 2.x accepts; "Bearer" only
	// the newest releases.
	r.Header.Set("Authorization", t.conn.token.Reveal())
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "liaison-mantis")
	resp, err := t.base.RoundTrip(r)
	t.conn.metrics.request(resp, err)
	return resp, err
}

// maxBody bounds a response body read from Mantis.
const maxBody = 16 << 20

// maxDetail bounds the part of Mantis's error message kept in an error.
const maxDetail = 300

// do sends one request to path (under /api/rest) and decodes a 2xx body
// with decode (when not nil). Failures come back classified
// (retryhttp.Classify): core.RetryAfter for 429, 5xx and transport errors,
// core.Permanent for other statuses, with Mantis's short error message but
// never the response body, the request body or the token.
func (c *Connector) do(ctx context.Context, method, path string, query url.Values, body any, decode func([]byte) error) error {
	u := c.base.String() + "/api/rest/" + strings.TrimLeft(path, "/")
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return core.Permanent(fmt.Errorf("building %s %s: %w", method, path, err))
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return core.Permanent(fmt.Errorf("building %s %s: %w", method, path, err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return retryhttp.Classify(nil, err, "")
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return retryhttp.Classify(resp, nil, errorDetail(resp))
	}
	if resp.StatusCode == http.StatusAccepted && method == http.MethodPost {
		// Mantis answers 202 when the write was held for moderation: it
		// exists nowhere yet, and retrying would queue it twice.
		return core.Permanent(fmt.Errorf("%s %s: held for moderation by Mantis; let the gateway's user skip moderation", method, path))
	}
	if decode == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return retryhttp.Classify(nil, err, "")
	}
	if len(b) > maxBody {
		return core.Permanent(fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxBody))
	}
	if err := decode(b); err != nil {
		// A 2xx whose body is not what the API documents.
		return core.RetryAfter(fmt.Errorf("%s %s: reading the answer: %w", method, path, err), 0)
	}
	return nil
}

// errorDetail extracts Mantis's error message: {"message": ..., "code": ...}.
func errorDetail(resp *http.Response) string {
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return ""
	}
	var ae struct {
		Message string `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&ae); err != nil {
		return ""
	}
	d := ae.Message
	if len(d) > maxDetail {
		d = strings.ToValidUTF8(d[:maxDetail], "") + "…" // never half a character
	}
	return d
}

func wrap(name, doing string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("mantis %q: %s: %w", name, doing, err)
}

// Interface guards.
var (
	_ core.Poller         = (*Connector)(nil)
	_ core.PollSince      = (*Connector)(nil)
	_ core.Fetcher        = (*Connector)(nil)
	_ core.Applier        = (*Connector)(nil)
	_ core.MarkerFinder   = (*Connector)(nil)
	_ core.AppliedChecker = (*Connector)(nil)
	_ core.MappingChecker = (*Connector)(nil)
)

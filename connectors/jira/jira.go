// Package jira connects Liaison to a Jira Cloud site or a Jira Data Center
// server: developer tickets (one or more projects) and DevOps change tickets
// (one project) served by the same instance.
//
// It receives Jira's webhooks (issue created, updated, deleted; comment
// created, updated, deleted), polls with JQL as the fallback and catch-up
// path, fetches single issues, and applies the gateway's actions: create an
// issue, transition it to a status by name (walking the workflow when the
// status is more than one step away), comment, set fields, and link it to
// other records. Every request goes through retryhttp over go-jira's client.
//
// Configuration (snake_case YAML, decoded strictly):
//
//	base_url: https://acme.atlassian.net   # required
//	insecure_http: false                   # allow an http:// base_url off loopback (token in clear)
//	deployment: cloud                      # cloud | datacenter; default from the host (*.atlassian.net is cloud)
//	email: bot@acme.example                # cloud: the account the API token belongs to
//	token_env: JIRA_TOKEN                  # or token_file: API token (cloud) or personal access token (datacenter)
//	webhook_secret_env: JIRA_HOOK_SECRET   # or webhook_secret_file; required unless webhooks: false
//	webhooks: true                         # default true
//	webhook_max_age: 1h                    # a signed delivery older than this is refused (replay)
//	projects: {dev: [KBOT], change: DO}    # which projects hold which kind
//	poll_interval: 1m                      # how often the engine polls (default 1m)
//	poll_overlap: 2m                       # JQL has minute precision and Cloud search is eventually consistent
//	page_size: 50                          # issues per search page (max 100)
//	timezone: Europe/Paris                 # the API user's Jira time zone; default: asked from /myself
//	internal_comments: property            # property | role:<name> | group:<name>
//	issue_link_type: Relates               # link type between a developer and a change ticket
//
// Reserved action fields (Action.Fields keys, besides native field names
// such as "Target resources" or "customfield_10010"): project, issue_type,
// priority, components (comma-separated), assignee (account id on Cloud,
// user name on Data Center). A value written to a custom text area
// (schema custom ...:textarea), which Jira shows as wiki markup, is escaped
// to read as written (internal/jirawiki); descriptions and comments arrive
// escaped already where a rule's template put values in them.
package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	jira "github.com/andygrunwald/go-jira"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
	"github.com/liaisonhq/liaison/internal/secret"
)

func init() { core.Register("jira", New) }

// Deployment kinds.
const (
	Cloud      = "cloud"
	DataCenter = "datacenter"
)

// Config is the connector's configuration section.
type Config struct {
	BaseURL           string   `yaml:"base_url" json:"base_url"`
	Deployment        string   `yaml:"deployment" json:"deployment"`
	Email             string   `yaml:"email" json:"email"`
	TokenEnv          string   `yaml:"token_env" json:"token_env"`
	TokenFile         string   `yaml:"token_file" json:"token_file"`
	WebhookSecretEnv  string   `yaml:"webhook_secret_env" json:"webhook_secret_env"`
	WebhookSecretFile string   `yaml:"webhook_secret_file" json:"webhook_secret_file"`
	Webhooks          *bool    `yaml:"webhooks" json:"webhooks"`
	WebhookMaxAge     Duration `yaml:"webhook_max_age" json:"webhook_max_age"`
	Projects          Projects `yaml:"projects" json:"projects"`
	PollInterval      Duration `yaml:"poll_interval" json:"poll_interval"`
	PollOverlap       Duration `yaml:"poll_overlap" json:"poll_overlap"`
	PageSize          int      `yaml:"page_size" json:"page_size"`
	Timezone          string   `yaml:"timezone" json:"timezone"`
	InternalComments  string   `yaml:"internal_comments" json:"internal_comments"`
	IssueLinkType     string   `yaml:"issue_link_type" json:"issue_link_type"`
	// InsecureHTTP allows an http:// base_url for a host other than
	// loopback: the token then crosses the network in clear.
	InsecureHTTP bool `yaml:"insecure_http" json:"insecure_http"`
	// AttachmentLimit is the largest file (bytes) uploaded to an issue;
	// larger ones are named in the text instead. Default 10 MB, Jira's
	// own default limit.
	AttachmentLimit int64 `yaml:"attachment_limit" json:"attachment_limit"`
}

// Projects says which Jira projects hold which kind of record.
type Projects struct {
	Dev    []string `yaml:"dev" json:"dev"`
	Change string   `yaml:"change" json:"change"`
}

// Duration is a time.Duration written as "90s" or "2m" in the config.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want a number and a unit, like 90s or 2m", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Defaults.
const (
	defaultPollInterval  = time.Minute
	defaultPollOverlap   = 2 * time.Minute
	defaultPageSize      = 50
	defaultWebhookMaxAge = time.Hour
	defaultPerIssuePause = 5 * time.Second
	defaultAttachLimit   = 10 << 20
)

var projectKeyRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,19}$`)

// Connector is one configured Jira instance. Its methods are safe for
// concurrent use.
type Connector struct {
	name       string
	cfg        Config
	base       *url.URL
	cloud      bool
	creds      *credentials // behind a pointer, so that printing a Connector never shows them
	log        *slog.Logger
	clock      core.Clock
	jc         *jira.Client
	devProj    []string
	changeProj string

	cat     core.Catalogue[catalog]       // names → ids, loaded by CheckMappings or on first need
	maps    atomic.Pointer[core.Mappings] // the mappings last checked, for workflow walks
	tz      atomic.Pointer[time.Location] // the API user's time zone, for JQL dates
	pauses  issuePauses                   // per-issue write rate limits
	keys    issueKeys                     // issue id → key, for server comment webhooks
	flows   workflows                     // workflow edges learned from transitions and changelogs
	fresh   freshStates                   // issue states Fetch read, for the transition that follows
	metrics *instanceMetrics
	// blobs holds the content of files that actions name by hash; nil
	// until the engine hands it over (core.BlobUser).
	blobs core.Blobs
}

// credentials are the instance's secrets.
type credentials struct {
	token  core.Secret // API token (Cloud) or personal access token (Data Center)
	secret core.Secret // webhook secret; empty when webhooks: false
}

// String and GoString keep the secrets out of any printing.
func (*credentials) String() string   { return "<credentials>" }
func (*credentials) GoString() string { return "<credentials>" }

// String names the connector, for logs; its secrets never print.
func (c *Connector) String() string { return fmt.Sprintf("jira connector %q (%s)", c.name, c.base) }

// New builds a Jira connector from its configuration section. It reads the
// secrets at once and fails on anything missing or inconsistent; it makes no
// request (names are resolved by CheckMappings, at start and on reload).
func New(s core.Setup) (core.Connector, error) {
	return newConnector(s, retryhttp.Options{})
}

// newConnector is New with the retrying client's options exposed, so that
// tests can shorten backoffs.
func newConnector(s core.Setup, ro retryhttp.Options) (*Connector, error) {
	var cfg Config
	if s.Decode != nil {
		if err := s.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("jira %q: config: %w", s.Name, err)
		}
	}
	c := &Connector{name: s.Name, cfg: cfg, log: s.Log, clock: s.Clock, creds: &credentials{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.clock == nil {
		c.clock = core.SystemClock{}
	}
	env := s.Env
	if env == nil {
		env = os.Getenv
	}
	if err := c.configure(env); err != nil {
		return nil, fmt.Errorf("jira %q: config: %w", s.Name, err)
	}
	c.metrics = metricsFor(s.Name)
	if ro.Transport == nil {
		ro.Transport = retryhttp.NewTransport()
	}
	ro.Transport = retryhttp.ForOrigin(c.base, &authTransport{base: ro.Transport, conn: c}, ro.Transport)
	// A per-issue write limit is not waited out in place: the action goes
	// back to the outbox and other issues' work goes on (see pauses).
	ro.Refuse = perIssueLimited
	hc := retryhttp.New(ro)
	jc, err := jira.NewClient(hc, c.base.String())
	if err != nil {
		return nil, fmt.Errorf("jira %q: base_url %q: %w", s.Name, c.base.String(), err)
	}
	c.jc = jc
	return c, nil
}

func (c *Connector) configure(env func(string) string) error {
	cfg := &c.cfg
	if cfg.BaseURL == "" {
		return errors.New("base_url is required (https://<site>.atlassian.net or your server's URL)")
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("base_url %q: want an http(s) URL", cfg.BaseURL)
	}
	if u.User != nil || u.RawQuery != "" {
		return errors.New("base_url must not carry credentials or a query; use email and token_env/token_file")
	}
	if err := retryhttp.CheckBaseURL(u, cfg.InsecureHTTP); err != nil {
		return err
	}
	c.base = u
	switch cfg.Deployment {
	case "":
		c.cloud = strings.HasSuffix(u.Hostname(), ".atlassian.net")
	case Cloud:
		c.cloud = true
	case DataCenter:
	default:
		return fmt.Errorf("deployment %q: want %q or %q", cfg.Deployment, Cloud, DataCenter)
	}
	tok, err := secret.Read(env, "token", cfg.TokenEnv, cfg.TokenFile)
	if err != nil {
		return err
	}
	if tok == "" {
		return errors.New("token_env or token_file is required (an API token on Cloud, a personal access token on Data Center)")
	}
	c.creds.token = tok
	if c.cloud && cfg.Email == "" {
		return errors.New("email is required on Cloud: the API token is used with the account's e-mail address")
	}
	webhooks := cfg.Webhooks == nil || *cfg.Webhooks
	sec, err := secret.Read(env, "webhook_secret", cfg.WebhookSecretEnv, cfg.WebhookSecretFile)
	if err != nil {
		return err
	}
	if webhooks && sec == "" {
		return errors.New("webhook_secret_env or webhook_secret_file is required to receive webhooks (or set webhooks: false to rely on polling)")
	}
	c.creds.secret = sec
	for _, p := range cfg.Projects.Dev {
		if !projectKeyRE.MatchString(p) {
			return fmt.Errorf("projects.dev: %q is not a Jira project key (like KBOT)", p)
		}
		if slices.Contains(c.devProj, p) {
			return fmt.Errorf("projects.dev: %q is listed twice", p)
		}
		c.devProj = append(c.devProj, p)
	}
	if p := cfg.Projects.Change; p != "" {
		if !projectKeyRE.MatchString(p) {
			return fmt.Errorf("projects.change: %q is not a Jira project key (like DO)", p)
		}
		if slices.Contains(c.devProj, p) {
			return fmt.Errorf("projects: %q holds both developer and change tickets; give change tickets their own project", p)
		}
		c.changeProj = p
	}
	if len(c.devProj) == 0 && c.changeProj == "" {
		return errors.New("projects: name at least one project, e.g. projects: {dev: [KBOT], change: DO}")
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = Duration(defaultPollInterval)
	}
	if cfg.PollOverlap == 0 {
		cfg.PollOverlap = Duration(defaultPollOverlap)
	}
	if cfg.PollInterval < 0 || cfg.PollOverlap < 0 {
		return errors.New("poll_interval and poll_overlap must not be negative")
	}
	if cfg.PollOverlap < Duration(time.Minute) {
		// JQL compares to the minute: less would skip changes.
		return fmt.Errorf("poll_overlap %s: must be at least 1m, JQL dates have minute precision", time.Duration(cfg.PollOverlap))
	}
	switch {
	case cfg.PageSize == 0:
		cfg.PageSize = defaultPageSize
	case cfg.PageSize < 1 || cfg.PageSize > 100:
		return fmt.Errorf("page_size %d: want 1 to 100", cfg.PageSize)
	}
	if cfg.WebhookMaxAge == 0 {
		cfg.WebhookMaxAge = Duration(defaultWebhookMaxAge)
	}
	switch {
	case cfg.AttachmentLimit == 0:
		cfg.AttachmentLimit = defaultAttachLimit
	case cfg.AttachmentLimit < 0:
		return fmt.Errorf("attachment_limit %d: want a positive number of bytes", cfg.AttachmentLimit)
	}
	if cfg.Timezone != "" {
		loc, err := time.LoadLocation(cfg.Timezone)
		if err != nil {
			return fmt.Errorf("timezone %q: not a time zone name like Europe/Paris", cfg.Timezone)
		}
		c.tz.Store(loc)
	}
	if _, err := parseInternal(cfg.InternalComments); err != nil {
		return err
	}
	if cfg.IssueLinkType == "" {
		cfg.IssueLinkType = "Relates"
	}
	return nil
}

// Name implements core.Connector.
func (c *Connector) Name() string { return c.name }

// PollInterval is how often the engine should call Poll.
func (c *Connector) PollInterval() time.Duration { return time.Duration(c.cfg.PollInterval) }

// kindOf returns the kind of record a project holds.
func (c *Connector) kindOf(project string) (core.Kind, bool) {
	switch {
	case project == "":
		return "", false
	case project == c.changeProj:
		return core.ChangeTicket, true
	case slices.Contains(c.devProj, project):
		return core.DevTicket, true
	}
	return "", false
}

// projectsOf returns the projects holding kind k.
func (c *Connector) projectsOf(k core.Kind) []string {
	switch k {
	case core.DevTicket:
		return c.devProj
	case core.ChangeTicket:
		if c.changeProj != "" {
			return []string{c.changeProj}
		}
	}
	return nil
}

func (c *Connector) allProjects() []string {
	out := slices.Clone(c.devProj)
	if c.changeProj != "" {
		out = append(out, c.changeProj)
	}
	return out
}

// projectOfKey returns "KBOT" for "KBOT-12".
func projectOfKey(key string) string {
	p, _, ok := strings.Cut(key, "-")
	if !ok {
		return ""
	}
	return p
}

var issueKeyRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,19}-[1-9][0-9]{0,9}$`)

// refOf returns the Ref of an issue key, or false when its project is not
// one of ours.
func (c *Connector) refOf(key string) (core.Ref, bool) {
	k, ok := c.kindOf(projectOfKey(key))
	if !ok {
		return core.Ref{}, false
	}
	return core.Ref{System: c.name, Kind: k, ID: key}, true
}

func (c *Connector) browseURL(key string) string {
	return c.base.String() + "/browse/" + key
}

// authTransport adds the credentials to every attempt and counts them. It
// sits under the retrying client so that each retry is authenticated, and
// behind retryhttp.ForOrigin so that a redirect to another host is not.
type authTransport struct {
	base http.RoundTripper
	conn *Connector
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if t.conn.cloud {
		r.SetBasicAuth(t.conn.cfg.Email, t.conn.creds.token.Reveal())
	} else {
		r.Header.Set("Authorization", "Bearer "+t.conn.creds.token.Reveal())
	}
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "liaison-jira")
	resp, err := t.base.RoundTrip(r)
	t.conn.metrics.request(resp, err)
	return resp, err
}

// apiError is the body Jira sends with a 4xx/5xx.
type apiError struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

// maxDetail bounds the part of Jira's error messages kept in an error.
const maxDetail = 300

// do sends one API request through go-jira's client and decodes a 2xx body
// into out (when not nil). Failures come back classified (retryhttp.Classify):
// core.RetryAfter for 429, 5xx and transport errors, core.Permanent for other
// statuses, with Jira's short error messages but never the response body, the
// request body or a credential. A 429 that Jira marks as a per-issue write
// limit pauses writes to issueKey.
func (c *Connector) do(ctx context.Context, method, path string, query url.Values, body, out any, issueKey string) error {
	u := path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := c.jc.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return core.Permanent(fmt.Errorf("building %s /%s: %w", method, strings.TrimLeft(path, "/"), err))
	}
	return c.send(req, out, issueKey)
}

// send is do for a request already built (a multipart upload).
func (c *Connector) send(req *http.Request, out any, issueKey string) error {
	method, path := req.Method, req.URL.Path
	resp, err := c.jc.Do(req, out)
	var hr *http.Response
	if resp != nil {
		hr = resp.Response
	}
	if hr == nil {
		if err == nil {
			err = errors.New("no response")
		}
		return retryhttp.Classify(nil, err, "")
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(hr.Body, 1<<16))
		hr.Body.Close()
	}()
	if hr.StatusCode >= 200 && hr.StatusCode < 300 {
		if err != nil {
			// A 2xx whose body is not what the API documents.
			return core.RetryAfter(fmt.Errorf("%s /%s: reading the answer: %w", method, strings.TrimLeft(path, "/"), safeJSONError(err)), 0)
		}
		return nil
	}
	detail := errorDetail(hr)
	if hr.StatusCode == http.StatusTooManyRequests && perIssueLimited(hr) && issueKey != "" {
		wait, ok := retryhttp.ServerWait(hr, c.clock.Now())
		if !ok || wait <= 0 {
			wait = defaultPerIssuePause
		}
		c.pauses.pause(issueKey, c.clock.Now().Add(wait))
		c.metrics.perIssueLimited.Inc()
		c.log.Warn("jira per-issue write limit: pausing writes to the issue", "instance", c.name, "issue", issueKey, "wait", wait)
		return core.RetryAfter(fmt.Errorf("%s /%s: writes to issue %q are rate-limited by Jira (per issue)", method, strings.TrimLeft(path, "/"), issueKey), wait)
	}
	return retryhttp.Classify(hr, nil, detail)
}

// perIssueLimited reports whether a response is Jira Cloud's per-issue
// write limit (RateLimit-Reason: jira-per-issue-on-write).
func perIssueLimited(resp *http.Response) bool {
	return resp.StatusCode == http.StatusTooManyRequests &&
		strings.Contains(strings.ToLower(resp.Header.Get("RateLimit-Reason")), "jira-per-issue-on-write")
}

// errorDetail extracts Jira's error messages: short texts about the request
// (a field that cannot be set, a transition that is not available).
func errorDetail(resp *http.Response) string {
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return ""
	}
	var ae apiError
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&ae); err != nil {
		return ""
	}
	parts := slices.Clone(ae.ErrorMessages)
	for _, k := range slices.Sorted(maps.Keys(ae.Errors)) {
		parts = append(parts, k+": "+ae.Errors[k])
	}
	d := strings.Join(parts, "; ")
	if len(d) > maxDetail {
		d = d[:maxDetail] + "…"
	}
	return d
}

// safeJSONError describes a JSON decoding error without quoting input.
func safeJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("malformed json at byte %d", se.Offset)
	case errors.As(err, &te):
		f := te.Field
		if f == "" {
			f = "(top level)"
		}
		// Value is "number 3" for numbers: keep the kind, not the literal.
		kind, _, _ := strings.Cut(te.Value, " ")
		return fmt.Errorf("json field %q: want %s, got %s", f, te.Type, kind)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("truncated json")
	}
	return errors.New("invalid json")
}

// Interface guards.
var (
	_ core.WebhookReceiver = (*Connector)(nil)
	_ core.WebhookVerifier = (*Connector)(nil)
	_ core.Poller          = (*Connector)(nil)
	_ core.PollSince       = (*Connector)(nil)
	_ core.Fetcher         = (*Connector)(nil)
	_ core.Applier         = (*Connector)(nil)
	_ core.MarkerFinder    = (*Connector)(nil)
	_ core.AppliedChecker  = (*Connector)(nil)
	_ core.MappingChecker  = (*Connector)(nil)
)

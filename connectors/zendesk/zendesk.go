// Package zendesk connects Liaison to a Zendesk Support account, where
// customer tickets live. It receives trigger and event webhooks (verified
// with the webhook's signing secret), polls the cursor-based incremental
// ticket export as a fallback, fetches single tickets, and applies the
// gateway's actions: creating a ticket on behalf of the reporting customer,
// changing status and fields, replying publicly or writing internal notes,
// and recording links to developer tickets.
//
// The package registers itself as connector kind "zendesk". Its REST client
// is github.com/nukosuke/go-zendesk over internal/retryhttp; endpoints that
// library lacks (the incremental export, ticket updates that must send
// "public": false) go through its generic Get/Post/Put.
package zendesk

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nukosuke/go-zendesk/zendesk"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
	"github.com/liaisonhq/liaison/internal/secret"
)

func init() { core.Register("zendesk", New) }

// Defaults for the optional configuration keys.
const (
	DefaultMaxSkew         = 5 * time.Minute
	DefaultPollInterval    = time.Minute
	DefaultPollLookback    = time.Hour
	DefaultExportPerMinute = 10 // Zendesk's limit for the incremental export endpoints
	DefaultExportPageSize  = 100
	DefaultAttachmentLimit = 20 << 20
)

// Config is an instance's configuration section (snake_case YAML keys).
// Secrets are named by environment variable or file, never inline.
type Config struct {
	// Subdomain ("acme" for acme.zendesk.com) or BaseURL (a full URL, for a
	// host-mapped account or a fake), exactly one.
	Subdomain string `yaml:"subdomain" json:"subdomain"`
	BaseURL   string `yaml:"base_url" json:"base_url"`
	// InsecureHTTP allows an http:// base_url for a host other than
	// loopback: the token then crosses the network in clear.
	InsecureHTTP bool `yaml:"insecure_http" json:"insecure_http"`

	// Email with an API token, or an OAuth access token; exactly one kind.
	Email          string `yaml:"email" json:"email"`
	TokenEnv       string `yaml:"token_env" json:"token_env"`
	TokenFile      string `yaml:"token_file" json:"token_file"`
	OAuthTokenEnv  string `yaml:"oauth_token_env" json:"oauth_token_env"`
	OAuthTokenFile string `yaml:"oauth_token_file" json:"oauth_token_file"`

	// WebhookSecretEnv or WebhookSecretFile holds the Zendesk webhook's
	// signing secret. Required unless Webhooks is false.
	WebhookSecretEnv  string `yaml:"webhook_secret_env" json:"webhook_secret_env"`
	WebhookSecretFile string `yaml:"webhook_secret_file" json:"webhook_secret_file"`
	Webhooks          *bool  `yaml:"webhooks" json:"webhooks"`
	// MaxSkew is how far a webhook's signature timestamp may be from now.
	MaxSkew Duration `yaml:"max_skew" json:"max_skew"`

	// PollInterval is how often the engine polls the incremental export.
	PollInterval Duration `yaml:"poll_interval" json:"poll_interval"`
	// PollLookback is how far back the very first poll (no cursor) starts.
	PollLookback Duration `yaml:"poll_lookback" json:"poll_lookback"`
	// ExportPerMinute paces incremental export requests (Zendesk allows 10).
	ExportPerMinute int `yaml:"export_requests_per_minute" json:"export_requests_per_minute"`
	// ExportPageSize is per_page for the export; every changed ticket in a
	// page may cost one comments request, so pages are kept small.
	ExportPageSize int `yaml:"export_page_size" json:"export_page_size"`

	// AttachmentLimit is the largest file (bytes) carried onto a comment;
	// larger ones are named in the comment text instead.
	AttachmentLimit int64 `yaml:"attachment_limit" json:"attachment_limit"`

	// Fields, Forms and Groups are titles that must exist in the account
	// (checked with the ones the mappings use); they are resolved to ids
	// at start.
	Fields []string `yaml:"fields" json:"fields"`
	Forms  []string `yaml:"forms" json:"forms"`
	Groups []string `yaml:"groups" json:"groups"`

	// LinkField is the title of the custom field that holds the key of the
	// linked developer ticket: AddLink writes it, and when LinkTarget
	// ("jira/dev_ticket") is set, its value is reported as an explicit link.
	// Without LinkField, AddLink writes an internal note instead.
	LinkField  string `yaml:"link_field" json:"link_field"`
	LinkTarget string `yaml:"link_target" json:"link_target"`
}

// Duration is a time.Duration written as "5m" or "90s" in the config.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", string(b), err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Connector is one configured Zendesk instance. It is safe for concurrent
// use: the engine polls, receives webhooks and applies actions at once.
type Connector struct {
	name   string
	cfg    Config
	log    *slog.Logger
	clock  core.Clock
	zd     *zendesk.Client
	base   *url.URL // .../api/v2
	agent  string   // https://host, for ticket links
	secret core.Secret
	token  core.Secret
	hooks  bool
	redact []string // secret values, in every form they travel in

	maxSkew    time.Duration
	poll       time.Duration
	lookback   time.Duration
	pageSize   int
	attachMax  int64
	linkTarget core.Selector
	// blobs holds the content of the files actions name by hash (a mail's
	// attachments); nil until the engine hands it over.
	blobs core.Blobs

	pace *pacer

	catMu    sync.Mutex
	cat      *catalog
	catTried time.Time

	mappings atomic.Pointer[core.Mappings]

	users    *boundedMap[string, int64] // lower-case email → user id
	emails   *boundedMap[int64, string] // user id → email
	comments *boundedMap[int64, commentCache]

	metrics *instanceMetrics
}

// New builds a connector from its configuration section. It reads the
// secrets it names and fails on anything missing, so that a misconfigured
// instance never starts (a webhook source without a secret included).
func New(s core.Setup) (core.Connector, error) {
	var cfg Config
	if s.Decode != nil {
		if err := s.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("zendesk %q: config: %w", s.Name, err)
		}
	}
	return newConnector(s, cfg, retryhttp.Options{})
}

// newConnector is New with the HTTP client's options exposed for tests.
func newConnector(s core.Setup, cfg Config, ro retryhttp.Options) (*Connector, error) {
	if s.Name == "" {
		return nil, errors.New("zendesk: instance name is empty")
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Clock == nil {
		s.Clock = core.SystemClock{}
	}
	if s.Env == nil {
		s.Env = os.Getenv
	}
	c := &Connector{
		name:      s.Name,
		cfg:       cfg,
		log:       s.Log, // the daemon names the connector
		clock:     s.Clock,
		maxSkew:   durOr(cfg.MaxSkew, DefaultMaxSkew),
		poll:      durOr(cfg.PollInterval, DefaultPollInterval),
		lookback:  durOr(cfg.PollLookback, DefaultPollLookback),
		pageSize:  cfg.ExportPageSize,
		attachMax: cfg.AttachmentLimit,
		users:     newBoundedMap[string, int64](10000),
		emails:    newBoundedMap[int64, string](10000),
		comments:  newBoundedMap[int64, commentCache](5000),
		metrics:   metricsFor(s.Name),
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("zendesk %q: "+format, append([]any{s.Name}, args...)...)
	}
	if c.pageSize == 0 {
		c.pageSize = DefaultExportPageSize
	}
	if c.pageSize < 1 || c.pageSize > 1000 {
		return nil, fail("export_page_size %d: want 1..1000", cfg.ExportPageSize)
	}
	if c.attachMax == 0 {
		c.attachMax = DefaultAttachmentLimit
	}
	if c.attachMax < 0 {
		return nil, fail("attachment_limit %d: want a positive number of bytes", cfg.AttachmentLimit)
	}
	perMin := cfg.ExportPerMinute
	if perMin == 0 {
		perMin = DefaultExportPerMinute
	}
	if perMin < 0 {
		return nil, fail("export_requests_per_minute %d: want a positive number", perMin)
	}
	c.pace = newPacer(time.Minute / time.Duration(perMin))
	if cfg.LinkTarget != "" {
		sel := core.ParseSelector(cfg.LinkTarget)
		if sel.System == "" || !sel.Kind.Known() {
			return nil, fail("link_target %q: want system/kind, e.g. jira/dev_ticket", cfg.LinkTarget)
		}
		if cfg.LinkField == "" {
			return nil, fail("link_target %q needs link_field, the custom field that holds the key", cfg.LinkTarget)
		}
		c.linkTarget = sel
	}

	// Where the API lives.
	switch {
	case cfg.Subdomain != "" && cfg.BaseURL != "":
		return nil, fail("set subdomain or base_url, not both")
	case cfg.Subdomain != "":
		if !subdomainRE.MatchString(cfg.Subdomain) {
			return nil, fail("subdomain %q: want the account name only, as in <name>.zendesk.com", cfg.Subdomain)
		}
		c.base, _ = url.Parse("https://" + cfg.Subdomain + ".zendesk.com/api/v2")
	case cfg.BaseURL != "":
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fail("base_url %q: want an http(s) URL such as https://acme.zendesk.com", cfg.BaseURL)
		}
		if u.User != nil || u.RawQuery != "" {
			return nil, fail("base_url: must not carry credentials or a query")
		}
		if err := retryhttp.CheckBaseURL(u, cfg.InsecureHTTP); err != nil {
			return nil, fail("%w", err)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		if !strings.HasSuffix(u.Path, "/api/v2") {
			u.Path += "/api/v2"
		}
		c.base = u
	default:
		return nil, fail("set subdomain (acme for acme.zendesk.com) or base_url")
	}
	host := *c.base
	host.Path = strings.TrimSuffix(host.Path, "/api/v2")
	c.agent = host.String()

	// Credentials.
	tok, err := secret.Read(s.Env, "token", cfg.TokenEnv, cfg.TokenFile)
	if err != nil {
		return nil, fail("%w", err)
	}
	oauth, err := secret.Read(s.Env, "oauth_token", cfg.OAuthTokenEnv, cfg.OAuthTokenFile)
	if err != nil {
		return nil, fail("%w", err)
	}
	var cred zendesk.Credential
	switch {
	case tok != "" && oauth != "":
		return nil, fail("set an API token (token_env/token_file) or an OAuth token (oauth_token_env/oauth_token_file), not both")
	case tok != "":
		if cfg.Email == "" {
			return nil, fail("an API token needs email, the agent account it belongs to")
		}
		c.token = tok
		cred = zendesk.NewAPITokenCredential(cfg.Email, tok.Reveal())
	case oauth != "":
		c.token = oauth
		cred = zendesk.NewBearerTokenCredential(oauth.Reveal())
	default:
		return nil, fail("no credentials: set email with token_env or token_file, or oauth_token_env or oauth_token_file")
	}

	// Webhooks fail closed: no secret, no webhooks, unless turned off.
	c.hooks = cfg.Webhooks == nil || *cfg.Webhooks
	sec, err := secret.Read(s.Env, "webhook_secret", cfg.WebhookSecretEnv, cfg.WebhookSecretFile)
	if err != nil {
		return nil, fail("%w", err)
	}
	if c.hooks && sec == "" {
		return nil, fail("webhooks need a signing secret: set webhook_secret_env or webhook_secret_file, or webhooks: false")
	}
	c.secret = sec
	c.redact = []string{c.token.Reveal(), c.secret.Reveal()}
	if tok != "" {
		basic := cfg.Email + "/token:" + c.token.Reveal()
		c.redact = append(c.redact, base64.StdEncoding.EncodeToString([]byte(basic)))
	}

	if ro.Transport == nil {
		ro.Transport = retryhttp.NewTransport()
	}
	ro.Transport = &instrumented{next: ro.Transport, m: c.metrics}
	// go-zendesk sets the credentials on each request, and net/http keeps
	// them on a redirect to a subdomain or another port of the host:
	// only the configured origin gets them.
	ro.Transport = retryhttp.ForOrigin(c.base, ro.Transport, ro.Transport)
	zd, err := zendesk.NewClient(retryhttp.New(ro))
	if err != nil {
		return nil, fail("client: %w", err)
	}
	if err := zd.SetEndpointURL(c.base.String()); err != nil {
		return nil, fail("client: %w", err)
	}
	zd.SetCredential(cred)
	c.zd = zd
	return c, nil
}

var subdomainRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*[a-z0-9]$`)

func durOr(d Duration, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return time.Duration(d)
}

// Name implements core.Connector.
func (c *Connector) Name() string { return c.name }

// PollInterval is how often the engine should call Poll (poll_interval).
func (c *Connector) PollInterval() time.Duration { return c.poll }

func (c *Connector) ref(id int64) core.Ref {
	return core.Ref{System: c.name, Kind: core.CustomerTicket, ID: fmt.Sprint(id)}
}

func (c *Connector) ticketURL(id int64) string {
	return fmt.Sprintf("%s/agent/tickets/%d", c.agent, id)
}

// Interface guards.
var (
	_ core.Connector       = (*Connector)(nil)
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

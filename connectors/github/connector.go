package github

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v60/github"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

func init() { core.Register("github", New) }

var (
	webhooksIgnored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_github_webhooks_ignored_total",
		Help: "GitHub webhook deliveries acknowledged without events (unhandled event types and actions), by event.",
	}, []string{"event"})
	rateRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "liaison_github_rate_limit_remaining",
		Help: "Requests left in the current GitHub rate-limit window (X-RateLimit-Remaining), by instance.",
	}, []string{"instance"})
	notModified = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_github_not_modified_total",
		Help: "Conditional GitHub requests answered 304 Not Modified (free of rate limit), by instance.",
	}, []string{"instance"})
	redeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_github_redeliveries_total",
		Help: "Failed GitHub webhook deliveries the connector asked GitHub to redeliver, by instance.",
	}, []string{"instance"})
)

func init() {
	prometheus.MustRegister(webhooksIgnored, rateRemaining, notModified, redeliveries)
}

// Connector is one configured GitHub instance. It is safe for concurrent
// use: the server's webhook handlers, the poller, the outbox workers and the
// redelivery loop call it at the same time.
type Connector struct {
	name  string
	set   *settings
	gh    *gh.Client
	log   *slog.Logger
	clock core.Clock

	repos map[string]string // lower-case owner/name → configured spelling

	cache    *etagCache
	mu       sync.Mutex
	commits  map[string]commitList     // by Ref.ID, for the head sha it was read at
	branches map[string]map[string]int // repo\x00branch → open PR numbers (set)
	pollTags map[string]pollTag        // repo → first page ETag of the last complete scan
	asked    map[string]time.Time      // delivery guid → when we asked for its redelivery

	pollPageSize, pollPages int // list page size and pages per Poll (tests shrink them)

	later     chan laterRead                  // reads deliveries left for Run
	patterns  atomic.Pointer[[]*core.Pattern] // the link patterns, from CheckMappings
	laterWait time.Duration                   // first wait before a deferred read is tried again
}

// commitList is a pull request's commits as of one head sha.
type commitList struct {
	head string
	shas []string
	msgs []string
}

type pollTag struct {
	since time.Time
	etag  string
}

// New builds a connector from its configuration section. It is the factory
// registered as "github".
func New(s core.Setup) (core.Connector, error) {
	return newConnector(s, retryhttp.Options{})
}

// newConnector builds a connector on a retrying client with these options
// (tests shorten the waits).
func newConnector(s core.Setup, ro retryhttp.Options) (*Connector, error) {
	var raw config
	if s.Decode != nil {
		if err := s.Decode(&raw); err != nil {
			return nil, fmt.Errorf("github %q: config: %w", s.Name, err)
		}
	}
	env := s.Env
	if env == nil {
		env = func(string) string { return "" }
	}
	set, err := raw.validate(env)
	if err != nil {
		return nil, fmt.Errorf("github %q: config: %w", s.Name, err)
	}
	c := &Connector{
		name:      s.Name,
		set:       set,
		log:       s.Log,
		clock:     s.Clock,
		repos:     map[string]string{},
		cache:     newETagCache(32 << 20),
		commits:   map[string]commitList{},
		branches:  map[string]map[string]int{},
		pollTags:  map[string]pollTag{},
		asked:     map[string]time.Time{},
		later:     make(chan laterRead, laterQueue),
		laterWait: time.Second,

		pollPageSize: pollPageSize,
		pollPages:    maxPollPages,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.clock == nil {
		c.clock = core.SystemClock{}
	}
	for _, r := range set.repos {
		c.repos[strings.ToLower(r)] = r
	}

	// The credentials set on a request go to the configured API origin
	// only: net/http keeps them on a redirect to another port of the host
	// or to a subdomain, and the retrying client follows redirects.
	if ro.Transport == nil {
		ro.Transport = retryhttp.NewTransport()
	}
	ro.Transport = retryhttp.ForOrigin(set.baseURL, ro.Transport, ro.Transport)
	retrying := retryhttp.New(ro).Transport
	var auth http.RoundTripper
	if set.appID != 0 {
		// The installation transport wraps the retrying one, so both the API
		// calls and the token refreshes are retried; ghinstallation renews
		// the installation token a minute before it expires.
		itr, err := ghinstallation.New(retrying, set.appID, set.installID, set.privateKey)
		if err != nil {
			return nil, fmt.Errorf("github %q: private_key_file: %v", s.Name, err)
		}
		itr.BaseURL = strings.TrimRight(set.baseURL.String(), "/")
		auth = itr
	} else {
		auth = &tokenTransport{token: set.token, next: retrying}
	}
	client := gh.NewClient(&http.Client{Transport: &rateTransport{instance: s.Name, next: auth}})
	client.BaseURL = set.baseURL
	c.gh = client
	return c, nil
}

// Name returns the instance name, the System of every Ref it produces.
func (c *Connector) Name() string { return c.name }

// PollInterval is how often the engine should call Poll (poll_interval).
func (c *Connector) PollInterval() time.Duration { return c.set.pollInterval }

// tokenTransport adds a personal access token to every request.
type tokenTransport struct {
	token core.Secret
	next  http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+t.token.Reveal())
	return t.next.RoundTrip(r)
}

// rateTransport reports the rate limit GitHub says is left and counts the
// 304s, which cost none of it.
type rateTransport struct {
	instance string
	next     http.RoundTripper
}

func (t *rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if v := resp.Header.Get("X-RateLimit-Remaining"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			rateRemaining.WithLabelValues(t.instance).Set(float64(n))
		}
	}
	if resp.StatusCode == http.StatusNotModified {
		notModified.WithLabelValues(t.instance).Inc()
	}
	return resp, nil
}

// repoOf returns the configured spelling of a repository, and whether it is
// one of the configured ones.
func (c *Connector) repoOf(full string) (string, bool) {
	r, ok := c.repos[strings.ToLower(full)]
	return r, ok
}

// prRef names pull request number n of repo.
func (c *Connector) prRef(repo string, n int) core.Ref {
	return core.Ref{System: c.name, Kind: core.PullRequest, ID: repo + "#" + strconv.Itoa(n)}
}

// parsePRRef splits a pull request's Ref into owner, repo and number.
func (c *Connector) parsePRRef(r core.Ref) (owner, repo string, n int, err error) {
	if r.System != c.name || r.Kind != core.PullRequest {
		return "", "", 0, fmt.Errorf("ref %q: github %q holds only %s/%s/<owner>/<repo>#<number>", r.String(), c.name, c.name, core.PullRequest)
	}
	full, num, ok := strings.Cut(r.ID, "#")
	n, nerr := strconv.Atoi(num)
	owner, repo, ok2 := strings.Cut(full, "/")
	if !ok || !ok2 || nerr != nil || n <= 0 || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return "", "", 0, fmt.Errorf("ref %q: want %s/%s/<owner>/<repo>#<number>", r.String(), c.name, core.PullRequest)
	}
	return owner, repo, n, nil
}

func (c *Connector) now() time.Time { return c.clock.Now() }

// Interface guards.
var (
	_ core.Connector       = (*Connector)(nil)
	_ core.WebhookReceiver = (*Connector)(nil)
	_ core.WebhookVerifier = (*Connector)(nil)
	_ core.Poller          = (*Connector)(nil)
	_ core.PollSince       = (*Connector)(nil)
	_ core.Fetcher         = (*Connector)(nil)
	_ core.Applier         = (*Connector)(nil)
	_ core.MappingChecker  = (*Connector)(nil)
	_ core.Starter         = (*Connector)(nil)
	_ core.Runner          = (*Connector)(nil)
)

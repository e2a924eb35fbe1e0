package github

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
	"github.com/liaisonhq/liaison/internal/secret"
)

// config is the instance's configuration section, decoded strictly.
type config struct {
	BaseURL           string           `yaml:"base_url" json:"base_url"`
	TokenEnv          string           `yaml:"token_env" json:"token_env"`
	TokenFile         string           `yaml:"token_file" json:"token_file"`
	AppID             int64            `yaml:"app_id" json:"app_id"`
	InstallationID    int64            `yaml:"installation_id" json:"installation_id"`
	PrivateKeyFile    string           `yaml:"private_key_file" json:"private_key_file"`
	WebhookSecretEnv  string           `yaml:"webhook_secret_env" json:"webhook_secret_env"`
	WebhookSecretFile string           `yaml:"webhook_secret_file" json:"webhook_secret_file"`
	Webhooks          *bool            `yaml:"webhooks" json:"webhooks"`
	Repos             []string         `yaml:"repos" json:"repos"`
	HookID            map[string]int64 `yaml:"hook_id" json:"hook_id"`
	PollInterval      string           `yaml:"poll_interval" json:"poll_interval"`
	RedeliverInterval string           `yaml:"redeliver_interval" json:"redeliver_interval"`
	StatusContext     string           `yaml:"status_context" json:"status_context"`
	// InsecureHTTP allows an http:// base_url for a host other than
	// loopback: the token then crosses the network in clear.
	InsecureHTTP bool `yaml:"insecure_http" json:"insecure_http"`
	// TrustedAuthors lists the author associations (GitHub's
	// author_association) whose pull requests may link records by naming
	// them; TrustedAuthorsByRepo overrides it for one repository.
	TrustedAuthors       []string            `yaml:"trusted_authors" json:"trusted_authors"`
	TrustedAuthorsByRepo map[string][]string `yaml:"trusted_authors_by_repo" json:"trusted_authors_by_repo"`
}

// settings is the validated configuration the connector runs on.
type settings struct {
	baseURL           *url.URL
	token             core.Secret
	appID, installID  int64
	privateKey        []byte
	webhooks          bool
	secret            core.Secret
	repos             []string // owner/name, as configured
	hooks             []hook
	pollInterval      time.Duration
	redeliverInterval time.Duration
	statusContext     string
	// trusted and trustedIn (by lower-case owner/name) are the author
	// associations whose pull requests link what they name.
	trusted   []string
	trustedIn map[string][]string
}

// trusts reports whether a pull request of repo by an author with
// association assoc may link the records it names. An outsider's may
// only mention them: anyone can open a pull request on a public
// repository, and its title must not reach a customer.
func (s *settings) trusts(repo, assoc string) bool {
	list := defaultTrusted
	if s != nil {
		if l, ok := s.trustedIn[strings.ToLower(repo)]; ok {
			list = l
		} else if s.trusted != nil {
			list = s.trusted
		}
	}
	return slices.Contains(list, strings.ToUpper(assoc))
}

// String describes the settings without their secrets: fmt cannot call
// the Secret's String on an unexported field, so the struct must not print
// itself field by field.
func (s settings) String() string {
	auth := "token"
	if s.appID != 0 {
		auth = fmt.Sprintf("app %d installation %d", s.appID, s.installID)
	}
	return fmt.Sprintf("github %s, auth %s, repos %v, webhooks %v", s.baseURL, auth, s.repos, s.webhooks)
}

// GoString is String, for %#v.
func (s settings) GoString() string { return s.String() }

// hook is a webhook whose deliveries are redelivered when they failed:
// a repository hook (owner and repo set) or an organization hook (repo empty).
type hook struct {
	owner, repo string
	id          int64
}

func (h hook) String() string {
	if h.repo == "" {
		return fmt.Sprintf("org %s hook %d", h.owner, h.id)
	}
	return fmt.Sprintf("%s/%s hook %d", h.owner, h.repo, h.id)
}

var (
	repoName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)
	orgName  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
)

const (
	defaultBaseURL           = "https://api.github.com/"
	defaultPollInterval      = 5 * time.Minute
	defaultRedeliverInterval = 10 * time.Minute
	defaultStatusContext     = "liaison"
)

// associations are GitHub's values of author_association; the default
// trusts the repository's owner, the organisation's members and invited
// collaborators.
var (
	associations   = []string{"OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "MANNEQUIN", "NONE"}
	defaultTrusted = []string{"OWNER", "MEMBER", "COLLABORATOR"}
)

// validate checks the raw config, reads the secrets it names and returns
// every problem at once.
func (c *config) validate(env func(string) string) (*settings, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s := &settings{webhooks: c.Webhooks == nil || *c.Webhooks, statusContext: c.StatusContext}
	if s.statusContext == "" {
		s.statusContext = defaultStatusContext
	}

	base := c.BaseURL
	if base == "" {
		base = defaultBaseURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("base_url %q: want an http(s) URL such as https://github.example.com/api/v3", c.BaseURL)
	} else if err := retryhttp.CheckBaseURL(u, c.InsecureHTTP); err != nil {
		bad("%v", err)
	} else {
		s.baseURL = u
	}

	app := c.AppID != 0 || c.InstallationID != 0 || c.PrivateKeyFile != ""
	switch {
	case app && (c.TokenEnv != "" || c.TokenFile != ""):
		bad("token_env/token_file and app_id/installation_id/private_key_file both set: choose a token or a GitHub App")
	case app:
		if c.AppID <= 0 || c.InstallationID <= 0 || c.PrivateKeyFile == "" {
			bad("a GitHub App needs app_id, installation_id and private_key_file")
		} else if key, err := os.ReadFile(c.PrivateKeyFile); err != nil {
			bad("private_key_file %q: %v", c.PrivateKeyFile, pathErr(err))
		} else {
			s.appID, s.installID, s.privateKey = c.AppID, c.InstallationID, key
		}
	default:
		tok, err := secret.Read(env, "token", c.TokenEnv, c.TokenFile)
		if err != nil {
			bad("%v", err)
		} else if tok == "" {
			bad("no credentials: set token_env or token_file, or app_id, installation_id and private_key_file")
		}
		s.token = tok
	}

	hookSecret, err := secret.Read(env, "webhook_secret", c.WebhookSecretEnv, c.WebhookSecretFile)
	switch {
	case err != nil:
		bad("%v", err)
	case s.webhooks && hookSecret == "":
		// Fail closed: an unsigned webhook endpoint accepts anyone's events.
		bad("webhooks are on but no secret is configured: set webhook_secret_env or webhook_secret_file, or webhooks: false")
	}
	s.secret = hookSecret

	if len(c.Repos) == 0 {
		bad("repos: list at least one repository as owner/name")
	}
	seen := map[string]bool{}
	for _, r := range c.Repos {
		switch {
		case !repoName.MatchString(r):
			bad("repos: %q is not owner/name", r)
		case seen[strings.ToLower(r)]:
			bad("repos: %q listed twice", r)
		default:
			seen[strings.ToLower(r)] = true
			s.repos = append(s.repos, r)
		}
	}

	keys := make([]string, 0, len(c.HookID))
	for k := range c.HookID {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		id := c.HookID[k]
		switch {
		case id <= 0:
			bad("hook_id %q: %d is not a hook id", k, id)
		case repoName.MatchString(k):
			owner, name, _ := strings.Cut(k, "/")
			s.hooks = append(s.hooks, hook{owner: owner, repo: name, id: id})
		case orgName.MatchString(k):
			s.hooks = append(s.hooks, hook{owner: k, id: id})
		default:
			bad("hook_id %q: want owner/name for a repository hook or an organization name", k)
		}
	}

	s.trusted = trustedList(&errs, "trusted_authors", c.TrustedAuthors)
	s.trustedIn = map[string][]string{}
	for _, r := range slices.Sorted(maps.Keys(c.TrustedAuthorsByRepo)) {
		if !seen[strings.ToLower(r)] {
			bad("trusted_authors_by_repo: %q is not one of repos", r)
			continue
		}
		s.trustedIn[strings.ToLower(r)] = trustedList(&errs, "trusted_authors_by_repo "+r, c.TrustedAuthorsByRepo[r])
	}

	s.pollInterval = parseInterval(&errs, "poll_interval", c.PollInterval, defaultPollInterval)
	s.redeliverInterval = parseInterval(&errs, "redeliver_interval", c.RedeliverInterval, defaultRedeliverInterval)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// trustedList validates a list of author associations; none given is the
// default list.
func trustedList(errs *[]error, key string, list []string) []string {
	if list == nil {
		return defaultTrusted
	}
	out := []string{}
	for _, a := range list {
		u := strings.ToUpper(strings.TrimSpace(a))
		if !slices.Contains(associations, u) {
			*errs = append(*errs, fmt.Errorf("%s: %q is not an author association (known: %s)", key, a, strings.Join(associations, ", ")))
			continue
		}
		out = append(out, u)
	}
	return out
}

func parseInterval(errs *[]error, key, v string, def time.Duration) time.Duration {
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		*errs = append(*errs, fmt.Errorf("%s %q: want a duration of at least 1s, such as 5m", key, v))
		return def
	}
	return d
}

// pathErr keeps the cause of a file error without repeating the path.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

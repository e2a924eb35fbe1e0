// Package config reads the daemon's configuration file: where to listen,
// which store, which mapping folder, and one section per connector
// instance. Errors name file:line:col. Connector sections are decoded by the
// connector itself (strictly, so a misspelt key is an error there too).
package config

import (
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/digest"
	"github.com/liaisonhq/liaison/internal/notify"
	"github.com/liaisonhq/liaison/mappings/examples"
)

// Config is the daemon's configuration.
type Config struct {
	// Listen is the HTTP address of the webhooks, /healthz and /readyz
	// (default 127.0.0.1:8080), and of /metrics unless MetricsListen is set.
	Listen string `yaml:"listen"`
	// MetricsListen, when set, is an address of its own for /metrics, so
	// that the webhook listener can face the internet while the metrics
	// stay on a private interface.
	MetricsListen string `yaml:"metrics_listen"`
	// PublicURL is where the systems reach the webhooks
	// (https://liaison.example.com); check --online and serve look for
	// webhooks pointing there. Empty: a webhook matches by its path alone.
	PublicURL string `yaml:"public_url"`
	// Store is sqlite://PATH or postgres://… (or the name of an environment
	// variable holding it, as env:NAME, so that a password stays out of the file).
	Store string `yaml:"store"`
	// Mappings is the admin's mapping folder; empty uses the embedded defaults.
	Mappings string `yaml:"mappings"`
	// DevTracker chooses, without a mapping folder, the shipped mappings
	// for the team's bug tracker: jira (the defaults) or mantis (the
	// defaults with developer tickets in MantisBT, mappings/examples/mantis).
	DevTracker string `yaml:"dev_tracker"`
	// Workers reconcile cases concurrently, each a batch of up to 128 at
	// a time, and bound the connector calls made at once (default 16).
	Workers int `yaml:"workers"`
	// MaxAttempts before an action is dead-lettered (default 8).
	MaxAttempts int `yaml:"max_attempts"`
	// RetryAfterMax caps how long a service's Retry-After may put off an
	// action's next attempt (default 1h).
	RetryAfterMax time.Duration `yaml:"retry_after_max"`
	// UncertainGrace and LookupWindow tune writes whose outcome is unknown
	// (they timed out): how long past the timeout such a write may still
	// land (default 30s), and then how long a create's marker search is
	// repeated before it is made anew (default 2m).
	UncertainGrace time.Duration `yaml:"uncertain_grace"`
	LookupWindow   time.Duration `yaml:"lookup_window"`
	Retention      Retention     `yaml:"retention"`
	Log            Log           `yaml:"log"`
	Reload         time.Duration `yaml:"mappings_reload"` // how often the folder is checked (default 5s)
	// Connectors by instance name; each section has a kind (default: the
	// instance name) and the connector's own keys.
	Connectors map[string]map[string]any `yaml:"connectors"`
	// Notify configures notifications: the SMTP server mail goes through
	// and the private addresses outbound webhooks may reach.
	Notify Notify `yaml:"notify"`
	// Digest configures the weekly digest mail.
	Digest Digest `yaml:"digest"`
	// RuleBudget bounds each evaluation of a rule's if or template.
	RuleBudget RuleBudget `yaml:"rule_budget"`
	// Console is the web console for agents and admins (off unless its
	// listen address is set).
	Console Console `yaml:"console"`
	// ShutdownTimeout is how long a stop (SIGTERM, Ctrl-C) may take before
	// the process exits anyway, whatever is still running (default 30s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Backpressure bounds how far the workers may fall behind the intake.
	Backpressure Backpressure `yaml:"backpressure"`
	// Pprof serves /debug/pprof on the metrics listener (metrics_listen,
	// or listen when that is unset); off by default.
	Pprof bool `yaml:"pprof"`

	path  string
	nodes map[string]*ast.MappingNode
	order []string
}

// Backpressure is the backpressure section. MaxLag is how far, in time,
// the workers may be behind the intake (default DefaultMaxLag): past half
// of it webhook answers are held back, past it webhooks are refused with
// 503 and Retry-After, so that senders back off and an event's delay to
// its write stays bounded. Nothing acknowledged is dropped.
type Backpressure struct {
	MaxLag time.Duration `yaml:"max_lag"`
}

// DefaultMaxLag is backpressure.max_lag unless set.
const DefaultMaxLag = 5 * time.Second

// Retention says how long processed raw bodies and audit entries are kept.
type Retention struct {
	Raw   time.Duration `yaml:"raw"`
	Audit time.Duration `yaml:"audit"`
}

// RuleBudget is the rule_budget section: how many steps (predicate and
// range iterations) and how much time one evaluation of an if or a
// template may take (defaults: mappings.DefaultBudgetSteps and
// mappings.DefaultBudgetTime).
type RuleBudget struct {
	Steps int           `yaml:"steps"`
	Time  time.Duration `yaml:"time"`
}

// Console is the console section:
//
//	console:
//	  listen: 127.0.0.1:8081
//	  users_file: /etc/liaison/users.yaml   # name, bcrypt hash, role (viewer or admin)
//	  secure_cookies: true                  # default: true unless listen is loopback
//	  session_key_env: LIAISON_CONSOLE_KEY  # shared by replicas; default a random key per process
//	  oidc: {issuer: https://id.example.com, client_id: liaison, client_secret_env: LIAISON_OIDC_SECRET,
//	         redirect_url: https://liaison.example.com/auth/callback, admin_groups: [support-admins]}
type Console struct {
	Listen        string        `yaml:"listen"`
	UsersFile     string        `yaml:"users_file"`
	SecureCookies *bool         `yaml:"secure_cookies"`
	SessionKeyEnv string        `yaml:"session_key_env"`
	OIDC          ConsoleOIDC   `yaml:"oidc"`
	SessionTTL    time.Duration `yaml:"session_ttl"`
}

// ConsoleOIDC signs people in with the team's OpenID Connect provider.
// Members of AdminGroups are admins; of ViewerGroups (any signed-in
// person when empty), viewers.
type ConsoleOIDC struct {
	Issuer          string   `yaml:"issuer"`
	ClientID        string   `yaml:"client_id"`
	ClientSecretEnv string   `yaml:"client_secret_env"`
	RedirectURL     string   `yaml:"redirect_url"`
	GroupsClaim     string   `yaml:"groups_claim"`
	AdminGroups     []string `yaml:"admin_groups"`
	ViewerGroups    []string `yaml:"viewer_groups"`
	Scopes          []string `yaml:"scopes"` // beside openid (default profile, email, groups; some providers refuse unknown ones)
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Notify is the notify section:
//
//	notify:
//	  smtp: {host: smtp.example.com, port: 587, tls: starttls, username: liaison, password_env: LIAISON_SMTP_PASSWORD, from: liaison@example.com}
//	  allow: [10.20.0.0/16, hooks.internal]
type Notify struct {
	SMTP NotifySMTP `yaml:"smtp"`
	// Allow lists CIDRs, addresses and host names that outbound webhooks
	// may reach although they are private, loopback or link-local.
	Allow []string `yaml:"allow"`
}

// NotifySMTP is the outgoing mail server for notifications and digests.
// The password is read from the environment variable or file named.
type NotifySMTP struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	TLS          string `yaml:"tls"` // starttls (default), tls, or plain (loopback only)
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	From         string `yaml:"from"`
}

// Digest is the digest section:
//
//	digest:
//	  schedule: "mon 08:00"        # weekday and time, in timezone (the default)
//	  timezone: Europe/Paris       # default UTC
//	  template: digest.tmpl        # default: the embedded template
//	  to: {"Acme Corp": [it-lead@acme.example]}
//
// Organisations are named as the customer tickets' "org" field names them.
type Digest struct {
	Template string              `yaml:"template"`
	Schedule string              `yaml:"schedule"`
	Timezone string              `yaml:"timezone"`
	To       map[string][]string `yaml:"to"`
}

// DefaultShutdownTimeout is shutdown_timeout's default.
const DefaultShutdownTimeout = 30 * time.Second

// Instance is one configured connector instance.
type Instance struct {
	Name, Kind string
	// Decode decodes the instance's own keys into v, strictly.
	Decode func(v any) error
}

// Load reads and validates a configuration file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, b)
}

// Parse reads a configuration from bytes; path names it in errors.
func Parse(path string, b []byte) (*Config, error) {
	f, err := parser.ParseBytes(b, 0)
	if err != nil {
		return nil, At(path, err)
	}
	c := &Config{path: path, nodes: map[string]*ast.MappingNode{}}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, fmt.Errorf("%s: empty configuration", path)
	}
	body := f.Docs[0].Body
	if err := checkDurations(path, body); err != nil {
		return nil, err
	}
	if err := DecodeNode(body, c, yaml.DisallowUnknownField()); err != nil {
		return nil, At(path, err)
	}
	if m, ok := body.(*ast.MappingNode); ok {
		for _, kv := range m.Values {
			if kv.Key.String() != "connectors" {
				continue
			}
			cm, ok := kv.Value.(*ast.MappingNode)
			if !ok {
				return nil, posErr(path, kv.Value.GetToken(), "connectors: want a map of instance name to settings")
			}
			for _, inst := range cm.Values {
				name := inst.Key.String()
				sec, ok := inst.Value.(*ast.MappingNode)
				if !ok {
					return nil, posErr(path, inst.Value.GetToken(), fmt.Sprintf("connector %q: want a map of settings", name))
				}
				c.nodes[name] = sec
				c.order = append(c.order, name)
			}
		}
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Store == "" {
		c.Store = "sqlite://liaison.db"
	}
	if c.Workers == 0 {
		c.Workers = 16
	}
	if c.Reload == 0 {
		c.Reload = 5 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Backpressure.MaxLag <= 0 {
		c.Backpressure.MaxLag = DefaultMaxLag
	}
	if c.RuleBudget.Steps < 0 {
		return nil, fmt.Errorf("%s: rule_budget.steps %d: want a positive number", path, c.RuleBudget.Steps)
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("%s: log.level %q: want debug, info, warn or error", path, c.Log.Level)
	}
	if err := checkNotify(path, body, c); err != nil {
		return nil, err
	}
	if err := examples.CheckTracker(c.DevTracker); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.DevTracker != "" && c.Mappings != "" {
		return nil, fmt.Errorf("%s: dev_tracker chooses among the shipped mappings and mappings names a folder of your own: set one of them", path)
	}
	return c, nil
}

// checkNotify validates the notify and digest sections, with positions.
func checkNotify(path string, body ast.Node, c *Config) error {
	at := func(p string) *token.Token {
		yp, err := yaml.PathString(p)
		if err != nil {
			return nil
		}
		if n, err := yp.FilterNode(body); err == nil && n != nil {
			return n.GetToken()
		}
		return nil
	}
	var errs []error
	for i, a := range c.Notify.Allow {
		if _, err := notify.ParseAllow([]string{a}); err != nil {
			errs = append(errs, posErr(path, at(fmt.Sprintf("$.notify.allow[%d]", i)), err.Error()))
		}
	}
	if c.Digest.Schedule == "" {
		c.Digest.Schedule = "mon 08:00"
	}
	if _, err := digest.ParseSchedule(c.Digest.Schedule); err != nil {
		errs = append(errs, posErr(path, at("$.digest.schedule"), "digest."+err.Error()))
	}
	if c.Digest.Timezone != "" {
		if _, err := time.LoadLocation(c.Digest.Timezone); err != nil {
			errs = append(errs, posErr(path, at("$.digest.timezone"), fmt.Sprintf("digest.timezone %q: want a zone name such as Europe/Paris", c.Digest.Timezone)))
		}
	}
	for _, org := range slices.Sorted(maps.Keys(c.Digest.To)) {
		addrs := c.Digest.To[org]
		if len(addrs) == 0 {
			errs = append(errs, posErr(path, at("$.digest.to"), fmt.Sprintf("digest.to %q: no address", org)))
		}
		for _, a := range addrs {
			if m, err := mail.ParseAddress(a); err != nil || m.Address != a {
				errs = append(errs, posErr(path, at("$.digest.to"), fmt.Sprintf("digest.to %q: %q is not a bare mail address", org, a)))
			}
		}
	}
	if len(c.Digest.To) > 0 && c.Notify.SMTP.Host == "" {
		errs = append(errs, posErr(path, at("$.digest"), "digest.to needs notify.smtp: digests are sent by mail"))
	}
	return errors.Join(errs...)
}

// StoreDSN resolves Store, reading env:NAME from the environment.
func (c *Config) StoreDSN() (string, error) {
	if name, ok := strings.CutPrefix(c.Store, "env:"); ok {
		v := os.Getenv(name)
		if v == "" {
			return "", fmt.Errorf("%s: store: environment variable %q is empty", c.path, name)
		}
		return v, nil
	}
	return c.Store, nil
}

// Instances returns the connector instances in file order.
func (c *Config) Instances() []Instance {
	var out []Instance
	for _, name := range c.order {
		sec := c.nodes[name]
		kind := name
		own := &ast.MappingNode{BaseNode: sec.BaseNode, Start: sec.Start, End: sec.End, IsFlowStyle: sec.IsFlowStyle}
		for _, kv := range sec.Values {
			if kv.Key.String() == "kind" {
				kind = strings.Trim(kv.Value.String(), `"'`)
				continue
			}
			own.Values = append(own.Values, kv)
		}
		path := c.path
		out = append(out, Instance{Name: name, Kind: kind, Decode: func(v any) error {
			if len(own.Values) == 0 {
				return nil
			}
			if err := DecodeNode(own, v, yaml.DisallowUnknownField()); err != nil {
				return At(path, err)
			}
			return nil
		}})
	}
	return out
}

// Systems maps instance names to connector kinds, for the mapping loader's
// check that rules name only configured systems.
func (c *Config) Systems() map[string]string {
	m := map[string]string{}
	for _, in := range c.Instances() {
		m[in.Name] = in.Kind
	}
	return m
}

// Projects says, per instance that has a projects key (Jira's
// projects: {dev: [KBOT], change: DO}), which projects hold which kind of
// record: dev → dev_ticket, change → change_ticket. The mappings take
// their create projects and key patterns from it. A value that does not
// read as such is left out here; the connector's own decoding reports it.
func (c *Config) Projects() map[string]map[core.Kind][]string {
	out := map[string]map[core.Kind][]string{}
	for _, name := range c.order {
		for _, kv := range c.nodes[name].Values {
			if kv.Key.String() != "projects" {
				continue
			}
			var p struct {
				Dev    any `yaml:"dev"`
				Change any `yaml:"change"`
			}
			if err := DecodeNode(kv.Value, &p); err != nil {
				continue
			}
			kinds := map[core.Kind][]string{}
			for kind, v := range map[core.Kind]any{core.DevTicket: p.Dev, core.ChangeTicket: p.Change} {
				if keys := projectKeys(v); len(keys) > 0 {
					kinds[kind] = keys
				}
			}
			out[name] = kinds
		}
	}
	return out
}

// projectKeys reads a project key or a list of them.
func projectKeys(v any) []string {
	switch x := v.(type) {
	case string:
		if x != "" {
			return []string{x}
		}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Check reports instances whose kind is not registered.
func (c *Config) Check() error {
	var errs []error
	for _, in := range c.Instances() {
		if _, ok := core.Lookup(in.Kind); !ok {
			errs = append(errs, posErr(c.path, c.nodes[in.Name].GetToken(),
				fmt.Sprintf("connector %q: unknown kind %q (known: %s)", in.Name, in.Kind, strings.Join(core.Registered(), ", "))))
		}
	}
	return errors.Join(errs...)
}

// checkDurations validates the duration settings first, because the
// decoder reports a bad duration without its position.
func checkDurations(path string, body ast.Node) error {
	for _, p := range []string{"$.retention.raw", "$.retention.audit", "$.mappings_reload", "$.rule_budget.time", "$.shutdown_timeout",
		"$.retry_after_max", "$.uncertain_grace", "$.lookup_window", "$.console.session_ttl"} {
		yp, err := yaml.PathString(p)
		if err != nil {
			return err
		}
		n, err := yp.FilterNode(body)
		if err != nil || n == nil {
			continue
		}
		v := strings.Trim(n.String(), `"'`)
		if _, err := time.ParseDuration(v); err != nil {
			return posErr(path, n.GetToken(), fmt.Sprintf("%s: %q is not a duration (want e.g. 168h, 30m, 5s)", strings.TrimPrefix(p, "$."), v))
		}
	}
	return nil
}

type tokenError interface {
	GetToken() *token.Token
	GetMessage() string
}

// At turns a go-yaml error into one line "file:line:col: message".
func At(path string, err error) error {
	var te tokenError
	if errors.As(err, &te) && te.GetToken() != nil {
		return posErr(path, te.GetToken(), lowerFirst(te.GetMessage()))
	}
	return fmt.Errorf("%s: %w", path, err)
}

func posErr(path string, tk *token.Token, msg string) error {
	if tk == nil || tk.Position == nil {
		return fmt.Errorf("%s: %s", path, msg)
	}
	return fmt.Errorf("%s:%d:%d: %s", path, tk.Position.Line, tk.Position.Column, msg)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// Names lists the configured instance names, sorted.
func (c *Config) Names() []string {
	n := slices.Clone(c.order)
	slices.Sort(n)
	return n
}

// DecodeNode decodes a YAML node into v, as yaml.NodeToValue does, turning
// a panic of the YAML library (it has some on malformed tags, such as
// `!0` before a scalar) into an error: a bad file is reported, never a
// crash of the daemon or the command that reads it.
func DecodeNode(node ast.Node, v any, opts ...yaml.DecodeOption) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed YAML the parser could not decode (%v)", p)
		}
	}()
	return yaml.NodeToValue(node, v, opts...)
}

// Package opsgenie pages an on-call team through OpsGenie's Alert API v2:
// a page is an alert, made for a case that needs someone now and closed
// when the case no longer does.
//
// A page record is opsgenie/page/<alias>. The alias is the creating
// action's marker, so OpsGenie itself de-duplicates a create sent twice
// (while the alert is open, a second create with its alias only counts
// up), and the gateway finds an alert it made by its alias before making
// it again. Creating and closing are asynchronous at OpsGenie (202, the
// request is queued): the engine's look-up window covers the delay before
// a new alert can be read.
//
// Configuration (snake_case YAML, decoded strictly):
//
//	api_key_env: OPSGENIE_API_KEY   # or api_key_file: an API integration's key (GenieKey)
//	region: us                      # us (api.opsgenie.com) or eu (api.eu.opsgenie.com)
//	team: Support on-call           # the responder team a page goes to, unless the rule names one
//	url: https://api.opsgenie.com   # optional: only the vendor's hosts, or one listed under allow
//	allow: [127.0.0.1]              # optional: private addresses or hosts url may name (fakes, relays)
//
// Action fields a rule may give a page: priority (P1 to P5, the mappings'
// native priorities; P3 when none), team (a responder team's name), url
// (the case's record, shown in the alert's details), entity.
package opsgenie

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/paging"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

func init() { core.Register("opsgenie", New) }

// Config is the connector's configuration section.
type Config struct {
	APIKeyEnv  string   `yaml:"api_key_env" json:"api_key_env"`
	APIKeyFile string   `yaml:"api_key_file" json:"api_key_file"`
	Region     string   `yaml:"region" json:"region"`
	Team       string   `yaml:"team" json:"team"`
	URL        string   `yaml:"url" json:"url"`
	Allow      []string `yaml:"allow" json:"allow"`
}

// vendor is OpsGenie's key and API hosts by region.
var vendor = paging.Vendor{Name: "opsgenie", Key: "api_key",
	KeyHelp: "the key of an API integration: Settings → Integrations → API",
	Regions: map[string]string{"us": "api.opsgenie.com", "eu": "api.eu.opsgenie.com"}}

// Native statuses of a page, as the mappings name them.
const (
	StatusOpen   = "open"
	StatusAcked  = "acked"
	StatusClosed = "closed"
)

// Connector is one configured OpsGenie account. Safe for concurrent use.
type Connector struct {
	name  string
	team  string
	key   *core.Secret // behind a pointer, so that printing a Connector never shows it
	api   *paging.Endpoint
	log   *slog.Logger
	clock core.Clock
}

// String names the connector, for logs; its key never prints.
func (c *Connector) String() string {
	return fmt.Sprintf("opsgenie connector %q (%s)", c.name, c.api.Host())
}

// Name implements core.Connector.
func (c *Connector) Name() string { return c.name }

// New builds an OpsGenie connector from its configuration section. It
// reads the key at once and makes no request.
func New(s core.Setup) (core.Connector, error) { return newConnector(s, retryhttp.Options{}) }

// newConnector is New with the retrying client's options exposed, so that
// tests can shorten backoffs.
func newConnector(s core.Setup, ro retryhttp.Options) (*Connector, error) {
	var cfg Config
	if s.Decode != nil {
		if err := s.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("opsgenie %q: config: %w", s.Name, err)
		}
	}
	key, api, err := vendor.Open(s, paging.Account{KeyEnv: cfg.APIKeyEnv, KeyFile: cfg.APIKeyFile,
		Region: cfg.Region, URL: cfg.URL, Allow: cfg.Allow}, ro)
	if err != nil {
		return nil, err
	}
	return &Connector{name: s.Name, team: strings.TrimSpace(cfg.Team), key: &key, api: api,
		log: cmp.Or(s.Log, slog.New(slog.DiscardHandler)), clock: cmp.Or[core.Clock](s.Clock, core.SystemClock{})}, nil
}

func (c *Connector) header() http.Header {
	return http.Header{"Authorization": {"GenieKey " + c.key.Reveal()}}
}

// byAlias is the query that makes an alert's identifier its alias.
var byAlias = url.Values{"identifierType": {"alias"}}

// Apply implements core.Applier: Create raises an alert, Transition to
// closed closes it (acked acknowledges it). Other actions are permanent
// errors: a page carries no comments or fields of ours.
func (c *Connector) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Target.Kind != core.Page {
		return core.Result{}, core.Permanent(fmt.Errorf("opsgenie: only pages are kept here, not %s", a.Target.Kind))
	}
	switch a.Kind {
	case core.Create:
		return c.create(ctx, a)
	case core.Transition:
		return c.transition(ctx, a)
	}
	return core.Result{}, core.Permanent(fmt.Errorf("opsgenie: cannot %s a page; pages are created and closed", a.Kind))
}

func (c *Connector) create(ctx context.Context, a core.Action) (core.Result, error) {
	body, err := AlertFor(a, c.team)
	if err != nil {
		return core.Result{}, core.Permanent(fmt.Errorf("opsgenie: rule %q: %w", a.Rule, err))
	}
	var ack Accepted
	if _, err := c.api.Call(ctx, http.MethodPost, "/v2/alerts", nil, c.header(), body, &ack); err != nil {
		return core.Result{}, fmt.Errorf("opsgenie: create alert: %w", err)
	}
	ref := core.Ref{System: c.name, Kind: core.Page, ID: body.Alias}
	now := c.clock.Now()
	c.log.Info("page raised", "page", ref.String(), "priority", body.Priority, "request", ack.RequestID)
	return core.Result{Created: ref, Note: "alert requested " + ack.RequestID, Item: &core.Item{Ref: ref, Title: body.Message,
		Native: StatusOpen, Priority: body.Priority, Marker: body.Alias, CreatedAt: now, UpdatedAt: now}}, nil
}

// closing maps a native status the rules move a page to onto the API's
// action path.
var closing = map[string]string{StatusClosed: "close", StatusAcked: "acknowledge"}

func (c *Connector) transition(ctx context.Context, a core.Action) (core.Result, error) {
	verb, ok := closing[strings.ToLower(a.Native)]
	if !ok {
		return core.Result{}, core.Permanent(fmt.Errorf("opsgenie: a page moves to %s or %s only, not %q", StatusAcked, StatusClosed, a.Native))
	}
	body := Note{User: "Liaison", Source: "liaison", Note: core.Clip(cmp.Or(strings.TrimSpace(a.Body), "Liaison, rule "+a.Rule), maxNote)}
	var ack Accepted
	path := "/v2/alerts/" + url.PathEscape(a.Target.ID) + "/" + verb
	if _, err := c.api.Call(ctx, http.MethodPost, path, byAlias, c.header(), body, &ack); err != nil {
		return core.Result{}, fmt.Errorf("opsgenie: %s alert: %w", verb, err)
	}
	c.log.Info("page "+verb+"d", "page", a.Target.String(), "request", ack.RequestID)
	return core.Result{Note: verb + " requested " + ack.RequestID}, nil
}

// lookup reads an alert by its alias; core.ErrNotFound when there is none.
func (c *Connector) lookup(ctx context.Context, alias string) (*Alert, error) {
	var raw json.RawMessage
	status, err := c.api.Call(ctx, http.MethodGet, "/v2/alerts/"+url.PathEscape(alias), byAlias, c.header(), nil, &raw)
	if status == http.StatusNotFound {
		return nil, core.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("opsgenie: read alert: %w", err)
	}
	al, err := decodeAlert(raw)
	if err != nil {
		return nil, core.Permanent(fmt.Errorf("opsgenie: read alert: the answer is not the documented JSON: %w", err))
	}
	if al.Alias != alias {
		return nil, errors.New("opsgenie: read alert: the answer names another alert")
	}
	return al, nil
}

// FindByMarker implements core.MarkerFinder: the marker is the alias.
func (c *Connector) FindByMarker(ctx context.Context, kind core.Kind, marker string) (core.Ref, error) {
	if kind != core.Page {
		return core.Ref{}, core.ErrNotFound
	}
	if _, err := c.lookup(ctx, marker); err != nil {
		return core.Ref{}, err
	}
	return core.Ref{System: c.name, Kind: core.Page, ID: marker}, nil
}

// Applied implements core.AppliedChecker for closing and acknowledging:
// an alert already closed (or acknowledged) needs nothing sent again.
func (c *Connector) Applied(ctx context.Context, a core.Action) (core.Result, bool, error) {
	if a.Kind != core.Transition {
		return core.Result{}, false, nil
	}
	al, err := c.lookup(ctx, a.Target.ID)
	if errors.Is(err, core.ErrNotFound) {
		return core.Result{}, false, nil
	}
	if err != nil {
		return core.Result{}, false, err
	}
	switch strings.ToLower(a.Native) {
	case StatusClosed:
		return core.Result{}, al.Status == StatusClosed, nil
	case StatusAcked:
		return core.Result{}, al.Acknowledged || al.Status == StatusClosed, nil
	}
	return core.Result{}, false, nil
}

// Fetch implements core.Fetcher: the alert's current state.
func (c *Connector) Fetch(ctx context.Context, r core.Ref) (*core.Item, error) {
	al, err := c.lookup(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	return al.item(c.name), nil
}

// item is the alert as a page record: open, acked (open and
// acknowledged) or closed.
func (al *Alert) item(system string) *core.Item {
	native := al.Status
	if native == StatusOpen && al.Acknowledged {
		native = StatusAcked
	}
	ref := core.Ref{System: system, Kind: core.Page, ID: al.Alias}
	return &core.Item{Ref: ref, Title: al.Message, Native: native, Priority: al.Priority, Labels: al.Tags,
		Marker: al.Alias, CreatedAt: al.CreatedAt, UpdatedAt: al.UpdatedAt}
}

// CheckMappings implements core.MappingChecker, at start and on every
// reload: the mappings' page statuses and priorities are OpsGenie's, and
// the key is accepted (a read of one alert; an API integration needs
// Read Access for the gateway's look-ups anyway). A refused key is found
// then, not when someone must be paged.
func (c *Connector) CheckMappings(ctx context.Context, m *core.Mappings) error {
	bad := paging.CheckNames(c.name, m, []string{StatusOpen, StatusAcked, StatusClosed}, Priorities)
	if _, err := c.api.Call(ctx, http.MethodGet, "/v2/alerts", url.Values{"limit": {"1"}}, c.header(), nil, nil); err != nil {
		bad = append(bad, fmt.Sprintf("the API key: %v", err))
	}
	if len(bad) > 0 {
		return fmt.Errorf("opsgenie %q: %s", c.name, strings.Join(bad, "; "))
	}
	return nil
}

var (
	_ core.MappingChecker = (*Connector)(nil)
	_ core.Applier        = (*Connector)(nil)
	_ core.MarkerFinder   = (*Connector)(nil)
	_ core.AppliedChecker = (*Connector)(nil)
	_ core.Fetcher        = (*Connector)(nil)
)

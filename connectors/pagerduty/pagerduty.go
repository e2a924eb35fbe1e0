// Package pagerduty pages an on-call team through PagerDuty's Events API
// v2: a page is an alert event on one service (the integration's routing
// key), triggered for a case that needs someone now and resolved when the
// case no longer does.
//
// A page record is pagerduty/page/<dedup_key>. The dedup key is the
// creating action's marker: PagerDuty folds a trigger sent twice with one
// key into the alert while it is open, which is the API's own idempotency,
// so a create whose outcome was unknown is sent again once the engine
// knows the first attempt can no longer be in flight (only an alert
// resolved by hand in between would be raised anew: PagerDuty opens a new
// alert for a trigger after a resolve). The Events API has no read: a page
// is never looked up, and a resolve sent twice is dropped by PagerDuty.
//
// Configuration (snake_case YAML, decoded strictly):
//
//	routing_key_env: PAGERDUTY_ROUTING_KEY  # or routing_key_file: an Events API v2 integration key
//	region: us                              # us (events.pagerduty.com) or eu (events.eu.pagerduty.com)
//	source: support.acme.example            # payload.source (default "liaison")
//	component: help desk                    # optional payload.component
//	group: support                          # optional payload.group
//	url: https://events.pagerduty.com       # optional: only the vendor's hosts, or one listed under allow
//	allow: [127.0.0.1]                      # optional: private addresses or hosts url may name
//
// Action fields a rule may give a page: priority (the severity: critical,
// error, warning or info, the mappings' native priorities; error when
// none), url (a link to the case's record), class.
package pagerduty

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/paging"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

func init() { core.Register("pagerduty", New) }

// Config is the connector's configuration section.
type Config struct {
	RoutingKeyEnv  string   `yaml:"routing_key_env" json:"routing_key_env"`
	RoutingKeyFile string   `yaml:"routing_key_file" json:"routing_key_file"`
	Region         string   `yaml:"region" json:"region"`
	Source         string   `yaml:"source" json:"source"`
	Component      string   `yaml:"component" json:"component"`
	Group          string   `yaml:"group" json:"group"`
	URL            string   `yaml:"url" json:"url"`
	Allow          []string `yaml:"allow" json:"allow"`
}

// vendor is PagerDuty's routing key and Events API hosts by region.
var vendor = paging.Vendor{Name: "pagerduty", Key: "routing_key",
	KeyHelp: "the integration key of an Events API v2 integration on the on-call service",
	Regions: map[string]string{"us": "events.pagerduty.com", "eu": "events.eu.pagerduty.com"}}

// Native statuses of a page, as PagerDuty names an alert's states.
const (
	StatusTriggered    = "triggered"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Connector is one configured PagerDuty service integration. Safe for
// concurrent use.
type Connector struct {
	name string
	cfg  Config
	key  *core.Secret // behind a pointer, so that printing a Connector never shows it
	api  *paging.Endpoint
	log  *slog.Logger
}

// String names the connector, for logs; its key never prints.
func (c *Connector) String() string {
	return fmt.Sprintf("pagerduty connector %q (%s)", c.name, c.api.Host())
}

// Name implements core.Connector.
func (c *Connector) Name() string { return c.name }

// New builds a PagerDuty connector from its configuration section. It
// reads the routing key at once and makes no request.
func New(s core.Setup) (core.Connector, error) { return newConnector(s, retryhttp.Options{}) }

func newConnector(s core.Setup, ro retryhttp.Options) (*Connector, error) {
	var cfg Config
	if s.Decode != nil {
		if err := s.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("pagerduty %q: config: %w", s.Name, err)
		}
	}
	key, api, err := vendor.Open(s, paging.Account{KeyEnv: cfg.RoutingKeyEnv, KeyFile: cfg.RoutingKeyFile,
		Region: cfg.Region, URL: cfg.URL, Allow: cfg.Allow}, ro)
	if err != nil {
		return nil, err
	}
	cfg.Source = cmp.Or(strings.TrimSpace(cfg.Source), "liaison")
	return &Connector{name: s.Name, cfg: cfg, key: &key, api: api, log: cmp.Or(s.Log, slog.New(slog.DiscardHandler))}, nil
}

// Apply implements core.Applier: Create triggers an alert, Transition to
// resolved resolves it (acknowledged acknowledges it).
func (c *Connector) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Target.Kind != core.Page {
		return core.Result{}, core.Permanent(fmt.Errorf("pagerduty: only pages are kept here, not %s", a.Target.Kind))
	}
	var ev Event
	switch a.Kind {
	case core.Create:
		var err error
		if ev, err = c.TriggerFor(a); err != nil {
			return core.Result{}, core.Permanent(fmt.Errorf("pagerduty: rule %q: %w", a.Rule, err))
		}
	case core.Transition:
		act, ok := actions[strings.ToLower(a.Native)]
		if !ok {
			return core.Result{}, core.Permanent(fmt.Errorf("pagerduty: a page moves to %s or %s only, not %q", StatusAcknowledged, StatusResolved, a.Native))
		}
		ev = Event{RoutingKey: c.key.Reveal(), EventAction: act, DedupKey: a.Target.ID}
	default:
		return core.Result{}, core.Permanent(fmt.Errorf("pagerduty: cannot %s a page; pages are triggered and resolved", a.Kind))
	}
	var raw json.RawMessage
	if _, err := c.api.Call(ctx, http.MethodPost, "/v2/enqueue", nil, nil, ev, &raw); err != nil {
		return core.Result{}, fmt.Errorf("pagerduty: %s event: %w", ev.EventAction, err)
	}
	// A 2xx is the event accepted; an answer that does not read as the
	// documented one changes nothing of that.
	ack, err := decodeAccepted(raw)
	if err != nil {
		c.log.Warn("pagerduty: the answer to an accepted event is not the documented JSON", "event", ev.EventAction, "err", err)
	}
	// The alert lives under the key PagerDuty answers with, which is ours
	// unless PagerDuty chose another: the page is recorded under that one,
	// so that its resolve reaches it. Failing the accepted trigger instead
	// would leave a raised page that nothing ever resolves.
	key := ev.DedupKey
	if ack.DedupKey != "" && ack.DedupKey != key && a.Kind == core.Create {
		c.log.Warn("pagerduty: the alert was given another dedup key than the page's marker", "marker", key, "dedup_key", ack.DedupKey)
		key = ack.DedupKey
	}
	ref := core.Ref{System: c.name, Kind: core.Page, ID: key}
	c.log.Info("page event accepted", "page", ref.String(), "event", ev.EventAction)
	if a.Kind != core.Create {
		return core.Result{Note: ev.EventAction + " accepted"}, nil
	}
	return core.Result{Created: ref, Note: "trigger accepted", Item: &core.Item{Ref: ref, Title: ev.Payload.Summary,
		Native: StatusTriggered, Priority: ev.Payload.Severity, Marker: ev.DedupKey}}, nil
}

// actions maps a native status the rules move a page to onto an event.
var actions = map[string]string{StatusResolved: "resolve", StatusAcknowledged: "acknowledge"}

// Severities are the Events API's severities, most urgent first.
var Severities = []string{"critical", "error", "warning", "info"}

// TriggerFor builds the trigger event of a page action: the title as the
// summary, the marker as the dedup key, the rule's priority as severity,
// the body and the subject in custom details, the record's url as a link.
func (c *Connector) TriggerFor(a core.Action) (Event, error) {
	summary := strings.TrimSpace(a.Title)
	if summary == "" {
		return Event{}, errors.New("a page needs a title (the event's summary)")
	}
	sev, err := vendor.Priority(a.Fields["priority"], "error", Severities)
	if err != nil {
		return Event{}, err
	}
	ev := Event{RoutingKey: c.key.Reveal(), EventAction: "trigger", DedupKey: a.Marker(), Client: "Liaison",
		Payload: &Payload{Summary: core.Clip(summary, maxSummary), Source: c.cfg.Source, Severity: sev,
			Component: c.cfg.Component, Group: c.cfg.Group, Class: strings.TrimSpace(a.Fields["class"]),
			CustomDetails: map[string]string{"subject": a.Subject.String(), "rule": a.Rule}}}
	if b := strings.TrimSpace(a.Body); b != "" {
		ev.Payload.CustomDetails["description"] = core.Clip(b, maxDetails)
	}
	if u := strings.TrimSpace(a.Fields["url"]); u != "" {
		ev.Links = []Link{{Href: u, Text: a.Subject.String()}}
	}
	return ev, nil
}

// CheckMappings implements core.MappingChecker, at start and on every
// reload: the mappings' page statuses and priorities (severities) are
// PagerDuty's. The routing key cannot be checked without sending an
// event; a refused one is a permanent error on the first page.
func (c *Connector) CheckMappings(_ context.Context, m *core.Mappings) error {
	if bad := paging.CheckNames(c.name, m, []string{StatusTriggered, StatusAcknowledged, StatusResolved}, Severities); len(bad) > 0 {
		return fmt.Errorf("pagerduty %q: %s", c.name, strings.Join(bad, "; "))
	}
	return nil
}

var (
	_ core.Applier        = (*Connector)(nil)
	_ core.MappingChecker = (*Connector)(nil)
)

// Package simulate replays a scenario of events against empty state and
// reports every action the rules take, touching nothing outside: each
// system named in the mappings is an in-memory sandbox, the store is a
// temporary SQLite file, and the clock is fake.
package simulate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/config"
)

// Scenario is a list of things people do in their systems.
type Scenario struct {
	// Start is the fake clock's start (default 2026-11-23T09:00:00Z).
	Start  time.Time `yaml:"start"`
	Events []Step    `yaml:"events"`
}

// Step is one person's action: a record created or changed in a system.
// A step with only after is time passing: the gateway does what falls due
// meanwhile (a response-time target breached).
type Step struct {
	// After advances the fake clock before the step (default 1m).
	After time.Duration `yaml:"after"`
	// Type is the event type (created, updated, commented, merged, ...).
	Type core.EventType `yaml:"type"`
	Item StepItem       `yaml:"item"`
	// Comment adds a comment to the record.
	Comment *StepComment `yaml:"comment"`
}

// StepItem is the record as the person left it. Ref is system/kind/id, or
// system/kind for the newest record of that kind (one the gateway created).
// Fields left out keep their current values.
type StepItem struct {
	Ref      string            `yaml:"ref"`
	Title    *string           `yaml:"title"`
	Body     *string           `yaml:"body"`
	Status   *string           `yaml:"status"` // native status
	Priority *string           `yaml:"priority"`
	Reporter *string           `yaml:"reporter"`
	Assignee *string           `yaml:"assignee"`
	Labels   []string          `yaml:"labels"`
	Fields   map[string]string `yaml:"fields"`
	URL      *string           `yaml:"url"`
	// Untrusted: the author may not link what the record names (GitHub:
	// an author association the connector does not trust).
	Untrusted *bool `yaml:"untrusted"`
}

// StepComment is a comment a person adds.
type StepComment struct {
	Author string `yaml:"author"`
	Body   string `yaml:"body"`
	Public *bool  `yaml:"public"` // default true
}

// Load parses a scenario strictly; errors carry file:line:col.
func Load(path string, b []byte) (*Scenario, error) {
	f, err := parser.ParseBytes(b, 0)
	if err != nil {
		return nil, config.At(path, err)
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, fmt.Errorf("%s: empty scenario", path)
	}
	var s Scenario
	if err := config.DecodeNode(f.Docs[0].Body, &s, yaml.DisallowUnknownField()); err != nil {
		return nil, config.At(path, err)
	}
	if s.Start.IsZero() {
		s.Start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	}
	var errs []error
	for i, st := range s.Events {
		where := fmt.Sprintf("%s: events[%d]", path, i)
		if st.waits() {
			if st.After <= 0 {
				errs = append(errs, fmt.Errorf("%s: a step without type and item is time passing: give after, e.g. after: 24h", where))
			}
			continue
		}
		if st.Type == "" {
			errs = append(errs, fmt.Errorf("%s: type is required (created, updated, commented, merged, ...)", where))
		}
		sys, kind, id, err := splitRef(st.Item.Ref)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: item.ref: %w", where, err))
			continue
		}
		if id == "" && st.Type == core.Created {
			errs = append(errs, fmt.Errorf("%s: item.ref %q: a created record needs an id (%s/%s/ID)", where, st.Item.Ref, sys, kind))
		}
		if st.After < 0 {
			errs = append(errs, fmt.Errorf("%s: after must not be negative", where))
		}
	}
	if len(s.Events) == 0 {
		errs = append(errs, fmt.Errorf("%s: no events", path))
	}
	return &s, errors.Join(errs...)
}

// waits reports whether the step is only time passing.
func (st Step) waits() bool {
	return st.Type == "" && st.Item.Ref == "" && st.Comment == nil
}

// splitRef reads system/kind[/id].
func splitRef(s string) (sys string, kind core.Kind, id string, err error) {
	parts := strings.SplitN(s, "/", 3)
	if len(parts) < 2 || parts[0] == "" {
		return "", "", "", fmt.Errorf("%q: want system/kind/id or system/kind", s)
	}
	kind = core.Kind(parts[1])
	if !kind.Known() {
		return "", "", "", fmt.Errorf("%q: unknown kind %q", s, parts[1])
	}
	if len(parts) == 3 {
		id = parts[2]
	}
	return parts[0], kind, id, nil
}

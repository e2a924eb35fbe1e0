// Package examples ships the documented variants of the default mappings,
// embedded, so that the configuration can choose one by name
// (dev_tracker: mantis) without a mapping folder on disk. Each variant is a
// folder here that extends the defaults; `liaison check` and `liaison
// simulate --mappings` read the folder itself.
package examples

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/mappings"
)

//go:embed mantis/*.yaml
var variants embed.FS

// DefaultTracker is the bug tracker of the defaults.
const DefaultTracker = "jira"

// DevTrackers lists the values dev_tracker takes: the defaults' tracker,
// then each variant's.
var DevTrackers = []string{DefaultTracker, "mantis"}

// CheckTracker says what is wrong with a dev_tracker value, or nil.
func CheckTracker(name string) error {
	if name == "" || slices.Contains(DevTrackers, name) {
		return nil
	}
	return fmt.Errorf("dev_tracker %q: want one of %s", name, strings.Join(DevTrackers, ", "))
}

// Load compiles the shipped mappings for a bug tracker: the embedded
// defaults for "" and "jira", otherwise the variant of that name over them.
func Load(tracker string, o mappings.Options) (*core.Mappings, error) {
	if err := CheckTracker(tracker); err != nil {
		return nil, err
	}
	if tracker == "" || tracker == DefaultTracker {
		if o.Source == "" {
			o.Source = "embedded defaults"
		}
		return mappings.LoadDefaults(o)
	}
	sub, err := fs.Sub(variants, tracker)
	if err != nil {
		return nil, fmt.Errorf("dev_tracker %q: %w", tracker, err)
	}
	if o.Dir == "" {
		o.Dir = "examples/" + tracker
	}
	if o.Source == "" {
		o.Source = "embedded mappings for dev_tracker " + tracker
	}
	return mappings.Load(sub, o)
}

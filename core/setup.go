package core

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
)

// SetupStep is one thing an admin creates in a system before the mappings
// can run there: a field, the statuses of a workflow, a webhook.
type SetupStep struct {
	Title string   // what to create
	Where string   // where in the system's administration
	Items []string // one line each
	Code  string   // a block to paste as it is (JSON), if any
	Lang  string   // the block's language, for Markdown
}

// SetupGuide lists what system (an instance of the guide's connector kind)
// must have for the mappings in force; publicURL is where the gateway's
// webhooks are reached. It reads the mappings only: no credentials, no call.
type SetupGuide func(system string, m *Mappings, publicURL string) []SetupStep

var (
	guidesMu sync.RWMutex
	guides   = map[string]SetupGuide{}
)

// RegisterSetupGuide makes a connector kind's guide available to `liaison
// setup`. Connector packages call it from init, beside Register.
func RegisterSetupGuide(kind string, g SetupGuide) {
	guidesMu.Lock()
	defer guidesMu.Unlock()
	guides[kind] = g
}

// LookupSetupGuide returns the guide registered for a connector kind.
func LookupSetupGuide(kind string) (SetupGuide, bool) {
	guidesMu.RLock()
	defer guidesMu.RUnlock()
	g, ok := guides[kind]
	return g, ok
}

// FieldType is what a field must be in its system, as a kind's fields
// declare it ({name: Reproducible, type: dropdown, options: [yes, no]}):
// `liaison setup` tells the admin what to create.
type FieldType struct {
	Type    string   // one of FieldTypeNames
	Options []string // a dropdown's or multiselect's values, in order
}

// FieldTypeNames are the types a field declaration may give, in the
// connectors' neutral words; each connector's setup guide names its own.
var FieldTypeNames = []string{"text", "multiline", "number", "date", "checkbox", "dropdown", "multiselect", "user", "users"}

// HasOptions reports whether a field type takes a list of options.
func HasOptions(typ string) bool { return typ == "dropdown" || typ == "multiselect" }

// FieldTypesOf returns the declared type of each native field of a kind,
// by native name.
func (km *KindMap) FieldTypesOf() map[string]FieldType {
	out := map[string]FieldType{}
	for canon, ft := range km.FieldTypes {
		out[km.Fields[canon]] = ft
	}
	return out
}

// SetupFieldLine is a setup checklist's line for a field: its name and,
// when declared, its type as the system calls it (typeNames, by
// FieldTypeNames) and its options.
func SetupFieldLine(name string, ft FieldType, typeNames map[string]string) string {
	if ft.Type == "" {
		return name
	}
	line := name + ": " + typeNames[ft.Type]
	if len(ft.Options) > 0 {
		line += ", options " + strings.Join(ft.Options, ", ")
	}
	return line
}

// SetupJSON renders a block of a setup step: indented, with placeholders
// such as <id of …> as written.
func SetupJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}

// SiteChecker is implemented by connectors that can check, beyond the
// names the mappings use (MappingChecker), what their system must hold
// for the gateway to work there: the account's permissions, a workflow
// path to each status the rules move records to, and the webhooks.
// publicURL is where the systems reach the gateway ("" when the config
// does not say: a webhook then matches by its path alone).
type SiteChecker interface {
	CheckSite(ctx context.Context, m *Mappings, publicURL string) SiteReport
}

// SiteReport is what CheckSite found. Each line says what is missing,
// what to create and where, so that an admin can work through them all
// in one sitting.
type SiteReport struct {
	Missing []string // what must exist before serve starts
	Unsure  []string // to check by hand: what the account may not read, or a difference the gateway works with (a field of another type)
	Err     error    // the system could not be read at all
}

// WebhookPath is the path of the gateway's webhook for an instance.
func WebhookPath(kind, system string) string { return "/webhooks/" + kind + "/" + system }

// WebhookAt reports whether a webhook's URL reaches the gateway's
// endpoint for kind/system: at publicURL, or by its path alone when the
// public URL is not known.
func WebhookAt(hookURL, publicURL, kind, system string) bool {
	path := WebhookPath(kind, system)
	hookURL = strings.TrimRight(strings.TrimSpace(hookURL), "/")
	if publicURL != "" {
		return strings.EqualFold(hookURL, strings.TrimRight(publicURL, "/")+path)
	}
	return strings.HasSuffix(hookURL, path)
}

// StatusesWritten returns, in workflow order, the canonical statuses the
// rules move records of system/kind to: the statuses its workflow must
// reach.
func (m *Mappings) StatusesWritten(system string, k Kind) []Status {
	seen := map[Status]bool{}
	for _, a := range m.actionsOn(system, k) {
		if a.Kind == Transition && a.Status != "" {
			seen[a.Status] = true
		}
	}
	out := slices.Collect(maps.Keys(seen))
	slices.SortFunc(out, func(a, b Status) int { return a.Rank() - b.Rank() })
	return out
}

// FieldsWritten returns the native field names the rules set or create
// records of system/kind with, sorted.
func (m *Mappings) FieldsWritten(system string, k Kind) []string {
	seen := map[string]bool{}
	for _, a := range m.actionsOn(system, k) {
		if a.Kind == SetFields || a.Kind == Create {
			for f := range a.Fields {
				seen[f] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// ActionKindsOn returns the kinds of action the rules take on records of
// system/kind, sorted: what the account there needs permission for.
func (m *Mappings) ActionKindsOn(system string, k Kind) []ActionKind {
	seen := map[ActionKind]bool{}
	for _, a := range m.actionsOn(system, k) {
		seen[a.Kind] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// actionsOn returns the rules' actions that may act on records of
// system/kind (their target names it, or names only the kind).
func (m *Mappings) actionsOn(system string, k Kind) []*ActionSpec {
	var out []*ActionSpec
	r := Ref{System: system, Kind: k}
	add := func(as []*ActionSpec, subject Selector) {
		for _, a := range as {
			if a.TargetOf(subject).Matches(r) {
				out = append(out, a)
			}
		}
	}
	for _, r := range m.Rules {
		add(r.Then, r.When)
	}
	for _, s := range m.SLAs {
		add(s.Breach, s.When)
	}
	for _, d := range m.Duplicates {
		add(d.Then, d.When)
	}
	return out
}

package mappings

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// TestOverlay_AFolderHoldsOnlyWhatItChanges: a folder that extends the
// defaults replaces one rule by name, adds one, replaces the calendar,
// and keeps every other default; check says which is which.
func TestOverlay_AFolderHoldsOnlyWhatItChanges(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ours.yaml", `extends: defaults
rules:
  - name: correction-explained
    when: {kind: zendesk/customer_ticket}
    if: 'Has("jira/dev_ticket") && all(Linked("jira/dev_ticket"), .Validated)'
    then:
      - comment: {public: true, body: "Fixed; we deploy on Thursdays."}
  - name: vip-noted
    when: {kind: zendesk/customer_ticket}
    if: 'Item.Field("org") == "Acme Corp"'
    then:
      - comment: {body: "A VIP customer."}
calendar:
  timezone: America/New_York
  weekdays: [mon, tue, wed, thu, fri]
  hours: "08:00-18:00"
`)
	defaults, err := LoadDefaults(Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadDir(dir, Options{})
	if err != nil {
		t.Fatalf("the overlay does not load: %v", err)
	}
	if len(m.Rules) != len(defaults.Rules)+1 {
		t.Errorf("%d rules, want the defaults' %d and one more", len(m.Rules), len(defaults.Rules))
	}
	byName := map[string]*core.Rule{}
	for _, r := range m.Rules {
		byName[r.Name] = r
	}
	if r := byName["correction-explained"]; r == nil || !strings.HasSuffix(r.Pos.File, "ours.yaml") || r.Then[0].Body.Source != "Fixed; we deploy on Thursdays." {
		t.Errorf("correction-explained is not the folder's: %+v", r)
	}
	if r := byName["escalate-bug"]; r == nil || !strings.HasPrefix(r.Pos.File, "default/") {
		t.Errorf("escalate-bug is not the default's: %+v", r)
	}
	if byName["vip-noted"] == nil {
		t.Error("the folder's new rule is missing")
	}
	if len(m.SLAs) == 0 || m.SLAs[0].Calendar == nil || m.SLAs[0].Calendar.Location.String() != "America/New_York" {
		t.Errorf("the calendar is not the folder's")
	}
	for _, want := range []string{"rule correction-explained replaces the default's", "rule vip-noted is added", "calendar replaces the default's"} {
		if !slices.Contains(m.Overlaid, want) {
			t.Errorf("Overlaid %q lacks %q", m.Overlaid, want)
		}
	}

	// A file named like a default file replaces it whole.
	write("links.yaml", `links:
  - name: dev-key-in-pull-request
    from: github/pull_request
    in: [title, branch]
    pattern: '\b({projects}-\d+)\b'
    to: jira/dev_ticket
    role: fixes
`)
	if m, err = LoadDir(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if len(m.Patterns) != 1 || !slices.Contains(m.Overlaid, "file links.yaml replaces the default's") {
		t.Errorf("links.yaml did not replace the default's: %d links, %q", len(m.Patterns), m.Overlaid)
	}
	if slices.Contains(m.Overlaid, "link dev-key-in-pull-request is added") {
		t.Errorf("a link of the replacing file is reported as new: %q", m.Overlaid)
	}

	write("ours.yaml", "extends: everything\n")
	if _, err := LoadDir(dir, Options{}); err == nil || !strings.Contains(err.Error(), `extends "everything": the only mappings a folder can extend are the embedded ones`) {
		t.Errorf("extends of something else: %v", err)
	}
}

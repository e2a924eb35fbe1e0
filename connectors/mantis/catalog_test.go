package mantis

import (
	"context"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// TestCheckMappingsNamesWhatIsMissing: every name the mappings and the
// config use that this Mantis lacks is listed at once.
func TestCheckMappingsNamesWhatIsMissing(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) {
		c.Projects.Dev = append(c.Projects.Dev, "Bugs Outbox", projOther)
		c.Resolutions = map[string]string{"resolved": "sorted"}
	}})
	m := testMappings()
	km := m.Systems["mantis"].Kinds[core.DevTicket]
	km.Statuses["in qa"] = core.StatusReadyForQA
	km.NativePrio["urgent"] = "asap"
	km.Fields["org"] = "Organisation"
	km.Create = map[string]string{"category": "Billing", "severity": "{{ .severity }}"}
	err := e.conn.CheckMappings(context.Background(), m)
	if err == nil {
		t.Fatal("CheckMappings passed")
	}
	for _, want := range []string{
		`project "Bugs Outbox": not found`,
		`project "Marketing site": custom field "Liaison marker" (marker_field) is not linked`,
		`resolution "sorted" is not in Mantis's list`,
		`dev_ticket status "in qa": not in Mantis's list`,
		`dev_ticket priority "asap"`,
		`dev_ticket field "Organisation" (for "org")`,
		`dev_ticket create category "Billing": not in project "Support Misc"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "severity") {
		t.Errorf("a templated create value was checked:\n%v", err)
	}
}

// TestCheckMappingsPassesOnAMatchingMantis.
func TestCheckMappingsPassesOnAMatchingMantis(t *testing.T) {
	e := newEnv(t, envOpts{})
	if err := e.conn.CheckMappings(context.Background(), testMappings()); err != nil {
		t.Fatal(err)
	}
	if calls := e.calls(); len(calls) != 2 {
		t.Fatalf("calls %v; want GET /projects and GET /config", calls)
	}
}

// TestSetupGuideNamesTheMarkerField: the guide tells the admin to create
// the marker field and the statuses the mappings use.
func TestSetupGuideNamesTheMarkerField(t *testing.T) {
	m := testMappings()
	m.Systems["mantis"].Kinds[core.DevTicket].Listed = []string{"new", "resolved"}
	g, ok := core.LookupSetupGuide("mantis")
	if !ok {
		t.Fatal("no guide registered")
	}
	var all []string
	for _, s := range g("mantis", m, "https://liaison.acme.example") {
		all = append(all, s.Title+": "+strings.Join(s.Items, "; "))
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{"Liaison marker", "Customer ticket", "statuses: new (new), resolved (done)", "No webhook"} {
		if !strings.Contains(text, want) {
			t.Errorf("guide lacks %q:\n%s", want, text)
		}
	}
}

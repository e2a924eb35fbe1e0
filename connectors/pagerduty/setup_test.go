package pagerduty

import (
	"context"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/mappings"
)

// TestGuide_NamesWhatTheDefaultsPageWith: the setup guide for the
// defaults names the severities and the rules that trigger and resolve
// pages, and says nothing for a system that keeps no pages.
func TestGuide_NamesWhatTheDefaultsPageWith(t *testing.T) {
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, st := range guide("pagerduty", m, "") {
		text.WriteString(st.Title + "\n" + strings.Join(st.Items, "\n") + "\n")
	}
	for _, want := range []string{"critical (rule page-urgent-escalation)", "error (rule page-missed-target)", "resolved by rule page-resolved", "routing_key_env"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("guide lacks %q:\n%s", want, text.String())
		}
	}
	if g := guide("jira", m, ""); g != nil {
		t.Errorf("a guide for a system without pages: %+v", g)
	}
}

// TestCheckMappings_Defaults: the defaults name only PagerDuty's
// statuses and severities, checked without a request.
func TestCheckMappings_Defaults(t *testing.T) {
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	if err := e.conn.CheckMappings(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Calls.All()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

package opsgenie

import (
	"context"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/mappings"
)

// TestGuide_NamesWhatTheDefaultsPageWith: the setup guide for the
// defaults names the priorities and the rules that raise and close pages,
// and says nothing for a system that keeps no pages.
func TestGuide_NamesWhatTheDefaultsPageWith(t *testing.T) {
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, st := range guide("opsgenie", m, "") {
		text.WriteString(st.Title + "\n" + strings.Join(st.Items, "\n") + "\n")
	}
	for _, want := range []string{"P1 (rule page-urgent-escalation)", "P2 (rule page-missed-target)", "closed by rule page-resolved", "api_key_env"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("guide lacks %q:\n%s", want, text.String())
		}
	}
	if g := guide("zendesk", m, ""); g != nil {
		t.Errorf("a guide for a system without pages: %+v", g)
	}
}

// TestCheckMappings_KeyAndNames: at start, the defaults pass against an
// account that takes the key; a refused key is named (not shown).
func TestCheckMappings_KeyAndNames(t *testing.T) {
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "")
	if err := e.conn.CheckMappings(context.Background(), m); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	e.conn.key = ptr(core.Secret("wrong-" + testKey))
	err = e.conn.CheckMappings(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "the API key") || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), testKey) {
		t.Fatalf("refused key: %v", err)
	}
}

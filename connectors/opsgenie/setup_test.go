package opsgenie

import (
	"strings"
	"testing"

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

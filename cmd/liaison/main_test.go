package main

import (
	"testing"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/config"

	_ "github.com/liaisonhq/liaison/connectors/github"
	_ "github.com/liaisonhq/liaison/connectors/imap"
	_ "github.com/liaisonhq/liaison/connectors/jira"
	_ "github.com/liaisonhq/liaison/connectors/zendesk"
)

// TestExampleConfig keeps the documented example valid: it parses, every
// connector kind exists, and every connector accepts its section.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load("liaison.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, k := range []string{"ZENDESK_TOKEN", "ZENDESK_WEBHOOK_SECRET", "JIRA_TOKEN", "JIRA_WEBHOOK_SECRET",
		"GITHUB_TOKEN", "GITHUB_WEBHOOK_SECRET", "SUPPORT_MAIL_PASSWORD"} {
		env[k] = "example-" + k
	}
	for _, in := range cfg.Instances() {
		f, _ := core.Lookup(in.Kind)
		if _, err := f(core.Setup{Name: in.Name, Decode: in.Decode, Env: func(k string) string { return env[k] }}); err != nil {
			t.Errorf("connector %q rejects the example: %v", in.Name, err)
		}
	}
}

func TestProcs(t *testing.T) {
	for _, tc := range []struct {
		env       string
		def, want int
	}{
		{"", 2, 4},
		{"", 1, 2},
		{"3", 3, 3}, // the admin's choice stands
		{"1", 1, 1},
	} {
		if got := procs(tc.env, tc.def); got != tc.want {
			t.Errorf("procs(%q, %d) = %d, want %d", tc.env, tc.def, got, tc.want)
		}
	}
}

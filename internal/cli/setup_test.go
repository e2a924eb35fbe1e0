package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetup_DocsAreTheDefaultsGuide: docs/setup/<system>.md is what
// `liaison setup --system <system>` prints for the embedded defaults, so
// the pages never drift from the mappings (go test -update rewrites them).
func TestSetup_DocsAreTheDefaultsGuide(t *testing.T) {
	for _, system := range []string{"github", "imap", "jira", "mantis", "opsgenie", "pagerduty", "zendesk"} {
		var out, errb bytes.Buffer
		args := []string{"setup", "--system", system}
		if system == "mantis" {
			args = append(args, "--dev-tracker", "mantis") // the shipped Mantis variant
		}
		if code := Main(args, &out, &errb); code != 0 {
			t.Fatalf("setup --system %s: exit %d: %s", system, code, errb.String())
		}
		page := filepath.Join("..", "..", "docs", "setup", system+".md")
		if *update {
			if err := os.WriteFile(page, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(page)
		if err != nil || !bytes.Equal(out.Bytes(), want) {
			t.Errorf("%s differs from `liaison setup --system %s` (go test ./internal/cli -run Setup -update rewrites it; %v)", page, system, err)
		}
	}
}

// TestSetup_TextGolden: the plain-text checklist of the defaults, for a
// terminal (go test -update rewrites it).
func TestSetup_TextGolden(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"setup", "--format", "text"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	golden := filepath.Join("testdata", "setup-defaults.txt")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(golden); err != nil || !bytes.Equal(out.Bytes(), want) {
		t.Errorf("liaison setup --format text differs from %s (go test -update rewrites it; %v):\n%s", golden, err, out.String())
	}
	if code := Main([]string{"setup", "--format", "html"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `--format "html": want markdown or text`) {
		t.Errorf("--format html: exit %d, %s", code, errb.String())
	}
}

// TestSetup_NamesWhatTheDefaultsNeed: the checklist names the statuses,
// fields and issue types that the connectors check at start, and the
// Zendesk trigger body is one the connector's webhook reads.
func TestSetup_NamesWhatTheDefaultsNeed(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"setup", "--url", "https://gw.example.org/"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := out.String()
	for _, want := range []string{
		"Ready for QA (ready_for_qa)", "Awaiting Approval (on_hold)", "issue type Change in the change projects (config: projects.change)", "Cannot reproduce (cannot_reproduce)",
		"To Do → In Progress; In Progress → In Review; In Review → Ready for QA", "reads QA Validated → Preprod Validated before a fix is done",
		"- Steps to reproduce: Paragraph / Text Field (multi-line)", "- Approvers: User Picker (multiple users)", "- Target date: Date Picker",
		"- Developer ticket: Text", "- Reproducible: Drop-down, options yes, no", "- Steps to reproduce: Multi-line",
		`"issue-related-events-section": "project in (<the config's projects>)"`, `"conditional_ticket_events"`,
		"https://gw.example.org/webhooks/jira/jira", "https://gw.example.org/webhooks/zendesk/zendesk",
		"https://gw.example.org/webhooks/github/github", "Liaison/Processed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("setup lacks %q", want)
		}
	}
	_, trigger, _ := strings.Cut(got, "### Trigger\n")
	_, after, ok := strings.Cut(trigger, "```json\n")
	body, _, ok2 := strings.Cut(after, "\n```")
	if !ok || !ok2 {
		t.Fatalf("no trigger body in:\n%s", got)
	}
	var tb struct {
		Ticket struct {
			ID           string            `json:"id"`
			UpdatedAt    string            `json:"updated_at"`
			CustomFields map[string]string `json:"custom_fields"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal([]byte(body), &tb); err != nil {
		t.Fatalf("the trigger body is not JSON: %v\n%s", err, body)
	}
	if tb.Ticket.ID != "{{ticket.id}}" || tb.Ticket.UpdatedAt == "" || tb.Ticket.CustomFields["Developer ticket"] == "" {
		t.Errorf("the trigger body lacks what the connector reads: %+v", tb.Ticket)
	}
}

// TestSetup_WebhooksAtTheConfigsPublicURL: with --config, the webhooks
// are those of the config's public_url, unless --url says otherwise.
func TestSetup_WebhooksAtTheConfigsPublicURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "liaison.yaml")
	t.Setenv("SETUP_ZD_TOKEN", "t")
	t.Setenv("SETUP_ZD_SECRET", "s")
	cfg := "public_url: https://support-gw.example.net\nstore: sqlite:///tmp/unused.db\nconnectors:\n  zendesk: {base_url: https://acme.zendesk.com, email: a@example.com, token_env: SETUP_ZD_TOKEN, webhook_secret_env: SETUP_ZD_SECRET}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"setup", "--config", path}, "https://support-gw.example.net/webhooks/zendesk/zendesk"},
		{[]string{"setup", "--config", path, "--url", "https://other.example.org"}, "https://other.example.org/webhooks/zendesk/zendesk"},
	} {
		var out, errb bytes.Buffer
		if code := Main(tc.args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errb.String())
		}
		if !strings.Contains(out.String(), "endpoint: "+tc.want) || strings.Contains(out.String(), "## jira") {
			t.Errorf("%v: want only zendesk, with its webhook at %s:\n%s", tc.args, tc.want, out.String())
		}
	}
}

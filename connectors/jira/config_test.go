package jira

import (
	"context"
	"github.com/liaisonhq/liaison/connectors/jira/fake"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/liaisonhq/liaison/core"
)

func yamlSetup(src string, env map[string]string) core.Setup {
	return core.Setup{
		Name:   "jira",
		Decode: func(v any) error { return yaml.UnmarshalWithOptions([]byte(src), v, yaml.DisallowUnknownField()) },
		Env:    func(k string) string { return env[k] },
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "pat")
	if err := os.WriteFile(tokenFile, []byte("pat-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"JIRA_TOKEN": "t", "JIRA_HOOK": "h"}
	base := "base_url: https://acme.atlassian.net\nemail: bot@acme.example\ntoken_env: JIRA_TOKEN\nwebhook_secret_env: JIRA_HOOK\nprojects: {dev: [KBOT], change: DO}\n"
	cases := []struct {
		name  string
		src   string
		want  string // error text, or "" for success
		check func(*testing.T, *Connector)
	}{
		{name: "cloud inferred from the host", src: base, check: func(t *testing.T, c *Connector) {
			if !c.cloud || c.PollInterval() != time.Minute || c.overlap() != 2*time.Minute || c.cfg.PageSize != 50 || c.cfg.IssueLinkType != "Relates" {
				t.Fatalf("defaults: %+v cloud %v", c.cfg, c.cloud)
			}
		}},
		{name: "data center with a token file and no webhooks", src: "base_url: https://jira.acme.example/jira\ntoken_file: " + tokenFile + "\nwebhooks: false\nprojects: {dev: [KBOT, WEB]}\npoll_interval: 30s\npoll_overlap: 5m\npage_size: 100\n",
			check: func(t *testing.T, c *Connector) {
				if c.cloud || c.creds.token.Reveal() != "pat-value" || c.creds.secret != "" || c.PollInterval() != 30*time.Second || c.overlap() != 5*time.Minute {
					t.Fatalf("got cloud %v interval %v overlap %v", c.cloud, c.PollInterval(), c.overlap())
				}
				if k, _ := c.kindOf("WEB"); k != core.DevTicket {
					t.Fatal("WEB is not a dev project")
				}
			}},
		{name: "unknown key", src: base + "poll_intervall: 1m\n", want: "poll_intervall"},
		{name: "no base url", src: strings.Replace(base, "base_url: https://acme.atlassian.net\n", "", 1), want: "base_url is required"},
		{name: "base url with credentials", src: strings.Replace(base, "https://acme", "https://u:p@acme", 1), want: "must not carry credentials"},
		{name: "unknown deployment", src: base + "deployment: server\n", want: `deployment "server"`},
		{name: "cloud without email", src: strings.Replace(base, "email: bot@acme.example\n", "", 1), want: "email is required on Cloud"},
		{name: "no token", src: strings.Replace(base, "token_env: JIRA_TOKEN\n", "", 1), want: "token_env or token_file is required"},
		{name: "token variable unset", src: strings.Replace(base, "JIRA_TOKEN", "NOPE", 1), want: `variable "NOPE" is empty or unset`},
		{name: "token twice", src: base + "token_file: /x\n", want: "token_env and token_file are both set"},
		{name: "token file missing", src: strings.Replace(base, "token_env: JIRA_TOKEN", "token_file: "+filepath.Join(dir, "none"), 1), want: "token_file"},
		{name: "webhooks without a secret", src: strings.Replace(base, "webhook_secret_env: JIRA_HOOK\n", "", 1), want: "webhook_secret_env or webhook_secret_file is required"},
		{name: "bad project key", src: strings.Replace(base, "[KBOT]", "[kbot]", 1), want: `"kbot" is not a Jira project key`},
		{name: "one project for both kinds", src: strings.Replace(base, "change: DO", "change: KBOT", 1), want: "holds both developer and change tickets"},
		{name: "no projects", src: strings.Replace(base, "projects: {dev: [KBOT], change: DO}\n", "", 1), want: "name at least one project"},
		{name: "overlap under a minute", src: base + "poll_overlap: 30s\n", want: "at least 1m"},
		{name: "bad duration", src: base + "poll_interval: 2 minutes\n", want: "2 minutes"},
		{name: "page size", src: base + "page_size: 500\n", want: "page_size 500"},
		{name: "internal comments", src: base + "internal_comments: hidden\n", want: `internal_comments "hidden"`},
		{name: "time zone", src: base + "timezone: Mars/Olympus\n", want: `timezone "Mars/Olympus"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := New(yamlSetup(c.src, env))
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err = %v; want one containing %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if conn.Name() != "jira" {
				t.Fatalf("name %q", conn.Name())
			}
			if c.check != nil {
				c.check(t, conn.(*Connector))
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	f, ok := core.Lookup("jira")
	if !ok {
		t.Fatal(`"jira" is not registered`)
	}
	if _, err := f(yamlSetup("base_url: https://acme.atlassian.net\n", nil)); err == nil {
		t.Fatal("an incomplete config was accepted")
	}
}

func TestCheckMappings(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	if err := e.conn.CheckMappings(ctx, testMappings()); err != nil {
		t.Fatalf("default mappings: %v", err)
	}
	want := []string{"GET /rest/api/2/field", "GET /rest/api/2/priority", "GET /rest/api/2/project/KBOT/statuses", "GET /rest/api/2/project/DO/statuses"}
	if got := e.calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls %q; want %q", got, want)
	}

	m := testMappings()
	dev := m.Systems["jira"].Kinds[core.DevTicket]
	dev.Statuses["ready for q&a"] = core.StatusReadyForQA
	dev.Priorities["blocker"] = "urgent"
	dev.Fields["mood"] = "Customer mood"
	dev.Create["issue_type"] = "Epic"
	dev.Outcomes = map[string]core.Outcome{"fixed": core.OutcomeFixed, "cannot reproduce": core.OutcomeCannotReproduce, "works for me": core.OutcomeNotFixed}
	chg := m.Systems["jira"].Kinds[core.ChangeTicket]
	chg.Create["project"] = "KBOT"
	chg.Create["Rollback plan"] = "none"
	m.Systems["jira"].Kinds[core.PullRequest] = &core.KindMap{}
	m.Rules = []*core.Rule{{Name: "escalate-bug", Then: []*core.ActionSpec{
		{Kind: core.Create, Pos: core.Pos{File: "rules.yaml", Line: 12, Col: 7}, Target: core.Selector{System: "jira", Kind: core.DevTicket},
			Fields: map[string]*core.Text{"Severity": {}, "priority": {}, "Steps to reproduce": {}}},
		{Kind: core.SetFields, Target: core.Selector{System: "zendesk"}, Fields: map[string]*core.Text{"Not ours": {}}},
	}}}
	err := e.conn.CheckMappings(ctx, m)
	if err == nil {
		t.Fatal("bad mappings accepted")
	}
	goldenText(t, "checkmappings-error.txt", err.Error()+"\n")

	// The resolutions the mappings list are read from Jira only when
	// they list some, and every one Jira has is accepted.
	m = testMappings()
	m.Systems["jira"].Kinds[core.DevTicket].Outcomes = map[string]core.Outcome{"fixed": core.OutcomeFixed, "cannot reproduce": core.OutcomeCannotReproduce, "won't do": core.OutcomeNotFixed}
	e.calls()
	if err := e.conn.CheckMappings(ctx, m); err != nil {
		t.Fatalf("resolutions Jira has: %v", err)
	}
	if got := e.calls(); !slices.Contains(got, "GET /rest/api/2/resolution") {
		t.Fatalf("resolutions not read: %q", got)
	}
}

// TestCheckMappings_FieldNameCase: a field the mappings name in another
// case than Jira is accepted; two Jira fields whose names differ only in
// case, neither as the mappings write it, are refused with both names.
func TestCheckMappings_FieldNameCase(t *testing.T) {
	m := testMappings()
	m.Systems["jira"].Kinds[core.DevTicket].Fields["steps"] = "STEPS TO REPRODUCE"
	m.FieldNames = []string{"STEPS TO REPRODUCE"}
	if err := newEnv(t, envOpts{}).conn.CheckMappings(context.Background(), m); err != nil {
		t.Fatalf("a name in another case refused: %v", err)
	}
	e := newEnv(t, envOpts{fakeOpts: []fake.Option{fake.WithField(fake.Field{ID: "customfield_10200", Name: "Steps to Reproduce", Type: "string"})}})
	err := e.conn.CheckMappings(context.Background(), m)
	if err == nil {
		t.Fatal("two fields differing only in case accepted")
	}
	for _, want := range []string{`"Steps to Reproduce"`, `"Steps to reproduce"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
	if strings.Count(err.Error(), "differ only in case") != 1 {
		t.Errorf("the ambiguity is reported more than once:\n%v", err)
	}
}

package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	ghfake "github.com/liaisonhq/liaison/connectors/github/fake"
	jirafake "github.com/liaisonhq/liaison/connectors/jira/fake"
	zdfake "github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/daemon"
)

var update = flag.Bool("update", false, "rewrite golden files")

// publicURL is where the test's systems are told the gateway is.
const publicURL = "https://gw.example.org"

// incompleteSite is a Jira without the change tickets' statuses the
// default rules walk (Open, Awaiting Approval, Approved), without the
// transition In Review → Ready for QA, where the gateway may not
// transition issues, a Zendesk on a plan without ticket forms whose config
// asks for one, and no webhook anywhere: three systems, each with
// problems. It returns the path of a configuration that names them.
func incompleteSite(t *testing.T) string {
	t.Helper()
	wf := jirafake.DefaultWorkflow()
	wf.Transitions = slices.DeleteFunc(wf.Transitions, func(tr jirafake.Transition) bool { return tr.To == "Ready for QA" })
	return site(t, wf, true, false, "imap", "zendesk", "jira", "github")
}

// The credentials the fakes accept; no output may hold them.
const checkToken, checkSecret = "check-test-token", "check-test-secret"

// noSecrets fails when an output holds a credential of the test's config.
func noSecrets(t *testing.T, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		for _, secret := range []string{checkToken, checkSecret, "not-the-token"} {
			if strings.Contains(o, secret) {
				t.Errorf("output holds the credential %q:\n%s", secret, o)
			}
		}
	}
}

// site serves Jira (with workflow wf), Zendesk (without ticket forms;
// the config asks for one when wantForm) and GitHub fakes, each with the
// gateway's webhook registered when complete, and writes a configuration
// running the instances named.
func site(t *testing.T, wf jirafake.Workflow, wantForm, complete bool, instances ...string) string {
	t.Helper()
	var jiraOpts []jirafake.Option
	if !complete {
		jiraOpts = append(jiraOpts, jirafake.WithoutPermissions("TRANSITION_ISSUES"))
	}
	token, secret := checkToken, checkSecret
	for _, k := range []string{"CHECK_JIRA_TOKEN", "CHECK_ZD_TOKEN", "CHECK_GH_TOKEN", "CHECK_SECRET", "CHECK_MAIL"} {
		t.Setenv(k, token)
	}
	t.Setenv("CHECK_SECRET", secret)
	jf := jirafake.New(append(jiraOpts, jirafake.WithAuth("liaison@example.com", token), jirafake.WithWorkflow(wf))...)
	jira := httptest.NewServer(jf)
	t.Cleanup(jira.Close)
	zf := zdfake.New(zdfake.WithCredentials(zdfake.Agent, token), zdfake.WithoutTicketForms())
	zd := httptest.NewServer(zf)
	t.Cleanup(zd.Close)
	ghf := ghfake.New(ghfake.WithToken(token))
	if err := ghf.AddRepo("acme/app"); err != nil {
		t.Fatal(err)
	}
	if complete {
		jf.SetWebhook(publicURL+"/webhooks/jira/jira", secret)
		zf.SetWebhook(publicURL+"/webhooks/zendesk/zendesk", secret)
		ghf.SetWebhook(publicURL+"/webhooks/github/github", secret)
	}
	gh := httptest.NewServer(ghf)
	t.Cleanup(gh.Close)
	dir := t.TempDir()
	forms := ""
	if wantForm {
		forms = ", forms: [Bug report]"
	}
	sections := map[string]string{
		"imap": `
  imap:
    {host: 127.0.0.1, port: 1, tls: plain, username: support@example.com, password_env: CHECK_MAIL, own_address: support@example.com,
     smtp: {host: 127.0.0.1, port: 1, tls: plain}}`,
		"zendesk": fmt.Sprintf(`
  zendesk:
    {base_url: %s, email: %s, token_env: CHECK_ZD_TOKEN, webhook_secret_env: CHECK_SECRET%s}`, zd.URL, zdfake.Agent, forms),
		"jira": fmt.Sprintf(`
  jira:
    {base_url: %s, deployment: cloud, email: liaison@example.com, token_env: CHECK_JIRA_TOKEN, webhook_secret_env: CHECK_SECRET,
     projects: {dev: [KBOT], change: DO}, timezone: UTC}`, jira.URL),
		"github": fmt.Sprintf(`
  github:
    {base_url: %s, token_env: CHECK_GH_TOKEN, webhook_secret_env: CHECK_SECRET, repos: [acme/app]}`, gh.URL),
	}
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\npublic_url: %s\nstore: sqlite://%s\nconnectors:", publicURL, filepath.Join(dir, "l.db"))
	for _, in := range instances {
		cfg += sections[in]
	}
	cfg += "\n"
	path := filepath.Join(dir, "liaison.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckOnline_ListsEveryProblemOfEverySystem: `check --online` names
// what each system lacks, all systems in one run, and serve refuses to
// start with the same list.
func TestCheckOnline_ListsEveryProblemOfEverySystem(t *testing.T) {
	path := incompleteSite(t)
	var out, errb bytes.Buffer
	if code := Main([]string{"check", "--config", path}, &out, &errb); code != 0 {
		t.Fatalf("offline check of a well-formed config: exit %d\n%s", code, errb.String())
	}
	out.Reset()
	code := Main([]string{"check", "--config", path, "--online"}, &out, &errb)
	if code != 1 {
		t.Fatalf("check --online on an incomplete site: exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	golden := filepath.Join("testdata", "check-online-incomplete.golden")
	if *update {
		if err := os.WriteFile(golden, errb.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(golden); err != nil || errb.String() != string(want) {
		t.Errorf("check --online differs from %s (go test -update rewrites it; %v):\n%s", golden, err, errb.String())
	}
	want := []string{`ticket form "Bug report": this account has no ticket forms`, `change_ticket status "awaiting approval"`, `change_ticket status "approved"`,
		`no transition path from "In Review" to "Ready for QA"`, `lacks the permission "Transition Issues"`, "no enabled webhook to " + publicURL + "/webhooks/jira/jira",
		"no active webhook to " + publicURL + "/webhooks/zendesk/zendesk", "repository acme/app: no active webhook to the gateway"}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = daemon.Build(context.Background(), cfg, daemon.Options{})
	if err == nil {
		t.Fatal("serve started on an incomplete site")
	}
	for _, w := range want {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("check --online does not name %s", w)
		}
	}
	noSecrets(t, out.String(), errb.String(), err.Error())
	// serve refuses with the very list check --online printed.
	if err.Error()+"\n" != errb.String() {
		t.Errorf("serve's refusal differs from check --online's list:\n%v", err)
	}
}

// TestCheckConfig_EveryConnectorsProblemsAtOnce: a misspelt key (with its
// position) and missing secrets of several connectors, in one run.
func TestCheckConfig_EveryConnectorsProblemsAtOnce(t *testing.T) {
	path := incompleteSite(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("{base_url: "), []byte("{sub_domain: acme, base_url: "), 1) // zendesk's section
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHECK_JIRA_TOKEN", "")
	t.Setenv("CHECK_GH_TOKEN", "")
	var out, errb bytes.Buffer
	if code := Main([]string{"check", "--config", path}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errb.String())
	}
	for _, w := range []string{path + `:9:6: unknown field "sub_domain"`, `connector "jira": `, `"CHECK_JIRA_TOKEN" is empty`, `connector "github": `, `"CHECK_GH_TOKEN" is empty`} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("check --config does not say %s:\n%s", w, errb.String())
		}
	}
}

// TestCheckConfig_UnknownKind: check --config names, with its position, a
// connector kind that no connector registers, beside the other
// connectors' problems.
func TestCheckConfig_UnknownKind(t *testing.T) {
	path := incompleteSite(t)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n  tracker2: {kind: nosuch}\n")
	f.Close()
	t.Setenv("CHECK_GH_TOKEN", "")
	var out, errb bytes.Buffer
	if code := Main([]string{"check", "--config", path}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errb.String())
	}
	for _, w := range []string{`connector "tracker2": unknown kind "nosuch"`, `"CHECK_GH_TOKEN" is empty`} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("check --config does not say %s:\n%s", w, errb.String())
		}
	}
}

// TestServe_TheDefaultsRunWithTheSystemsATeamHas: the daemon starts on the
// shipped defaults with only some systems configured, and says what it
// disabled.
func TestServe_TheDefaultsRunWithTheSystemsATeamHas(t *testing.T) {
	wf := jirafake.DefaultWorkflow()
	wf.Statuses = append(wf.Statuses, "Open", "Awaiting Approval", "Approved")
	for _, instances := range [][]string{{"zendesk", "jira"}, {"zendesk", "imap"}} {
		path := site(t, wf, false, true, instances...)
		var out, errb bytes.Buffer
		if code := Main([]string{"check", "--config", path, "--online"}, &out, &errb); code != 0 {
			t.Fatalf("%v: check --online: exit %d\n%s", instances, code, errb.String())
		}
		if !strings.Contains(out.String(), `system "github" is not configured; disabled: `) {
			t.Errorf("%v: check does not list what it disabled:\n%s", instances, out.String())
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := daemon.Build(context.Background(), cfg, daemon.Options{})
		if err != nil {
			t.Fatalf("%v: serve refuses the defaults: %v", instances, err)
		}
		d.Store.Close()
	}
}

// TestCheckOnline_OneLinePerUnreadableSystem: refused credentials and an
// unreachable system are said once per system, with what to check, not
// once per request that failed.
func TestCheckOnline_OneLinePerUnreadableSystem(t *testing.T) {
	path := site(t, jirafake.DefaultWorkflow(), false, true, "zendesk", "jira", "github")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Jira on a loopback port nothing listens on.
	dead := httptest.NewServer(nil)
	dead.Close()
	cfg := regexp.MustCompile(`(jira:\n    \{base_url: )\S+,`).ReplaceAll(b, []byte("${1}"+dead.URL+","))
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHECK_ZD_TOKEN", "not-the-token")
	t.Setenv("CHECK_GH_TOKEN", "not-the-token")
	var out, errb bytes.Buffer
	if code := Main([]string{"check", "--config", path, "--online"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errb.String())
	}
	noSecrets(t, out.String(), errb.String())
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	want := []string{
		`connector "zendesk": cannot read the system (the credentials are refused: check the connector's token`,
		`connector "jira": cannot read the system (unreachable: check base_url`,
		`connector "github": cannot read the system (the credentials are refused: check the connector's token`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want one per system:\n%s", len(lines), errb.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %s\nwant it to start %s", i, lines[i], w)
		}
	}
}

// TestServe_StockJiraWorkflowWithTheExampleOverlay: with the stock-jira
// overlay, a Jira whose developer issues only go To Do → In Progress →
// Done passes check --online (statuses, transition paths, webhooks), and
// serve starts.
func TestServe_StockJiraWorkflowWithTheExampleOverlay(t *testing.T) {
	stock := jirafake.Workflow{
		// One workflow serves every project of the fake: the change
		// project's statuses are there too, as the defaults need them.
		Statuses: []string{"To Do", "In Progress", "Done", "Open", "Awaiting Approval", "Approved"},
		Transitions: []jirafake.Transition{
			{ID: "11", Name: "Start", From: []string{"To Do"}, To: "In Progress"},
			{ID: "21", Name: "Finish", From: []string{"In Progress"}, To: "Done"},
		},
	}
	path := site(t, stock, false, true, "zendesk", "jira", "github")
	// The defaults alone need statuses this Jira does not have.
	var out, errb bytes.Buffer
	if code := Main([]string{"check", "--config", path, "--online"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), `dev_ticket status "in review": not in project KBOT`) {
		t.Fatalf("the defaults on a stock workflow: exit %d\n%s", code, errb.String())
	}
	overlay, err := filepath.Abs(filepath.Join("..", "..", "mappings", "examples", "stock-jira"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "mappings: %s\n", overlay)
	f.Close()
	out.Reset()
	errb.Reset()
	if code := Main([]string{"check", "--config", path, "--online"}, &out, &errb); code != 0 {
		t.Fatalf("check --online with the stock workflow: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "kind jira/dev_ticket replaces the default's") {
		t.Errorf("check does not say what the overlay replaced:\n%s", out.String())
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Build(context.Background(), cfg, daemon.Options{})
	if err != nil {
		t.Fatalf("serve refuses the stock workflow with the overlay: %v", err)
	}
	d.Store.Close()
}

// TestCheckConfig_ConsoleSecrets: check --config refuses what serve would
// refuse of the console section (its users file, its secrets' variables),
// all at once.
func TestCheckConfig_ConsoleSecrets(t *testing.T) {
	path := incompleteSite(t)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "users.yaml")
	fmt.Fprintf(f, "\nconsole:\n  listen: 127.0.0.1:0\n  users_file: %s\n  session_key_env: CHECK_CONSOLE_KEY\n", missing)
	f.Close()
	t.Setenv("CHECK_CONSOLE_KEY", "too short")
	var out, errb bytes.Buffer
	if code := Main([]string{"check", "--config", path}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errb.String())
	}
	for _, w := range []string{missing, `console.session_key_env: environment variable "CHECK_CONSOLE_KEY" must hold at least 32 characters`} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("check --config does not say %s:\n%s", w, errb.String())
		}
	}
	if strings.Contains(errb.String(), "too short") {
		t.Errorf("check --config shows the key:\n%s", errb.String())
	}
}

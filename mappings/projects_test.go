package mappings

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/liaisonhq/liaison/core"
)

// TestDefaults_FollowTheConfiguredProjects: with projects: {dev: [PROJ],
// change: OPS}, the defaults load, create in PROJ and OPS, and link the
// keys of those projects, not KBOT's.
func TestDefaults_FollowTheConfiguredProjects(t *testing.T) {
	opts := Options{
		Systems:  map[string]string{"jira": "jira", "zendesk": "zendesk", "github": "github", "imap": "imap"},
		Projects: map[string]map[core.Kind][]string{"jira": {core.DevTicket: {"PROJ", "WEB"}, core.ChangeTicket: {"OPS"}}},
	}
	m, err := LoadDefaults(opts)
	if err != nil {
		t.Fatalf("the defaults refuse configured projects:\n%v", err)
	}
	if dev := m.Kind("jira", core.DevTicket); dev.Projects[0] != "PROJ" || dev.Create["project"] != "" {
		t.Errorf("dev tickets are created in %v (create %v)", dev.Projects, dev.Create)
	}
	pr := &core.Item{Ref: core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/app#1"},
		Title: "PROJ-12: fix the login, WEB-3 too", Body: "Not KBOT-1, nor DO-2; deploys OPS-7"}
	var got []string
	for _, l := range m.Discover(pr) {
		got = append(got, l.To.String())
	}
	want := "jira/dev_ticket/PROJ-12 jira/dev_ticket/WEB-3 jira/change_ticket/OPS-7"
	if strings.Join(got, " ") != want {
		t.Errorf("links = %v, want %s", got, want)
	}
}

// TestCheck_ProjectsTheConfigDoesNotHave: check --config refuses a key
// pattern, a create project and a rule's create project that the
// configuration does not have.
func TestCheck_ProjectsTheConfigDoesNotHave(t *testing.T) {
	files := fstest.MapFS{"m.yaml": {Data: []byte(`systems:
  jira:
    connector: jira
    kinds:
      dev_ticket:
        statuses: {To Do: open}
        create: {project: KBOT}
      change_ticket:
        statuses: {Open: open}
  github:
    connector: github
    kinds:
      pull_request:
        statuses: {open: in_review}
links:
  - name: dev-key
    from: github/pull_request
    pattern: '\bKBOT-(\d+)\b'
    to: jira/dev_ticket
    prefix: KBOT-
rules:
  - name: escalate
    when: github/pull_request
    then:
      - create: {target: jira/dev_ticket, title: x, fields: {project: WEB}}
      - create: {target: jira/change_ticket, title: x, fields: {project: DO}}
`)}}
	opts := Options{Systems: map[string]string{"jira": "jira", "github": "github"},
		Projects: map[string]map[core.Kind][]string{"jira": {core.DevTicket: {"PROJ"}}}}
	ds := Check(fs.FS(files), opts)
	var got []string
	for _, d := range ds {
		got = append(got, d.String())
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{
		`m.yaml:7:27: system "jira": kind "dev_ticket": create project "KBOT" is not a project of jira/dev_ticket in the configuration (configured: PROJ)`,
		`m.yaml:18:14: link "dev-key": pattern names project "KBOT", which is not a project of jira/dev_ticket in the configuration (configured: PROJ)`,
		`m.yaml:25:71: rule "escalate": create: project "WEB" is not a project of jira/dev_ticket in the configuration (configured: PROJ)`,
		// The instance lists projects, none of them for change tickets.
		`m.yaml:26:74: rule "escalate": create: project "DO" is not a project of jira/change_ticket in the configuration (configured: none)`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing diagnostic %s\ngot:\n%s", want, text)
		}
	}
	// Without a configuration, the same folder checks.
	if ds := Check(fs.FS(files), Options{}); len(ds) != 0 {
		t.Errorf("without a configuration: %v", ds)
	}
}

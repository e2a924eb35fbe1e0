package jira

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/mappings"
)

// TestCheckSite_PermissionsPathsAndWebhook: the site check names each
// missing permission, each step of the default rules' status order no
// transition makes, and a missing or incomplete webhook; what the account
// cannot read (Data Center has no workflow search) is left to check by
// hand, and a complete site passes.
func TestCheckSite_PermissionsPathsAndWebhook(t *testing.T) {
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const public = "https://gw.example.org"
	noReview := fake.DefaultWorkflow()
	noReview.Transitions = slices.DeleteFunc(noReview.Transitions, func(tr fake.Transition) bool { return tr.Name == "Submit for review" })
	global := fake.DefaultWorkflow()
	global.Transitions = []fake.Transition{{ID: "1", Name: "Any", To: "In Review"}, {ID: "2", Name: "Start", From: []string{"To Do"}, To: "In Progress"},
		{ID: "3", Name: "Pass", From: []string{"In Review"}, To: "Ready for QA"}}
	for _, tc := range []struct {
		name        string
		o           envOpts
		hook        string // the webhook the fake lists; "" for none
		missing     []string
		unsure      []string
		noneMissing bool
	}{
		{name: "complete", hook: public + "/webhooks/jira/jira", noneMissing: true},
		{name: "a global transition makes the path", o: envOpts{fakeOpts: []fake.Option{fake.WithWorkflow(global)}}, hook: public + "/webhooks/jira/jira", noneMissing: true},
		{name: "no permission to transition or comment", o: envOpts{fakeOpts: []fake.Option{fake.WithoutPermissions("TRANSITION_ISSUES", "ADD_COMMENTS")}}, hook: public + "/webhooks/jira/jira",
			missing: []string{`project KBOT: the gateway's account lacks the permission "Transition Issues" (TRANSITION_ISSUES)`, `project KBOT: the gateway's account lacks the permission "Add Comments" (ADD_COMMENTS)`}},
		{name: "no way into In Review", o: envOpts{fakeOpts: []fake.Option{fake.WithWorkflow(noReview)}}, hook: public + "/webhooks/jira/jira",
			missing: []string{`project KBOT issue type Bug (workflow "Software Simplified Workflow for Liaison fake"): no transition path from "In Progress" to "In Review"`}},
		{name: "webhook elsewhere", hook: "https://other.example.org/webhooks/jira/jira",
			missing: []string{"no enabled webhook to https://gw.example.org/webhooks/jira/jira: create it in Settings → System → WebHooks"}},
		{name: "data center: workflows by hand", o: envOpts{datacenter: true}, hook: public + "/webhooks/jira/jira",
			unsure: []string{"cannot read the workflows (GET /rest/api/2/workflow/search: 404", "leads In Progress → In Review → Ready for QA"}, noneMissing: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.o)
			e.fake.SetWebhook(tc.hook, testSecret)
			r := e.conn.CheckSite(context.Background(), m, public)
			if r.Err != nil {
				t.Fatalf("CheckSite: %v", r.Err)
			}
			got, unsure := strings.Join(r.Missing, "\n"), strings.Join(r.Unsure, "\n")
			if tc.noneMissing && len(r.Missing) > 0 {
				t.Errorf("missing on a complete site:\n%s", got)
			}
			for _, w := range tc.missing {
				if !strings.Contains(got, w) {
					t.Errorf("missing lacks %q:\n%s", w, got)
				}
			}
			if len(tc.missing) > 0 && len(r.Missing) != len(tc.missing) {
				t.Errorf("%d missing, want %d:\n%s", len(r.Missing), len(tc.missing), got)
			}
			for _, w := range tc.unsure {
				if !strings.Contains(unsure, w) {
					t.Errorf("check-by-hand lacks %q:\n%s", w, unsure)
				}
			}
			if len(tc.unsure) == 0 && len(r.Unsure) > 0 {
				t.Errorf("check by hand on a readable site:\n%s", unsure)
			}
		})
	}
}

// TestCheckSite_WebhooksOff: without webhooks, none is looked for.
func TestCheckSite_WebhooksOff(t *testing.T) {
	off := false
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.Webhooks, c.WebhookSecretEnv = &off, "" }})
	e.fake.SetWebhook("", "")
	r := e.conn.CheckSite(context.Background(), &core.Mappings{Systems: testMappings().Systems}, "")
	if r.Err != nil || len(r.Missing) > 0 || len(r.Unsure) > 0 {
		t.Errorf("CheckSite with webhooks off: %+v", r)
	}
	for _, c := range e.calls() {
		if strings.Contains(c, "webhooks") {
			t.Errorf("listed the webhooks with webhooks off: %s", c)
		}
	}
}

// TestCheckFieldTypes_ComparesTheSchema: a field whose schema is not the
// declared type's is for the admin to look at; one that fits is not.
func TestCheckFieldTypes_ComparesTheSchema(t *testing.T) {
	cat := &catalog{fields: map[string]fieldDef{}, byName: map[string][]fieldDef{}}
	for _, f := range []fieldDef{
		{ID: "customfield_1", Name: "Steps", Type: "string", Kind: "com.atlassian.jira.plugin.system.customfieldtypes:textarea"},
		{ID: "customfield_2", Name: "Approvers", Type: "array", Items: "user", Kind: "com.atlassian.jira.plugin.system.customfieldtypes:multiuserpicker"},
		{ID: "customfield_3", Name: "Reproducible", Type: "option", Kind: "com.atlassian.jira.plugin.system.customfieldtypes:select"},
		{ID: "customfield_4", Name: "Due", Type: "datetime", Kind: "com.atlassian.jira.plugin.system.customfieldtypes:datetime"},
	} {
		cat.fields[f.ID] = f
		cat.byName[strings.ToLower(f.Name)] = append(cat.byName[strings.ToLower(f.Name)], f)
	}
	for _, tc := range []struct {
		field string
		typ   core.FieldType
		want  string // the note's start; "" for none
	}{
		{"Steps", core.FieldType{Type: "multiline"}, ""},
		{"Steps", core.FieldType{Type: "text"}, `field "Steps" (customfield_1) is of type string com.atlassian.jira.plugin.system.customfieldtypes:textarea here; the mappings declare Steps: Short text`},
		{"Approvers", core.FieldType{Type: "users"}, ""},
		{"Approvers", core.FieldType{Type: "user"}, `field "Approvers" (customfield_2) is of type user com.atlassian`},
		{"Reproducible", core.FieldType{Type: "dropdown", Options: []string{"Yes", "No"}}, ""},
		{"Reproducible", core.FieldType{Type: "checkbox"}, `field "Reproducible" (customfield_3) is of type option`},
		{"Due", core.FieldType{Type: "date"}, ""},
		{"Gone", core.FieldType{Type: "date"}, ""}, // CheckMappings names a missing field
	} {
		var r core.SiteReport
		checkFieldTypes(&r, cat, &core.KindMap{Fields: map[string]string{"f": tc.field}, FieldTypes: map[string]core.FieldType{"f": tc.typ}})
		switch {
		case tc.want == "" && len(r.Unsure) > 0:
			t.Errorf("%s as %s: %v", tc.field, tc.typ.Type, r.Unsure)
		case tc.want != "" && (len(r.Unsure) != 1 || !strings.HasPrefix(r.Unsure[0], tc.want)):
			t.Errorf("%s as %s: %v\nwant a note starting %s", tc.field, tc.typ.Type, r.Unsure, tc.want)
		}
	}
}

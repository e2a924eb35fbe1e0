package simulate

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/connectors/mantis"
	"github.com/liaisonhq/liaison/connectors/mantis/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/mappings"
	"github.com/liaisonhq/liaison/mappings/examples"
)

// examplesDir holds the documented variants of the default mappings.
const examplesDir = "../../mappings/examples"

// TestSimulate_Examples loads each example mapping folder (as `liaison
// check` does) and replays the scenarios beside it (scenarios/*.yaml),
// comparing the actions with their golden files.
func TestSimulate_Examples(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(examplesDir, "*"))
	if len(dirs) == 0 {
		t.Fatal("no example mapping folder")
	}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue // the package that embeds the folders
		}
		m, err := mappings.LoadDir(dir, mappings.Options{Projects: Projects})
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "scenarios", "*.yaml"))
		if len(files) == 0 {
			t.Fatalf("%s: no scenario", dir)
		}
		for _, f := range files {
			t.Run(filepath.Base(dir)+"/"+filepath.Base(f), func(t *testing.T) { checkGolden(t, m, f) })
		}
	}
}

// TestSimulate_DevTrackerMantis: `liaison simulate --dev-tracker mantis`
// (the embedded Mantis mappings, with simulate's projects) plans what the
// folder's scenarios expect.
func TestSimulate_DevTrackerMantis(t *testing.T) {
	m, err := examples.Load("mantis", mappings.Options{Projects: Projects})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(examplesDir, "mantis", "scenarios", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no scenario")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { checkGolden(t, m, f) })
	}
}

// TestMantisExample_RoutesToTheCT2Projects: in the Mantis variant a bug,
// a change request and a misc task become Mantis issues in Bugs InBox,
// Change InBox and Support Misc, and an infrastructure cause a change
// ticket in DevOps.
func TestMantisExample_RoutesToTheCT2Projects(t *testing.T) {
	m, err := mappings.LoadDir(filepath.Join(examplesDir, "mantis"), mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, f := range []string{"main-story.yaml", "routing.yaml"} {
		b, err := os.ReadFile(filepath.Join(examplesDir, "mantis", "scenarios", f))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Load(f, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := Run(context.Background(), s, m, &out); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`"target":"mantis/dev_ticket","subject":"zendesk/customer_ticket/1"`,
		`"project":"Bugs InBox"`, `"project":"Change InBox"`, `"project":"Support Misc"`, `"project":"DevOps"`,
		`"rule":"pr-opened","action":"transition","target":"mantis/dev_ticket/1","subject":"mantis/dev_ticket/1","status":"in review"`,
		`"rule":"correction-explained","action":"comment"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("actions lack %s", want)
		}
	}
	if strings.Contains(out.String(), "jira") {
		t.Error("an action names jira")
	}
}

// TestMantisExample_ChecksAgainstMantis: the Mantis variant passes the
// connector's CheckMappings (what `check --online` runs) against a Mantis
// set up as the example's comments say: the CT2 projects and DevOps with
// the custom fields, and the four added statuses.
func TestMantisExample_ChecksAgainstMantis(t *testing.T) {
	m, err := mappings.LoadDir(filepath.Join(examplesDir, "mantis"), mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	statuses := []fake.Enum{{ID: 10, Name: "new"}, {ID: 20, Name: "feedback"}, {ID: 30, Name: "acknowledged"}, {ID: 40, Name: "confirmed"},
		{ID: 50, Name: "assigned"}, {ID: 55, Name: "in review"}, {ID: 60, Name: "ready for qa"}, {ID: 65, Name: "qa validated"},
		{ID: 70, Name: "preprod validated"}, {ID: 80, Name: "resolved"}, {ID: 90, Name: "closed"}}
	f := fake.New("tok", fake.WithStatuses(statuses))
	for _, p := range []string{"Bugs InBox", "Change InBox", "Support Misc"} {
		f.AddProject(p, []string{"General"}, "Liaison marker", "Help desk ticket")
	}
	f.AddProject("DevOps", []string{"Infrastructure"}, "Liaison marker", "Help desk ticket", "Target resources", "Approvers", "Target date")
	srv := httptest.NewServer(f)
	defer srv.Close()
	conn, err := mantis.New(core.Setup{
		Name: "mantis",
		Env:  func(string) string { return "tok" },
		Decode: func(v any) error {
			*v.(*mantis.Config) = mantis.Config{BaseURL: srv.URL, TokenEnv: "MANTIS_TOKEN",
				Projects: mantis.Projects{Dev: []string{"Bugs InBox", "Change InBox", "Support Misc"}, Change: "DevOps"}}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.(core.MappingChecker).CheckMappings(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	// Without the added statuses, the check names them.
	plain := fake.New("tok")
	for _, p := range []string{"Bugs InBox", "Change InBox", "Support Misc"} {
		plain.AddProject(p, []string{"General"}, "Liaison marker", "Help desk ticket")
	}
	plain.AddProject("DevOps", []string{"Infrastructure"}, "Liaison marker", "Help desk ticket", "Target resources", "Approvers", "Target date")
	srv2 := httptest.NewServer(plain)
	defer srv2.Close()
	conn2, _ := mantis.New(core.Setup{Name: "mantis", Env: func(string) string { return "tok" }, Decode: func(v any) error {
		*v.(*mantis.Config) = mantis.Config{BaseURL: srv2.URL, TokenEnv: "MANTIS_TOKEN",
			Projects: mantis.Projects{Dev: []string{"Bugs InBox", "Change InBox", "Support Misc"}, Change: "DevOps"}}
		return nil
	}})
	err = conn2.(core.MappingChecker).CheckMappings(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), `status "ready for qa"`) {
		t.Fatalf("err %v; want the missing statuses named", err)
	}
}

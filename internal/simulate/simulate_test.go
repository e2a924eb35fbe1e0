package simulate

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/mappings"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestSimulate_Golden replays every scenario under testdata/scenarios
// against the default mappings and compares the actions with the golden
// file beside it.
func TestSimulate_Golden(t *testing.T) {
	m, err := mappings.LoadDefaults(mappings.Options{Projects: Projects})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/scenarios/*.yaml")
	if len(files) < 3 {
		t.Fatalf("want at least three scenarios, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { checkGolden(t, m, f) })
	}
}

// checkGolden replays scenario file f against m and compares the actions
// with the golden file beside it (rewritten with -update).
func checkGolden(t *testing.T, m *core.Mappings, f string) {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(f, b)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Run(context.Background(), s, m, &out); err != nil {
		t.Fatal(err)
	}
	golden := strings.TrimSuffix(f, ".yaml") + ".golden"
	if *update {
		os.WriteFile(golden, out.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if out.String() != string(want) {
		t.Fatalf("actions differ from %s:\n--- got\n%s--- want\n%s", golden, out.String(), want)
	}
}

func TestLoad_Errors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown key", "events:\n  - type: created\n    iten: {}\n", "s.yaml:3:5: "},
		{"bad kind", "events:\n  - type: created\n    item: {ref: jira/bug/K-1}\n", `unknown kind "bug"`},
		{"no type", "events:\n  - item: {ref: jira/dev_ticket/K-1}\n", "type is required"},
		{"created without id", "events:\n  - type: created\n    item: {ref: jira/dev_ticket}\n", "needs an id"},
		{"time passing without after", "events:\n  - type: created\n    item: {ref: jira/dev_ticket/K-1}\n  - after: 0s\n", "s.yaml: events[1]: a step without type and item is time passing: give after"},
		{"no events", "start: 2026-11-23T09:00:00Z\n", "no events"},
		{"syntax", "events: [\n", "s.yaml:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("s.yaml", []byte(c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want it to contain %q", err, c.want)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/scenarios/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("events: [{type: x, item: {ref: a/b}}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Load("fuzz.yaml", b)
		if err != nil {
			if strings.Contains(err.Error(), "panic") {
				t.Fatal(err)
			}
			return
		}
		for _, ev := range s.Events {
			if ev.waits() {
				if ev.After <= 0 {
					t.Fatal("accepted a step of time passing without after")
				}
				continue
			}
			if _, _, _, err := splitRef(ev.Item.Ref); err != nil {
				t.Fatalf("accepted a bad ref %q", ev.Item.Ref)
			}
		}
	})
}

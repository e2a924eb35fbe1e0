package mappings

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds one mapping file to Load, seeded with the default files
// and every broken golden case. Load must never panic (a recovered panic
// shows as an internal-error diagnostic, which fails too), and every
// diagnostic must point at a line of the file.
func FuzzLoad(f *testing.F) {
	seeds, _ := fs.Glob(Defaults(), "*.yaml")
	for _, name := range seeds {
		b, err := fs.ReadFile(Defaults(), name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	// The defaults as one file, so that rules see their systems.
	var all strings.Builder
	for _, name := range seeds {
		b, _ := fs.ReadFile(Defaults(), name)
		all.Write(b)
		all.WriteString("\n")
	}
	f.Add(all.String())
	broken, _ := filepath.Glob("testdata/check/*/*.yaml")
	for _, p := range broken {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("a: &x [*x]\n")
	f.Add("rules:\n  - <<: *nothing\n")
	f.Fuzz(func(t *testing.T, src string) {
		fsys := fstest.MapFS{"m.yaml": {Data: []byte(src)}}
		m, err := Load(fsys, Options{})
		ds := Check(fsys, Options{})
		if (err == nil) != (len(ds) == 0) || (err == nil) != (m != nil) {
			t.Fatalf("Load and Check disagree: %v / %v", err, ds)
		}
		for _, d := range ds {
			if d.Pos.Line <= 0 || d.Pos.Col <= 0 || d.Pos.File != "m.yaml" {
				t.Errorf("diagnostic without a place in the file: %q", d.String())
			}
			if strings.Contains(d.Msg, internalError) {
				t.Errorf("panic while loading: %s", d.Msg)
			}
		}
	})
}

package mappings

import (
	"bufio"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected.golden files of testdata/check")

// TestCheckGolden walks testdata/check: each folder is a broken set of
// mapping files, and its expected.golden is exactly what `liaison check`
// prints for it. A configured.txt ("instance connector" per line) stands
// for the daemon's configuration. Run with -update to rewrite the goldens
// after a deliberate change of wording, and read the diff.
func TestCheckGolden(t *testing.T) {
	dirs, err := os.ReadDir("testdata/check")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("only %d golden cases; want at least 10", len(dirs))
	}
	for _, e := range dirs {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join("testdata", "check", e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			opts := Options{Systems: configured(t, dir)}
			ds := CheckDir(dir, opts)
			if len(ds) == 0 {
				t.Fatal("no diagnostics: a golden case must be broken")
			}
			for _, d := range ds {
				if d.Pos.Line <= 0 && e.Name() != "no-files" {
					t.Errorf("diagnostic without a line: %s", d)
				}
			}
			got := ds.Error() + "\n"
			golden := filepath.Join(dir, "expected.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestCheckGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
			// Load fails with the same diagnostics.
			m, err := LoadDir(dir, opts)
			var lds Diagnostics
			if m != nil || !errors.As(err, &lds) || lds.Error() != ds.Error() {
				t.Errorf("LoadDir = %v, %v; want nil and the diagnostics", m, err)
			}
		})
	}
}

func configured(t *testing.T, dir string) map[string]string {
	f, err := os.Open(filepath.Join(dir, "configured.txt"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, kind, ok := strings.Cut(strings.TrimSpace(sc.Text()), " "); ok {
			out[name] = kind
		}
	}
	return out
}

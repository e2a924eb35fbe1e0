package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSystemdUnit_Verifies checks the shipped unit with systemd's own
// verifier, the binary it starts pointed at this test's executable. An
// unknown or misspelt key is only a warning to systemd (the hardening it
// names would silently not apply), so any output fails the test.
func TestSystemdUnit_Verifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing in CI (.ci/run installs systemd)")
		}
		t.Skip("systemd-analyze is not installed (Debian: systemd)")
	}
	unit, err := os.ReadFile("../../packaging/systemd/liaison.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=liaison", "ProtectSystem=strict", "NoNewPrivileges=yes", "ExecStart=/usr/local/bin/liaison serve"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "liaison.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/liaison"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestVersion_PrintsTheRelease(t *testing.T) {
	out, err := runMain(t, 30*time.Second, "version")
	if err != nil || !strings.HasPrefix(out, "liaison dev") || !strings.Contains(out, "go1.") {
		t.Fatalf("liaison version: %v %q", err, out)
	}
}

package cli

import (
	"bytes"
	"regexp"
	"testing"
)

// TestMakeRun_PrintsTheConsoleAndItsLogins: `make run` says where the web
// console is, on the story's case, and with which logins.
func TestMakeRun_PrintsTheConsoleAndItsLogins(t *testing.T) {
	var out, errs bytes.Buffer
	code := Main([]string{"sandbox", "--dir", t.TempDir(), "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--stay", "no"}, &out, &errs)
	if code != 0 {
		t.Fatalf("sandbox exited %d: %s", code, errs.String())
	}
	m := regexp.MustCompile(`The web console is at http://127\.0\.0\.1:\d+/case\?ref=zendesk%2Fcustomer_ticket%2F\d+\n` +
		`  admin: admin  password: (\S{16,})\n  agent \(viewer\): agent  password: (\S{16,})\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no console address and logins in:\n%s", out.String())
	}
	if m[1] == m[2] {
		t.Error("the admin and the viewer have the same password")
	}
}

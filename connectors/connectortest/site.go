package connectortest

import (
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// SiteReport checks a connector's CheckSite findings: no error, and, in
// order, one missing line and one check-by-hand line containing each of
// the texts wanted.
func SiteReport(t testing.TB, r core.SiteReport, missing, unsure []string) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("CheckSite: %v", r.Err)
	}
	for _, c := range []struct {
		what      string
		got, want []string
	}{{"missing", r.Missing, missing}, {"check by hand", r.Unsure, unsure}} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s: %d lines, want %d:\n%s", c.what, len(c.got), len(c.want), strings.Join(c.got, "\n"))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(c.got[i], w) {
				t.Errorf("%s line %d lacks %q:\n%s", c.what, i, w, c.got[i])
			}
		}
	}
}

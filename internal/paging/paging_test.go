package paging

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/liaisonhq/liaison/core"
)

// TestDetail_VendorsWordWithoutTheKey: a refused request's error carries
// the vendor's message and errors, shortened, never the key.
func TestDetail_VendorsWordWithoutTheKey(t *testing.T) {
	e := &Endpoint{key: core.Secret("k3y-SECRET")}
	for _, tc := range []struct{ body, want string }{
		{`{"message":"Key format is not valid!","took":0.001}`, "Key format is not valid!"},
		{`{"status":"invalid event","message":"Event object is invalid","errors":["'payload.severity' is invalid"]}`, "Event object is invalid; 'payload.severity' is invalid"},
		{`{"message":"unknown key k3y-SECRET"}`, "unknown key <secret>"},
		{`{"message":"` + strings.Repeat("é", 300) + `"}`, strings.Repeat("é", 199) + "…"},
		{`not json`, ""},
	} {
		if got := e.detail([]byte(tc.body)); got != tc.want {
			t.Errorf("detail(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func FuzzDetail(f *testing.F) {
	f.Add([]byte(`{"message":"Alert does not exist","took":0.002}`))
	f.Add([]byte(`{"status":"invalid event","message":"Event object is invalid","errors":["x"]}`))
	e := &Endpoint{key: core.Secret("k3y-SECRET")}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := e.detail(b)
		if strings.Contains(d, "k3y-SECRET") || utf8.RuneCountInString(d) > 200 {
			t.Fatalf("detail %q", d)
		}
	})
}

// TestPriority_TheVendorsSpelling: a rule's priority is matched without
// case and sent in the vendor's spelling; none is the default; another is
// refused with what the vendor knows.
func TestPriority_TheVendorsSpelling(t *testing.T) {
	v := Vendor{Name: "opsgenie"}
	known := []string{"P1", "P2", "P3"}
	for _, tc := range []struct{ field, want, err string }{
		{"p1", "P1", ""},
		{" P2 ", "P2", ""},
		{"", "P3", ""},
		{"Highest", "", `priority "Highest": opsgenie knows P1, P2, P3`},
	} {
		got, err := v.Priority(tc.field, "P3", known)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("Priority(%q) = %q, %v; want %q, %q", tc.field, got, err, tc.want, tc.err)
		}
	}
}

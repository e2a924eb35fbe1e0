package mantis

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fuzzConnector is a connector for decoding only: no request is made.
func fuzzConnector(t testing.TB) *Connector {
	c, err := newConnector(core.Setup{Name: "mantis", Env: testEnv, Decode: func(v any) error {
		*v.(*Config) = Config{BaseURL: "https://mantis.acme.example", TokenEnv: "MANTIS_TOKEN",
			Projects: Projects{Dev: []string{projBugs}, Change: projDevOps}}
		return nil
	}}, retryhttpNone)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDecodeIssuesPage: the documented list answer becomes items with
// their status, priority, assignee, custom fields, private note, marker
// and the relationship as a change_for link.
func TestDecodeIssuesPage(t *testing.T) {
	c := fuzzConnector(t)
	page, err := decodeIssues(readTestdata(t, "issues_page.json"))
	if err != nil {
		t.Fatal(err)
	}
	var items []core.Item
	var links []core.Link
	for i := range page.Issues {
		ref, ok := c.refOfIssue(&page.Issues[i])
		if !ok {
			t.Fatalf("issue %d not ours", page.Issues[i].ID)
		}
		n, err := c.normalize(&page.Issues[i], ref)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, n.item)
		links = append(links, n.links...)
	}
	bug := items[slices.IndexFunc(items, func(it core.Item) bool { return it.Ref.Kind == core.DevTicket })]
	if bug.Native != "confirmed" || bug.Priority != "normal" || bug.Assignee != "dana@acme.example" || bug.Fields["Customer ticket"] != "4521" ||
		bug.Fields["category"] != "General" || len(bug.Comments) != 1 || bug.Comments[0].Public || bug.URL != "https://mantis.acme.example/view.php?id=1" {
		t.Fatalf("bug %+v", bug)
	}
	want := core.Link{From: core.Ref{System: "mantis", Kind: core.ChangeTicket, ID: "2"}, To: bug.Ref, Role: core.ChangeFor, Origin: core.Explicit}
	if !slices.Contains(links, want) {
		t.Fatalf("links %+v; want %+v", links, want)
	}
}

func TestDecodeOtherAnswers(t *testing.T) {
	iss, err := decodeCreated(readTestdata(t, "issue_created.json"))
	if err != nil || iss.ID != 3 || markerOf(iss, "liaison marker") != "liaison-0123456789ab" {
		t.Fatalf("created %+v, %v", iss, err)
	}
	na, err := decodeNoteAdded(readTestdata(t, "note_added.json"))
	if err != nil || na.Note.ID != 2 || na.Issue == nil {
		t.Fatalf("note %+v, %v", na, err)
	}
	if _, m := splitMarker(na.Note.Text); m != "liaison-0123456789ab" {
		t.Fatalf("marker %q", m)
	}
	ps, err := decodeProjects(readTestdata(t, "projects.json"))
	if err != nil || len(ps.Projects) != 2 || len(ps.Projects[0].CustomFields) != 2 {
		t.Fatalf("projects %+v, %v", ps, err)
	}
	enums, err := decodeEnums(readTestdata(t, "config_enums.json"), "status_enum_string")
	if st := enums["status_enum_string"]; err != nil || !slices.Equal(st, []string{"new", "feedback", "acknowledged", "confirmed", "assigned", "resolved", "closed"}) {
		t.Fatalf("statuses %v, %v", st, err)
	}
}

// The fuzz targets feed every decoder of Mantis JSON with the documented
// answers mutated: none may panic, and an issue that decodes must
// normalize or fail with an error.

func FuzzDecodeIssues(f *testing.F) {
	f.Add(readTestdata(f, "issues_page.json"))
	f.Add([]byte(`{"issues":[{"id":1,"project":{"name":"Bugs InBox"},"updated_at":"x"}]}`))
	c := fuzzConnector(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		page, err := decodeIssues(b)
		if err != nil {
			return
		}
		for i := range page.Issues {
			if ref, ok := c.refOfIssue(&page.Issues[i]); ok {
				_, _ = c.normalize(&page.Issues[i], ref)
				_, _ = c.pollEvent(&page.Issues[i], ref, page.Issues[i].createdOrZero())
			}
		}
	})
}

func FuzzDecodeCreated(f *testing.F) {
	f.Add(readTestdata(f, "issue_created.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if iss, err := decodeCreated(b); err == nil && iss.ID <= 0 {
			t.Fatal("accepted an issue without an id")
		}
	})
}

func FuzzDecodeNoteAdded(f *testing.F) {
	f.Add(readTestdata(f, "note_added.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if na, err := decodeNoteAdded(b); err == nil {
			_, _ = noteOf(*na.Note)
		}
	})
}

func FuzzDecodeProjects(f *testing.F) {
	f.Add(readTestdata(f, "projects.json"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeProjects(b) })
}

func FuzzDecodeEnum(f *testing.F) {
	f.Add(readTestdata(f, "config_enums.json"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeEnums(b, "status_enum_string", "priority_enum_string") })
}

func TestSplitMarker(t *testing.T) {
	m := "liaison-0123456789ab"
	tests := []struct{ in, body, marker string }{
		{"Fixed.\n\n[" + m + "]", "Fixed.", m},
		{"Fixed.\r\n[" + m + "]\n", "Fixed.", m},
		{"[" + m + "]", "", m},
		{"See [" + m + "] above", "See [" + m + "] above", ""},
		{"Fixed.\n" + m, "Fixed.\n" + m, ""},
		{"Fixed.\n[liaison-0123]", "Fixed.\n[liaison-0123]", ""},
	}
	for _, tc := range tests {
		if body, marker := splitMarker(tc.in); body != tc.body || marker != tc.marker {
			t.Errorf("splitMarker(%q) = %q, %q; want %q, %q", tc.in, body, marker, tc.body, tc.marker)
		}
	}
}

// FuzzErrorDetail: Mantis's error body ({"message", "code", "localized"})
// becomes at most a bounded detail, whatever it holds.
func FuzzErrorDetail(f *testing.F) {
	f.Add([]byte(`{"message":"Issue #9 not found","code":1100,"localized":"Issue 9 not found."}`))
	f.Add([]byte(`{"message":` + strconv.Quote(strings.Repeat("x", 400)) + `}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		resp := &http.Response{Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(b))}
		if d := errorDetail(resp); len(d) > maxDetail+len("…") {
			t.Fatalf("detail of %d bytes", len(d))
		}
	})
}

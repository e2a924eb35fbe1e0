package github

import (
	"encoding/json"
	"testing"
)

// TestWebhook_OnlyTrustedAuthorsLink: a pull request carries its author's
// association, and only the configured ones (OWNER, MEMBER, COLLABORATOR
// unless a repository says otherwise) may link what it names; the real
// payload is an OWNER's, re-labelled for the others.
func TestWebhook_OnlyTrustedAuthorsLink(t *testing.T) {
	cases := []struct {
		name, extra, assoc string
		untrusted          bool
	}{
		{"owner", "", "OWNER", false},
		{"member", "", "MEMBER", false},
		{"collaborator", "", "COLLABORATOR", false},
		{"outsider", "", "NONE", true},
		{"first-time contributor", "", "FIRST_TIME_CONTRIBUTOR", true},
		{"contributor", "", "CONTRIBUTOR", true},
		{"contributor trusted in this repo", "trusted_authors_by_repo: {Codertocat/Hello-World: [OWNER, CONTRIBUTOR]}\n", "CONTRIBUTOR", false},
		{"member not trusted in this repo", "trusted_authors_by_repo: {Codertocat/Hello-World: [OWNER]}\n", "MEMBER", true},
		{"default narrowed", "trusted_authors: [owner]\n", "MEMBER", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, testdataRepos+c.extra)
			raw := readTestdata(t, "pull_request-opened.json")
			if err := h.gh.ImportPR(raw); err != nil {
				t.Fatal(err)
			}
			var p map[string]any
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			p["pull_request"].(map[string]any)["author_association"] = c.assoc
			body, _ := json.Marshal(p)
			evs, err := h.c.ReceiveWebhook(ctx(t), webhook("pull_request", "d-"+c.assoc, body))
			if err != nil || len(evs) != 1 {
				t.Fatalf("ReceiveWebhook: %v, %d events", err, len(evs))
			}
			it := evs[0].Item
			if it.Untrusted != c.untrusted || it.Fields["author_association"] != c.assoc {
				t.Fatalf("untrusted %v, association %q; want %v, %q", it.Untrusted, it.Fields["author_association"], c.untrusted, c.assoc)
			}
		})
	}
}

package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store/storetest"
)

// TestPause_AdminPausesAndResumes: an admin pauses sync of a record and
// of the whole case from the case page and resumes it; each step is in
// the store, on the page and in the audit, naming the admin. A viewer is
// refused, and a post without the CSRF token changes nothing.
func TestPause_AdminPausesAndResumes(t *testing.T) {
	s := openSite(t, nil)
	ctx := context.Background()
	ticket := storetest.StoryTicket
	page := "/case?ref=" + url.QueryEscape(ticket.String())
	held := func() (whole bool, records []string) {
		t.Helper()
		c, err := s.store.CaseOf(ctx, ticket)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := s.store.Paused(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Whole {
				whole = true
			} else {
				records = append(records, p.Ref.String()+" by "+p.By+": "+p.Reason)
			}
		}
		return whole, records
	}

	viewer := signedIn(t, s, viewerAccount)
	if body := viewer.get(page).body; !strings.Contains(body, `id="sync"`) || strings.Contains(body, `action="/case/pause"`) {
		t.Error("a viewer should see the sync table without its buttons")
	}
	admin := signedIn(t, s, adminAccount)
	tok := admin.csrf(page)
	if !strings.Contains(admin.get(page).body, `action="/case/pause"`) {
		t.Error("an admin is not offered the pause buttons")
	}
	refused := []struct {
		name string
		b    *browser
		form url.Values
		want int
	}{
		{"viewer", viewer, url.Values{"csrf": {viewer.csrf(page)}, "ref": {ticket.String()}, "do": {"pause"}}, http.StatusForbidden},
		{"no token", admin, url.Values{"ref": {ticket.String()}, "do": {"pause"}}, http.StatusForbidden},
		{"wrong token", admin, url.Values{"csrf": {tok + "x"}, "ref": {ticket.String()}, "whole": {"1"}, "do": {"pause"}}, http.StatusForbidden},
	}
	for _, c := range refused {
		if got := c.b.post("/case/pause", c.form); got.status != c.want {
			t.Errorf("%s: %d, want %d", c.name, got.status, c.want)
		}
	}
	if whole, records := held(); whole || len(records) != 0 {
		t.Fatalf("refused posts paused: whole %v, records %q", whole, records)
	}

	steps := []struct {
		form        url.Values
		want        int
		wantWhole   bool
		wantRecords int
		wantOnPage  string
	}{
		{url.Values{"ref": {ticket.String()}, "do": {"pause"}, "reason": {"customer migration"}}, http.StatusSeeOther, false, 1, "paused by grace"},
		{url.Values{"ref": {ticket.String()}, "do": {"pause"}}, http.StatusConflict, false, 1, ""},
		{url.Values{"ref": {ticket.String()}, "whole": {"1"}, "do": {"pause"}}, http.StatusSeeOther, true, 1, "paused sync of the case of"},
		{url.Values{"ref": {ticket.String()}, "do": {"resume"}}, http.StatusSeeOther, true, 0, "resumed sync of " + ticket.String()},
		{url.Values{"ref": {ticket.String()}, "do": {"resume"}}, http.StatusNotFound, true, 0, ""},
		{url.Values{"ref": {storetest.StoryIssue.String()}, "whole": {"1"}, "do": {"resume"}}, http.StatusSeeOther, false, 0, "resumed sync of the case of"},
		{url.Values{"ref": {"jira/dev_ticket/NOPE-1"}, "do": {"pause"}}, http.StatusNotFound, false, 0, ""},
		{url.Values{"ref": {ticket.String()}, "do": {"stop"}}, http.StatusBadRequest, false, 0, ""},
	}
	for i, st := range steps {
		st.form.Set("csrf", tok)
		got := admin.post("/case/pause", st.form)
		if got.status != st.want {
			t.Fatalf("step %d %v: %d, want %d: %s", i, st.form, got.status, st.want, got.body)
		}
		whole, records := held()
		if whole != st.wantWhole || len(records) != st.wantRecords {
			t.Errorf("after step %d: whole %v, records %q; want %v and %d", i, whole, records, st.wantWhole, st.wantRecords)
		}
		if i == 0 && records[0] != ticket.String()+" by grace: customer migration" {
			t.Errorf("the pause is stored as %q", records[0])
		}
		if st.wantOnPage != "" && !strings.Contains(admin.get(page).body, st.wantOnPage) {
			t.Errorf("after step %d the case page lacks %q", i, st.wantOnPage)
		}
	}
	var entries []core.AuditEntry
	for _, r := range []core.Ref{ticket, storetest.StoryIssue} {
		es, err := s.store.Audit(ctx, r, 20)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, es...)
	}
	slices.SortStableFunc(entries, func(a, b core.AuditEntry) int { return b.At.Compare(a.At) })
	var audit []string
	for _, e := range entries {
		if e.Kind == "pause" || e.Kind == "resume" {
			audit = append(audit, e.Detail)
		}
	}
	want := []string{
		"grace resumed sync of the case of " + storetest.StoryIssue.String(),
		"grace resumed sync of " + ticket.String(),
		"grace paused sync of the case of " + ticket.String(),
		"grace paused sync of " + ticket.String() + ": customer migration",
	}
	if strings.Join(audit, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit, newest first:\n%s\nwant\n%s", strings.Join(audit, "\n"), strings.Join(want, "\n"))
	}
}

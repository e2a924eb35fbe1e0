package digest_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/digest"
	"github.com/liaisonhq/liaison/internal/digest/digesttest"
	"github.com/liaisonhq/liaison/internal/store"
	"github.com/liaisonhq/liaison/mappings"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// seeded opens a SQLite store and writes the fixture week into it.
func seeded(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "digest.db"), store.Options{Clock: fixedClock{digesttest.Now}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := digesttest.Seed(ctx, st); err != nil {
		t.Fatal(err)
	}
	return st
}

func defaults(t *testing.T) *core.Mappings {
	t.Helper()
	m, err := mappings.Load(mappings.Defaults(), mappings.Options{Source: "embedded defaults"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func week(t *testing.T, s string) digest.Week {
	t.Helper()
	w, err := digest.ParseWeek(s)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestDigest_Golden(t *testing.T) {
	st := seeded(t)
	m := defaults(t)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	for _, tc := range []struct {
		name, org, week string
		loc             *time.Location
		mappings        *core.Mappings
	}{
		{"acme-2026-W47", digesttest.Org, digesttest.Week, time.UTC, m},
		{"globex-2026-W47", digesttest.Other, digesttest.Week, time.UTC, m},
		// The week before: 4480 solved, 4490's fix done, 4501 raised.
		{"acme-2026-W46", digesttest.Org, "2026-W46", time.UTC, m},
		// The week bounded and the times shown in the team's zone.
		{"acme-2026-W47-paris", digesttest.Org, digesttest.Week, paris, m},
		// Without mappings, native names that are canonical still count.
		{"acme-2026-W47-nomappings", digesttest.Org, digesttest.Week, time.UTC, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := digest.Build(context.Background(), st, week(t, tc.week), []string{tc.org},
				digest.Options{Mappings: tc.mappings, Location: tc.loc, Now: digesttest.Now})
			if err != nil {
				t.Fatal(err)
			}
			subject, body, err := digest.DefaultTemplate().Render(rs[0])
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".golden", "Subject: "+subject+"\n\n"+body)
			html, err := digest.DefaultTemplate().RenderHTML(rs[0])
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "acme-2026-W47" {
				golden(t, tc.name+".html.golden", html)
			}
		})
	}
}

func ids(ts []digest.Ticket) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.ID)
	}
	return strings.Join(s, " ")
}

// TestDigest_Sections states what the golden file shows, so that an
// -update cannot quietly bless a wrong digest.
func TestDigest_Sections(t *testing.T) {
	st := seeded(t)
	rs, err := digest.Build(context.Background(), st, week(t, digesttest.Week), []string{digesttest.Org, digesttest.Other, "Nobody Inc"},
		digest.Options{Mappings: defaults(t), Now: digesttest.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		report                  *digest.Report
		raised, done, scheduled string
	}{
		{rs[0], "4510 4513 4512 4515", "4512 4490", "4501 4515 4510 4513 4470"},
		{rs[1], "4600", "", "4600"},
		{rs[2], "", "", ""},
	} {
		r := tc.report
		if got := ids(r.Raised); got != tc.raised {
			t.Errorf("%s raised = %q; want %q", r.Org, got, tc.raised)
		}
		if got := ids(r.Done); got != tc.done {
			t.Errorf("%s done = %q; want %q", r.Org, got, tc.done)
		}
		if got := ids(r.Scheduled); got != tc.scheduled {
			t.Errorf("%s scheduled = %q; want %q", r.Org, got, tc.scheduled)
		}
	}
	acme := rs[0]
	// 4490 was solved by the gateway: only the audit says when.
	if d := acme.Done[1]; d.ID != "4490" || !d.DoneAt.Equal(time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)) || d.Status != core.StatusSolved {
		t.Errorf("4490 done %+v; want solved at 18 Nov 10:00 from the audit", d)
	}
	// 4501's developer ticket as it stood at the week's end, not as it is now.
	if s := acme.Scheduled[0]; len(s.Linked) != 1 || s.Linked[0].ID != "KBOT-88" || s.Linked[0].Native != "In Review" || s.Linked[0].Status != core.StatusInReview {
		t.Errorf("4501 linked %+v; want KBOT-88 In Review", s.Linked)
	}
	if s := acme.Scheduled[1]; len(s.Linked) != 2 || s.Linked[1].Kind != core.ChangeTicket || s.Linked[1].Native != "Awaiting Approval" {
		t.Errorf("4515 linked %+v; want the done change ticket and the one awaiting approval", s.Linked)
	}
	// Raised with what it became: 4510's developer ticket.
	if r := acme.Raised[0]; r.Answered != "2 h 18 min of working time" {
		t.Errorf("4510 answered %q; want 2 h 18 min of working time (09:12 to 11:30)", r.Answered)
	}
	if r := acme.Raised[1]; r.Answered != "" {
		t.Errorf("4513 answered %q; want nothing: no agent answered", r.Answered)
	}
	if r := acme.Raised[0]; r.ID != "4510" || len(r.Linked) != 1 || r.Linked[0].ID != "KBOT-91" {
		t.Errorf("4510 raised %+v; want its developer ticket KBOT-91", r)
	}
	// Maintenance done: DO-11, completed Thursday, for 4515.
	if got := changeIDs(acme.Maintenance); got != "DO-11" || !acme.Maintenance[0].DoneAt.Equal(time.Date(2026, 11, 19, 17, 5, 0, 0, time.UTC)) ||
		strings.Join(acme.Maintenance[0].For, ",") != "4515" {
		t.Errorf("maintenance %+v; want DO-11 done Thu 19 Nov 17:05 for 4515", acme.Maintenance)
	}
	// Planned next week in date order: DO-15 (own org field, no downtime),
	// DO-12 (for 4515, with its window); DO-16 is the week after.
	if got := changeIDs(acme.Planned); got != "DO-15 DO-12" || acme.Planned[0].Downtime() ||
		acme.Planned[1].Window != "Thu 26 Nov 22:00-23:00 UTC, reports unavailable" {
		t.Errorf("planned %+v; want DO-15 then DO-12 with its downtime window", acme.Planned)
	}
	if len(rs[1].Maintenance)+len(rs[1].Planned) != 0 {
		t.Errorf("globex has changes %+v %+v; want none", rs[1].Maintenance, rs[1].Planned)
	}
	if s := acme.Scheduled[3]; s.ID != "4513" || s.Status != core.StatusOpen {
		t.Errorf("4513 %+v; want open (reopened after it was solved)", s)
	}
}

func changeIDs(cs []digest.Change) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.ID)
	}
	return strings.Join(s, " ")
}

func TestTemplate_AdminOverride(t *testing.T) {
	st := seeded(t)
	rs, err := digest.Build(context.Background(), st, week(t, digesttest.Week), []string{digesttest.Org}, digest.Options{Mappings: defaults(t), Now: digesttest.Now})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text, subject, body string
	}{
		{"own subject", `{{define "subject"}}[{{.Org}}] {{len .Done}} done{{end}}{{range .Done}}{{.ID}}={{.StatusName}} {{end}}`,
			"[Acme Corp] 2 done", "4512=solved 4490=solved \n"},
		{"default subject", `{{len .Scheduled}} open`, "Support digest for Acme Corp, week 2026-W47", "5 open\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".tmpl")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			tmpl, err := digest.LoadTemplate(path)
			if err != nil {
				t.Fatal(err)
			}
			subject, body, err := tmpl.Render(rs[0])
			if err != nil {
				t.Fatal(err)
			}
			if subject != tc.subject || body != tc.body {
				t.Errorf("rendered %q / %q; want %q / %q", subject, body, tc.subject, tc.body)
			}
		})
	}
	if _, err := digest.ParseTemplate("bad.tmpl", "{{range .Raised}}"); err == nil || !strings.Contains(err.Error(), "bad.tmpl") {
		t.Errorf("unclosed range: err = %v; want it to name the file", err)
	}
	tmpl, err := digest.ParseTemplate("typo.tmpl", "{{.Raisd}}")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tmpl.Render(rs[0]); err == nil || !strings.Contains(err.Error(), "Raisd") {
		t.Errorf("unknown field: err = %v; want it to name the field", err)
	}
	if _, err := digest.LoadTemplate(filepath.Join(dir, "missing.tmpl")); err == nil {
		t.Error("a missing template file loaded")
	}
}

// TestTemplate_HTMLEscapesCustomerText: a title a customer wrote is data
// in the HTML part, never markup.
func TestTemplate_HTMLEscapesCustomerText(t *testing.T) {
	w := week(t, digesttest.Week)
	r := &digest.Report{Org: "Acme <Corp>", Week: w, From: w.Start(time.UTC), Last: w.End(time.UTC).AddDate(0, 0, -1),
		Raised:  []digest.Ticket{{ID: "1", Title: `<script>alert("x")</script>`, URL: `javascript:alert(1)`}},
		Planned: []digest.Change{{Linked: digest.Linked{ID: "DO-1", Title: "<b>patch</b>"}, Window: "<i>22:00</i>", TargetDate: w.End(time.UTC)}}}
	html, err := digest.DefaultTemplate().RenderHTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<b>patch", "<i>22:00", "javascript:", "Acme <Corp>"} {
		if strings.Contains(html, bad) {
			t.Errorf("HTML part holds %q unescaped:\n%s", bad, html)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;") || !strings.Contains(html, "&lt;i&gt;22:00&lt;/i&gt;") {
		t.Errorf("HTML part lacks the escaped text:\n%s", html)
	}
}

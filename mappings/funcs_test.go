package mappings

import (
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// loadWith loads the default systems with extra files.
func loadWith(t *testing.T, files map[string]string) *core.Mappings {
	t.Helper()
	fsys := fstest.MapFS{"systems.yaml": {Data: defaultFile(t, "systems.yaml")}}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	m, err := Load(fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProcessFuncs_InTemplatesAndExpressions(t *testing.T) {
	m := loadWith(t, map[string]string{"rules.yaml": `
calendar: {timezone: Europe/Paris, holidays: [2026-12-25]}
checklists:
  bug_report:
    a summary: summary
    the steps: steps
    how urgent: priority
    the environment: Environment
people:
  - name: Ada Lovelace
    ids: {zendesk: ada@example.com, jira: 5b10a2844c20165700ede21g, github: ada}
rules:
  - name: funcs
    when: zendesk/customer_ticket
    if: |
      missing(Item, "bug_report") == ["the steps", "the environment"]
      && mentions(Item.Title, "error", "not working") && not mentions(Item.Title, "err")
      && next_priority(Item.Priority) == "urgent" && identity("jira", Item.Assignee) == "5b10a2844c20165700ede21g"
      && highest_priority(Case.Items) == "high" && highest_priority(["low", "urgent", "x"]) == "urgent"
    then:
      - comment:
          body: |-
            {{range missing .Item "bug_report"}}[{{.}}]{{end}}
            {{next_priority "low"}} {{next_priority "normal"}} {{next_priority "high"}} {{next_priority "urgent"}} [{{next_priority "medium"}}]
            {{identity "jira" .Item.Assignee}} {{identity "github" "5B10A2844C20165700EDE21G"}} [{{identity "jira" "nobody@example.com"}}] [{{identity "jira" ""}}]
            {{mentions .Item.Title "error"}} {{mentions .Item.Title "rror"}} {{mentions "Ça ne marche pas" "ça"}}
            {{.Now | add_working_days 1 | date "Mon 2006-01-02 15:04 MST"}} {{.Now | add_working_days 2 | date "Mon 2006-01-02"}} {{.Now | add_working_days 0 | date "Mon 2006-01-02"}}
            {{highest_priority (.Linked "customer_ticket")}}|{{highest_priority .Case.Items}}
`})
	r := m.Rules[0]
	item := core.ItemView{Ref: "zendesk/customer_ticket/1", System: "zendesk", Kind: "customer_ticket", ID: "1",
		Title: "Login error: the page is not working", Priority: "high", Assignee: "ADA@example.com",
		Fields: map[string]string{}}
	env := &core.Env{Item: item, Case: core.CaseView{Items: []core.ItemView{item, {Ref: "zendesk/customer_ticket/2", System: "zendesk", Kind: "customer_ticket", Priority: "low"}}},
		// Thursday 24 December 2026, 10:00 in Paris; Christmas is a holiday.
		Now: time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC)}
	if !holds(t, r.If, env) {
		t.Error("the functions do not give what the expression expects")
	}
	got := render(t, r.Then[0].Body, env)
	want := "[the steps][the environment]\n" +
		"normal high urgent urgent []\n" +
		"5b10a2844c20165700ede21g ada [] []\n" +
		"true false true\n" +
		"Mon 2026-12-28 17:00 CET Tue 2026-12-29 Thu 2026-12-24\n" +
		"low|high"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// The canonical field name and the native one both read the field.
	env.Item.Fields = map[string]string{"Steps to reproduce": "1. Open", "Environment": "prod"}
	env.Item.Priority, env.Item.Title = "", ""
	if got := render(t, compileOneBody(t, m), env); got != "[a summary][how urgent]" {
		t.Errorf("missing with the fields filled = %q", got)
	}
}

func compileOneBody(t *testing.T, m *core.Mappings) *core.Text {
	t.Helper()
	body := m.Rules[0].Then[0].Body
	return &core.Text{Source: body.Source, Render: func(env *core.Env) (string, error) {
		s, err := body.Render(env)
		if err != nil {
			return "", err
		}
		line, _, _ := cutLine(s)
		return line, nil
	}}
}

func cutLine(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '\n' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func TestMentions(t *testing.T) {
	for _, tc := range []struct {
		text  string
		words []string
		want  bool
	}{
		{"An error page", []string{"error"}, true},
		{"Terrors of the deep", []string{"error"}, false},
		{"HTTP 500 when saving", []string{"500"}, true},
		{"15000 rows", []string{"500"}, false},
		{"It does not work at all", []string{"does not work"}, true},
		{"It does not workout", []string{"does not work"}, false},
		{"error, error", []string{"", "  "}, false},
		{"", []string{"error"}, false},
		{"Bug: crash at start", []string{"bug"}, true},
		{"debugging", []string{"bug"}, false},
		{"ÉRREUR fatale", []string{"érreur"}, true},
	} {
		if got := mentions(tc.text, tc.words...); got != tc.want {
			t.Errorf("mentions(%q, %q) = %v", tc.text, tc.words, got)
		}
	}
}

func TestDefaults_CalendarAndTargets(t *testing.T) {
	m := loadDefaults(t)
	if len(m.SLAs) != 2 {
		t.Fatalf("sla = %d", len(m.SLAs))
	}
	first, res := m.SLAs[0], m.SLAs[1]
	cal := first.Calendar
	// The shipped calendar assumes no country: UTC, Monday to Friday
	// 09:00-17:00, no holiday, and says so.
	if cal == nil || cal != res.Calendar || cal.String() != "Mon Tue Wed Thu Fri 09:00-17:00, UTC, 0 holidays" {
		t.Fatalf("calendar = %v", cal)
	}
	want := map[string]string{
		"urgent": "2 working hours", "high": "same working day, or next working morning if received after 14:00",
		"normal": "1 working day", "low": "2 working days",
	}
	for prio, text := range want {
		if got := first.Targets[prio].String(); got != text {
			t.Errorf("first response %s = %q; want %q", prio, got, text)
		}
	}
	if first.Name != "first-response" || first.Measure != core.FirstResponse || first.When.String() != "zendesk/customer_ticket" ||
		!slices.Equal(first.PauseIn, []core.Status{core.StatusPending, core.StatusOnHold}) || first.GatewayReplies {
		t.Errorf("first response = %+v", first)
	}
	if res.Measure != core.Resolution || res.Targets["urgent"].Days != 2 || res.Targets["low"].Days != 20 {
		t.Errorf("resolution = %+v", res)
	}
	if len(first.Breach) != 3 || first.Breach[0].Kind != core.AddComment || first.Breach[0].Public ||
		first.Breach[1].Kind != core.SetFields || first.Breach[2].Kind != core.Notify {
		t.Errorf("breach = %+v", first.Breach)
	}
	// 1 working day from Friday 27 November 2026, 16:00: Monday 16:00.
	start := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	if got := first.Targets["normal"].Deadline(cal, start); !got.Equal(time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("normal deadline = %v", got)
	}
	d := m.Duplicates[0]
	if d.Name != "known-problem" || d.Among.String() != "jira/dev_ticket" || d.Threshold != 0.5 || d.Role != core.DuplicateOf || len(d.Then) != 2 {
		t.Errorf("duplicates = %+v", d)
	}
}

// A time zone the host's zoneinfo may lack still loads: the binary carries
// its own (time/tzdata).
func TestCalendar_TimeZoneFromEmbeddedData(t *testing.T) {
	m := loadWith(t, map[string]string{"sla.yaml": `
calendar: {timezone: Pacific/Chatham, weekdays: [Monday, TUE, wed], hours: "08:30-12:00"}
sla:
  - name: quick
    when: zendesk/customer_ticket
    measure: first_response
    targets: {low: 90 working minutes}
    breach:
      - comment: {body: "{{.SLA.Name}} missed"}
`})
	cal := m.SLAs[0].Calendar
	if cal.Location.String() != "Pacific/Chatham" || cal.Open != 8*time.Hour+30*time.Minute || cal.Close != 12*time.Hour ||
		!slices.Equal(cal.Weekdays[:], []bool{false, true, true, true, false, false, false}) {
		t.Errorf("calendar = %+v", cal)
	}
}

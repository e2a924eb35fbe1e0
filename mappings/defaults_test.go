package mappings

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

func loadDefaults(t *testing.T) *core.Mappings {
	t.Helper()
	m, err := LoadDefaults(Options{Projects: sandboxProjects})
	if err != nil {
		t.Fatalf("default mappings do not load:\n%v", err)
	}
	return m
}

// sandboxProjects are the projects of the sandbox's configuration.
var sandboxProjects = map[string]map[core.Kind][]string{"jira": {core.DevTicket: {"KBOT"}, core.ChangeTicket: {"DO"}}}

func TestDefaults_LoadWithoutDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		systems map[string]string
	}{
		{"no configuration", nil},
		{"real connectors", map[string]string{"zendesk": "zendesk", "jira": "jira", "github": "github", "imap": "imap"}},
		{"sandbox stand-ins", map[string]string{"zendesk": "sandbox", "jira": "sandbox", "github": "sandbox", "imap": "sandbox"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ds := Check(Defaults(), Options{Systems: tc.systems}); ds != nil {
				t.Fatalf("diagnostics on the defaults:\n%v", ds)
			}
		})
	}
	m := loadDefaults(t)
	if m.Source != "embedded defaults" {
		t.Errorf("Source = %q", m.Source)
	}
	if len(m.Rules) < 20 || len(m.Patterns) != 5 || len(m.Sync) != 0 || len(m.SLAs) != 2 || len(m.Duplicates) != 1 {
		t.Errorf("rules %d, patterns %d, sync %d, sla %d, duplicates %d", len(m.Rules), len(m.Patterns), len(m.Sync), len(m.SLAs), len(m.Duplicates))
	}
}

// TestDefaults_RunWithTheSystemsATeamHas: the defaults load with only
// some systems configured; what names the others is disabled and said.
func TestDefaults_RunWithTheSystemsATeamHas(t *testing.T) {
	for _, tc := range []struct {
		name     string
		systems  map[string]string
		disabled []string // systems, a line each (the paging systems share one)
		gone     []string // rules no longer there
		kept     []string // rules still there
	}{
		{"Jira and Zendesk alone", map[string]string{"zendesk": "zendesk", "jira": "jira"}, []string{`system "github" is`, `system "imap" is`, `systems "opsgenie", "pagerduty" are`},
			[]string{"mail-becomes-ticket", "page-resolved"}, []string{"escalate-bug", "correction-explained", "pr-opened"}},
		{"Zendesk and a mailbox alone", map[string]string{"zendesk": "zendesk", "imap": "imap"}, []string{`system "github" is`, `system "jira" is`, `systems "opsgenie", "pagerduty" are`},
			[]string{"escalate-bug", "pr-opened", "page-resolved"}, []string{"mail-becomes-ticket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadDefaults(Options{Systems: tc.systems})
			if err != nil {
				t.Fatalf("the defaults refuse to load: %v", err)
			}
			if len(m.Disabled) != len(tc.disabled) {
				t.Fatalf("disabled %q, want a line for each of %v", m.Disabled, tc.disabled)
			}
			for i, subject := range tc.disabled {
				if !strings.HasPrefix(m.Disabled[i], subject+" not configured; disabled: ") {
					t.Errorf("%s not said: %q", subject, m.Disabled)
				}
			}
			for sys := range m.Systems {
				if tc.systems[sys] == "" {
					t.Errorf("system %s still there", sys)
				}
			}
			names := map[string]bool{}
			for _, r := range m.Rules {
				names[r.Name] = true
				for _, a := range r.Then {
					if sys := a.Target.System; sys != "" && m.Systems[sys] == nil {
						t.Errorf("rule %s keeps an action on the unconfigured %s", r.Name, sys)
					}
				}
			}
			for _, r := range tc.gone {
				if names[r] {
					t.Errorf("rule %s still runs", r)
				}
			}
			for _, r := range tc.kept {
				if !names[r] {
					t.Errorf("rule %s was disabled", r)
				}
			}
		})
	}
	// A mapped system whose connector runs under another instance name is
	// a misnaming: refused, not disabled.
	ds := Check(Defaults(), Options{Systems: map[string]string{"zendesk": "zendesk", "jira": "jira", "github": "github", "support-mail": "imap"}})
	if len(ds) != 1 || !strings.Contains(ds[0].String(), `default/systems.yaml:`) || !strings.Contains(ds[0].Msg, `system "imap": not configured, but instance "support-mail" runs its connector`) {
		t.Errorf("imap configured as support-mail: %v", ds)
	}
}

func TestDefaults_KindMaps(t *testing.T) {
	m := loadDefaults(t)
	dev := m.Kind("jira", core.DevTicket)
	tk := m.Kind("zendesk", core.CustomerTicket)
	pr := m.Kind("github", core.PullRequest)
	change := m.Kind("jira", core.ChangeTicket)
	if dev == nil || tk == nil || pr == nil || change == nil || m.Kind("imap", core.EmailThread) == nil {
		t.Fatal("a default kind is missing")
	}
	for _, tc := range []struct {
		km     *core.KindMap
		native string
		want   core.Status
	}{
		{dev, "Ready for QA", core.StatusReadyForQA},
		{dev, "ready for qa", core.StatusReadyForQA}, // natives compare without case
		{dev, "Preprod Validated", core.StatusPreprodValidated},
		{tk, "hold", core.StatusOnHold},
		{tk, "solved", core.StatusSolved},
		{pr, "merged", core.StatusDone},
		{pr, "draft", core.StatusInProgress},
		{change, "Awaiting Approval", core.StatusOnHold},
		{dev, "Ready for Q&A", ""},
	} {
		if got := tc.km.Canonical(tc.native); got != tc.want {
			t.Errorf("Canonical(%q) = %q, want %q", tc.native, got, tc.want)
		}
	}
	// The first native listed for a canonical status is the one written.
	if got := dev.Native[core.StatusOpen]; got != "To Do" {
		t.Errorf("dev Native[open] = %q", got)
	}
	if got := change.Native[core.StatusInProgress]; got != "In Progress" {
		t.Errorf("change Native[in_progress] = %q, want the first listed", got)
	}
	if got := dev.NativePrio["low"]; got != "Low" {
		t.Errorf("dev NativePrio[low] = %q, want Low (listed before Lowest)", got)
	}
	if got := dev.CanonicalPriority("highest"); got != "urgent" {
		t.Errorf("CanonicalPriority(highest) = %q", got)
	}
	if got := change.Priorities["medium"]; got != "normal" {
		t.Errorf("change ticket priorities (an alias of the dev ones) = %v", change.Priorities)
	}
	// New records go to the first configured project of their kind.
	if _, set := dev.Create["project"]; set || !slices.Equal(dev.Projects, []string{"KBOT"}) || !slices.Equal(change.Projects, []string{"DO"}) {
		t.Errorf("create defaults: dev %v in %v, change %v in %v", dev.Create, dev.Projects, change.Create, change.Projects)
	}
	if tk.Fields["dev_key"] != "Developer ticket" {
		t.Errorf("zendesk fields = %v", tk.Fields)
	}
}

func TestDefaults_PatternsFindKeys(t *testing.T) {
	m := loadDefaults(t)
	pr := core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/kbot#341"}
	mail := core.Ref{System: "imap", Kind: core.EmailThread, ID: "<CAF=1@mail.example>"}
	dev := func(id string) core.Ref { return core.Ref{System: "jira", Kind: core.DevTicket, ID: id} }
	tk := func(id string) core.Ref { return core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: id} }
	for _, tc := range []struct {
		name string
		item core.Item
		want []core.Link
	}{
		{"key in branch", core.Item{Ref: pr, Title: "Fix login", Fields: map[string]string{"branch": "feature/KBOT-88-fix-login"}},
			[]core.Link{{From: pr, To: dev("KBOT-88"), Role: core.Fixes, Origin: core.Discovered}}},
		{"keys in commits, de-duplicated", core.Item{Ref: pr, Title: "KBOT-88: fix", Fields: map[string]string{"commits": "KBOT-88 part one\nDO-12: open port\nKBOT-88 part two"}},
			[]core.Link{
				{From: pr, To: dev("KBOT-88"), Role: core.Fixes, Origin: core.Discovered},
				{From: pr, To: core.Ref{System: "jira", Kind: core.ChangeTicket, ID: "DO-12"}, Role: core.Fixes, Origin: core.Discovered},
			}},
		{"help-desk token in the body; a bare number is not a ticket", core.Item{Ref: pr, Title: "Fix reset", Body: "Reported in ZD-4521. Fixes #4533."},
			[]core.Link{{From: pr, To: tk("4521"), Role: core.Mentions, Origin: core.Discovered}}},
		{"the thread's ticket token, as the IMAP connector reports it", core.Item{Ref: mail, Title: "[#4521] Re: login broken", Fields: map[string]string{"token": "4521"}},
			[]core.Link{{From: mail, To: tk("4521"), Role: core.ThreadOf, Origin: core.Discovered}}},
		{"a token in a subject the connector did not accept", core.Item{Ref: mail, Title: "[#4521] Re: login broken", Fields: map[string]string{"follow_up_token": "4521"}}, nil},
		{"no key in a longer word", core.Item{Ref: pr, Title: "KBOT-88x and XKBOT-12", Fields: map[string]string{"branch": "kbot-88"}}, nil},
		{"a mail body is not searched", core.Item{Ref: mail, Title: "login broken", Body: "see [#4521]"}, nil},
		{"the ticket's Developer ticket field", core.Item{Ref: tk("4521"), Title: "Reset broken", Fields: map[string]string{"Developer ticket": "KBOT-77"}},
			[]core.Link{{From: tk("4521"), To: dev("KBOT-77"), Role: core.EscalatedTo, Origin: core.Discovered}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.Discover(&tc.item); !slices.Equal(got, tc.want) {
				t.Errorf("Discover = %v\nwant       %v", got, tc.want)
			}
		})
	}
}

// views for hand-built cases.
func view(ref string, native string, m *core.Mappings) core.ItemView {
	r, err := core.ParseRef(ref)
	if err != nil {
		panic(err)
	}
	return core.ItemView{Ref: ref, System: r.System, Kind: string(r.Kind), ID: r.ID, Native: native,
		Status: string(m.Kind(r.System, r.Kind).Canonical(native)), Fields: map[string]string{}, Exists: true,
		URL: "https://example.com/" + r.ID}
}

func envOf(subject core.ItemView, others ...core.ItemView) *core.Env {
	return &core.Env{Item: subject, Case: core.CaseView{ID: 7, Items: append([]core.ItemView{subject}, others...)},
		Now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
}

func rule(t *testing.T, m *core.Mappings, name string) *core.Rule {
	t.Helper()
	for _, r := range m.Rules {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no default rule %q", name)
	return nil
}

func holds(t *testing.T, c *core.Cond, env *core.Env) bool {
	t.Helper()
	if c == nil {
		return true
	}
	ok, err := c.Eval(env)
	if err != nil {
		t.Fatalf("%s: %v", c.Source, err)
	}
	return ok
}

func render(t *testing.T, x *core.Text, env *core.Env) string {
	t.Helper()
	s, err := x.Render(env)
	if err != nil {
		t.Fatalf("%s: %v", x.Source, err)
	}
	return s
}

func TestDefaults_EscalateBug(t *testing.T) {
	m := loadDefaults(t)
	r := rule(t, m, "escalate-bug")
	ticket := view("zendesk/customer_ticket/4521", "open", m)
	ticket.Title, ticket.Body = "Password reset link gives a 500", "Since Monday the reset link fails."
	ticket.Labels = []string{"bug", "web"}
	ticket.Priority, ticket.NativePriority = "high", "high"
	ticket.Fields = map[string]string{"org": "Customer Corp.", "Steps to reproduce": "1. Forgot password\n2. Click the link", "Reproducible": "yes"}
	dev := view("jira/dev_ticket/KBOT-88", "To Do", m)

	if !holds(t, r.If, envOf(ticket)) {
		t.Fatal("an open ticket tagged bug without a developer ticket is not escalated")
	}
	if holds(t, r.If, envOf(ticket, dev)) {
		t.Error("escalated although the case has a developer ticket")
	}
	solved := ticket
	solved.Native, solved.Status = "solved", "solved"
	if holds(t, r.If, envOf(solved)) {
		t.Error("a solved ticket is escalated")
	}
	incomplete := ticket
	incomplete.Fields = map[string]string{"org": "Customer Corp."}
	if holds(t, r.If, envOf(incomplete)) {
		t.Error("a bug without steps to reproduce is escalated before the reporter was asked")
	}
	infra := ticket
	infra.Labels = []string{"bug", "infra"}
	if holds(t, r.If, envOf(infra)) {
		t.Error("an infrastructure problem gets a developer ticket")
	}
	question := ticket
	question.Labels = []string{"question"}
	if holds(t, r.If, envOf(question)) {
		t.Error("a question is escalated")
	}

	create := r.Then[0]
	if create.Kind != core.Create || create.Target != (core.Selector{System: "jira", Kind: core.DevTicket}) || create.Role != core.EscalatedTo {
		t.Fatalf("first action = %+v", create)
	}
	env := envOf(ticket)
	if got := render(t, create.Title, env); got != "Password reset link gives a 500" {
		t.Errorf("title = %q", got)
	}
	wantBody := "Escalated from help-desk ticket #4521 (Customer Corp.): https://example.com/4521\n\n" +
		"Since Monday the reset link fails.\n\nSteps to reproduce:\n1. Forgot password\n2. Click the link\n\nReproducible: yes\n"
	if got := render(t, create.Body, env); got != wantBody {
		t.Errorf("body = %q\nwant   %q", got, wantBody)
	}
	if got := render(t, create.Fields["priority"], env); got != "High" {
		t.Errorf("priority = %q, want Jira's High", got)
	}
	unprioritised := ticket
	unprioritised.Priority = ""
	if got := render(t, create.Fields["priority"], envOf(unprioritised)); got != "Medium" {
		t.Errorf("priority without one = %q, want Medium", got)
	}
	if len(create.Labels) != 2 || render(t, create.Labels[0], env) != "customer-corp" || render(t, create.Labels[1], env) != "backlog" {
		t.Errorf("labels = %v", create.Labels)
	}
}

func TestDefaults_MailBecomesTicket(t *testing.T) {
	m := loadDefaults(t)
	r := rule(t, m, "mail-becomes-ticket")
	mail := view("imap/email_thread/<a1@mail.example>", "received", m)
	mail.Reporter, mail.Body = "ada@customer.example", "The login page is blank."
	if !holds(t, r.If, envOf(mail)) {
		t.Fatal("a new mail thread makes no ticket")
	}
	if holds(t, r.If, envOf(mail, view("zendesk/customer_ticket/4521", "open", m))) {
		t.Error("a thread that has its ticket makes another")
	}
	c := r.Then[0]
	if c.Target.String() != "zendesk/customer_ticket" || c.Role != core.ThreadOf {
		t.Errorf("create = %+v", c)
	}
	if got := render(t, c.Title, envOf(mail)); got != "(no subject)" {
		t.Errorf("title of a mail without subject = %q", got)
	}
	if got := render(t, c.Fields["requester"], envOf(mail)); got != "ada@customer.example" {
		t.Errorf("requester = %q", got)
	}

	replies := rule(t, m, "mail-replies-to-ticket").Then[0]
	if !replies.Mirror || !replies.Public {
		t.Fatalf("replies = %+v", replies)
	}
	env := envOf(mail, view("zendesk/customer_ticket/4521", "open", m))
	env.Comment = core.CommentView{ID: "<a2@mail.example>", Body: "Still blank today.", Public: true}
	if !holds(t, replies.If, env) || render(t, replies.Body, env) != "Still blank today." {
		t.Error("a reply is not mirrored as is")
	}
	env.Comment = core.CommentView{ID: "<a1@mail.example>", Body: "The login page is blank.", Public: true}
	if holds(t, replies.If, env) {
		t.Error("the thread's first message is mirrored again")
	}
}

func TestDefaults_PullRequestsMoveTheDevTicket(t *testing.T) {
	m := loadDefaults(t)
	dev := view("jira/dev_ticket/KBOT-88", "In Review", m)
	pr := func(n, native string) core.ItemView { return view("github/pull_request/acme/kbot#"+n, native, m) }
	for _, tc := range []struct {
		prs  []core.ItemView
		want []string // rules whose if holds
	}{
		{nil, nil},
		{[]core.ItemView{pr("1", "draft")}, []string{"pr-draft"}},
		{[]core.ItemView{pr("1", "open"), pr("2", "draft")}, []string{"pr-opened", "pr-draft"}},
		{[]core.ItemView{pr("1", "merged")}, []string{"pr-merged"}},
		{[]core.ItemView{pr("1", "merged"), pr("2", "closed")}, []string{"pr-merged"}},
		{[]core.ItemView{pr("1", "merged"), pr("2", "open")}, []string{"pr-opened"}},
		{[]core.ItemView{pr("1", "closed"), pr("2", "closed")}, []string{"pr-closed-unmerged"}},
	} {
		var got []string
		for _, name := range []string{"pr-opened", "pr-draft", "pr-merged", "pr-closed-unmerged"} {
			if holds(t, rule(t, m, name).If, envOf(dev, tc.prs...)) {
				got = append(got, name)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("pull requests %v: rules %v, want %v", natives(tc.prs), got, tc.want)
		}
	}
	closed := rule(t, m, "pr-closed-unmerged").Then[0]
	if closed.Status != core.StatusInProgress || !slices.Equal(closed.From, []core.Status{core.StatusInReview}) {
		t.Errorf("pr-closed-unmerged moves %v from %v", closed.Status, closed.From)
	}
	merged := rule(t, m, "pr-merged")
	note := merged.Then[1]
	if note.Kind != core.AddComment || note.Public || note.Target.String() != "zendesk/customer_ticket" {
		t.Fatalf("pr-merged note = %+v", note)
	}
	p1, p2 := pr("1", "merged"), pr("2", "closed")
	p1.URL, p2.URL = "https://github.com/acme/kbot/pull/1", "https://github.com/acme/kbot/pull/2"
	want := "The fix for KBOT-88 is merged and waits for QA: https://github.com/acme/kbot/pull/1\nIt is not deployed yet.\n"
	if got := render(t, note.Body, envOf(dev, p1, p2)); got != want {
		t.Errorf("note = %q\nwant   %q", got, want)
	}
}

func natives(vs []core.ItemView) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Native)
	}
	return out
}

func TestDefaults_ValidationChainTellsTheCustomer(t *testing.T) {
	m := loadDefaults(t)
	km := m.Kind("jira", core.DevTicket)
	explain, solve := rule(t, m, "correction-explained"), rule(t, m, "deployed-solves-ticket")
	ticket := view("zendesk/customer_ticket/4521", "open", m)
	ticket.Title = "Password reset broken"
	// dev is the developer ticket having passed through path, in its last
	// status, resolved as resolution.
	walk := func(resolution string, path ...string) core.ItemView {
		it := core.Item{Ref: core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}, Native: path[len(path)-1],
			Fields: map[string]string{"Release note": "Reset links now expire after 24 hours, in UTC."}}
		for i, native := range path {
			it.Path = append(it.Path, core.StatusStep{Native: native, At: time.Date(2026, 11, 20, 9+i, 0, 0, 0, time.UTC)})
		}
		if resolution != "" {
			it.Fields["resolution"] = resolution
		}
		v := view("jira/dev_ticket/KBOT-88", it.Native, m)
		v.Fields, v.Resolution, v.Outcome, v.Validated = it.Fields, resolution, string(km.Outcome(resolution)), km.Validated(&it)
		return v
	}
	chain := []string{"In Review", "Ready for QA", "QA Validated", "Preprod Validated"}
	dev := func(native string) core.ItemView {
		path := append(slices.Clone(chain[:slices.Index(chain, native)+1]), native)
		if native == "Done" {
			return walk("Fixed", append(slices.Clone(chain), "Done")...)
		}
		return walk("", path[:len(path)-1]...)
	}
	for _, tc := range []struct {
		name           string
		dev            core.ItemView
		explain, solve bool
		pending        bool
	}{
		{"ready for QA", dev("Ready for QA"), false, false, false},
		{"QA validated", dev("QA Validated"), false, false, false},
		{"pre-prod validated after QA", dev("Preprod Validated"), true, false, true},
		{"done, fixed, after the chain", dev("Done"), true, true, false},
		{"pre-prod validated without QA", walk("", "Ready for QA", "Preprod Validated"), false, false, false},
		{"pre-prod validated before QA", walk("", "Ready for QA", "Preprod Validated", "QA Validated", "Ready for QA", "Preprod Validated"), false, false, false},
		{"QA again, then pre-prod", walk("", "Ready for QA", "Preprod Validated", "QA Validated", "Preprod Validated"), true, false, true},
		{"done, fixed, QA skipped", walk("Fixed", "Ready for QA", "Preprod Validated", "Done"), false, false, false},
		{"done as Cannot Reproduce", walk("Cannot Reproduce", "In Progress", "Done"), false, false, false},
		{"done as Won't Fix after the chain", walk("Won't Fix", append(slices.Clone(chain), "Done")...), false, false, false},
		{"done with a resolution not listed", walk("Works for me", append(slices.Clone(chain), "Done")...), false, false, false},
		{"reopened: the last round skipped QA", walk("", append(slices.Clone(chain), "In Progress", "Ready for QA", "Preprod Validated")...), false, false, false},
	} {
		env := envOf(ticket, tc.dev)
		if got := holds(t, explain.If, env); got != tc.explain {
			t.Errorf("%s: correction-explained = %v", tc.name, got)
		}
		if got := holds(t, solve.If, env); got != tc.solve {
			t.Errorf("%s: deployed-solves-ticket = %v", tc.name, got)
		}
		env.Target = ticket
		if got := holds(t, explain.Then[1].If, env); tc.explain && got != tc.pending {
			t.Errorf("%s: pending = %v", tc.name, got)
		}
		skipped := holds(t, rule(t, m, "validation-skipped").If, envOf(ticket, tc.dev))
		notFixed := holds(t, rule(t, m, "resolution-explained-to-agents").If, envOf(ticket, tc.dev))
		if told := skipped || notFixed; told != (!tc.explain && (tc.dev.Status == "done" || tc.dev.Status == "preprod_validated")) {
			t.Errorf("%s: agents told = %v (validation-skipped %v, resolution-explained-to-agents %v)", tc.name, told, skipped, notFixed)
		}
	}
	// A path with a status change not received yet may lack only that:
	// the agents are told once it is known.
	for _, v := range []core.ItemView{walk("Fixed", "Ready for QA", "Preprod Validated", "Done"), walk("", "Ready for QA", "Preprod Validated")} {
		v.HistoryGap = true
		if holds(t, rule(t, m, "validation-skipped").If, envOf(ticket, v)) {
			t.Errorf("%s by %v with a history gap: validation-skipped holds", v.Native, v.Path)
		}
	}
	comment := explain.Then[0]
	if !comment.Public || comment.Target != (core.Selector{}) {
		t.Fatalf("the explanation is not a public comment on the ticket: %+v", comment)
	}
	body := render(t, comment.Body, envOf(ticket, dev("Preprod Validated")))
	for _, want := range []string{"Hello,\n", "(Password reset broken)", "\n\nReset links now expire after 24 hours, in UTC.\n\n", "deployed shortly"} {
		if !strings.Contains(body, want) {
			t.Errorf("explanation lacks %q:\n%s", want, body)
		}
	}
	plain := view("jira/dev_ticket/KBOT-88", "Preprod Validated", m)
	plain.Validated = true
	if strings.Contains(render(t, comment.Body, envOf(ticket, plain)), "\n\n\n") {
		t.Error("an empty release note leaves a gap")
	}
	// A resolution name says nothing to the customer.
	plain.Fields = map[string]string{"resolution": "Fixed"}
	if body := render(t, comment.Body, envOf(ticket, plain)); strings.Contains(body, "Fixed") || strings.Contains(body, "\n\n\n") {
		t.Errorf("the resolution name is explained to the customer:\n%s", body)
	}
	if explain.Then[1].Status != core.StatusPending || solve.Then[0].Status != core.StatusSolved {
		t.Error("wrong target statuses")
	}
	// With a change ticket, its being done is the deployment.
	change := view("jira/change_ticket/DO-12", "In Progress", m)
	if holds(t, solve.If, envOf(ticket, dev("Done"), change)) {
		t.Error("solved before the change ticket is done")
	}
	done := view("jira/change_ticket/DO-12", "Done", m)
	if !holds(t, solve.If, envOf(ticket, dev("Preprod Validated"), done)) {
		t.Error("not solved when the change ticket deploying a validated fix is done")
	}
	if holds(t, solve.If, envOf(ticket, dev("QA Validated"), done)) {
		t.Error("solved with a fix not validated in pre-production")
	}
	if tag := explain.Then[2]; tag.Kind != core.SetFields || render(t, tag.Fields["tags"], envOf(ticket, dev("Done"))) != "fix_explained" {
		t.Errorf("the explanation is not recorded as the tag fix_explained: %+v", tag)
	}
}

func TestDefaults_CommentsKeepInternalNotesInternal(t *testing.T) {
	m := loadDefaults(t)
	toDev := rule(t, m, "customer-replies-to-dev-ticket").Then[0]
	toAgents := rule(t, m, "dev-comments-to-agents").Then[0]
	if !toDev.Mirror || toDev.Target.String() != "jira/dev_ticket" {
		t.Fatalf("customer replies = %+v", toDev)
	}
	if !toAgents.Mirror || toAgents.Public || toAgents.Target.String() != "zendesk/customer_ticket" {
		t.Fatalf("a developer's comment may reach the customer: %+v", toAgents)
	}
	ticket := view("zendesk/customer_ticket/4521", "open", m)
	ticket.Body = "Reset is broken."
	env := envOf(ticket, view("jira/dev_ticket/KBOT-88", "In Progress", m))
	for _, tc := range []struct {
		c    core.CommentView
		want bool
	}{
		{core.CommentView{ID: "1", Body: "Reset is broken.", Public: true}, false}, // the description
		{core.CommentView{ID: "2", Body: "Also on mobile.", Public: true, Author: "ada@customer.example"}, true},
		{core.CommentView{ID: "3", Body: "Customer is on the old plan.", Public: false}, false},
	} {
		env.Comment = tc.c
		if got := holds(t, toDev.If, env); got != tc.want {
			t.Errorf("comment %q (public %v) mirrored = %v", tc.c.Body, tc.c.Public, got)
		}
	}
	env.Comment = core.CommentView{ID: "2", Body: "Also on mobile.\nAnd on tablets.", Public: true, Author: "ada@customer.example"}
	want := "Reply on help-desk ticket #4521 from ada@customer.example:\n\n> Also on mobile.\n> And on tablets.\n"
	if got := render(t, toDev.Body, env); got != want {
		t.Errorf("mirrored reply = %q\nwant %q", got, want)
	}
	dev := view("jira/dev_ticket/KBOT-88", "In Progress", m)
	denv := envOf(dev, ticket)
	denv.Comment = core.CommentView{ID: "10023", Body: "Root cause: local time."}
	want = "A developer commented on KBOT-88 (https://example.com/KBOT-88):\n\n> Root cause: local time.\n"
	if got := render(t, toAgents.Body, denv); got != want {
		t.Errorf("note = %q\nwant %q", got, want)
	}
}

func TestDefaults_DevTicketNoted(t *testing.T) {
	m := loadDefaults(t)
	r := rule(t, m, "dev-ticket-noted")
	ticket := view("zendesk/customer_ticket/4521", "open", m)
	env := envOf(ticket, view("jira/dev_ticket/KBOT-88", "To Do", m))
	if !holds(t, r.If, env) || holds(t, r.If, envOf(ticket)) {
		t.Fatal("noted without a developer ticket, or not with one")
	}
	if got := render(t, r.Then[0].Body, env); got != "Developer ticket KBOT-88 tracks this problem: https://example.com/KBOT-88\n" || r.Then[0].Public {
		t.Errorf("note = %q public %v", got, r.Then[0].Public)
	}
	env.Target = ticket
	if !holds(t, r.Then[0].If, env) {
		t.Error("no note although none names the developer ticket")
	}
	// The duplicate rule's note named it already.
	env.Item.Comments = []core.CommentView{{ID: "9", Body: "This looks like the problem of developer ticket KBOT-88", Public: false}}
	env.Target = env.Item
	if holds(t, r.Then[0].If, env) {
		t.Error("a second note names the developer ticket")
	}
	if got := render(t, r.Then[1].Fields["Developer ticket"], env); got != "KBOT-88" {
		t.Errorf("Developer ticket field = %q", got)
	}
}

// TestDefaults_Plan runs core's planner on the defaults: the escalation of
// a bug ticket is one create with the mapped project, priority and label.
func TestDefaults_Plan(t *testing.T) {
	m := loadDefaults(t)
	tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
	c := &core.Case{ID: 1, Items: []core.Item{{Ref: tk, Title: "Reset broken", Body: "The link gives a 500.", Native: "open", Priority: "urgent",
		Labels: []string{"bug"}, Fields: map[string]string{"org": "Customer Corp", "Steps to reproduce": "Open the link.", "Reproducible": "yes"},
		UpdatedAt: time.Unix(1, 0)}}}
	plan := core.PlanCase(c, m, time.Unix(2, 0))
	if len(plan.Errors) > 0 {
		t.Fatal(plan.Errors)
	}
	if len(plan.Actions) != 1 {
		t.Fatalf("actions = %+v", plan.Actions)
	}
	a := plan.Actions[0]
	if a.Kind != core.Create || a.Target.String() != "jira/dev_ticket/" || a.Title != "Reset broken" ||
		a.Fields["project"] != "" || a.Fields["issue_type"] != "Bug" || a.Fields["priority"] != "Highest" ||
		!slices.Equal(a.Labels, []string{"customer-corp", "current-sprint"}) || a.Role != core.EscalatedTo ||
		a.Fields["Help desk ticket"] != "4521" || a.Fields["Steps to reproduce"] != "Open the link." {
		t.Errorf("create = %+v", a)
	}
}

package zendesk

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestConfig: what New accepts and what it refuses, with the reason.
func TestConfig(t *testing.T) {
	dir := t.TempDir()
	emptyFile := filepath.Join(dir, "empty")
	tokenFile := filepath.Join(dir, "token")
	_ = os.WriteFile(emptyFile, []byte("\n"), 0o600)
	_ = os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600)
	off := false
	ok := Config{Subdomain: "acme", Email: testEmail, TokenEnv: "T", WebhookSecretEnv: "S"}
	cases := []struct {
		name string
		edit func(*Config)
		want string // "" = accepted
	}{
		{"subdomain with token", nil, ""},
		{"token file", func(c *Config) { c.TokenEnv, c.TokenFile = "", tokenFile }, ""},
		{"oauth", func(c *Config) { c.TokenEnv, c.Email, c.OAuthTokenEnv = "", "", "T" }, ""},
		{"base url", func(c *Config) { c.Subdomain, c.BaseURL = "", "http://127.0.0.1:9/" }, ""},
		{"webhooks off without secret", func(c *Config) { c.WebhookSecretEnv, c.Webhooks = "", &off }, ""},
		{"no account", func(c *Config) { c.Subdomain = "" }, "set subdomain"},
		{"both account forms", func(c *Config) { c.BaseURL = "https://x.example" }, "not both"},
		{"full host as subdomain", func(c *Config) { c.Subdomain = "acme.zendesk.com" }, `subdomain "acme.zendesk.com"`},
		{"base url with credentials", func(c *Config) { c.Subdomain, c.BaseURL = "", "https://u:p@x.example" }, "must not carry credentials"},
		{"no credentials", func(c *Config) { c.TokenEnv = "" }, "no credentials"},
		{"token without email", func(c *Config) { c.Email = "" }, "needs email"},
		{"token and oauth", func(c *Config) { c.OAuthTokenEnv = "T" }, "not both"},
		{"token env and file", func(c *Config) { c.TokenFile = tokenFile }, "token_env and token_file are both set"},
		{"token env unset", func(c *Config) { c.TokenEnv = "UNSET" }, `environment variable "UNSET" is empty`},
		{"token file empty", func(c *Config) { c.TokenEnv, c.TokenFile = "", emptyFile }, "is empty"},
		{"token file missing", func(c *Config) { c.TokenEnv, c.TokenFile = "", filepath.Join(dir, "nope") }, "no such file"},
		{"webhooks without secret", func(c *Config) { c.WebhookSecretEnv = "" }, "webhooks need a signing secret"},
		{"page size", func(c *Config) { c.ExportPageSize = 5000 }, "export_page_size 5000"},
		{"link target without field", func(c *Config) { c.LinkTarget = "jira/dev_ticket" }, "needs link_field"},
		{"link target not a selector", func(c *Config) { c.LinkField, c.LinkTarget = "Dev", "jira" }, `link_target "jira"`},
	}
	vars := map[string]string{"T": testToken, "S": testSecret}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			_, err := newConnector(core.Setup{Name: "zendesk", Env: func(k string) string { return vars[k] }}, cfg, retryhttp.Options{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v; want one saying %q", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), testSecret)) {
				t.Fatalf("error carries a secret: %v", err)
			}
		})
	}
}

// TestRegistered: the package registers itself and decodes its config
// through Setup.Decode.
func TestRegistered(t *testing.T) {
	f, ok := core.Lookup("zendesk")
	if !ok {
		t.Fatal(`"zendesk" is not registered`)
	}
	c, err := f(core.Setup{Name: "helpdesk", Env: func(string) string { return testToken },
		Decode: func(v any) error {
			cfg := v.(*Config)
			cfg.Subdomain, cfg.Email, cfg.TokenEnv, cfg.WebhookSecretEnv = "acme", testEmail, "T", "S"
			return cfg.MaxSkew.UnmarshalText([]byte("2m"))
		}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "helpdesk" || c.(*Connector).maxSkew.String() != "2m0s" {
		t.Fatalf("connector %q, max skew %v", c.Name(), c.(*Connector).maxSkew)
	}
	if _, err := f(core.Setup{Name: "x", Decode: func(any) error { return errors.New(`unknown key "tokn"`) }}); err == nil ||
		!strings.Contains(err.Error(), `unknown key "tokn"`) {
		t.Fatalf("decode error not reported: %v", err)
	}
}

// TestCheckMappings: every title, status, priority and type the mappings
// and config use that the account lacks is named in one error (golden).
func TestCheckMappings(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Fields, c.Groups, c.Forms = []string{"Severity"}, []string{"Support"}, []string{"Bug report"}
	})
	pos := func(line, col int) core.Pos { return core.Pos{File: "rules.yaml", Line: line, Col: col} }
	m := &core.Mappings{
		Systems: map[string]*core.SystemMap{"zendesk": {Name: "zendesk", Connector: "zendesk", Kinds: map[core.Kind]*core.KindMap{
			core.CustomerTicket: {
				Statuses: map[string]core.Status{"new": core.StatusNew, "open": core.StatusOpen, "on-hold": core.StatusOnHold,
					"waiting": core.StatusPending, "solved": core.StatusSolved, "closed": core.StatusClosed},
				Priorities: map[string]string{"low": "low", "normal": "normal", "high": "high", "urgent": "urgent", "critical": "urgent"},
				Fields:     map[string]string{"dev_key": "Developer ticket", "root": "Root cause", "org": "org"},
				Create:     map[string]string{"group": "Tier 3", "type": "problem", "form": "Bug report"},
			}}}},
		Rules: []*core.Rule{{Name: "escalate", Pos: pos(12, 3), When: core.Selector{Kind: core.DevTicket}, Then: []*core.ActionSpec{
			{Kind: core.SetFields, Pos: pos(14, 9), Target: core.Selector{Kind: core.CustomerTicket}, Fields: map[string]*core.Text{
				"Developer ticket": {Source: "{{.Item.ID}}"}, "Customer impact": {Source: "high"},
				"group": {Source: "Escalations"}, "priority": {Source: "{{.Item.Priority}}"}, "type": {Source: "bug"},
			}},
			{Kind: core.Create, Pos: pos(18, 9), Target: core.Selector{System: "jira", Kind: core.DevTicket},
				Fields: map[string]*core.Text{"Not ours": {Source: "x"}}},
		}}},
	}
	err := e.c.CheckMappings(context.Background(), m)
	if err == nil {
		t.Fatal("mappings with missing names accepted")
	}
	golden(t, "testdata/check-mappings.golden", err.Error()+"\n")
	sameLines(t, "check calls", e.calls(), catalogCalls)

	// Fixed mappings pass, and their create defaults are used.
	km := m.Systems["zendesk"].Kinds[core.CustomerTicket]
	delete(km.Statuses, "waiting")
	delete(km.Priorities, "critical")
	delete(km.Fields, "root")
	km.Create["group"] = "Escalations"
	m.Rules = nil
	e.c.cfg.Fields = nil
	if err := e.c.CheckMappings(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	e.zd.SetWebhook("", "")
	res, err := e.c.Apply(context.Background(), core.Action{Key: "k", Kind: core.Create, Target: target, Title: "T",
		Fields: map[string]string{"requester": "ada@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if tk, _ := e.zd.Ticket(mustAtoi(t, res.Created.ID)); tk.Group != "Escalations" || tk.Type != "problem" || tk.Form != "Bug report" {
		t.Fatalf("create defaults not applied: %+v", tk)
	}
}

// TestCheckMappings_PlanWithoutTicketForms: an account whose plan has no
// ticket forms (403 on the list) starts with mappings that only read a
// form, and a mapping that writes one is named with the reason.
func TestCheckMappings_PlanWithoutTicketForms(t *testing.T) {
	e := newEnv(t, nil, fake.WithoutTicketForms())
	m := &core.Mappings{Systems: map[string]*core.SystemMap{"zendesk": {Name: "zendesk", Connector: "zendesk", Kinds: map[core.Kind]*core.KindMap{
		core.CustomerTicket: {Statuses: map[string]core.Status{"new": core.StatusNew, "open": core.StatusOpen}},
	}}}}
	if err := e.c.CheckMappings(context.Background(), m); err != nil {
		t.Fatalf("mappings that write no form refused on a plan without forms: %v", err)
	}
	m.Rules = []*core.Rule{{Name: "route-bugs", Pos: core.Pos{File: "rules.yaml", Line: 7, Col: 3}, Then: []*core.ActionSpec{
		{Kind: core.SetFields, Pos: core.Pos{File: "rules.yaml", Line: 9, Col: 9}, Target: core.Selector{Kind: core.CustomerTicket},
			Fields: map[string]*core.Text{"form": {Source: "Bug report"}}},
	}}}
	err := e.c.CheckMappings(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), `ticket form "Bug report": this account has no ticket forms`) ||
		!strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), `rule "route-bugs" at rules.yaml:9:9`) {
		t.Fatalf("a form written on a plan without forms: %v; want the form, the reason and the rule", err)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (go test -update rewrites it):\n got:\n%s\n want:\n%s", path, got, want)
	}
}

// TestNoSecretInLogsOrErrors runs the connector through forged and
// malformed deliveries, failing reads and writes, and a server that echoes
// credentials back in its error text, and checks that no secret, webhook
// body or webhook header value reaches a log line or an error.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	const canary = "BODY-CANARY-7781"
	// Webhooks: forged, stale, malformed, and a good one whose read fails.
	bodies := [][]byte{
		[]byte(`{"ticket": {"id": "` + canary + `", "subject": "` + testSecret + `"}}`),
		[]byte(`{"type": "zen:event-type:ticket.created", "id": "` + canary + `", "detail": {"id": "` + canary + `"}}`),
		[]byte(canary + testToken),
	}
	var sigs []string
	for _, b := range bodies {
		for _, req := range []core.WebhookRequest{signed(b, testSecret, t0), signed(b, "wrong", t0), signed(b, testSecret, t0.Add(-10*time.Minute))} {
			sigs = append(sigs, req.Header.Get(HeaderSignature))
			_, err := e.c.ReceiveWebhook(ctx, req)
			keep(err)
		}
	}
	e.zd.FailNext(20, 500, 0)
	_, err := e.c.ReceiveWebhook(ctx, signed([]byte(`{"ticket": {"id": "77"}, "x": "`+canary+`"}`), testSecret, t0))
	keep(err)
	_, _, _, err = e.c.Poll(ctx, "")
	keep(err)

	// A server that puts the credentials it received into its error text.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(422)
		fmt.Fprintf(w, `{"error": "RecordInvalid", "description": "bad auth %s %s %s"}`, user, pass, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	c := e.connector(func(c *Config) { c.BaseURL = echo.URL })
	_, err = c.Apply(ctx, core.Action{Kind: core.AddComment, Target: ticketRef(1), Body: "hello", Key: "k"})
	keep(err)
	if err == nil || !strings.Contains(err.Error(), "RecordInvalid: bad auth") {
		t.Fatalf("the echoing server's error lost its detail: %v", err)
	}
	_, err = c.Apply(ctx, createAction())
	keep(err)
	keep(c.CheckMappings(ctx, &core.Mappings{}))
	_, err = c.Fetch(ctx, ticketRef(1))
	keep(err)

	secrets := []string{testToken, testSecret, canary,
		base64.StdEncoding.EncodeToString([]byte(testEmail + "/token:" + testToken))}
	secrets = append(secrets, sigs...)
	out := e.logs.String() + "\n" + fmt.Sprintf("%+v %#v %v", c.cfg, c.secret, c.token)
	for _, err := range errs {
		out += "\n" + err.Error()
	}
	if len(errs) < 10 {
		t.Fatalf("only %d errors collected; the test lost its teeth", len(errs))
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%q appears in logs or errors:\n%s", s, out)
		}
	}
}

// TestCheckMappings_FieldTitleCase: a field the mappings title in another
// case than the account ("Steps to Reproduce" for "Steps to reproduce") is
// accepted at start, and read and written as that field; once the account
// has two fields whose titles differ only in case, neither of them the
// mappings' spelling, start is refused with both titles.
func TestCheckMappings_FieldTitleCase(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	const title = "Steps to Reproduce" // the account's is "Steps to reproduce"
	m := &core.Mappings{
		Systems: map[string]*core.SystemMap{"zendesk": {Name: "zendesk", Connector: "zendesk", Kinds: map[core.Kind]*core.KindMap{
			core.CustomerTicket: {Fields: map[string]string{"steps": title}},
		}}},
		Rules: []*core.Rule{{Name: "steps", When: core.Selector{Kind: core.CustomerTicket}, Then: []*core.ActionSpec{
			{Kind: core.SetFields, Fields: map[string]*core.Text{title: {Source: "{{.Item.Body}}"}}},
		}}},
		FieldNames: []string{title},
	}
	if err := e.c.CheckMappings(ctx, m); err != nil {
		t.Fatalf("a title in another case refused: %v", err)
	}
	id, err := e.zd.CreateTicket("ada@customer.example", "Reset broken", "It fails.", nil, map[string]string{"Steps to reproduce": "Open the link."})
	if err != nil {
		t.Fatal(err)
	}
	it, err := e.c.Fetch(ctx, ticketRef(id))
	if err != nil {
		t.Fatal(err)
	}
	if got := (core.ItemView{Fields: it.Fields}).Field(title); got != "Open the link." {
		t.Fatalf("rules read %q as %q (fields %v)", title, got, it.Fields)
	}
	if _, err := e.c.Apply(ctx, core.Action{Key: "k1", Kind: core.SetFields, Target: ticketRef(id),
		Fields: map[string]string{title: "Open the link twice."}}); err != nil {
		t.Fatalf("writing %q: %v", title, err)
	}
	if it, _ = e.c.Fetch(ctx, ticketRef(id)); it.Fields["Steps to reproduce"] != "Open the link twice." {
		t.Fatalf("the write did not reach the field: %v", it.Fields)
	}

	e.zd.AddField("STEPS TO REPRODUCE", "textarea")
	err = e.c.CheckMappings(ctx, m)
	if err == nil {
		t.Fatal("two fields differing only in case accepted")
	}
	for _, want := range []string{`"STEPS TO REPRODUCE"`, `"Steps to reproduce"`, `"Steps to Reproduce" matches`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
}

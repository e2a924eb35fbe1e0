package engine

import (
	"bytes"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/mappings"
)

// A rule over its evaluation budget fails for that case, visibly (a log
// line and liaison_rules_over_budget_total), and the other rules go on: the
// mail still becomes a ticket.
func TestReconcile_RuleOverBudgetFailsAloneAndVisibly(t *testing.T) {
	files := fstest.MapFS{}
	err := fs.WalkDir(mappings.Defaults(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(mappings.Defaults(), p)
		files[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	files["zz-spin.yaml"] = &fstest.MapFile{Data: []byte(`rules:
  - name: spin
    when: {kind: imap/email_thread}
    if: 'let r = 1..1000; all(r, all(r, all(r, true)))'
    then:
      - comment: {target: zendesk/customer_ticket, public: false, body: never}
`)}
	m, err := mappings.Load(files, mappings.Options{Budget: mappings.Budget{Steps: 10_000}})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, m)
	var logs bytes.Buffer
	w.eng.log = slog.New(slog.NewTextHandler(&logs, nil))
	eng := w.newEngine(t, Options{Metrics: NewMetrics(prometheus.NewRegistry(), w.st)})
	w.submit(t, mails(t, w, 1)...)
	w.drain(t)

	if n := testutil.ToFloat64(eng.m.OverBudget); n < 1 {
		t.Errorf("liaison_rules_over_budget_total = %v; want at least 1", n)
	}
	if !strings.Contains(logs.String(), `rule \"spin\": if over its evaluation budget: more than 10000 steps`) {
		t.Errorf("no log line names the rule over budget:\n%s", logs.String())
	}
	if got := len(w.sys["zendesk"].Records(core.CustomerTicket)); got != 1 {
		t.Errorf("%d customer tickets; want 1 (the other rules still run)", got)
	}
}

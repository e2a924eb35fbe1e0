package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/sandbox"
	"github.com/liaisonhq/liaison/internal/store"
	"github.com/liaisonhq/liaison/mappings"
)

// A mail whose subject carries terminal escape sequences (retitle the
// window, colour, clear the screen, a raw 8-bit CSI, a bidi override) is
// shown by links and why as its text, without the controls.
func TestInspect_ControlCharactersStripped(t *testing.T) {
	db := filepath.Join(t.TempDir(), "l.db")
	st, err := store.Open(context.Background(), "sqlite://"+db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := core.Ref{System: "imap", Kind: core.EmailThread, ID: "<esc\x1b[2J@customer.example>"}
	title := "Invoice\x1b]0;pwned\x07 \x1b[31mempty\x1b[0m\r\x9b1m \u202eveil"
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ev := core.Event{Source: "imap", Via: core.ViaWebhook, Type: core.Mailed, DeliveryID: "d\x1b[1m1", At: at,
		Item: core.Item{Ref: ref, Title: title, Body: "x", Native: "received", Reporter: "ada@customer.example", UpdatedAt: at,
			URL: "https://x.example/\x1b[8m"}}
	if _, err := st.Ingest(context.Background(), []core.Ingest{{Event: ev}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, cmd := range []string{"links", "why"} {
		code, out, errOut := runCLI(cmd, "--store", "sqlite://"+db, ref.String())
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", cmd, code, errOut)
		}
		if i := strings.IndexFunc(out, func(r rune) bool {
			return r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u202e')
		}); i >= 0 {
			t.Errorf("%s prints control character %q:\n%q", cmd, out[i:min(i+4, len(out))], out)
		}
		// links shows the text; why quotes it, escapes visible.
		if !strings.Contains(out, "Invoice]0;pwned [31mempty[0m") && !strings.Contains(out, `Invoice\x1b]0;pwned`) {
			t.Errorf("%s does not show the title's text:\n%q", cmd, out)
		}
	}
}

// why, given the configuration, names the rules that fail on the record's
// case now: a rule over its evaluation budget shows there, by record.
func TestWhy_NamesRulesOverBudget(t *testing.T) {
	dir := t.TempDir()
	mapDir := filepath.Join(dir, "mappings")
	if err := os.CopyFS(mapDir, mappings.Defaults()); err != nil {
		t.Fatal(err)
	}
	spin := "rules:\n  - name: spin\n    when: {kind: imap/email_thread}\n    if: 'let r = 1..1000; all(r, all(r, true))'\n" +
		"    then:\n      - comment: {target: zendesk/customer_ticket, public: false, body: never}\n"
	if err := os.WriteFile(filepath.Join(mapDir, "zz-spin.yaml"), []byte(spin), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "l.db")
	cfg := filepath.Join(dir, "liaison.yaml")
	t.Setenv(sandbox.SecretEnv, "why-secret")
	conf := sandbox.Config("127.0.0.1:1", db, dir) + "mappings: " + mapDir + "\nrule_budget: {steps: 1000}\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite://"+db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := core.Ref{System: "imap", Kind: core.EmailThread, ID: "<spin@customer.example>"}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ev := core.Event{Source: "imap", Via: core.ViaWebhook, Type: core.Mailed, DeliveryID: "d1", At: at,
		Item: core.Item{Ref: ref, Title: "Spin", Body: "x", Native: "received", Reporter: "ada@customer.example", UpdatedAt: at}}
	if _, err := st.Ingest(context.Background(), []core.Ingest{{Event: ev}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, errOut := runCLI("why", "--config", cfg, ref.String())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "rules failing on its case now:") || !strings.Contains(out, `rule "spin": if over its evaluation budget: more than 1000 steps`) {
		t.Errorf("why does not name the rule over budget:\n%s", out)
	}
}

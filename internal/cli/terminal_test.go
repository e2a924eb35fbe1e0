package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
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

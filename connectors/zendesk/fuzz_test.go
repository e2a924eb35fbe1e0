package zendesk

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
)

// webhookSeeds are real bodies: the recorded API payloads, and trigger and
// event bodies the fake renders from a ticket with awkward text.
func webhookSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, form := range []fake.WebhookForm{fake.TriggerForm, fake.EventForm} {
		zd := fake.New(fake.WithWebhookForm(form), fake.WithClock(func() time.Time { return t0 }))
		zd.SetWebhook("http://127.0.0.1:1/", "s")
		zd.DropWebhooks(10)
		id, _ := zd.CreateTicket("ada@example.com", "Exp\"ort\\ fails \u2028 <b>", "Steps:\n1. \"click\"\n2. ☃", []string{"vip", "liaison-0123456789ab"},
			map[string]string{"Developer ticket": "KBOT-7, KBOT-9", "Reproducible": "yes", "Product area": "export"})
		_, _ = zd.Reply(id, fake.Agent, "note\n\n(ref liaison-0123456789ab)", false)
		_ = zd.SetStatus(id, "hold")
		for _, d := range zd.Deliveries() {
			seeds = append(seeds, d.Body)
		}
	}
	seeds = append(seeds,
		[]byte(`{"ticket": {"id": 12}}`),
		[]byte(`{"ticket": {"id": "12", "tags": ["a", 1, null], "custom_fields": {"1": true}}}`),
		[]byte(`{"type": "zen:event-type:ticket.comment_added", "id": "e", "subject": "zen:ticket:9", "event": {"comment": {"id": 5, "is_public": false}}}`),
		[]byte(`{"type": "zen:event-type:user.created", "id": "u"}`),
	)
	return seeds
}

// FuzzWebhook feeds arbitrary bodies to the webhook decoder (and the
// signature check): it must never panic, refuse with *core.BadInput only,
// never echo the body, and produce a usable delivery when it accepts.
func FuzzWebhook(f *testing.F) {
	for _, s := range webhookSeeds(f) {
		f.Add(s)
	}
	c := &Connector{name: "zendesk", secret: testSecret, clock: clock.NewManual(t0), maxSkew: DefaultMaxSkew}
	f.Fuzz(func(t *testing.T, body []byte) {
		h := http.Header{}
		h.Set(HeaderTimestamp, t0.Format(time.RFC3339))
		h.Set(HeaderSignature, Sign(testSecret, t0.Format(time.RFC3339), body))
		if _, err := c.verify(h, body); err != nil {
			t.Fatalf("a correctly signed body was refused: %v", err)
		}
		h.Set(HeaderSignature, Sign("other", t0.Format(time.RFC3339), body))
		if _, err := c.verify(h, body); !errors.Is(err, core.ErrForged) {
			t.Fatalf("a wrongly signed body was accepted: %v", err)
		}
		d, err := decodeWebhook(body)
		if err != nil {
			var bad *core.BadInput
			if !errors.As(err, &bad) {
				t.Fatalf("error is not bad input: %v", err)
			}
			if len(body) > 8 && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("error echoes the body: %v", err)
			}
			return
		}
		switch d.form {
		case formIgnored:
		case formTrigger, formEvent:
			if d.ticketID <= 0 {
				t.Fatalf("accepted delivery without a ticket: %+v", d)
			}
			if d.form == formEvent && d.eventID == "" {
				t.Fatal("event without an id accepted")
			}
			if d.latest != nil && d.latest.ID == "" {
				t.Fatal("comment without an id")
			}
		default:
			t.Fatalf("unknown form %d", d.form)
		}
	})
}

// BenchmarkWebhookDecode measures verifying and decoding one trigger
// delivery (no fetch), in events per second.
func BenchmarkWebhookDecode(b *testing.B) {
	seeds := webhookSeeds(b)
	var body []byte
	for _, s := range seeds {
		if d, err := decodeWebhook(s); err == nil && d.form == formTrigger && d.item.Title != "" {
			body = s
			break
		}
	}
	if body == nil {
		b.Fatal("no trigger body among the seeds")
	}
	c := &Connector{name: "zendesk", secret: testSecret, clock: clock.NewManual(t0), maxSkew: DefaultMaxSkew}
	req := signed(body, testSecret, t0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.verify(req.Header, req.Body); err != nil {
			b.Fatal(err)
		}
		if _, err := decodeWebhook(req.Body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// FuzzSplitMarker: any comment text splits without panicking, and a body
// the gateway marked comes back as written (less trailing blanks), with
// its marker.
func FuzzSplitMarker(f *testing.F) {
	m := core.MarkerFor("k")
	for _, s := range []string{"", "Fixed.", "Fixed.\n\n(ref " + m + ")", withMarker("Hello\n", m), "\u2063\u2062\u200b\u2063", "a\\{b}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		splitMarker(body)
		if strings.ContainsAny(body, "\u2060\u2062\u2063\u200b\u200c\u200d") || strings.Contains(body, "(ref liaison-") {
			return // the text carries marker characters of its own
		}
		got, marker := splitMarker(withMarker(body, m))
		if marker != m || got != strings.TrimRight(body, " \t\r\n") {
			t.Fatalf("splitMarker(withMarker(%q)) = %q, %q", body, got, marker)
		}
	})
}

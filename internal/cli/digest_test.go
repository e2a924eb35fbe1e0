package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/daemon"
	"github.com/liaisonhq/liaison/internal/digest/digesttest"
	"github.com/liaisonhq/liaison/internal/sandbox"
	"github.com/liaisonhq/liaison/internal/store"
)

// seededDB writes the digest fixture week into a SQLite file.
func seededDB(t *testing.T, dir string) string {
	t.Helper()
	db := filepath.Join(dir, "l.db")
	st, err := store.Open(context.Background(), "sqlite://"+db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := digesttest.Seed(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return db
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(args, &o, &e)
	return code, o.String(), e.String()
}

func TestDigest_Command(t *testing.T) {
	dir := t.TempDir()
	db := seededDB(t, dir)
	golden, err := os.ReadFile("../digest/testdata/acme-2026-W47.golden")
	if err != nil {
		t.Fatal(err)
	}
	htmlGolden, err := os.ReadFile("../digest/testdata/acme-2026-W47.html.golden")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(dir, "short.tmpl")
	os.WriteFile(tmpl, []byte(`{{define "subject"}}{{.Org}} {{.Week}}{{end}}{{range .Done}}{{.ID}} {{when .DoneAt}}{{"\n"}}{{end}}`), 0o600)
	t.Setenv(sandbox.SecretEnv, "digest-cli-secret")
	cfg := filepath.Join(dir, "liaison.yaml")
	os.WriteFile(cfg, []byte(sandbox.Config("127.0.0.1:0", db, "")+`
notify:
  smtp: {host: 127.0.0.1, port: 2525, tls: plain, from: liaison@support.example.com}
digest:
  template: `+tmpl+`
  timezone: Europe/Paris
  to: {"Acme Corp": [it-lead@acme.example]}
`), 0o600)

	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		out, err   string
		wholeMatch bool
	}{
		{name: "store", args: []string{"digest", "--org", digesttest.Org, "--week", digesttest.Week, "--store", "sqlite://" + db},
			out: string(golden), wholeMatch: true},
		{name: "html part", args: []string{"digest", "--org", digesttest.Org, "--week", digesttest.Week, "--store", "sqlite://" + db, "--html"},
			out: "Subject: Support digest for Acme Corp, week 2026-W47\n\n" + string(htmlGolden), wholeMatch: true},
		{name: "an admin's template has no html part", args: []string{"digest", "--config", cfg, "--org", "Acme Corp", "--week", "2026-W47", "--html"},
			code: 1, err: "has no HTML part"},
		// --config: the admin's template and time zone (18 Nov 10:00 UTC is 11:00 in Paris).
		{name: "config", args: []string{"digest", "--config", cfg, "--org", "acme corp", "--week", "2026-W47"},
			out: "Subject: acme corp 2026-W47\n\n4512 Tue 17 Nov 16:40\n4490 Wed 18 Nov 11:00\n", wholeMatch: true},
		{name: "flag overrides the config's zone", args: []string{"digest", "--config", cfg, "--org", "Acme Corp", "--week", "2026-W47", "--timezone", "UTC"},
			out: "Subject: Acme Corp 2026-W47\n\n4512 Tue 17 Nov 15:40\n4490 Wed 18 Nov 10:00\n", wholeMatch: true},
		{name: "missing template", args: []string{"digest", "--config", cfg, "--org", "Globex", "--template", filepath.Join(dir, "missing.tmpl")},
			code: 1, err: "missing.tmpl"},
		{name: "unknown org", args: []string{"digest", "--org", "Initech", "--week", "2026-W47", "--store", "sqlite://" + db},
			out: "Raised this week: 0", err: `note: no ticket of organisation "Initech"`},
		{name: "no org", args: []string{"digest", "--week", "2026-W47", "--store", "sqlite://" + db}, code: 2, err: "usage: liaison digest --org ORG"},
		{name: "bad week", args: []string{"digest", "--org", "x", "--week", "2026-47", "--store", "sqlite://" + db}, code: 1, err: `week "2026-47": want an ISO week such as 2026-W47`},
		{name: "no store", args: []string{"digest", "--org", "x", "--week", "2026-W47"}, code: 2, err: "usage:"},
		{name: "bad zone", args: []string{"digest", "--org", "x", "--timezone", "Mars/Olympus", "--store", "sqlite://" + db}, code: 1, err: `--timezone "Mars/Olympus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			if tc.wholeMatch && out != tc.out || !tc.wholeMatch && !strings.Contains(out, tc.out) {
				t.Errorf("stdout:\n%s\nwant %s:\n%s", out, map[bool]string{true: "exactly", false: "it to contain"}[tc.wholeMatch], tc.out)
			}
			if !strings.Contains(errOut, tc.err) {
				t.Errorf("stderr = %q; want it to contain %q", errOut, tc.err)
			}
		})
	}
}

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// TestDigest_DaemonWiring builds the daemon from a configuration with
// notify and digest sections: the digest goes out by SMTP at its time
// (on the daemon's clock), and the engine applies notify actions through
// the guarded notifier (webhook, allowed by notify.allow) and by mail.
func TestDigest_DaemonWiring(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := seededDB(t, dir)
	const password = "wiringSMTPsecret"
	t.Setenv(sandbox.SecretEnv, "digest-wiring-secret")
	t.Setenv("LIAISON_TEST_SMTP_PASSWORD", password)
	sink, err := imaptest.StartSMTP(imaptest.SMTPOptions{User: "liaison", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	var mu sync.Mutex
	var posted []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		posted = append(posted, p)
		mu.Unlock()
	}))
	defer hook.Close()

	src := sandbox.Config("127.0.0.1:0", db, "") + fmt.Sprintf(`
notify:
  smtp: {host: 127.0.0.1, port: %d, tls: plain, username: liaison, password_env: LIAISON_TEST_SMTP_PASSWORD, from: liaison@support.example.com}
  allow: [127.0.0.0/8]
digest:
  schedule: "mon 08:00"
  to: {"Acme Corp": [it-lead@acme.example]}
`, sink.Port())
	cfg, err := config.Parse("liaison.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	clock := &manualClock{t: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	d, err := daemon.Build(ctx, cfg, daemon.Options{Clock: clock, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Store.Close()
	if d.Digest == nil || d.Notifier == nil {
		t.Fatalf("digest %v, notifier %v: not wired", d.Digest, d.Notifier)
	}

	// The digest: nothing before its time, one mail at it.
	if n, err := d.Digest.Tick(ctx); n != 0 || err != nil {
		t.Fatalf("before the schedule: sent %d, %v", n, err)
	}
	clock.Set(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	if n, err := d.Digest.Tick(ctx); n != 1 || err != nil {
		t.Fatalf("at the schedule: sent %d, %v", n, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	mails, err := sink.Wait(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := mail.ReadMessage(bytes.NewReader(mails[0].Data))
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subject != "Support digest for Acme Corp, week 2026-W47" || mails[0].To[0] != "it-lead@acme.example" {
		t.Fatalf("digest mail: %q to %v", subject, mails[0].To)
	}

	// Notify actions through the engine: a pull request no rule acts on
	// is the subject.
	pr := core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/app#7"}
	if _, err := d.Store.Ingest(ctx, []core.Ingest{{Event: core.Event{Source: "github", DeliveryID: "wiring-1", Via: core.ViaPoll, Type: core.Updated,
		Item: core.Item{Ref: pr, Title: "Bump dependencies", Native: "closed", URL: "https://github.com/acme/app/pull/7", UpdatedAt: clock.Now()}}}}); err != nil {
		t.Fatal(err)
	}
	c, err := d.Store.CaseOf(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	notes := []core.Action{
		{Key: "wiring|webhook", Case: c, Rule: "wiring-test", Kind: core.Notify, Target: pr, Subject: pr, To: hook.URL + "/hooks/T1/B2/secretpath", Body: "webhook text"},
		{Key: "wiring|mail", Case: c, Rule: "wiring-test", Kind: core.Notify, Target: pr, Subject: pr, To: "duty@example.com", Body: "mail text"},
	}
	if _, err := d.Store.Enqueue(ctx, notes); err != nil {
		t.Fatal(err)
	}
	// As a reconcile that planned them says: never tried, so nothing can
	// be in flight (else they wait out a lease before a look-up).
	for _, a := range notes {
		if err := d.Store.Sending(ctx, a.Key, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Store.MarkDirty(ctx, c, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Engine.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := posted
	mu.Unlock()
	if len(got) != 1 || got[0]["text"] != "webhook text" || got[0]["url"] != "https://github.com/acme/app/pull/7" || got[0]["subject"] != pr.String() {
		t.Fatalf("webhook received %v", got)
	}
	mails, err = sink.Wait(wctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(mails[1].To, ",") != "duty@example.com" {
		t.Fatalf("notification mail to %v", mails[1].To)
	}
	if dead, _ := d.Store.DeadLetters(ctx); len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}
	body, _ := io.ReadAll(msg.Body)
	if len(body) == 0 {
		t.Error("empty digest body")
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("the SMTP password is in the log")
	}
}

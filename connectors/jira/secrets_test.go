package jira

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
)

// TestNoSecretOrBodyInLogsOrErrors drives every failure path with a logger
// and collects what reaches a log line or an error: neither the API token,
// the webhook secret, the basic-auth header, nor anything of a received
// body may appear.
func TestNoSecretOrBodyInLogsOrErrors(t *testing.T) {
	const canary = "BODY-CANARY-7731"
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	key := e.mustCreate(fake.IssueSpec{Summary: "s"})

	// Webhooks: forged, stale, malformed, odd values; each carrying the canary.
	body := []byte(`{"timestamp":` + fmt.Sprint(e.clock.Now().UnixMilli()) + `,"webhookEvent":"jira:issue_updated","issue":{"key":"KBOT-1","fields":{"summary":"` + canary + `","updated":"` + canary + `"}}}`)
	for _, h := range []map[string]string{
		{},
		{HeaderSignature: "sha256=" + canary},
		{HeaderSignature: fake.Sign("guess", body)},
		{HeaderSignature: fake.Sign(testSecret, body), HeaderDelivery: canary},
	} {
		_, err := e.conn.ReceiveWebhook(ctx, webhookRequest(body, h))
		add(err)
	}
	for _, b := range []string{`{"webhookEvent":"` + canary, `{"webhookEvent":"jira:issue_created","issue":{"key":"` + canary + `"}}`,
		`{"webhookEvent":"jira:issue_created","issue":{"key":"KBOT-` + canary + `"}}`,
		`{"webhookEvent":"comment_created","issue":{"key":"KBOT-1"},"comment":{"id":"1","created":"` + canary + `"}}`} {
		_, err := e.conn.ReceiveWebhook(ctx, webhookRequest([]byte(b), map[string]string{HeaderSignature: fake.Sign(testSecret, []byte(b))}))
		add(err)
	}
	old := []byte(`{"timestamp":1,"webhookEvent":"jira:issue_created","x":"` + canary + `"}`)
	_, err := e.conn.ReceiveWebhook(ctx, webhookRequest(old, map[string]string{HeaderSignature: fake.Sign(testSecret, old)}))
	add(err)

	// API failures: 5xx, 4xx with Jira's messages, 429, refused credentials.
	e.fake.FailNext(10, http.StatusServiceUnavailable, 0)
	_, err = e.conn.Apply(ctx, core.Action{Key: "c", Kind: core.AddComment, Target: devRef(key), Body: canary})
	add(err)
	e.fake.FailNext(0, 0, 0)
	_, err = e.conn.Apply(ctx, core.Action{Key: "t", Kind: core.Transition, Target: devRef(key), Native: "Nowhere"})
	add(err)
	e.fake.RateLimitIssue(key, 1, time.Second)
	_, err = e.conn.Apply(ctx, core.Action{Key: "c2", Kind: core.AddComment, Target: devRef(key), Body: canary})
	add(err)
	_, err = e.conn.Apply(ctx, core.Action{Key: "c3", Kind: core.AddComment, Target: devRef(key), Body: canary})
	add(err)

	wrong := fake.New(fake.WithAuth(testEmail, "another-token"))
	srv := httptestURL(t, wrong)
	cfg := testConfig(srv, true)
	c2, err := newConnector(core.Setup{Name: "jira", Decode: func(v any) error { *v.(*Config) = cfg; return nil }, Env: testEnv,
		Log: slog.New(slog.NewTextHandler(e.logs, nil))}, retryOpts())
	if err != nil {
		t.Fatal(err)
	}
	add(c2.CheckMappings(ctx, testMappings()))
	_, _, _, err = c2.Poll(ctx, "")
	add(err)
	_, err = c2.Fetch(ctx, devRef("KBOT-1"))
	add(err)
	_, err = c2.Apply(ctx, core.Action{Key: "k", Kind: core.Create, Target: core.Ref{System: "jira", Kind: core.DevTicket}, Title: canary})
	add(err)

	// Config errors that involve the secrets.
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = newConnector(core.Setup{Name: "jira", Env: testEnv, Decode: func(v any) error {
		c := testConfig("https://acme.atlassian.net", true)
		c.TokenEnv, c.TokenFile, c.Email = "", file, ""
		*v.(*Config) = c
		return nil
	}}, retryOpts())
	add(err)

	if len(errs) < 15 {
		t.Fatalf("only %d failures collected; the scenario did not run", len(errs))
	}
	var all bytes.Buffer
	for _, err := range errs {
		fmt.Fprintf(&all, "%v\n%+v\n", err, err)
	}
	all.WriteString(e.logs.String())
	// Printing the connector, whole or in parts, shows no secret either.
	fmt.Fprintf(&all, "%+v %#v %v %+v %+v %#v %v", reflect.ValueOf(e.conn).Elem(), reflect.ValueOf(e.conn).Elem(), e.conn, e.conn.cfg, e.conn.creds, e.conn.creds, e.conn.creds.token)
	basic := base64.StdEncoding.EncodeToString([]byte(testEmail + ":" + testToken))
	for _, secret := range []string{testToken, testSecret, basic, canary} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("%q appears in errors or logs:\n%s", secret, all.String())
		}
	}
	if !strings.Contains(e.logs.String(), "jira webhook refused") {
		t.Errorf("refused webhooks are not logged:\n%s", e.logs.String())
	}
}

package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/logtest"
)

// The path and query of a chat webhook URL are its credential.
const (
	secretPath  = "/services/T0001/B0002/pathSECRETtoken"
	secretQuery = "?token=querySECRET"
)

var at = time.Date(2026, 11, 18, 14, 30, 0, 0, time.UTC)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// hook is a webhook receiver that records what it was sent.
type hook struct {
	mu    sync.Mutex
	got   []received
	reply func(w http.ResponseWriter, r *http.Request)
}

type received struct {
	Method, Path, ContentType, Marker string
	Payload                           Payload
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var p Payload
	_ = json.Unmarshal(b, &p)
	h.mu.Lock()
	h.got = append(h.got, received{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("X-Liaison-Marker"), p})
	reply := h.reply
	h.mu.Unlock()
	if reply != nil {
		reply(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hook) received() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.got...)
}

func newHook(t *testing.T) (*hook, *httptest.Server) {
	h := &hook{}
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return h, srv
}

func newNotifier(t *testing.T, o Options) (*Notifier, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	o.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.Clock == nil {
		o.Clock = fixedClock{at}
	}
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return n, logs
}

func action(to string) core.Action {
	return core.Action{Key: "sla-breach|zendesk/customer_ticket/4521|first_response", Rule: "sla-first-response-breach",
		Kind: core.Notify, Target: ref("4521"), Subject: ref("4521"), To: to,
		Body: "zendesk/customer_ticket/4521 \"Export fails\" has had no first response within 8h of working time"}
}

func ref(id string) core.Ref { return core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: id} }

// noSecrets fails when any text shows the webhook credential or the SMTP password.
func noSecrets(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range append([]string{"pathSECRETtoken", "querySECRET", "T0001/B0002"}, secrets...) {
		if strings.Contains(text, s) {
			t.Errorf("%s shows the secret %q: %s", what, s, text)
		}
	}
}

func TestWebhook_LoopbackRefusedWithoutAllowlist(t *testing.T) {
	h, srv := newHook(t)
	for _, tc := range []struct{ name, url, reason string }{
		{"address literal", srv.URL + secretPath + secretQuery, "loopback"},
		// A name is resolved at dial time; the address it resolves to is refused.
		{"host name", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + secretPath, "loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, logs := newNotifier(t, Options{})
			_, err := n.Apply(context.Background(), action(tc.url))
			if err == nil {
				t.Fatal("a loopback webhook was posted without an allowlist")
			}
			if perm, _ := core.Classify(err); !perm {
				t.Errorf("err = %v; want permanent", err)
			}
			var ref *RefusedError
			if !errors.As(err, &ref) || ref.Reason != tc.reason {
				t.Errorf("err = %v; want a RefusedError naming %q", err, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), "notify.allow") {
				t.Errorf("err = %q; want it to name the reason and the allowlist", err)
			}
			noSecrets(t, "error", err.Error())
			noSecrets(t, "log", logs.String())
		})
	}
	if got := h.received(); len(got) != 0 {
		t.Fatalf("the receiver got %d requests; want none", len(got))
	}
}

func TestWebhook_AllowedPostsJSON(t *testing.T) {
	h, srv := newHook(t)
	records := fakeRecords{ref("4521"): {Ref: ref("4521"), Title: "Export fails", URL: "https://acme.zendesk.com/agent/tickets/4521"}}
	for _, allow := range []string{"127.0.0.0/8", "127.0.0.1"} {
		t.Run(allow, func(t *testing.T) {
			n, logs := newNotifier(t, Options{Allow: []string{allow}, Records: records})
			a := action(srv.URL + secretPath + secretQuery)
			res, err := n.Apply(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			got := h.received()
			want := received{Method: "POST", Path: secretPath, ContentType: "application/json", Marker: a.Marker(),
				Payload: Payload{Rule: "sla-first-response-breach", Subject: "zendesk/customer_ticket/4521",
					URL: "https://acme.zendesk.com/agent/tickets/4521", Title: `Liaison: zendesk/customer_ticket/4521 "Export fails" (sla-first-response-breach)`,
					Text: a.Body, At: at}}
			if len(got) != 1 || got[0] != want {
				t.Fatalf("received %+v\nwant [%+v]", got, want)
			}
			if res.Note != "posted to "+srv.URL+" (204)" {
				t.Errorf("note = %q", res.Note)
			}
			noSecrets(t, "note", res.Note)
			noSecrets(t, "log", logs.String())
			h.mu.Lock()
			h.got = nil
			h.mu.Unlock()
		})
	}
}

func TestWebhook_TitleFromAction(t *testing.T) {
	h, srv := newHook(t)
	n, _ := newNotifier(t, Options{Allow: []string{"127.0.0.0/8"}})
	a := action(srv.URL + "/x")
	a.Title = "SLA breached on #4521"
	if _, err := n.Apply(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := h.received(); len(got) != 1 || got[0].Payload.Title != a.Title || got[0].Payload.URL != "" {
		t.Fatalf("received %+v", got)
	}
}

func TestWebhook_RedirectToRefusedHost(t *testing.T) {
	inner, innerSrv := newHook(t)
	for _, tc := range []struct {
		name, allow, from, to, reason string
	}{
		// The allowlisted receiver redirects to the cloud metadata service.
		{"to link-local metadata", "127.0.0.1/32", "", "http://169.254.169.254/latest/meta-data/iam", "link-local"},
		// Allowed by name; the redirect to the same machine by address is not.
		{"to loopback by address", "localhost", "localhost", innerSrv.URL + secretPath, "loopback"},
		{"to private network", "127.0.0.1/32", "", "http://10.1.2.3:8080/hook", "private"},
		{"to ipv4-mapped ipv6 loopback", "localhost", "localhost", "http://[::ffff:127.0.0.1]:1/", "loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outer, outerSrv := newHook(t)
			outer.reply = func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tc.to, http.StatusTemporaryRedirect)
			}
			u := outerSrv.URL + secretPath
			if tc.from != "" {
				u = strings.Replace(u, "127.0.0.1", tc.from, 1)
			}
			n, logs := newNotifier(t, Options{Allow: []string{tc.allow}})
			_, err := n.Apply(context.Background(), action(u))
			if err == nil {
				t.Fatal("the redirect was followed")
			}
			if perm, _ := core.Classify(err); !perm {
				t.Errorf("err = %v; want permanent", err)
			}
			var ref *RefusedError
			if !errors.As(err, &ref) || ref.Reason != tc.reason {
				t.Errorf("err = %v; want a RefusedError naming %q", err, tc.reason)
			}
			if len(outer.received()) != 1 {
				t.Errorf("the allowed receiver got %d requests; want 1", len(outer.received()))
			}
			noSecrets(t, "error", err.Error())
			noSecrets(t, "log", logs.String())
		})
	}
	if got := inner.received(); len(got) != 0 {
		t.Fatalf("the refused host got %d requests", len(got))
	}
}

func TestWebhook_RedirectWithinAllowedIsFollowed(t *testing.T) {
	inner, innerSrv := newHook(t)
	outer, outerSrv := newHook(t)
	outer.reply = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, innerSrv.URL+"/moved", http.StatusPermanentRedirect)
	}
	n, _ := newNotifier(t, Options{Allow: []string{"127.0.0.0/8"}})
	if _, err := n.Apply(context.Background(), action(outerSrv.URL+"/old")); err != nil {
		t.Fatal(err)
	}
	if got := inner.received(); len(got) != 1 || got[0].Method != "POST" || got[0].Payload.Rule != "sla-first-response-breach" {
		t.Fatalf("the redirect target received %+v; want the POST with its body (308 keeps both)", got)
	}
}

func TestWebhook_StatusClassified(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		header    map[string]string
		ok, perm  bool
		wait      time.Duration
		wantInErr string
	}{
		{"200", 200, nil, true, false, 0, ""},
		{"204", 204, nil, true, false, 0, ""},
		{"400 bad payload", 400, nil, false, true, 0, "400 Bad Request"},
		{"403 revoked hook", 403, nil, false, true, 0, "403 Forbidden"},
		{"404 deleted hook", 404, nil, false, true, 0, "404 Not Found"},
		{"429 with retry-after", 429, map[string]string{"Retry-After": "7"}, false, false, 7 * time.Second, "429"},
		{"500", 500, nil, false, false, 0, "500"},
		{"503 with retry-after", 503, map[string]string{"Retry-After": "120"}, false, false, 2 * time.Minute, "503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, srv := newHook(t)
			h.reply = func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, `{"error":"echo of `+r.URL.Path+`"}`)
			}
			n, logs := newNotifier(t, Options{Allow: []string{"127.0.0.0/8"}})
			_, err := n.Apply(context.Background(), action(srv.URL+secretPath+secretQuery))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			perm, wait := core.Classify(err)
			if perm != tc.perm || wait != tc.wait {
				t.Errorf("classified permanent=%v wait=%v; want %v %v (%v)", perm, wait, tc.perm, tc.wait, err)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("err = %q; want %q in it", err, tc.wantInErr)
			}
			noSecrets(t, "error", err.Error())
			noSecrets(t, "log", logs.String())
			if len(h.received()) != 1 {
				t.Errorf("%d attempts; want exactly one (the outbox retries)", len(h.received()))
			}
		})
	}
}

func TestWebhook_TimeoutIsTemporary(t *testing.T) {
	release := make(chan struct{})
	h, srv := newHook(t)
	h.reply = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	defer close(release)
	n, logs := newNotifier(t, Options{Allow: []string{"127.0.0.0/8"}, Timeout: 200 * time.Millisecond})
	_, err := n.Apply(context.Background(), action(srv.URL+secretPath+secretQuery))
	if err == nil {
		t.Fatal("no error from a receiver that never answers")
	}
	if perm, _ := core.Classify(err); perm {
		t.Errorf("err = %v; want temporary", err)
	}
	if !strings.Contains(err.Error(), "timed out") {
		t.Errorf("err = %q; want it to say it timed out", err)
	}
	noSecrets(t, "error", err.Error())
	noSecrets(t, "log", logs.String())
}

func TestWebhook_BadDestinations(t *testing.T) {
	n, _ := newNotifier(t, Options{})
	for _, to := range []string{"ftp://files.example.com/x", "https://", "not an address", "a@b, not one", ""} {
		_, err := n.Apply(context.Background(), action(to))
		if perm, _ := core.Classify(err); err == nil || !perm {
			t.Errorf("to %q: err = %v; want permanent", to, err)
		}
	}
	a := action("https://hooks.example.com/x")
	a.Kind = core.AddComment
	if _, err := n.Apply(context.Background(), a); err == nil {
		t.Error("a comment action was applied by the notifier")
	}
}

func TestGuard_Refused(t *testing.T) {
	g, err := ParseAllow([]string{"10.20.0.0/16", "fd00:1::/32", "192.168.7.7"})
	if err != nil {
		t.Fatal(err)
	}
	zero := &Guard{}
	for _, tc := range []struct {
		addr            string
		zeroWant, gWant string
	}{
		{"8.8.8.8", "", ""},
		{"2606:4700:4700::1111", "", ""},
		{"127.0.0.1", "loopback", "loopback"},
		{"127.255.1.2", "loopback", "loopback"},
		{"::1", "loopback", "loopback"},
		{"::ffff:127.0.0.1", "loopback", "loopback"},
		{"10.0.0.1", "private", "private"},
		{"10.20.3.4", "private", ""},
		{"172.16.0.1", "private", "private"},
		{"172.31.255.255", "private", "private"},
		{"172.32.0.1", "", ""},
		{"192.168.7.7", "private", ""},
		{"192.168.7.8", "private", "private"},
		{"169.254.169.254", "link-local", "link-local"},
		{"fe80::1%eth0", "link-local", "link-local"},
		{"fc00::1", "unique-local", "unique-local"},
		{"fd00:1::5", "unique-local", ""},
		{"100.64.0.1", "CGNAT (shared address space)", "CGNAT (shared address space)"},
		{"100.127.255.254", "CGNAT (shared address space)", "CGNAT (shared address space)"},
		{"100.128.0.1", "", ""},
		{"0.0.0.0", "unspecified", "unspecified"},
		{"::", "unspecified", "unspecified"},
		{"64:ff9b::a14:304", "private", ""}, // NAT64 of 10.20.3.4
		{"64:ff9b::7f00:1", "loopback", "loopback"},
		{"2002:7f00:1::1", "loopback", "loopback"}, // 6to4 of 127.0.0.1
		{"64:ff9b:1::a00:1", "local-use IPv4/IPv6 translation", "local-use IPv4/IPv6 translation"},
		{"64:ff9b:1:ffff:ffff::1", "local-use IPv4/IPv6 translation", "local-use IPv4/IPv6 translation"},
		{"::127.0.0.1", "loopback", "loopback"}, // IPv4-compatible
		{"::10.20.3.4", "private", ""},
		{"::169.254.169.254", "link-local", "link-local"},
		{"::8.8.8.8", v4CompatibleReason, v4CompatibleReason},
		{"224.0.0.1", "multicast", "multicast"},
		{"255.255.255.255", "reserved", "reserved"},
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := zero.Refused(a); got != tc.zeroWant {
			t.Errorf("no allowlist: Refused(%s) = %q; want %q", tc.addr, got, tc.zeroWant)
		}
		if got := g.Refused(a); got != tc.gWant {
			t.Errorf("allowlist: Refused(%s) = %q; want %q", tc.addr, got, tc.gWant)
		}
	}
}

// TestGuard_ControlSeesResolvedAddress is the DNS-rebinding case: whatever
// name was asked for, the address about to be dialled decides.
func TestGuard_ControlSeesResolvedAddress(t *testing.T) {
	g, _ := ParseAllow(nil)
	ctl := g.control("hooks.rebind.example")
	err := ctl("tcp4", "10.0.0.5:443", nil)
	var ref *RefusedError
	if !errors.As(err, &ref) || ref.Reason != "private" || !strings.Contains(err.Error(), `"hooks.rebind.example" resolves to 10.0.0.5`) {
		t.Fatalf("err = %v", err)
	}
	if err := ctl("tcp4", "93.184.215.14:443", nil); err != nil {
		t.Fatalf("public address refused: %v", err)
	}
}

func TestGuard_HostAllowed(t *testing.T) {
	g, err := ParseAllow([]string{"hooks.internal", "*.corp.example", "Chat.Example.Org."})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"hooks.internal": true, "HOOKS.internal.": true, "x.hooks.internal": false,
		"a.corp.example": true, "a.b.corp.example": true, "corp.example": false, "evilcorp.example": false,
		"chat.example.org": true, "example.org": false,
	} {
		if got := g.HostAllowed(host); got != want {
			t.Errorf("HostAllowed(%q) = %v; want %v", host, got, want)
		}
	}
}

func TestParseAllow_Errors(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "", "not a host!", "1.2.3.4/x", "*."} {
		if _, err := ParseAllow([]string{bad}); err == nil || !strings.Contains(err.Error(), "notify.allow") {
			t.Errorf("ParseAllow(%q) err = %v; want an error naming notify.allow", bad, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0001/B0002/pathSECRETtoken": "https://hooks.slack.com",
		"https://user:pw@hooks.example.com:8443/x?token=querySECRET#f": "https://hooks.example.com:8443",
		"http://[::1]:9/a":    "http://[::1]:9",
		"hooks.example.com/x": "<unparsable URL>",
		"%zz://x":             "<unparsable URL>",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q; want %q", in, got, want)
		}
	}
}

type fakeRecords map[core.Ref]core.Item

func (f fakeRecords) Item(_ context.Context, r core.Ref) (*core.Item, error) {
	it, ok := f[r]
	if !ok {
		return nil, core.ErrNotFound
	}
	return &it, nil
}

const smtpPassword = "smtpPASSWORDsecret"

func startSMTP(t *testing.T) *imaptest.SMTP {
	t.Helper()
	s, err := imaptest.StartSMTP(imaptest.SMTPOptions{User: "liaison", Password: smtpPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func smtpConf(s *imaptest.SMTP, password string) *SMTP {
	return &SMTP{Host: "127.0.0.1", Port: s.Port(), TLS: "plain", Username: "liaison", Password: core.Secret(password), From: "liaison@support.example.com"}
}

func TestMail_ArrivesWithHeaders(t *testing.T) {
	sink := startSMTP(t)
	records := fakeRecords{ref("4521"): {Ref: ref("4521"), Title: "Export fails", URL: "https://acme.zendesk.com/agent/tickets/4521"}}
	n, logs := newNotifier(t, Options{SMTP: smtpConf(sink, smtpPassword), Records: records})
	a := action("support-leads@example.com")
	a.Recipients = []mail.Address{{Address: "support-leads@example.com"}, {Name: "Duty Manager", Address: "duty@example.com"}}
	res, err := n.Apply(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if res.Note != "mailed support-leads@example.com, duty@example.com" {
		t.Errorf("note = %q", res.Note)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mails, err := sink.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := mails[0]
	if m.From != "liaison@support.example.com" || strings.Join(m.To, ",") != "support-leads@example.com,duty@example.com" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Auto-Submitted":           "auto-generated",
		"X-Auto-Response-Suppress": "All",
		"Subject":                  `Liaison: zendesk/customer_ticket/4521 "Export fails" (sla-first-response-breach)`,
		"From":                     `"Liaison" <liaison@support.example.com>`,
		"To":                       `<support-leads@example.com>, "Duty Manager" <duty@example.com>`,
		"X-Liaison-Marker":         a.Marker(),
		"Date":                     "Wed, 18 Nov 2026 14:30:00 +0000",
	} {
		got := msg.Header.Get(k)
		if k == "Subject" {
			got, _ = new(mimeDecoder).DecodeHeader(got)
		}
		if got != want {
			t.Errorf("header %s = %q; want %q", k, got, want)
		}
	}
	if id := msg.Header.Get("Message-Id"); !strings.HasPrefix(id, "<liaison.") || !strings.HasSuffix(id, "@support.example.com>") {
		t.Errorf("Message-Id = %q", id)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	want := a.Body + "\n\nhttps://acme.zendesk.com/agent/tickets/4521\n"
	if string(body) != want {
		t.Errorf("body = %q; want %q", body, want)
	}
	noSecrets(t, "log", logs.String(), smtpPassword)

	// The same action again (a retry) carries the same Message-ID.
	if _, err := n.Apply(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	mails, _ = sink.Wait(ctx, 2)
	second, _ := mail.ReadMessage(bytes.NewReader(mails[1].Data))
	if second.Header.Get("Message-Id") != msg.Header.Get("Message-Id") {
		t.Errorf("a resent notification has a new Message-ID")
	}
}

func TestMail_FailuresClassified(t *testing.T) {
	sink := startSMTP(t)
	for _, tc := range []struct {
		name     string
		fail     int
		password string
		perm     bool
	}{
		{"451 try later", 451, smtpPassword, false},
		{"550 no such user", 550, smtpPassword, true},
		// The sink answers 454 (a temporary authentication failure, RFC
		// 4954); a server's 535 for bad credentials is permanent by its code.
		{"wrong password", 0, "wrongPASSWORD", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fail != 0 {
				sink.FailNext(1, tc.fail)
			}
			n, logs := newNotifier(t, Options{SMTP: smtpConf(sink, tc.password)})
			_, err := n.Apply(context.Background(), action("lead@example.com"))
			if err == nil {
				t.Fatal("no error")
			}
			if perm, _ := core.Classify(err); perm != tc.perm {
				t.Errorf("err = %v; permanent = %v, want %v", err, perm, tc.perm)
			}
			noSecrets(t, "error", err.Error(), smtpPassword, tc.password)
			noSecrets(t, "log", logs.String(), smtpPassword, tc.password)
		})
	}
	// Nothing listening: temporary.
	addr := sink.Addr
	sink.Close()
	n, _ := newNotifier(t, Options{SMTP: &SMTP{Host: "127.0.0.1", Port: portOf(addr), TLS: "plain", From: "liaison@support.example.com"}})
	_, err := n.Apply(context.Background(), action("lead@example.com"))
	if perm, _ := core.Classify(err); err == nil || perm {
		t.Errorf("smtp server down: err = %v; want temporary", err)
	}
}

func TestMail_RefusedWithoutSMTP(t *testing.T) {
	n, _ := newNotifier(t, Options{})
	_, err := n.Apply(context.Background(), action("lead@example.com"))
	if perm, _ := core.Classify(err); err == nil || !perm || !strings.Contains(err.Error(), "notify.smtp") {
		t.Fatalf("err = %v; want a permanent error naming notify.smtp", err)
	}
}

func TestSMTP_ConfigChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    SMTP
		want string
	}{
		{"plain to a remote host", SMTP{Host: "smtp.example.com", TLS: "plain", From: "a@example.com"}, "only allowed for a loopback host"},
		{"unknown tls", SMTP{Host: "smtp.example.com", TLS: "ssl3", From: "a@example.com"}, `tls "ssl3"`},
		{"no from", SMTP{Host: "smtp.example.com"}, "notify.smtp.from"},
		{"user without password", SMTP{Host: "smtp.example.com", From: "a@example.com", Username: "u"}, "no password"},
		{"no host", SMTP{From: "a@example.com"}, "host is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			_, err := New(Options{SMTP: &s})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
		})
	}
	s := &SMTP{Host: "smtp.example.com", From: "a@example.com", TLS: "tls"}
	n, err := New(Options{SMTP: s})
	if err != nil {
		t.Fatal(err)
	}
	if n.o.SMTP.Port != 465 || s.Port != 0 {
		t.Errorf("port default: notifier %d, caller's copy %d", n.o.SMTP.Port, s.Port)
	}
}

type mimeDecoder = mime.WordDecoder

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// A sender's address whose quoted local part holds a comma and another
// address, as a notify rule renders it from the reporter, reaches one
// recipient: the attacker's domain, with the local part quoted, never the
// address inside it.
func TestMail_QuotedCommaAddressIsOneRecipient(t *testing.T) {
	sink := startSMTP(t)
	n, _ := newNotifier(t, Options{SMTP: smtpConf(sink, smtpPassword)})
	// How the imap connector keeps From: "victim@corp.example,x"@attacker.example
	reporter := "victim@corp.example,x@attacker.example"
	planned := action(reporter)
	rcpt, err := core.ParseRecipient(reporter)
	if err != nil {
		t.Fatal(err)
	}
	planned.Recipients = []mail.Address{rcpt}
	stored := action(reporter) // planned before Recipients existed: To alone
	for _, a := range []core.Action{planned, stored} {
		sink.Reset()
		if _, err := n.Apply(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		mails, err := sink.Wait(ctx, 1)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// The server reads the quoted local part back unquoted.
		if got := mails[0].To; len(got) != 1 || got[0] != reporter {
			t.Errorf("envelope recipients %q; want only %q", got, reporter)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(mails[0].Data))
		if err != nil {
			t.Fatal(err)
		}
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != reporter {
			t.Errorf("To header %q reads as %v (%v); want the one address", msg.Header.Get("To"), to, err)
		}
	}
}

package console

import (
	"context"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/logtest"
	"github.com/liaisonhq/liaison/internal/simulate"
	"github.com/liaisonhq/liaison/internal/store"
	"github.com/liaisonhq/liaison/internal/store/storetest"
	"github.com/liaisonhq/liaison/mappings"
)

// testClock is the console's clock in tests; advance moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// The accounts of the tests' users file.
var (
	adminAccount  = Account{Name: "grace", Password: "correct horse battery", Role: Admin}
	viewerAccount = Account{Name: "ada", Password: "staple bolt anvil", Role: Viewer}
)

// deadKey is the story's dead action: a comment Jira refused.
const deadKey = "qa-comment:jira/dev_ticket/KBOT-88"

// site is a console on a store holding the support story, served on
// loopback.
type site struct {
	url   string
	store *store.Store
	clock *testClock
	con   *Console
}

func openSite(t *testing.T, tweak func(*Options)) *site {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "liaison.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return serveOn(t, st, tweak)
}

func serveOn(t *testing.T, st *store.Store, tweak func(*Options)) *site {
	t.Helper()
	ctx := context.Background()
	storetest.Story(t, st, storetest.Epoch)
	c, err := st.CaseOf(ctx, storetest.StoryIssue)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Enqueue(ctx, []core.Action{{Key: deadKey, Case: c, Rule: "qa-comment", Kind: core.AddComment,
		Target: storetest.StoryIssue, Subject: storetest.StoryIssue}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Fail(ctx, deadKey, "jira: 403 Forbidden: the gateway's account may not comment in KBOT", time.Time{}, true); err != nil {
		t.Fatal(err)
	}
	users, err := NewUsers(adminAccount, viewerAccount)
	if err != nil {
		t.Fatal(err)
	}
	// The projects simulate's scenarios are written for (KBOT, DO).
	m, err := mappings.LoadDefaults(mappings.Options{Source: "embedded defaults", Projects: simulate.Projects})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Now()}
	o := Options{Records: st, Users: users, Clock: clock, Mappings: func() *core.Mappings { return m },
		MappingsCheck: CheckFolder("", mappings.Options{})}
	if tweak != nil {
		tweak(&o)
	}
	con, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con.Handler())
	t.Cleanup(srv.Close)
	return &site{url: srv.URL, store: st, clock: clock, con: con}
}

// browser is an HTTP client with its own cookies that does not follow
// redirects, so tests see where each answer sends them.
type browser struct {
	t    *testing.T
	site *site
	c    *http.Client
}

func (s *site) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, site: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type answer struct {
	status   int
	location string
	body     string
}

func (b *browser) do(req *http.Request) answer {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Location"), string(body)}
}

func (b *browser) get(path string) answer {
	req, _ := http.NewRequest(http.MethodGet, b.site.url+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) answer {
	req, _ := http.NewRequest(http.MethodPost, b.site.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token of the forms on page path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(b.get(path).body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", path)
	}
	return html.UnescapeString(m[1])
}

func (b *browser) signIn(a Account) answer {
	b.t.Helper()
	tok := b.csrf("/login")
	return b.post("/login", url.Values{"csrf": {tok}, "name": {a.Name}, "password": {a.Password}, "next": {"/dead"}})
}

func signedIn(t *testing.T, s *site, a Account) *browser {
	t.Helper()
	b := s.browser(t)
	if got := b.signIn(a); got.status != http.StatusSeeOther || got.location != "/dead" {
		t.Fatalf("sign-in of %s: %d → %q, want 303 → /dead", a.Name, got.status, got.location)
	}
	return b
}

func TestPages_NeedASession(t *testing.T) {
	s := openSite(t, nil)
	b := s.browser(t)
	for _, path := range []string{"/", "/search?q=4521", "/case?ref=zendesk/customer_ticket/4521", "/dead", "/conflicts", "/health", "/mappings", "/targets", "/unread"} {
		got := b.get(path)
		if got.status != http.StatusSeeOther || !strings.HasPrefix(got.location, "/login?next=") {
			t.Errorf("GET %s without a session: %d → %q, want 303 → /login", path, got.status, got.location)
		}
		if strings.Contains(got.body, "Password reset") {
			t.Errorf("GET %s without a session shows the case", path)
		}
	}
	for _, path := range []string{"/actions/replay", "/actions/discard", "/case/link", "/case/unlink", "/mappings/check", "/logout"} {
		if got := b.post(path, url.Values{"all": {"1"}}); got.status != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d, want 401", path, got.status)
		}
	}
	if dead, _ := s.store.DeadLetters(context.Background()); len(dead) != 1 {
		t.Errorf("dead letters after posts without a session: %d, want 1", len(dead))
	}
}

func TestSignIn_LocalAccounts(t *testing.T) {
	s := openSite(t, nil)
	cases := []struct {
		name     string
		account  Account
		wantCode int
	}{
		{"admin", adminAccount, http.StatusSeeOther},
		{"viewer", viewerAccount, http.StatusSeeOther},
		{"wrong password", Account{Name: "grace", Password: "Correct horse battery"}, http.StatusUnauthorized},
		{"unknown name", Account{Name: "mallory", Password: "correct horse battery"}, http.StatusUnauthorized},
		{"empty password", Account{Name: "ada"}, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := s.browser(t)
			got := b.signIn(c.account)
			if got.status != c.wantCode {
				t.Fatalf("sign-in: %d, want %d", got.status, c.wantCode)
			}
			home := b.get("/")
			signed := home.status == http.StatusOK && strings.Contains(home.body, `id="who">`+c.account.Name+" ("+string(c.account.Role)+")")
			if signed != (c.wantCode == http.StatusSeeOther) {
				t.Errorf("after sign-in, home: %d, signed in as %s: %v", home.status, c.account.Name, signed)
			}
		})
	}
}

func TestSignIn_RefusesAFormFromElsewhere(t *testing.T) {
	s := openSite(t, nil)
	b := s.browser(t)
	b.get("/login") // the nonce cookie, but not this form's token
	got := b.post("/login", url.Values{"csrf": {"forged"}, "name": {adminAccount.Name}, "password": {adminAccount.Password}})
	if got.status != http.StatusForbidden {
		t.Fatalf("sign-in with a forged token: %d, want 403", got.status)
	}
	if home := b.get("/"); home.status != http.StatusSeeOther {
		t.Errorf("after a refused sign-in, home: %d, want 303 to sign in", home.status)
	}
}

func TestSession_TamperedOrExpiredIsRefused(t *testing.T) {
	s := openSite(t, func(o *Options) { o.SessionTTL = time.Hour })
	b := signedIn(t, s, viewerAccount)
	u, _ := url.Parse(s.url)
	var ck *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			ck = c
		}
	}
	if ck == nil {
		t.Fatal("no session cookie")
	}
	// The same session claiming the admin role, with the viewer's signature.
	var sess session
	payload, sig, _ := strings.Cut(ck.Value, ".")
	if !s.con.open(sessionCookie, ck.Value, &sess) {
		t.Fatal("the console cannot read its own cookie")
	}
	sess.Role = Admin
	forged, _ := s.con.seal("another purpose", sess)
	fp, _, _ := strings.Cut(forged, ".")
	for name, value := range map[string]string{"role raised": fp + "." + sig, "signature cut": payload, "garbage": "x.y"} {
		t.Run(name, func(t *testing.T) {
			m := s.browser(t)
			m.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: value}})
			if got := m.get("/dead"); got.status != http.StatusSeeOther {
				t.Errorf("GET /dead with a %s cookie: %d, want 303 to sign in", name, got.status)
			}
		})
	}
	if got := b.get("/dead"); got.status != http.StatusOK {
		t.Fatalf("GET /dead within the hour: %d", got.status)
	}
	s.clock.advance(time.Hour + time.Second)
	if got := b.get("/dead"); got.status != http.StatusSeeOther {
		t.Errorf("GET /dead after the session's hour: %d, want 303 to sign in", got.status)
	}
}

func TestCookies_HttpOnlyLaxAndSecureWhenAsked(t *testing.T) {
	for _, secure := range []bool{false, true} {
		s := openSite(t, func(o *Options) { o.SecureCookies = secure })
		b := s.browser(t)
		tok := b.csrf("/login")
		req, _ := http.NewRequest(http.MethodPost, s.url+"/login", strings.NewReader(url.Values{"csrf": {tok},
			"name": {adminAccount.Name}, "password": {adminAccount.Password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var found bool
		for _, c := range resp.Cookies() {
			if c.Name != sessionCookie {
				continue
			}
			found = true
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure {
				t.Errorf("session cookie with SecureCookies=%v: HttpOnly=%v SameSite=%v Secure=%v", secure, c.HttpOnly, c.SameSite, c.Secure)
			}
		}
		if !found {
			t.Errorf("SecureCookies=%v: no session cookie set", secure)
		}
	}
}

func TestPost_WithoutTheSessionsTokenIsRefused(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, adminAccount)
	other := signedIn(t, s, adminAccount) // another sign-in of the same admin
	for _, c := range []struct{ name, token string }{
		{"no token", ""},
		{"wrong token", "AAAA"},
		{"another session's token", other.csrf("/dead")},
	} {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{"all": {"1"}}
			if c.token != "" {
				form.Set("csrf", c.token)
			}
			if got := b.post("/actions/replay", form); got.status != http.StatusForbidden {
				t.Errorf("replay with %s: %d, want 403", c.name, got.status)
			}
		})
	}
	if dead, _ := s.store.DeadLetters(context.Background()); len(dead) != 1 {
		t.Errorf("dead letters after refused replays: %d, want 1", len(dead))
	}
}

func TestAdminActions_RefusedToAViewer(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, viewerAccount)
	tok := b.csrf("/dead")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/actions/replay", url.Values{"all": {"1"}}},
		{"/actions/discard", url.Values{"key": {deadKey}}},
		{"/actions/retry", url.Values{"key": {deadKey}}},
		{"/case/link", url.Values{"from": {storetest.Stray.String()}, "to": {storetest.StoryIssue.String()}, "role": {"duplicate_of"}}},
		{"/case/unlink", url.Values{"from": {storetest.StoryTicket.String()}, "to": {storetest.StoryIssue.String()}}},
		{"/mappings/simulate", url.Values{"scenario": {"events: []"}}},
	} {
		c.form.Set("csrf", tok)
		got := b.post(c.path, c.form)
		if got.status != http.StatusForbidden || !strings.Contains(got.body, "Only admins may do this.") {
			t.Errorf("viewer POST %s: %d, want 403 saying only admins may", c.path, got.status)
		}
	}
	ctx := context.Background()
	if dead, _ := s.store.DeadLetters(ctx); len(dead) != 1 {
		t.Errorf("dead letters after a viewer's attempts: %d, want 1", len(dead))
	}
	a, _ := s.store.CaseOf(ctx, storetest.StoryTicket)
	i, _ := s.store.CaseOf(ctx, storetest.StoryIssue)
	x, _ := s.store.CaseOf(ctx, storetest.Stray)
	if a != i || x == i {
		t.Errorf("cases after a viewer's attempts: ticket %d, issue %d, stray %d", a, i, x)
	}
	if page := b.get("/dead"); strings.Contains(page.body, `id="replay"`) {
		t.Error("a viewer is offered the replay button")
	}
}

func TestSearch_FindsARecordByEachOfItsNames(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, viewerAccount)
	cases := []struct {
		q    string
		want []core.Ref
	}{
		{"4521", []core.Ref{storetest.StoryTicket}},
		{"#4521", []core.Ref{storetest.StoryTicket}},
		{"http://127.0.0.1:9/agent/tickets/4521", []core.Ref{storetest.StoryTicket}},
		// The pull request names the key in its title, but the record
		// with that id is what was asked for.
		{"KBOT-88", []core.Ref{storetest.StoryIssue}},
		{"kbot-88", []core.Ref{storetest.StoryIssue}},
		{"KBOT-88: expire", []core.Ref{storetest.StoryPR}},
		{"https://jira.example.com/browse/KBOT-88", []core.Ref{storetest.StoryIssue}},
		{"acme/app#12", []core.Ref{storetest.StoryPR}},
		{"https://github.com/acme/app/pull/12", []core.Ref{storetest.StoryPR}},
		{"<reset-500@customer.example>", []core.Ref{storetest.StoryMail}},
		{"reset-500@customer.example", []core.Ref{storetest.StoryMail}},
		{"ada@customer.example", []core.Ref{storetest.StoryMail, storetest.StoryTicket}},
		{"password reset", []core.Ref{storetest.StoryMail, storetest.StoryTicket}},
		{"expire reset tokens", []core.Ref{storetest.StoryPR, storetest.StoryIssue}},
		{"reset password", []core.Ref{storetest.StoryMail, storetest.StoryTicket}},
		{"no such words", nil},
	}
	hitRef := regexp.MustCompile(`class="hit" data-ref="[^"]*" href="/case\?ref=([^"]+)"`)
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			got := b.get("/search?q=" + url.QueryEscape(c.q))
			if got.status != http.StatusOK {
				t.Fatalf("search: %d", got.status)
			}
			var refs []string
			for _, m := range hitRef.FindAllStringSubmatch(got.body, -1) {
				r, _ := url.QueryUnescape(html.UnescapeString(m[1]))
				refs = append(refs, r)
			}
			var want []string
			for _, r := range c.want {
				want = append(want, r.String())
			}
			slices.Sort(refs)
			if !slices.Equal(refs, want) {
				t.Errorf("search %q found %v, want %v", c.q, refs, want)
			}
		})
	}
}

func TestCasePage_ShowsTheRecordsAndHowEachLinkWasMade(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, viewerAccount)
	got := b.get("/case?ref=" + url.QueryEscape(storetest.StoryIssue.String()))
	if got.status != http.StatusOK {
		t.Fatalf("case page: %d", got.status)
	}
	for _, want := range []string{
		`data-ref="imap/email_thread/reset-500@customer.example"`,
		`data-ref="zendesk/customer_ticket/4521"`,
		`data-ref="jira/dev_ticket/KBOT-88"`,
		`data-ref="github/pull_request/acme/app#12"`,
		"stated by zendesk/customer_ticket/4521",
		"made by the gateway when it created the record",
		"found by its key in the text of github/pull_request/acme/app#12",
		"jira: 403 Forbidden",
		"In Review",
	} {
		if !strings.Contains(html.UnescapeString(got.body), want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	if strings.Contains(got.body, "4600") {
		t.Error("case page shows the stray ticket of another case")
	}
	for _, bad := range []string{"/case?ref=nonsense", "/case?ref=" + url.QueryEscape("jira/dev_ticket/NOPE-1")} {
		if got := b.get(bad); got.status != http.StatusBadRequest && got.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 400 or 404", bad, got.status)
		}
	}
}

func TestReplay_ByAnAdminEmptiesTheListAndIsAudited(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, adminAccount)
	got := b.post("/actions/replay", url.Values{"csrf": {b.csrf("/dead")}, "key": {deadKey}, "back": {"/dead"}})
	if got.status != http.StatusSeeOther || !strings.HasPrefix(got.location, "/dead?done=") {
		t.Fatalf("replay: %d → %q", got.status, got.location)
	}
	if page := b.get("/dead"); !strings.Contains(page.body, `id="none"`) || strings.Contains(page.body, `data-key=`) {
		t.Error("the dead letter is still listed after its replay")
	}
	ctx := context.Background()
	c, _ := s.store.CaseOf(ctx, storetest.StoryIssue)
	pending, _ := s.store.Actions(ctx, c, core.Pending)
	if len(pending) != 1 || pending[0].Key != deadKey {
		t.Errorf("pending after replay: %v", pending)
	}
	es, _ := s.store.Audit(ctx, storetest.StoryIssue, 5)
	if len(es) == 0 || es[0].Kind != "replay" || !strings.HasPrefix(es[0].Detail, "grace replayed dead action "+deadKey) {
		t.Errorf("audit after replay: %+v", es)
	}
}

func TestFlash_OnlyWhatTheConsoleSaid(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, adminAccount)
	got := b.post("/actions/replay", url.Values{"csrf": {b.csrf("/dead")}, "key": {deadKey}})
	if page := b.get(got.location); !strings.Contains(page.body, `id="flash">1 action(s) replayed`) {
		t.Errorf("after a replay the page does not say so")
	}
	if page := b.get("/dead?done=" + url.QueryEscape("Your session expired: call +1 555 0100") + "&sig=AAAA"); strings.Contains(page.body, "555 0100") {
		t.Error("a page shows a message from the address bar")
	}
}

func TestRetryNow_ByAnAdminFromTheCasePage(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, adminAccount)
	ctx := context.Background()
	if _, err := s.store.Replay(ctx, deadKey); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := s.store.Fail(ctx, deadKey, "503 Service Unavailable", later, false); err != nil {
		t.Fatal(err)
	}
	casePage := "/case?ref=" + url.QueryEscape(storetest.StoryIssue.String())
	if page := b.get(casePage); !strings.Contains(page.body, "Retry now") {
		t.Fatal("the case page offers no retry for a pending action that failed")
	}
	got := b.post("/actions/retry", url.Values{"csrf": {b.csrf(casePage)}, "key": {deadKey}, "back": {casePage}})
	if got.status != http.StatusSeeOther || !strings.HasPrefix(got.location, "/case?") {
		t.Fatalf("retry: %d → %q", got.status, got.location)
	}
	c, _ := s.store.CaseOf(ctx, storetest.StoryIssue)
	acts, _ := s.store.Actions(ctx, c, core.Pending)
	if len(acts) != 1 || !acts[0].NextAttempt.Before(later) {
		t.Errorf("after retry the action is due at %v, want before %v", acts, later)
	}
	if page := b.get(got.location); !strings.Contains(page.body, "grace retried action") {
		t.Error("the case's timeline does not show the retry")
	}
}

func TestDiscard_ByAnAdmin(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, adminAccount)
	back := "/case?ref=" + url.QueryEscape(storetest.StoryIssue.String())
	got := b.post("/actions/discard", url.Values{"csrf": {b.csrf("/dead")}, "key": {deadKey}, "back": {back}})
	if got.status != http.StatusSeeOther || !strings.HasPrefix(got.location, "/case?") {
		t.Fatalf("discard: %d → %q", got.status, got.location)
	}
	if dead, _ := s.store.DeadLetters(context.Background()); len(dead) != 0 {
		t.Errorf("dead letters after discard: %v", dead)
	}
	if page := b.get(got.location); !strings.Contains(page.body, "grace discarded action") {
		t.Error("the case's timeline does not show the discard")
	}
}

func TestLinkAndUnlink_ByHand(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, adminAccount)
	ctx := context.Background()
	tok := b.csrf("/dead")
	pair := url.Values{"csrf": {tok}, "from": {storetest.Stray.String()}, "to": {storetest.StoryIssue.String()}, "role": {"duplicate_of"}}
	if got := b.post("/case/link", pair); got.status != http.StatusSeeOther {
		t.Fatalf("link: %d %s", got.status, got.body)
	}
	x, _ := s.store.CaseOf(ctx, storetest.Stray)
	i, _ := s.store.CaseOf(ctx, storetest.StoryIssue)
	if x != i {
		t.Fatalf("after linking by hand the stray ticket is in case %d, the issue in %d", x, i)
	}
	page := b.get("/case?ref=" + url.QueryEscape(storetest.Stray.String()))
	if !strings.Contains(page.body, "linked by hand by grace") {
		t.Error("the case page does not say who linked by hand")
	}
	if got := b.post("/case/unlink", pair); got.status != http.StatusSeeOther {
		t.Fatalf("unlink: %d %s", got.status, got.body)
	}
	x, _ = s.store.CaseOf(ctx, storetest.Stray)
	if x == i {
		t.Error("after unlinking the stray ticket is still in the story's case")
	}
	if got := b.post("/case/unlink", pair); got.status != http.StatusNotFound {
		t.Errorf("unlinking again: %d, want 404", got.status)
	}
	for _, bad := range []url.Values{
		{"csrf": {tok}, "from": {storetest.Stray.String()}, "to": {storetest.Stray.String()}, "role": {"fixes"}},
		{"csrf": {tok}, "from": {storetest.Stray.String()}, "to": {"jira/dev_ticket/NOPE-1"}, "role": {"fixes"}},
		{"csrf": {tok}, "from": {storetest.Stray.String()}, "to": {storetest.StoryIssue.String()}, "role": {"owns"}},
	} {
		if got := b.post("/case/link", bad); got.status != http.StatusBadRequest {
			t.Errorf("link %v: %d, want 400", bad, got.status)
		}
	}
}

func TestMappings_CheckAPastedFileWithPositions(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, viewerAccount)
	page := b.get("/mappings")
	if !strings.Contains(page.body, "embedded defaults") || !strings.Contains(page.body, "rules.yaml:") {
		t.Error("the mappings page does not show the rules in force with their positions")
	}
	tok := b.csrf("/mappings")
	bad := b.post("/mappings/check", url.Values{"csrf": {tok}, "file": {"rules.yaml"}, "content": {"rules:\n  - name: x\n    when: {system: nowhere}\n"}})
	if bad.status != http.StatusOK || !regexp.MustCompile(`<li>rules\.yaml:\d+:\d+: `).MatchString(bad.body) {
		t.Errorf("checking a broken rules.yaml: %d, problems with positions: %v", bad.status, regexp.MustCompile(`<li>[^<]*`).FindAllString(bad.body, 3))
	}
	good, err := fsRead("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ok := b.post("/mappings/check", url.Values{"csrf": {tok}, "file": {"rules.yaml"}, "content": {good}})
	if !strings.Contains(ok.body, `id="valid"`) {
		t.Errorf("the default rules.yaml pasted back is not valid: %v", regexp.MustCompile(`<li>[^<]*`).FindAllString(ok.body, 3))
	}
}

func TestMappings_SimulateAScenarioAgainstTheRulesInForce(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, adminAccount)
	scenario, err := os.ReadFile("testdata/cannot-reproduce.yaml")
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile("testdata/cannot-reproduce.golden")
	if err != nil {
		t.Fatal(err)
	}
	tok := b.csrf("/mappings")
	got := b.post("/mappings/simulate", url.Values{"csrf": {tok}, "scenario": {string(scenario)}})
	if got.status != http.StatusOK {
		t.Fatalf("simulate: %d", got.status)
	}
	var plan []string
	for _, m := range regexp.MustCompile(`<li><code>([^<]*)</code></li>`).FindAllStringSubmatch(got.body, -1) {
		plan = append(plan, html.UnescapeString(m[1]))
	}
	want := strings.Split(strings.TrimSpace(string(golden)), "\n")
	if !slices.Equal(plan, want) {
		t.Errorf("simulated plan:\n%s\nwant (the golden file):\n%s", strings.Join(plan, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range []struct{ scenario, want string }{
		{"events:\n  - type: created\n    item: {ref: [\n", `scenario\.yaml:\d+:\d+: `},
		{"events:\n  - type: created\n    item: {title: x}\n", `scenario\.yaml: events\[0\]: item\.ref`},
	} {
		bad := b.post("/mappings/simulate", url.Values{"csrf": {tok}, "scenario": {c.scenario}})
		if !regexp.MustCompile(`id="simfailed">` + c.want).MatchString(bad.body) {
			t.Errorf("scenario %q: %s, want it to say where (%s)", c.scenario, regexp.MustCompile(`id="simfailed">[^<]*`).FindString(bad.body), c.want)
		}
	}
}

func fsRead(name string) (string, error) {
	b, err := fs.ReadFile(mappings.Defaults(), name)
	return string(b), err
}

func TestHealth_PerConnector(t *testing.T) {
	reg := prometheus.NewRegistry()
	missed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_poll_found_missed_total"}, []string{"source"})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_webhooks_rejected_total"}, []string{"source", "reason"})
	rate := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "liaison_jira_rate_limit_remaining"}, []string{"instance"})
	reg.MustRegister(missed, rejected, rate)
	missed.WithLabelValues("jira").Add(2)
	rejected.WithLabelValues("jira", "signature").Add(3)
	rejected.WithLabelValues("jira", "too_large").Inc()
	rejected.WithLabelValues("unknown", "unknown").Add(9)
	rate.WithLabelValues("jira").Set(4321)
	s := openSite(t, func(o *Options) { o.Metrics = reg })
	b := signedIn(t, s, viewerAccount)
	got := b.get("/health")
	if got.status != http.StatusOK {
		t.Fatalf("health: %d", got.status)
	}
	// The story's events came by webhook, one per record, and jira has
	// the dead letter.
	row := regexp.MustCompile(`<tr class="source"><td>jira</td><td>(\d+)</td><td>(\d+)</td><td>\d+</td><td>\d+</td><td>[^<]*</td><td>[^<]*</td><td>(\d+)</td><td>([^<]*)</td><td>(\d+)</td><td>(\d+)</td><td>([^<]*)</td>`)
	m := row.FindStringSubmatch(got.body)
	if m == nil || m[1] != "1" || m[2] != "0" || m[3] != "1" || !strings.Contains(m[4], "403 Forbidden") || m[5] != "2" || m[6] != "4" || m[7] != "4321" {
		t.Errorf("health row of jira = %q, want 1 webhook, 0 polls, 1 dead letter with its error, 2 found by polls only, 4 refused, 4321 requests left", m)
	}
	if strings.Contains(got.body, "<td>unknown</td>") {
		t.Error("webhooks for made-up endpoints show as a connector")
	}
	if !strings.Contains(got.body, `<tr class="rule"><td>qa-comment</td><td>0</td><td>1</td></tr>`) {
		t.Error("the health page does not show the rule with the dead letter")
	}
}

// external finds absolute http(s) URLs whose host is not loopback.
var absURL = regexp.MustCompile(`(?i)(?:https?:)?//([a-z0-9.\-\[\]:]+)`)

func externalURLs(page string) []string {
	var out []string
	for _, m := range absURL.FindAllStringSubmatch(page, -1) {
		host := m[1]
		if h, _, err := splitHostPort(host); err == nil {
			host = h
		}
		if host != "127.0.0.1" && host != "localhost" && host != "[::1]" && host != "::1" {
			out = append(out, m[0])
		}
	}
	return out
}

func splitHostPort(s string) (string, string, error) {
	u, err := url.Parse("http://" + s)
	if err != nil {
		return "", "", err
	}
	return u.Hostname(), u.Port(), nil
}

// resourceAttr finds what a page loads by itself: scripts, styles,
// images, frames, and where its forms post.
var resourceAttr = regexp.MustCompile(`(?i)<(?:script|img|iframe|source|video|audio|embed)[^>]*\ssrc="([^"]*)"|<link[^>]*\shref="([^"]*)"|<form[^>]*\saction="([^"]*)"|url\(([^)]*)\)`)

func TestPages_ReachNothingOutsideTheDaemon(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, adminAccount)
	pages := map[string]string{"login": s.browser(t).get("/login").body}
	for _, p := range []string{"/", "/search?q=reset", "/case?ref=" + url.QueryEscape(storetest.StoryTicket.String()), "/dead",
		"/conflicts", "/health", "/mappings", "/static/console.css", "/static/console.js"} {
		got := b.get(p)
		if got.status != http.StatusOK {
			t.Fatalf("GET %s: %d", p, got.status)
		}
		pages[p] = got.body
	}
	if len(externalURLs(`<a href="https://cdn.example.com/x.js">`)) != 1 || len(externalURLs(`src="//fonts.example.net/f"`)) != 1 {
		t.Fatal("the external-URL check misses what it must catch")
	}
	for p, body := range pages {
		if ext := externalURLs(body); len(ext) > 0 {
			t.Errorf("%s names URLs outside the daemon: %v", p, ext)
		}
		for _, m := range resourceAttr.FindAllStringSubmatch(body, -1) {
			for _, v := range m[1:] {
				v = strings.Trim(v, `'" `)
				if v != "" && !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") {
					t.Errorf("%s loads or posts to %q, not a path of the console", p, v)
				}
			}
		}
	}
}

func TestParseUsers_Problems(t *testing.T) {
	cases := []struct {
		name, file, want string
	}{
		{"no role", "users:\n  - name: ada\n    password_hash: $2y$10$abcdefghijklmnopqrstuv\n", `role "" is neither viewer nor admin`},
		{"not bcrypt", "users:\n  - name: ada\n    password_hash: secret123\n    role: admin\n", `password_hash is not a bcrypt hash`},
		{"twice", "users:\n  - {name: ada, password_hash: \"" + realHash + "\", role: admin}\n  - {name: ada, password_hash: \"" + realHash + "\", role: viewer}\n", `appears twice`},
		{"hash cut short", "users:\n  - {name: ada, password_hash: $2y$10$secret123, role: admin}\n", `password_hash is not a bcrypt hash`},
		{"cost of hours", "users:\n  - {name: ada, password_hash: \"" + strings.Replace(realHash, "$10$", "$31$", 1) + "\", role: admin}\n", `bcrypt cost 31, more than 14`},
		{"too large", "users:\n" + strings.Repeat("  - {name: ada, password_hash: \""+realHash+"\", role: admin}\n", 1<<20/80), `larger than 1048576 bytes`},
		{"unknown key", "users:\n  - {name: ada, password: secret123, role: admin}\n", `unknown field "password"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseUsers("users.yaml", []byte(c.file))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
			if strings.Contains(err.Error(), "secret123") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// realHash is a bcrypt hash (cost 10) of no test's password.
const realHash = "$2a$10$MIQHZEYQ2hH8W7mU2pGqceH0Gm0cyvNSkt3bMNmSrlnkv6Gr2XDqa"

func TestSession_EndsWhenTheUsersFileNoLongerHoldsItsRole(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	s := openSite(t, func(o *Options) { o.SessionKey = key })
	cases := []struct {
		name  string
		users []Account
		ok    bool
	}{
		{"same file", []Account{adminAccount, viewerAccount}, true},
		{"account removed", []Account{adminAccount}, false},
		{"made admin", []Account{adminAccount, {Name: viewerAccount.Name, Password: viewerAccount.Password, Role: Admin}}, false},
		{"OIDC only", nil, false},
	}
	b := signedIn(t, s, viewerAccount)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Records: s.store, Clock: s.clock, SessionKey: key, OIDC: &OIDC{}}
			if c.users != nil {
				u, err := NewUsers(c.users...)
				if err != nil {
					t.Fatal(err)
				}
				o.Users = u
			}
			// Another replica (or this one restarted) with the users file as it is now.
			con, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(con.Handler())
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/dead", nil)
			u, _ := url.Parse(s.url)
			for _, ck := range b.c.Jar.Cookies(u) {
				req.AddCookie(ck)
			}
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode == http.StatusOK; got != c.ok {
				t.Errorf("viewer's session on a console whose users file is %s: %d, want signed in %v", c.name, resp.StatusCode, c.ok)
			}
		})
	}
}

func TestLocalPath_KeepsRedirectsOnTheConsole(t *testing.T) {
	for in, want := range map[string]string{"/case?ref=x": "/case?ref=x", "//evil.example/": "/", `/\evil.example`: "/",
		"https://evil.example": "/", "": "/", "dead": "/", "/\t/evil.example": "/", "/\n/evil.example": "/",
		"/\r//evil.example": "/", "/x\\..\\\\evil.example": "/", "/%zz": "/", "/case?ref=a%2Fb#top": "/case?ref=a%2Fb#top"} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"4521", "#4521", "KBOT-88", "acme/app#12", "https://github.com/acme/app/pull/12", "<a@b>", "ada@customer.example", "password reset", "http://x/browse/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := parseQuery(s)
		for _, id := range q.IDs {
			if id == "" || len(id) > maxQuery {
				t.Errorf("parseQuery(%q) gives id %q", s, id)
			}
		}
		if len(q.Text) > 4*maxQuery {
			t.Errorf("parseQuery(%q) gives %d bytes of text", s, len(q.Text))
		}
	})
}

func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("users:\n  - {name: ada, password_hash: $2y$10$abc, role: admin}\n"))
	f.Add([]byte("users: [{name: x}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUsers("users.yaml", b)
		if err == nil && u == nil {
			t.Error("no users and no error")
		}
		if err == nil {
			for _, x := range u.byName {
				if x.Role != Viewer && x.Role != Admin {
					t.Errorf("user %q accepted with role %q", x.Name, x.Role)
				}
			}
		}
	})
}

func TestFromConfig_ReadsTheConsoleSection(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users:\n  - {name: grace, password_hash: \"$2a$10$MIQHZEYQ2hH8W7mU2pGqceH0Gm0cyvNSkt3bMNmSrlnkv6Gr2XDqa\", role: admin}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_CONSOLE_KEY", strings.Repeat("k", 32))
	t.Setenv("TEST_OIDC_SECRET", "s3cret-value")
	t.Setenv("TEST_SHORT_KEY", "short")
	st, err := store.Open(context.Background(), "sqlite::memory:", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cases := []struct {
		name, section string
		secure        bool
		err           string
	}{
		{"loopback", "listen: 127.0.0.1:8081\n  users_file: " + users, false, ""},
		{"all interfaces", "listen: 0.0.0.0:8081\n  users_file: " + users, true, ""},
		{"loopback behind a TLS proxy", "listen: 127.0.0.1:8081\n  secure_cookies: true\n  users_file: " + users, true, ""},
		{"oidc and a session key", "listen: 127.0.0.1:8081\n  session_key_env: TEST_CONSOLE_KEY\n  oidc: {issuer: http://127.0.0.1:1, client_id: c, client_secret_env: TEST_OIDC_SECRET, redirect_url: http://127.0.0.1:8081/auth/callback}", false, ""},
		{"no way to sign in", "listen: 127.0.0.1:8081", false, "no way to sign in"},
		{"short session key", "listen: 127.0.0.1:8081\n  users_file: " + users + "\n  session_key_env: TEST_SHORT_KEY", false, "at least 32 characters"},
		{"secret unset", "listen: 127.0.0.1:8081\n  oidc: {issuer: http://x, client_id: c, client_secret_env: TEST_UNSET, redirect_url: http://x/cb}", false, `"TEST_UNSET" is empty`},
		{"missing users file", "listen: 127.0.0.1:8081\n  users_file: " + filepath.Join(dir, "none.yaml"), false, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse("liaison.yaml", []byte("console:\n  "+c.section+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			con, err := FromConfig(cfg.Console, Options{Records: st})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "kkkk") {
					t.Errorf("the error shows a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if con.o.SecureCookies != c.secure {
				t.Errorf("SecureCookies = %v, want %v", con.o.SecureCookies, c.secure)
			}
		})
	}
}

func TestLogs_NeverHoldPasswordsOrTokens(t *testing.T) {
	var logs logtest.Buffer
	s := openSite(t, func(o *Options) { o.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	b := s.browser(t)
	b.signIn(Account{Name: adminAccount.Password, Password: adminAccount.Password}) // a password typed as the name
	b = signedIn(t, s, adminAccount)
	tok := b.csrf("/dead")
	b.post("/actions/replay", url.Values{"csrf": {tok}, "all": {"1"}})
	u, _ := url.Parse(s.url)
	secrets := []string{adminAccount.Password, tok}
	for _, c := range b.c.Jar.Cookies(u) {
		secrets = append(secrets, c.Value)
	}
	out := logs.String()
	if !strings.Contains(out, "sign-in refused") || !strings.Contains(out, "dead actions replayed") {
		t.Fatalf("the log lacks the sign-ins and the replay:\n%s", out)
	}
	for _, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds a password, token or cookie:\n%s", out)
		}
	}
}

// htpasswd writes $2y$ hashes, the README's way to make one: they sign in.
func TestUsers_AcceptHtpasswdHashes(t *testing.T) {
	u, err := NewUsers(Account{Name: "ada", Password: "staple bolt anvil", Role: Viewer})
	if err != nil {
		t.Fatal(err)
	}
	hash := "$2y$" + strings.TrimPrefix(u.byName["ada"].Hash, "$2a$")
	parsed, err := ParseUsers("users.yaml", []byte("users:\n  - {name: ada, password_hash: \""+hash+"\", role: viewer}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if role, ok := parsed.Check("ada", "staple bolt anvil"); !ok || role != Viewer {
		t.Errorf("a $2y$ hash does not sign in: %v %v", role, ok)
	}
}

func TestSignIn_NextNeverLeavesTheConsole(t *testing.T) {
	s := openSite(t, nil)
	for _, next := range []string{"//evil.example/", "/\t/evil.example", `/\evil.example`, "https://evil.example/"} {
		b := s.browser(t)
		tok := b.csrf("/login?next=" + url.QueryEscape(next))
		got := b.post("/login", url.Values{"csrf": {tok}, "name": {viewerAccount.Name}, "password": {viewerAccount.Password}, "next": {next}})
		if got.status != http.StatusSeeOther || got.location != "/" {
			t.Errorf("sign-in with next=%q: %d → %q, want 303 → /", next, got.status, got.location)
		}
	}
}

func TestCasePage_LinksOnlyToHTTPPages(t *testing.T) {
	s := openSite(t, nil)
	ctx := context.Background()
	var batch []core.Ingest
	for i, u := range []string{"javascript:alert(document.cookie)", " JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x", "//evil.example/x", "https://tracker.example/browse/KBOT-90"} {
		ref := core.Ref{System: "jira", Kind: core.DevTicket, ID: fmt.Sprintf("KBOT-%d", 90+i)}
		batch = append(batch, core.Ingest{Event: core.Event{Source: "jira", DeliveryID: fmt.Sprintf("x%d", i), Via: core.ViaWebhook, Type: core.Created,
			At: storetest.Epoch, Item: core.Item{Ref: ref, Title: "hostile URL", URL: u, UpdatedAt: storetest.Epoch},
			Links: []core.Link{{From: storetest.StoryTicket, To: ref, Role: core.EscalatedTo, Origin: core.Explicit}}}})
	}
	if _, err := s.store.Ingest(ctx, batch); err != nil {
		t.Fatal(err)
	}
	b := signedIn(t, s, viewerAccount)
	got := b.get("/case?ref=" + url.QueryEscape(storetest.StoryIssue.String()))
	if got.status != http.StatusOK {
		t.Fatalf("case page: %d", got.status)
	}
	hrefs := regexp.MustCompile(`<a href="([^"]*)" rel="noreferrer noopener"`).FindAllStringSubmatch(got.body, -1)
	var links []string
	for _, h := range hrefs {
		links = append(links, html.UnescapeString(h[1]))
	}
	// The story's three tracker pages and the one https page among the hostile ones.
	want := []string{"http://127.0.0.1:9/acme/app/pull/12", "http://127.0.0.1:9/agent/tickets/4521", "http://localhost:9/browse/KBOT-88", "https://tracker.example/browse/KBOT-90"}
	slices.Sort(links)
	if !slices.Equal(links, want) {
		t.Errorf("tracker links on the case page: %q, want %q", links, want)
	}
	for _, bad := range []string{"javascript:", "JavaScript:", "data:text", "vbscript:", "ZgotmplZ", "evil.example"} {
		if strings.Contains(got.body, bad) {
			t.Errorf("case page holds %q", bad)
		}
	}
}

func TestSignOut_NeedsTheTokenAndEndsTheSession(t *testing.T) {
	s := openSite(t, nil)
	b := signedIn(t, s, viewerAccount)
	for _, tok := range []string{"", "forged"} {
		if got := b.post("/logout", url.Values{"csrf": {tok}}); got.status != http.StatusForbidden {
			t.Errorf("sign-out with token %q: %d, want 403", tok, got.status)
		}
		if home := b.get("/"); home.status != http.StatusOK {
			t.Fatalf("a refused sign-out ended the session: home %d", home.status)
		}
	}
	if got := b.post("/logout", url.Values{"csrf": {b.csrf("/")}}); got.status != http.StatusSeeOther || got.location != "/login" {
		t.Fatalf("sign-out: %d → %q, want 303 → /login", got.status, got.location)
	}
	if home := b.get("/"); home.status != http.StatusSeeOther {
		t.Errorf("after sign-out, home: %d, want 303 to sign in", home.status)
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/case?ref=x", "//evil.example", `/\evil.example`, "/\t/evil.example", "https://evil.example", "/%2F%2Fevil", "/a/../..//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := localPath(next)
		if got == "/" {
			return
		}
		if got != next {
			t.Fatalf("localPath(%q) = %q: neither the target nor /", next, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || strings.HasPrefix(got, "//") ||
			strings.ContainsFunc(got, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
			t.Fatalf("localPath(%q) keeps a target a browser may read as another host", next)
		}
	})
}

func TestFromConfig_WarnsOfAKeyOfItsOwnOffLoopback(t *testing.T) {
	st, err := store.Open(context.Background(), "sqlite::memory:", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users, err := NewUsers(viewerAccount)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_CONSOLE_KEY", strings.Repeat("k", 32))
	for _, c := range []struct {
		name string
		cc   config.Console
		warn bool
	}{
		{"all interfaces, no key", config.Console{Listen: "0.0.0.0:8081"}, true},
		{"all interfaces, shared key", config.Console{Listen: "0.0.0.0:8081", SessionKeyEnv: "TEST_CONSOLE_KEY"}, false},
		{"loopback, no key", config.Console{Listen: "127.0.0.1:8081"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs logtest.Buffer
			if _, err := FromConfig(c.cc, Options{Records: st, Users: users, Log: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logs.String(), "session_key_env is not set"); got != c.warn {
				t.Errorf("warned %v, want %v:\n%s", got, c.warn, logs.String())
			}
			if strings.Contains(logs.String(), "kkkk") {
				t.Errorf("the log shows the key:\n%s", logs.String())
			}
		})
	}
}

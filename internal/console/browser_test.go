package console_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	// The sandbox's world runs the real connectors.
	_ "github.com/liaisonhq/liaison/connectors/github"
	_ "github.com/liaisonhq/liaison/connectors/imap"
	_ "github.com/liaisonhq/liaison/connectors/jira"
	_ "github.com/liaisonhq/liaison/connectors/zendesk"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/console"
	"github.com/liaisonhq/liaison/internal/daemon"
	"github.com/liaisonhq/liaison/internal/sandbox"
	"github.com/liaisonhq/liaison/internal/store"
)

// chromium finds the browser, or skips the test saying why (fails under
// CI=true, where .ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed and CI=true: .ci/run installs Debian's chromium package")
	}
	t.Skip("chromium is not installed (apt-get install chromium): the browser tests need it")
	return ""
}

// storyConsole plays the support story on the sandbox (the real
// connectors against the fakes), stops the daemon, and serves a console
// on its database with local accounts and the in-process OIDC provider.
// Besides the story's case the store holds one dead action of that case
// and another customer's ticket, to link and unlink.
type storyConsole struct {
	url           string
	ticket, issue core.Ref
	stray         core.Ref
	deadKey       string
	idp           interface{ SignInNext(map[string]any) }
}

func startStoryConsole(t *testing.T) *storyConsole {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w, err := sandbox.StartWorld(ctx, sandbox.Options{Dir: dir, Listen: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	out, err := w.Play(pctx)
	cancel()
	if err != nil {
		w.Stop()
		t.Fatalf("the story: %v", err)
	}
	rules, cfg := w.Daemon.Engine.Mappings(), w.Daemon.Config
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite://"+w.DBPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sc := &storyConsole{
		ticket: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: strconv.FormatInt(out.TicketID, 10)},
		issue:  core.Ref{System: "jira", Kind: core.DevTicket, ID: out.IssueKey},
		stray:  core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "7777"},
	}
	c, err := st.CaseOf(ctx, sc.issue)
	if err != nil {
		t.Fatal(err)
	}
	sc.deadKey = "console-e2e:" + sc.issue.String()
	if _, err := st.Enqueue(ctx, []core.Action{{Key: sc.deadKey, Case: c, Rule: "qa-comment", Kind: core.AddComment,
		Target: sc.issue, Subject: sc.issue, Body: "QA passed"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Fail(ctx, sc.deadKey, "jira: 403 Forbidden", time.Time{}, true); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := st.Ingest(ctx, []core.Ingest{{Event: core.Event{Source: "zendesk", DeliveryID: "e2e-stray", Via: core.ViaWebhook,
		Type: core.Created, At: now, Item: core.Item{Ref: sc.stray, Title: "Invoice PDF is empty", Native: "new", UpdatedAt: now}}}}); err != nil {
		t.Fatal(err)
	}
	users, err := console.NewUsers(console.AdminAccount, console.ViewerAccount)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc.url = "http://" + ln.Addr().String()
	p := console.NewTestIdP(t, time.Now)
	sc.idp = p
	id, secret := p.Client()
	oc, err := console.NewOIDC(console.OIDCConfig{Issuer: p.Issuer(), ClientID: id, ClientSecret: core.Secret(secret),
		RedirectURL: sc.url + "/auth/callback", AdminGroups: []string{"support-admins"}})
	if err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Options{Records: st, Users: users, OIDC: oc,
		Mappings: func() *core.Mappings { return rules }, MappingsCheck: console.CheckFolder(cfg.Mappings, daemon.MappingOptions(cfg))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(con.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return sc
}

// tab is a headless Chromium of its own (its own profile folder) that
// records every URL it requests and accepts every confirm dialog.
type tab struct {
	t        *testing.T
	ctx      context.Context
	shots    string
	mu       sync.Mutex
	requests []string
}

func openTab(t *testing.T, exe, shots string) *tab {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true)}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	tb := &tab{t: t, ctx: ctx, shots: shots}
	// The listener runs on the tab's reading goroutine: it only notes
	// the request, and leaves answering a dialog to a goroutine.
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			tb.mu.Lock()
			tb.requests = append(tb.requests, ev.Request.URL)
			tb.mu.Unlock()
		case *page.EventJavascriptDialogOpening:
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("watch chromium's requests: %v", err)
	}
	return tb
}

// step bounds one step, so that a page that hangs fails at the step that
// waited for it, and the failure screenshot still gets its own time.
func (tb *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, 30*time.Second)
}

func (tb *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.shot("failed-" + what)
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// leave runs actions that replace the page (a form post) and waits for
// selector on the page that follows. The page left may show the same
// element (the flash of the step before), so it is marked first and
// only an unmarked page counts.
func (tb *tab) leave(what, selector string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	mark := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`document.documentElement.setAttribute("data-left", ""), true`)(ctx, t)
		return err
	})
	steps := append([]chromedp.Action[chromedp.Void]{mark}, actions...)
	tb.run(what, append(steps, chromedp.WaitVisible(chromedp.CSS("html:not([data-left]) "+selector)))...)
}

// shot saves a screenshot of the page as name.png.
func (tb *tab) shot(name string) {
	ctx, cancel := tb.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(tb.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
	}
}

func (tb *tab) count(selector string) int {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, selector)))
	if err != nil {
		tb.t.Fatalf("count %s: %v", selector, err)
	}
	return n
}

func (tb *tab) text(selector string) string {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		tb.t.Fatalf("read %s: %v", selector, err)
	}
	return s
}

// signIn uses the local sign-in form.
func (tb *tab) signIn(base string, a console.Account) {
	tb.run("open the sign-in page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#login")))
	tb.shot("login")
	tb.leave("sign in as "+a.Name, "#who", chromedp.SendKeys(chromedp.CSS("#name"), a.Name), chromedp.SendKeys(chromedp.CSS("#password"), a.Password),
		chromedp.Submit(chromedp.CSS("#login")))
}

// outside lists the requests the browser made that left loopback.
func (tb *tab) outside() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, r := range tb.requests {
		u, err := url.Parse(r)
		if err != nil || u.Scheme == "data" || u.Scheme == "about" {
			continue
		}
		if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
			out = append(out, r)
		}
	}
	return out
}

// shotsDir is the test's artifact folder (go test -artifacts), where the
// screenshots stay after the run.
func shotsDir(t *testing.T) string {
	dir := t.ArtifactDir()
	t.Logf("screenshots in %s", dir)
	return dir
}

func TestBrowser_AdminFindsTheStoryAndWorksOnIt(t *testing.T) {
	exe := chromium(t)
	sc := startStoryConsole(t)
	tb := openTab(t, exe, shotsDir(t))
	tb.signIn(sc.url, console.AdminAccount)

	tb.run("search the story's ticket", chromedp.Navigate(sc.url+"/"), chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), sc.ticket.ID+"\n"), chromedp.WaitVisible(chromedp.CSS("#hits")))
	tb.shot("search")
	hit := fmt.Sprintf(`a.hit[data-ref=%q]`, sc.ticket.String())
	if tb.count(hit) != 1 {
		t.Fatalf("searching %q does not list %s", sc.ticket.ID, sc.ticket)
	}
	tb.run("open the case", chromedp.Click(chromedp.CSS(hit)), chromedp.WaitVisible(chromedp.CSS("#records")))
	tb.shot("case")
	for _, kind := range []core.Kind{core.EmailThread, core.CustomerTicket, core.DevTicket, core.PullRequest} {
		if n := tb.count(fmt.Sprintf(`#records tr.record[data-ref*="/%s/"]`, kind)); n != 1 {
			t.Errorf("the case shows %d %s records, want 1", n, kind)
		}
	}
	if n := tb.count("#links tr.link"); n != 3 {
		t.Errorf("the case shows %d links, want 3 (thread, escalation, fix)", n)
	}
	links := tb.text("#links")
	for _, how := range []string{"made by the gateway", "found by its key in the text of github/pull_request/"} {
		if !strings.Contains(links, how) {
			t.Errorf("the links do not say %q:\n%s", how, links)
		}
	}

	tb.run("open the dead letters", chromedp.Navigate(sc.url+"/dead"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr.dead[data-key=%q]`, sc.deadKey))))
	tb.shot("dead-letters")
	tb.leave("replay the dead letter", "#flash", chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[name="key"][value=%q]`, sc.deadKey))),
		chromedp.Click(chromedp.CSS("#replay")))
	tb.shot("dead-letters-replayed")
	if n := tb.count("tr.dead"); n != 0 || !strings.Contains(tb.text("#flash"), "1 action(s) replayed") {
		t.Errorf("after the replay the list has %d dead letters (want none), flash %q", n, tb.text("#flash"))
	}

	caseURL := sc.url + "/case?ref=" + url.QueryEscape(sc.ticket.String())
	tb.run("open the case to link", chromedp.Navigate(caseURL), chromedp.WaitVisible(chromedp.CSS("#linkform")))
	tb.leave("link another ticket by hand", "#flash",
		chromedp.SetValue(chromedp.CSS(`#linkform select[name="role"]`), string(core.DuplicateOf)),
		chromedp.SendKeys(chromedp.CSS("#linkto"), sc.stray.String()), chromedp.Click(chromedp.CSS("#link")))
	tb.shot("linked")
	if n := tb.count("#records tr.record"); n != 5 {
		t.Errorf("after linking the case has %d records, want 5", n)
	}
	if links := tb.text("#links"); !strings.Contains(links, "linked by hand by "+console.AdminAccount.Name) {
		t.Errorf("the new link does not say who made it:\n%s", links)
	}
	unlink := fmt.Sprintf(`tr.link[data-from=%q][data-to=%q] button.unlink`, sc.ticket.String(), sc.stray.String())
	tb.leave("unlink it", "#flash", chromedp.Click(chromedp.CSS(unlink)))
	tb.shot("unlinked")
	if n := tb.count("#records tr.record"); n != 4 {
		t.Errorf("after unlinking the case has %d records, want 4", n)
	}
	timeline := tb.text("#timeline")
	for _, want := range []string{"grace linked", "grace unlinked", "grace replayed dead action"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the timeline lacks %q", want)
		}
	}

	for _, p := range []string{"/health", "/mappings", "/conflicts"} {
		tb.run("open "+p, chromedp.Navigate(sc.url+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		tb.shot(strings.TrimPrefix(p, "/"))
		if n := tb.count("#rules tbody tr"); p == "/mappings" && n < 10 {
			t.Errorf("the mappings page lists %d rules and maps, want the defaults' (10 or more)", n)
		}
	}
	if out := tb.outside(); len(out) > 0 {
		t.Errorf("the pages made requests outside the daemon: %v", out)
	}
}

func TestBrowser_ViewerIsRefusedAnAdminAction(t *testing.T) {
	exe := chromium(t)
	sc := startStoryConsole(t)
	tb := openTab(t, exe, shotsDir(t))
	tb.signIn(sc.url, console.ViewerAccount)
	tb.run("open the dead letters", chromedp.Navigate(sc.url+"/dead"), chromedp.WaitVisible(chromedp.CSS("#dead")))
	if n := tb.count("#replay, #discard, input[name=key]"); n != 0 {
		t.Errorf("a viewer is offered %d admin controls", n)
	}
	// The viewer posts the replay anyway, with their own valid token.
	tb.leave("post a replay as the viewer", "#error", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(function () {
		var f = document.createElement("form"); f.method = "post"; f.action = "/actions/replay";
		var tok = document.querySelector('input[name="csrf"]').cloneNode(); f.appendChild(tok);
		var all = document.createElement("input"); all.name = "all"; all.value = "1"; f.appendChild(all);
		document.body.appendChild(f); f.submit(); return true; })()`)(ctx, t)
		return err
	}))
	tb.shot("viewer-refused")
	if msg := tb.text("#error"); msg != "Only admins may do this." {
		t.Errorf("the viewer's replay answered %q", msg)
	}
	tb.run("back to the dead letters", chromedp.Navigate(sc.url+"/dead"), chromedp.WaitVisible(chromedp.CSS("#dead")))
	if n := tb.count(fmt.Sprintf(`tr.dead[data-key=%q]`, sc.deadKey)); n != 1 {
		t.Errorf("after the viewer's refused replay the dead letter is listed %d times, want 1", n)
	}
}

func TestBrowser_SignInWithOIDC(t *testing.T) {
	exe := chromium(t)
	sc := startStoryConsole(t)
	sc.idp.SignInNext(map[string]any{"email": "lin@example.com", "email_verified": true, "groups": []string{"support-admins"}})
	tb := openTab(t, exe, shotsDir(t))
	tb.run("open the sign-in page", chromedp.Navigate(sc.url+"/login?next="+url.QueryEscape("/case?ref="+sc.issue.String())),
		chromedp.WaitVisible(chromedp.CSS("#oidc")))
	tb.run("sign in with the provider", chromedp.Click(chromedp.CSS("#oidc")), chromedp.WaitVisible(chromedp.CSS("#records")))
	tb.shot("oidc-signed-in")
	if who := tb.text("#who"); who != "lin@example.com (admin)" {
		t.Errorf("signed in with OIDC as %q, want lin@example.com (admin)", who)
	}
	if n := tb.count("#records tr.record"); n != 4 {
		t.Errorf("the case after the OIDC sign-in shows %d records, want 4", n)
	}
}

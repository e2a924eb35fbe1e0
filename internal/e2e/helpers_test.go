// Package e2e_test drives the whole gateway end to end: the daemon with
// the real Jira, GitHub, Zendesk and IMAP connectors, the engine and the
// SQLite store, against the services' HTTP fakes and an IMAP server on
// loopback (sandbox.World). Everything goes through signed webhooks, API
// calls and mail, as in production; the tests assert what the services
// end up holding and the exact writes they received.
//
// The world puts its credentials in the process environment, so these
// tests never run in parallel. E2E_LOG=1 prints each world's daemon log
// (it is printed anyway when a test fails). TestStoryMailThroughDovecot
// uses the Dovecot of connectors/imap/testdata/dovecot.sh
// (LIAISON_DOVECOT_ADDR, _USER, _PASSWORD; skipped without one unless
// CI=true).
package e2e_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/liaisonhq/liaison/connectors/github"
	_ "github.com/liaisonhq/liaison/connectors/imap"
	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	_ "github.com/liaisonhq/liaison/connectors/jira"
	jirafake "github.com/liaisonhq/liaison/connectors/jira/fake"
	_ "github.com/liaisonhq/liaison/connectors/zendesk"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/logtest"
	"github.com/liaisonhq/liaison/internal/sandbox"

	_ "modernc.org/sqlite" // the store's driver, for dueCases
)

// waitLimit bounds every wait for the gateway to do something.
const waitLimit = 15 * time.Second

// startWorld starts a world of its own for the test, on a free port with
// its database in the test's temporary folder, and stops it at the end.
// Its Jira and Zendesk send webhooks for the gateway's own writes too, as
// the real services do, so every test also shows that a write of ours
// coming back changes nothing.
func startWorld(t *testing.T, opts ...sandbox.WorldOption) *sandbox.World {
	t.Helper()
	return startWorldEcho(t, true, opts...)
}

func startWorldEcho(t *testing.T, echo bool, opts ...sandbox.WorldOption) *sandbox.World {
	t.Helper()
	if echo {
		opts = append([]sandbox.WorldOption{sandbox.WithEchoWebhooks()}, opts...)
	}
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := sandbox.StartWorld(context.Background(), sandbox.Options{
		Dir: t.TempDir(), Listen: "127.0.0.1:0", Log: log, IdleWait: 20 * time.Millisecond, CheckSettled: true}, opts...)
	if err != nil {
		t.Fatalf("starting the world: %v", err)
	}
	db, err := sql.Open("sqlite", "file:"+w.DBPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	queueReaders.Store(w, db)
	t.Cleanup(func() {
		queueReaders.Delete(w)
		db.Close()
		if err := w.Stop(); err != nil {
			t.Errorf("stopping the world: %v", err)
		}
		if n := w.Daemon.Engine.Unsettled(); n > 0 {
			t.Errorf("%d case(s) released as settled plan more from the store", n)
		}
		if t.Failed() || os.Getenv("E2E_LOG") != "" {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	return w
}

// eventually waits until cond holds, for at most waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			stalled(t, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stalled fails a test that waited in vain, with the stacks of the
// gateway's goroutines: where a stalled runner or worker waits is what a
// rare timeout leaves no other trace of.
func stalled(t *testing.T, what string) {
	t.Helper()
	var all bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&all, 2)
	var ours []string
	for _, g := range strings.Split(all.String(), "\n\n") {
		if strings.Contains(g, "liaisonhq/liaison/") && !strings.Contains(g, "internal/e2e.") {
			ours = append(ours, g)
		}
	}
	t.Fatalf("waited %s for %s; the gateway's goroutines:\n%s", waitLimit, what, strings.Join(ours, "\n\n"))
}

// settle waits until the gateway has nothing left to do now: no case due
// or being reconciled, no pending action, and no webhook of its own writes
// still on its way back from a fake that echoes them. (Cases wait in the
// queue for response-time targets due later; those do not count.)
// Whatever a webhook answered 200 caused is then done, so a test can
// assert that something did not happen.
func settle(t *testing.T, w *sandbox.World) {
	t.Helper()
	for {
		w.Jira.Flush()
		w.Zendesk.Flush()
		sent := len(w.Jira.Deliveries()) + len(w.Zendesk.Deliveries())
		deadline := time.Now().Add(waitLimit)
		for {
			due, err := dueCases(w)
			if err != nil {
				t.Fatal(err)
			}
			_, actions, err := w.Daemon.Store.QueueDepth(context.Background())
			if err == nil && due == 0 && actions == 0 && w.Daemon.Engine.Busy() == 0 {
				break
			}
			if time.Now().After(deadline) {
				stalled(t, "the gateway to have nothing left to do ("+leftToDo(w)+")")
			}
			time.Sleep(10 * time.Millisecond)
		}
		w.Jira.Flush()
		w.Zendesk.Flush()
		if len(w.Jira.Deliveries())+len(w.Zendesk.Deliveries()) == sent {
			return
		}
	}
}

// leftToDo describes the queued cases and pending actions that kept settle
// waiting.
func leftToDo(w *sandbox.World) string {
	db, ok := queueReaders.Load(w)
	if !ok {
		return "no queue reader"
	}
	var out []string
	list := func(query string) {
		rows, err := db.(*sql.DB).Query(query)
		if err != nil {
			out = append(out, err.Error())
			return
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				out = append(out, err.Error())
				return
			}
			row := make([]string, len(cols))
			for i, c := range cols {
				row[i] = fmt.Sprintf("%s=%v", c, vals[i])
			}
			out = append(out, strings.Join(row, " "))
		}
	}
	out = append(out, fmt.Sprintf("now=%d busy=%d", time.Now().UnixNano(), w.Daemon.Engine.Busy()))
	list(`SELECT case_id, due_at, dirty_gen, claimed_by, claimed_until, claimed_gen, held_until FROM work ORDER BY due_at LIMIT 20`)
	list(`SELECT case_id, key, attempts, next_attempt, last_error FROM outbox WHERE state = 'pending' LIMIT 20`)
	return strings.Join(out, "; ")
}

// queueReaders holds a read-only connection to each running world's
// database, for dueCases.
var queueReaders sync.Map // *sandbox.World → *sql.DB

// dueCases counts the cases of the work queue that are due now or
// claimed by a worker. The store counts every queued case only
// (QueueDepth), so this reads its queue table directly.
func dueCases(w *sandbox.World) (int, error) {
	db, ok := queueReaders.Load(w)
	if !ok {
		return 0, fmt.Errorf("no queue reader for the world at %s", w.Addr)
	}
	var n int
	err := db.(*sql.DB).QueryRow(`SELECT COUNT(*) FROM work WHERE due_at <= ? OR claimed_by <> ''`, time.Now().UnixNano()).Scan(&n)
	return n, err
}

// waitPolled waits until the start-up poll of every HTTP source stored its
// cursor. The next polls are minutes away, so from then on a record
// reaches the gateway only by its webhook, or by a poll the test asks for;
// and a fault injected into a fake hits the request the test means.
func waitPolled(t *testing.T, w *sandbox.World) {
	t.Helper()
	for _, src := range []string{"jira", "github", "zendesk"} {
		eventually(t, "the start-up poll of "+src, func() bool {
			c, err := w.Daemon.Store.Cursor(context.Background(), src)
			return err == nil && c != ""
		})
	}
}

// poll runs one poll of source through the engine, as its interval would.
func poll(t *testing.T, w *sandbox.World, source string) int {
	t.Helper()
	c, ok := w.Daemon.Engine.Connector(source)
	if !ok {
		t.Fatalf("no connector %q", source)
	}
	p, ok := c.(core.Poller)
	if !ok {
		t.Fatalf("connector %q does not poll", source)
	}
	n, err := w.Daemon.Engine.PollOnce(context.Background(), source, p)
	if err != nil {
		t.Fatalf("polling %s: %v", source, err)
	}
	return n
}

// jiraWrites lists the writes the Jira fake received about one issue, in
// order; a transition reads as "POST .../transitions → <status>", a
// remote link as "POST .../remotelink → <url>".
func jiraWrites(w *sandbox.World, key string) []string { return jiraCalls(w, key, false) }

// jiraCalls lists the requests the Jira fake received about one issue,
// reads too when reads is set, as jiraWrites does.
func jiraCalls(w *sandbox.World, key string, reads bool) []string {
	to := map[string]string{}
	for _, tr := range jirafake.DefaultWorkflow().Transitions {
		to[tr.ID] = tr.To
	}
	var out []string
	for _, c := range w.Jira.Calls() {
		rest, ok := strings.CutPrefix(c.Path, "/rest/api/2/issue/")
		if c.Method == http.MethodGet && !reads || !ok || rest != key && !strings.HasPrefix(rest, key+"/") {
			continue
		}
		line := c.Method + " " + c.Path
		if c.Query != "" {
			line += "?" + c.Query
		}
		var body struct {
			Transition struct{ ID string }  `json:"transition"`
			Object     struct{ URL string } `json:"object"`
		}
		switch {
		case c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/transitions"):
			json.Unmarshal(c.Body, &body)
			line += " → " + to[body.Transition.ID]
		case c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/remotelink"):
			json.Unmarshal(c.Body, &body)
			line += " → " + body.Object.URL
		}
		out = append(out, line)
	}
	return out
}

// allWrites lists every write any service received: API requests other
// than GET at the three fakes, and mail accepted by the SMTP sink.
func allWrites(w *sandbox.World) []string {
	var out []string
	for _, c := range w.Jira.Calls() {
		if c.Method != http.MethodGet {
			out = append(out, "jira "+c.String())
		}
	}
	for _, c := range w.GitHub.Calls() {
		if c.Method != http.MethodGet {
			out = append(out, "github "+c.String())
		}
	}
	for _, c := range w.Zendesk.Calls() {
		if c.Method != http.MethodGet {
			out = append(out, "zendesk "+c.String())
		}
	}
	for _, m := range w.SMTP.Messages() {
		out = append(out, "smtp to "+strings.Join(m.To, ","))
	}
	return out
}

func transitions(key string, statuses ...string) []string {
	out := make([]string, len(statuses))
	for i, s := range statuses {
		out[i] = "POST /rest/api/2/issue/" + key + "/transitions → " + s
	}
	return out
}

func remoteLinks(key string, urls ...string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = "POST /rest/api/2/issue/" + key + "/remotelink → " + u
	}
	return out
}

// only keeps the lines that contain part.
func only(lines []string, part string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, part) {
			out = append(out, l)
		}
	}
	return out
}

// prURL is the web address of a pull request of the world's repository,
// as the gateway knows it.
func prURL(t *testing.T, w *sandbox.World, n int) string {
	t.Helper()
	it, err := w.Daemon.Store.Item(context.Background(), pullRequest(w.Repo, n))
	if err != nil || it.URL == "" {
		t.Fatalf("pull request %d: %+v %v", n, it, err)
	}
	return it.URL
}

func jiraStatus(w *sandbox.World, key string) string {
	is, _ := w.Jira.Issue(key)
	return is.Status
}

// newIssue creates a developer ticket as a person in Jira does (its
// webhook is delivered) and waits until the gateway knows it.
func newIssue(t *testing.T, w *sandbox.World, summary string) string {
	t.Helper()
	key, err := w.Jira.CreateIssue(jirafake.IssueSpec{Project: "KBOT", Summary: summary, Description: "Seen by support."})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, key+" in the store", func() bool {
		_, err := w.Daemon.Store.Item(context.Background(), devTicket(key))
		return err == nil
	})
	return key
}

func devTicket(key string) core.Ref {
	return core.Ref{System: "jira", Kind: core.DevTicket, ID: key}
}

func pullRequest(repo string, n int) core.Ref {
	return core.Ref{System: "github", Kind: core.PullRequest, ID: fmt.Sprintf("%s#%d", repo, n)}
}

func customerTicket(id int64) core.Ref {
	return core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: fmt.Sprint(id)}
}

// hookTap stands between a fake and the daemon: it keeps every webhook
// delivery it is sent, byte for byte, and forwards it to the daemon
// (answering what the daemon answered) unless it swallows them.
type hookTap struct {
	srv     *httptest.Server
	daemon  string // base URL of the daemon; "" swallows
	mu      sync.Mutex
	records []delivery
}

// delivery is one webhook request as the fake sent it.
type delivery struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newHookTap(t *testing.T, w *sandbox.World, forward bool) *hookTap {
	tap := &hookTap{}
	if forward {
		tap.daemon = "http://" + w.Addr
	}
	tap.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := delivery{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		tap.mu.Lock()
		tap.records = append(tap.records, d)
		tap.mu.Unlock()
		if tap.daemon == "" {
			rw.Write([]byte(`{}`))
			return
		}
		status, answer, err := d.send(tap.daemon)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		rw.WriteHeader(status)
		rw.Write(answer)
	}))
	t.Cleanup(tap.srv.Close)
	return tap
}

// route makes the fake of system send its webhooks through the tap.
func (tap *hookTap) route(w *sandbox.World, system string) {
	url := tap.srv.URL + "/webhooks/" + system + "/" + system
	secret := w.WebhookSecret(system)
	switch system {
	case "jira":
		w.Jira.SetWebhook(url, secret)
	case "github":
		w.GitHub.SetWebhook(url, secret)
	case "zendesk":
		w.Zendesk.SetWebhook(url, secret)
	}
}

func (tap *hookTap) deliveries() []delivery {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return slices.Clone(tap.records)
}

// last returns the last delivery, failing the test when there is none.
func (tap *hookTap) last(t *testing.T) delivery {
	t.Helper()
	ds := tap.deliveries()
	if len(ds) == 0 {
		t.Fatal("no webhook went through the tap")
	}
	return ds[len(ds)-1]
}

// send posts the delivery to base (the daemon) as it was sent.
func (d delivery) send(base string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, base+d.Path, bytes.NewReader(d.Body))
	if err != nil {
		return 0, nil, err
	}
	for k, vs := range d.Header {
		if k == "Content-Length" || k == "Accept-Encoding" {
			continue
		}
		req.Header[k] = slices.Clone(vs)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, answer, err
}

func (d delivery) clone() delivery {
	return delivery{Path: d.Path, Header: d.Header.Clone(), Body: bytes.Clone(d.Body)}
}

// intakeAnswer is what the daemon answers a webhook it accepted.
type intakeAnswer struct {
	Accepted int `json:"accepted"`
}

// replayedDeliveries is how many deliveries the daemon has recognised as
// replays of one it stored, all sources together.
func replayedDeliveries(t *testing.T, w *sandbox.World) float64 {
	t.Helper()
	mfs, err := w.Daemon.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "liaison_webhooks_replayed_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// resend sends a recorded delivery to the daemon again and returns its
// answer, failing unless it was 200.
func resend(t *testing.T, w *sandbox.World, d delivery) intakeAnswer {
	t.Helper()
	status, body, err := d.send("http://" + w.Addr)
	if err != nil || status != http.StatusOK {
		t.Fatalf("re-sending %s: %d %s %v", d.Path, status, body, err)
	}
	var a intakeAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return a
}

// readEML reads a real mail of testdata/.
func readEML(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replaceHeader rewrites (or, when absent, adds) one header of a raw mail,
// leaving the rest of it as it was.
func replaceHeader(t *testing.T, raw []byte, name, value string) []byte {
	t.Helper()
	out, err := imaptest.ReplaceHeader(raw, name, value)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func isNotFound(err error) bool { return errors.Is(err, core.ErrNotFound) }

package loadtest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/liaisonhq/liaison/connectors/github"
	ghfake "github.com/liaisonhq/liaison/connectors/github/fake"
	jirafake "github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/core"
)

// The real-connector measure: what users run, a signed GitHub "pull request
// merged" webhook that must move the Jira issue its title names from In
// Review to Ready for QA, through the real GitHub and Jira connectors of a
// `liaison serve` child process, against loopback fakes of both services.
// The same webhooks go, in the same run, to a minimal durable relay written
// for the bench (RunRelay): HMAC check, JSON decode, a group-committed
// SQLite insert of the raw body with full sync, the answer, then one POST
// of the transition. Both are open loop at fixed rates; each rate starts
// a fresh process, fresh fakes and a fresh database.

//go:embed testdata/pull_request-closed-not-merged.json
var closedPR []byte

// Names the bench's processes share.
const (
	benchRepo       = "Codertocat/Hello-World" // the payload's repository
	benchJiraUser   = "liaison-bench@example.com"
	envBenchGHToken = "LIAISON_BENCH_GITHUB_TOKEN"
	envBenchSecret  = "LIAISON_BENCH_GITHUB_SECRET"
	envBenchJira    = "LIAISON_BENCH_JIRA_TOKEN"
	readyForQA      = "31" // the fake's default workflow: In Review → Ready for QA
)

// benchMappings is the process the real-connector phase runs: a pull
// request naming a KBOT key is linked to that developer ticket, and a
// merged one moves it to Ready for QA (the default rules' pr-merged and
// pull-request-linked, with only the two systems the phase configures).
const benchMappings = `systems:
  github:
    connector: github
    kinds:
      pull_request:
        statuses: {draft: in_progress, open: in_review, merged: done, closed: closed}
  jira:
    connector: jira
    kinds:
      dev_ticket:
        statuses:
          To Do: open
          In Progress: in_progress
          In Review: in_review
          Ready for QA: ready_for_qa
          QA Validated: qa_validated
          Preprod Validated: preprod_validated
          Done: done

links:
  - name: dev-key-in-pull-request
    from: github/pull_request
    in: [title, body, branch, commits]
    pattern: '\b(KBOT-\d+)\b'
    to: jira/dev_ticket
    role: fixes

rules:
  - name: pull-request-linked
    when: {kind: github/pull_request}
    if: 'Has("jira/dev_ticket")'
    then:
      - link: {target: jira/dev_ticket, role: fixes}

  - name: pr-merged
    when: {kind: jira/dev_ticket}
    if: |
      all(Linked("github/pull_request"), .Native in ["merged", "closed"])
      && any(Linked("github/pull_request"), .Native == "merged")
    then:
      - transition: {status: ready_for_qa}
`

// RealOptions size a real-connector run.
type RealOptions struct {
	// Dir holds each run's files (databases, configurations, logs).
	Dir string
	// Rates are the webhooks per second, each sent open loop for For
	// (defaults 100, 500, 1000, 2000 and 10s).
	Rates []int
	For   time.Duration
	// Settle bounds the wait, after the last answer, for every
	// acknowledged webhook's Jira write (default 60s); what is still
	// missing then is lost.
	Settle time.Duration
	// Launch makes the command that runs `liaison ARGS...` (default this
	// executable): `serve --config FILE` and `bench --relay FILE`.
	Launch func(args ...string) *exec.Cmd
	// Sides are "liaison" and "relay" (default both, relay first).
	Sides []string
	// MaxLag is Liaison's backpressure.max_lag, Workers its workers
	// (default: its own defaults).
	MaxLag  time.Duration
	Workers int
	// Repeat is how many acknowledged webhooks are sent again once the
	// run is over, to count what a repeated webhook costs.
	Repeat int
	// ProfileDir, when set, receives a CPU profile of Liaison over each
	// rate's sending (liaison-RATE.pprof), read from its /debug/pprof.
	ProfileDir string
	// JiraDelay holds every answer of the Jira fake back this long, to
	// make the workers fall behind (tests of backpressure).
	JiraDelay time.Duration
	Log       *slog.Logger
}

// RealFigures are one side's run at one rate.
type RealFigures struct {
	Side string // "liaison" or "relay"
	Rate int
	// Sent webhooks (at SendRate per second), each Acknowledged (2xx),
	// Refused (answered otherwise, 503 mostly) or Unanswered.
	Sent, Acknowledged, Refused, Unanswered int
	SendRate                                float64
	// Applied acknowledged webhooks have their issue in Ready for QA;
	// Lost ones do not, after Settle; Duplicated ones were moved twice.
	Applied, Lost, Duplicated int
	// P50 and P99 run from a webhook's scheduled send to its Jira write.
	P50, P99 time.Duration
	// Calls are the requests the side made to the fakes, by endpoint.
	Calls map[string]int
	// NewConns are the connections the side opened to the fakes.
	NewConns int
	// CPU and PeakRSS are the side's process alone (not the fakes, not
	// the sender): user+system time during the run, and its high-water
	// resident set.
	CPU     time.Duration
	PeakRSS int64
	// Retry503 counts refusals that carried Retry-After.
	Retry503 int
	// Repeated acknowledged webhooks were sent again after the run, as
	// GitHub's redelivery does (a new delivery id, the same body), and
	// cost RepeatCalls requests to the fakes.
	Repeated, RepeatCalls int
}

// CallsPerWebhook is the requests to the fakes per acknowledged webhook.
func (f RealFigures) CallsPerWebhook() float64 {
	n := 0
	for _, c := range f.Calls {
		n += c
	}
	return per(float64(n), f.Acknowledged)
}

// ConnsPer1000 is the connections opened per 1,000 acknowledged webhooks.
func (f RealFigures) ConnsPer1000() float64 { return 1000 * per(float64(f.NewConns), f.Acknowledged) }

// CPUPer1000 is the CPU time per 1,000 acknowledged webhooks.
func (f RealFigures) CPUPer1000() time.Duration {
	return time.Duration(1000 * per(float64(f.CPU), f.Acknowledged))
}

func per(a float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return a / float64(n)
}

func (f RealFigures) String() string {
	var calls []string
	for _, k := range slices.Sorted(maps.Keys(f.Calls)) {
		calls = append(calls, fmt.Sprintf("%s %.2f", k, per(float64(f.Calls[k]), f.Acknowledged)))
	}
	return fmt.Sprintf("%-7s %5d/s sent=%d (%.0f/s) acked=%d refused=%d (Retry-After %d) unanswered=%d applied=%d lost=%d duplicated=%d p50=%s p99=%s calls/webhook=%.2f [%s] new conns/1000=%.1f cpu/1000=%s peak RSS=%.1f MiB repeated=%d (calls %d)",
		f.Side, f.Rate, f.Sent, f.SendRate, f.Acknowledged, f.Refused, f.Retry503, f.Unanswered, f.Applied, f.Lost, f.Duplicated,
		f.P50.Round(100*time.Microsecond), f.P99.Round(100*time.Microsecond), f.CallsPerWebhook(), strings.Join(calls, ", "),
		f.ConnsPer1000(), f.CPUPer1000().Round(time.Millisecond), float64(f.PeakRSS)/(1<<20), f.Repeated, f.RepeatCalls)
}

// RunReal runs each side at each rate and returns the figures, side by
// side per rate.
func RunReal(ctx context.Context, o RealOptions) ([]RealFigures, error) {
	if len(o.Rates) == 0 {
		o.Rates = []int{100, 500, 1000, 2000}
	}
	if o.For <= 0 {
		o.For = 10 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 60 * time.Second
	}
	if len(o.Sides) == 0 {
		o.Sides = []string{"relay", "liaison"}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Launch == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("real-connector bench: finding this executable: %w", err)
		}
		o.Launch = func(args ...string) *exec.Cmd { return exec.Command(exe, args...) }
	}
	tpl, err := newPRTemplate(closedPR)
	if err != nil {
		return nil, err
	}
	var out []RealFigures
	for _, rate := range o.Rates {
		for _, side := range o.Sides {
			dir := filepath.Join(o.Dir, fmt.Sprintf("%s-%d", side, rate))
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return out, err
			}
			f, err := runRealSide(ctx, o, tpl, side, rate, dir)
			if err != nil {
				return out, fmt.Errorf("%s at %d/s: %w", side, rate, err)
			}
			o.Log.Info("real-connector run", "figures", f.String())
			out = append(out, f)
		}
	}
	return out, nil
}

// prTemplate is the payload cut around the parts that change per webhook.
type prTemplate struct{ parts [][]byte }

const (
	numberMark = 987654321
	titleMark  = "@@TITLE@@"
)

// newPRTemplate marks the real payload as merged and cuts it where the
// pull request's number and title go.
func newPRTemplate(payload []byte) (*prTemplate, error) {
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("bench payload: %w", err)
	}
	pr, ok := m["pull_request"].(map[string]any)
	if !ok {
		return nil, errors.New("bench payload: no pull_request")
	}
	pr["merged"] = true
	pr["merged_at"] = pr["closed_at"]
	pr["number"] = numberMark
	pr["title"] = titleMark
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	// Keys marshal sorted: the number comes before the title, once each.
	head, rest, ok1 := bytes.Cut(b, []byte(strconv.Itoa(numberMark)))
	mid, tail, ok2 := bytes.Cut(rest, []byte(titleMark))
	if !ok1 || !ok2 || bytes.Contains(tail, []byte(titleMark)) {
		return nil, errors.New("bench payload: the number and the title are not where the bench puts them")
	}
	parts := [][]byte{head, mid, tail}
	return &prTemplate{parts: parts}, nil
}

// body is webhook i's payload: pull request i+1, titled with KBOT-(i+1).
func (t *prTemplate) body(i int) []byte {
	n := strconv.Itoa(i + 1)
	var b bytes.Buffer
	b.Grow(len(t.parts[0]) + len(t.parts[1]) + len(t.parts[2]) + 64)
	b.Write(t.parts[0])
	b.WriteString(n)
	b.Write(t.parts[1])
	b.WriteString("KBOT-" + n + " Update the README with new information.")
	b.Write(t.parts[2])
	return b.Bytes()
}

// fakes are the GitHub and Jira fakes of one run, behind a counter.
type fakes struct {
	jira     *jirafake.Server
	github   *ghfake.Server
	servers  []*http.Server
	jiraURL  string
	ghURL    string
	conns    atomic.Int64
	mu       sync.Mutex
	calls    map[string]int
	writes   map[string][]time.Time // issue key → its transitions' answers
	counting atomic.Bool
	last     atomic.Int64 // unix ns of the latest request, counted or not
}

// quiet waits until the side has made no request for a while (at most
// 10 s): what it does at start (the Jira catalogue, the first polls) is
// not the webhooks' doing.
func (f *fakes) quiet(ctx context.Context) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if time.Since(time.Unix(0, f.last.Load())) > 500*time.Millisecond {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	keyInPath = regexp.MustCompile(`/KBOT-\d+`)
	numInPath = regexp.MustCompile(`/\d+`)
)

func startFakes(n int, token string) (*fakes, error) {
	f := &fakes{calls: map[string]int{}, writes: map[string][]time.Time{}}
	// The issues were made and put in review a day ago, as in a Jira in
	// use: the connector's first poll, which starts a little before now,
	// does not take them all in at once.
	var back atomic.Int64
	back.Store(int64(24 * time.Hour))
	now := func() time.Time { return time.Now().Add(-time.Duration(back.Load())) }
	f.jira = jirafake.New(jirafake.WithAuth(benchJiraUser, token), jirafake.WithProjects("KBOT"), jirafake.WithClock(now))
	defer back.Store(0)
	for i := 0; i < n; i++ {
		key, err := f.jira.CreateIssue(jirafake.IssueSpec{Summary: "Bench issue " + strconv.Itoa(i+1)})
		if err != nil {
			return nil, err
		}
		if err := f.jira.SetStatus(key, "In Review"); err != nil {
			return nil, err
		}
	}
	f.github = ghfake.New(ghfake.WithToken(token))
	// serve checks that the configured repository exists before it runs.
	if err := f.github.AddRepo(benchRepo); err != nil {
		return nil, err
	}
	var err error
	if f.jiraURL, err = f.serve(http.HandlerFunc(f.jiraHandler)); err != nil {
		return nil, err
	}
	f.jira.SetBaseURL(f.jiraURL)
	if f.ghURL, err = f.serve(f.count(f.github)); err != nil {
		return nil, err
	}
	return f, nil
}

// serve starts h on a loopback port, counting its new connections while
// counting is on, and returns its base URL.
func (f *fakes) serve(h http.Handler) (string, error) {
	srv, base, err := serveLoopback(h, func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew && f.counting.Load() {
			f.conns.Add(1)
		}
	})
	if err == nil {
		f.servers = append(f.servers, srv)
	}
	return base, err
}

func (f *fakes) stop() {
	for _, s := range f.servers {
		s.Close()
	}
}

// count records each request by endpoint (method and path, keys and
// numbers elided) while counting is on.
func (f *fakes) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.last.Store(time.Now().UnixNano())
		if f.counting.Load() {
			// The API version stays; issue keys and numbers go.
			prefix, rest := "", r.URL.Path
			for _, v := range []string{"/rest/api/2", "/rest/api/3"} {
				if after, ok := strings.CutPrefix(rest, v); ok {
					prefix, rest = v, after
				}
			}
			p := prefix + numInPath.ReplaceAllString(keyInPath.ReplaceAllString(rest, "/{key}"), "/{n}")
			f.mu.Lock()
			f.calls[r.Method+" "+p]++
			f.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

// jiraHandler serves the Jira fake and records when each transition was
// answered: that is the write the bench times.
func (f *fakes) jiraHandler(w http.ResponseWriter, r *http.Request) {
	counted := f.count(f.jira)
	key, ok := strings.CutPrefix(r.URL.Path, "/rest/api/2/issue/")
	key, ok2 := strings.CutSuffix(key, "/transitions")
	if !ok || !ok2 || r.Method != http.MethodPost {
		counted.ServeHTTP(w, r)
		return
	}
	rec := &statusWriter{ResponseWriter: w}
	counted.ServeHTTP(rec, r)
	if rec.status == http.StatusNoContent || rec.status == http.StatusOK {
		at := time.Now()
		f.mu.Lock()
		f.writes[key] = append(f.writes[key], at)
		f.mu.Unlock()
	}
}

// sideProcess is the process under test.
type sideProcess struct {
	cmd  *exec.Cmd
	base string
	done chan error
}

// ticksPerSecond is the kernel's USER_HZ, 100 on every Linux Go supports.
const ticksPerSecond = 100

// cpu returns the process's user+system time so far.
func (p *sideProcess) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at state.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / ticksPerSecond
}

// peakRSS returns the process's high-water resident set.
func (p *sideProcess) peakRSS() int64 {
	return statusHWM(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
}

func (p *sideProcess) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a loopback address free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startSide writes the side's configuration and starts its process.
func startSide(ctx context.Context, o RealOptions, side, dir string, f *fakes, env []string) (*sideProcess, error) {
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	var args []string
	switch side {
	case "liaison":
		// serve checks that the repository has a webhook to it; the fake
		// sends none itself (the bench does).
		f.github.SetWebhook("http://"+listen+core.WebhookPath("github", "github"), "")
		mdir := filepath.Join(dir, "mappings")
		if err := os.MkdirAll(mdir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(mdir, "bench.yaml"), []byte(benchMappings), 0o600); err != nil {
			return nil, err
		}
		cfg := fmt.Sprintf(`listen: %s
store: sqlite://%s
mappings: %s
log: {level: warn}
connectors:
  github:
    base_url: %s
    insecure_http: true
    token_env: %s
    webhook_secret_env: %s
    repos: [%s]
    poll_interval: 24h
  jira:
    base_url: %s
    deployment: cloud
    email: %s
    token_env: %s
    webhooks: false
    projects: {dev: [KBOT]}
    timezone: UTC
    poll_interval: 24h
`, listen, filepath.Join(dir, "liaison.db"), mdir, f.ghURL, envBenchGHToken, envBenchSecret, benchRepo,
			f.jiraURL, benchJiraUser, envBenchJira)
		if o.MaxLag > 0 {
			cfg += fmt.Sprintf("backpressure: {max_lag: %s}\n", o.MaxLag)
		}
		if o.ProfileDir != "" {
			cfg += "pprof: true\n"
		}
		if o.Workers > 0 {
			cfg += fmt.Sprintf("workers: %d\n", o.Workers)
		}
		path := filepath.Join(dir, "liaison.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		args = []string{"serve", "--config", path}
	case "relay":
		cfg, _ := json.Marshal(RelayConfig{Listen: listen, DB: filepath.Join(dir, "relay.db"), JiraURL: f.jiraURL, JiraUser: benchJiraUser,
			SecretEnv: envBenchSecret, TokenEnv: envBenchJira, Transition: readyForQA})
		path := filepath.Join(dir, "relay.json")
		if err := os.WriteFile(path, cfg, 0o600); err != nil {
			return nil, err
		}
		args = []string{"bench", "--relay", path}
	default:
		return nil, fmt.Errorf("unknown side %q", side)
	}
	cmd := o.Launch(args...)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	logf, err := os.Create(filepath.Join(dir, side+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &sideProcess{cmd: cmd, base: "http://" + listen, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			tail, _ := os.ReadFile(filepath.Join(dir, side+".log"))
			return nil, fmt.Errorf("%s exited before it was ready: %v: %s", side, err, tail[max(0, len(tail)-2048):])
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s not ready after 2 minutes", side)
		}
	}
}

// runRealSide sends rate webhooks a second for o.For to a fresh process of
// side and measures what became of them.
func runRealSide(ctx context.Context, o RealOptions, tpl *prTemplate, side string, rate int, dir string) (RealFigures, error) {
	n := int(float64(rate) * o.For.Seconds())
	token, secret := randomHex(), randomHex()
	f, err := startFakes(n, token)
	if err != nil {
		return RealFigures{}, err
	}
	defer f.stop()
	if o.JiraDelay > 0 {
		f.jira.Slow(o.JiraDelay)
	}
	env := []string{envBenchGHToken + "=" + token, envBenchSecret + "=" + secret, envBenchJira + "=" + token}
	p, err := startSide(ctx, o, side, dir, f, env)
	if err != nil {
		return RealFigures{}, err
	}
	defer p.stop()
	f.quiet(ctx)

	fig := RealFigures{Side: side, Rate: rate}
	url := p.base + "/webhooks/github/github"
	if side == "relay" {
		url = p.base + "/webhook"
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}}
	defer client.CloseIdleConnections()
	type answer struct {
		status     int
		retryAfter bool
	}
	answers := make([]answer, n)
	scheduled := make([]time.Time, n)
	limit := maxInFlight()
	var inFlight atomic.Int64
	var wg sync.WaitGroup

	// send posts webhook i, signed, under a delivery id of its own
	// (again: a re-send's).
	send := func(i int, again string) (status int, retryAfter bool) {
		body := tpl.body(i)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "pull_request")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d-%d%s", rate, i, again))
		req.Header.Set("X-Hub-Signature-256", github.Sign(secret, body))
		resp, err := client.Do(req)
		if err != nil {
			return 0, false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After") != ""
	}
	profiled := make(chan struct{})
	if o.ProfileDir != "" && side == "liaison" {
		go func() {
			defer close(profiled)
			if err := profile(ctx, p.base, o.For, filepath.Join(o.ProfileDir, fmt.Sprintf("liaison-%d.pprof", rate))); err != nil {
				o.Log.Warn("no CPU profile", "err", err)
			}
		}()
	} else {
		close(profiled)
	}
	defer func() { <-profiled }()
	f.counting.Store(true)
	cpu0 := p.cpu()
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	sent := 0
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		if inFlight.Load() >= int64(limit) {
			continue // the tick is skipped: counted as neither sent nor owed
		}
		scheduled[i] = at
		sent++
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			status, retry := send(i, "")
			answers[i] = answer{status: status, retryAfter: retry}
		}()
	}
	fig.SendRate = float64(sent) / time.Since(start).Seconds()
	wg.Wait()
	fig.Sent = sent

	owed := map[string]int{}
	for i, a := range answers {
		switch {
		case scheduled[i].IsZero():
		case a.status >= 200 && a.status < 300:
			fig.Acknowledged++
			owed["KBOT-"+strconv.Itoa(i+1)] = i
		case a.status == 0:
			fig.Unanswered++
		default:
			fig.Refused++
			if a.retryAfter {
				fig.Retry503++
			}
		}
	}
	applied := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		k := 0
		for key := range owed {
			if len(f.writes[key]) > 0 {
				k++
			}
		}
		return k
	}
	settle := time.Now().Add(o.Settle)
	for applied() < len(owed) && time.Now().Before(settle) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	// A moment more, so that a duplicate write would land and be counted.
	time.Sleep(200 * time.Millisecond)
	fig.CPU = p.cpu() - cpu0
	fig.PeakRSS = p.peakRSS()
	f.counting.Store(false)
	fig.RepeatCalls = repeat(f, owed, o.Repeat, &fig.Repeated, func(i int) bool {
		st, _ := send(i, "-again")
		return st >= 200 && st < 300
	})

	f.mu.Lock()
	defer f.mu.Unlock()
	var delays []time.Duration
	for key, i := range owed {
		w := f.writes[key]
		if len(w) == 0 {
			fig.Lost++
			continue
		}
		fig.Applied++
		if len(w) > 1 {
			fig.Duplicated++
		}
		delays = append(delays, w[0].Sub(scheduled[i]))
	}
	fig.P50, fig.P99 = pct(delays, 50), pct(delays, 99)
	fig.Calls = maps.Clone(f.calls)
	fig.NewConns = int(f.conns.Load())
	return fig, nil
}

// profile writes the CPU profile the process at base takes over d.
func profile(ctx context.Context, base string, d time.Duration, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, max(1, int(d.Seconds()))), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /debug/pprof/profile: %s", resp.Status)
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// repeat sends up to n of the owed webhooks again, once their writes are
// done, and returns the requests to the fakes that caused, counting the
// webhooks acknowledged again in *done.
func repeat(f *fakes, owed map[string]int, n int, done *int, send func(i int) bool) int {
	if n <= 0 {
		return 0
	}
	f.mu.Lock()
	before := f.calls
	f.calls = map[string]int{}
	f.mu.Unlock()
	f.counting.Store(true)
	for _, i := range owed {
		if *done >= n {
			break
		}
		if send(i) {
			*done++
		}
	}
	// The workers' reconcile of what the re-sends brought, if anything.
	time.Sleep(time.Second)
	f.counting.Store(false)
	f.mu.Lock()
	defer f.mu.Unlock()
	calls := 0
	for _, c := range f.calls {
		calls += c
	}
	f.calls = before
	return calls
}

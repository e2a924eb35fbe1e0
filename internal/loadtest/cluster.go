package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	jirafake "github.com/liaisonhq/liaison/connectors/jira/fake"
	zdfake "github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/httpfake"
)

// The replicas' world: N `liaison serve` processes sharing one store, with
// the real Zendesk and Jira connectors pointed at the HTTP fakes of those
// services, which run in the calling process on loopback. A round-robin
// balancer in the calling process spreads the fakes' webhooks over the
// replicas that answer /readyz, as a load balancer in front of several
// replicas would.

// escalationMappings is the process the replicas run unless the caller
// names a folder: a Zendesk ticket tagged bug gets a Jira developer ticket,
// and the customer ticket gets an internal note naming it.
//
//go:embed replicas_mappings.yaml
var escalationMappings []byte

// EscalateRule is the rule of escalationMappings that creates the Jira
// issue; its create action's marker (EscalationMarker) labels the issue.
const EscalateRule = "escalate-bug"

// EscalationMarker is the label the gateway puts on the Jira issue that
// rule creates for Zendesk ticket id: the marker of the action's key, which
// names the rule and the subject only, so that a test can compute it.
func EscalationMarker(rule string, ticket int64) string {
	return core.MarkerFor(core.ActionKey("create", "jira/dev_ticket", rule, TicketRef(ticket).String()))
}

// TicketRef is the ref of a Zendesk ticket of the fake.
func TicketRef(id int64) core.Ref {
	return core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: strconv.FormatInt(id, 10)}
}

// Environment variables the replicas read their credentials and store from;
// the configuration names the variables, never the values.
const (
	EnvDatabaseURL   = "LIAISON_DATABASE_URL"
	envZendeskToken  = "LIAISON_REPLICAS_ZENDESK_TOKEN"
	envZendeskSecret = "LIAISON_REPLICAS_ZENDESK_SECRET"
	envJiraToken     = "LIAISON_REPLICAS_JIRA_TOKEN"
	gatewayJiraUser  = "liaison@example.com"
)

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// Dir holds the replicas' configuration files and logs (and a SQLite
	// database, when Store names one there).
	Dir string
	// Replicas is how many `liaison serve` processes run (default 1).
	Replicas int
	// Store is the DSN every replica uses, handed to them in
	// LIAISON_DATABASE_URL (the configuration says store: env:LIAISON_DATABASE_URL).
	Store string
	// Mappings is the mapping folder; empty writes the embedded escalation
	// process into Dir and uses that.
	Mappings string
	// Launch makes the command that runs `liaison serve --config FILE`
	// (default: this executable with those arguments). Tests re-execute
	// their own binary. The cluster adds its variables to the command's
	// environment.
	Launch func(config string) *exec.Cmd
	// PollInterval is the connectors' poll interval (default 5s).
	PollInterval time.Duration
	// Workers per replica (default the daemon's).
	Workers int
	// Supervise restarts a replica that exits by itself, half a second
	// later, as a service manager would. A replica stopped with Kill is
	// restarted after the delay Kill names either way.
	Supervise bool
	Log       *slog.Logger
}

// Cluster is the running replicas, the fakes and the balancer. Stop it
// with Stop.
type Cluster struct {
	Zendesk *zdfake.Server
	Jira    *jirafake.Server
	// Replicas, by index; their addresses do not change across restarts.
	Replicas []*Replica
	// HookURL is where the Zendesk fake sends its webhooks: the balancer.
	HookURL string

	o        ClusterOptions
	log      *slog.Logger
	servers  []*http.Server
	env      []string
	client   *http.Client
	next     atomic.Uint64
	onCreate atomic.Pointer[func(labels []string, at time.Time)]
	stopping atomic.Bool
	wg       sync.WaitGroup
	done     chan struct{}

	sent, resent, unacked atomic.Int64
	// acked holds the deliveries acknowledged only on a re-send: the
	// fake's record keeps the status of its own attempt.
	ackedMu sync.Mutex
	acked   map[string]bool
}

// Replica is one `liaison serve` process (a new one after each restart).
type Replica struct {
	Index int
	Addr  string
	cfg   string
	c     *Cluster
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	killed  bool          // the current process was killed on purpose
	downFor time.Duration // … and is to be started again after this
	ready   bool
	starts  int
	exits   []string // unexpected exits, with the log's tail
}

// StartCluster starts the fakes, the balancer and the replicas, and
// returns once every replica answers /readyz.
func StartCluster(ctx context.Context, o ClusterOptions) (c *Cluster, err error) {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Launch == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("replicas: finding this executable: %w", err)
		}
		o.Launch = func(config string) *exec.Cmd { return exec.Command(exe, "serve", "--config", config) }
	}
	c = &Cluster{o: o, log: o.Log, done: make(chan struct{}), acked: map[string]bool{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	secrets := map[string]string{envZendeskToken: randomHex(), envZendeskSecret: randomHex(), envJiraToken: randomHex()}
	c.env = []string{EnvDatabaseURL + "=" + o.Store}
	for k, v := range secrets {
		c.env = append(c.env, k+"="+v)
	}
	if o.Mappings == "" {
		o.Mappings = filepath.Join(o.Dir, "mappings")
		if err := os.MkdirAll(o.Mappings, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(o.Mappings, "escalation.yaml"), escalationMappings, 0o644); err != nil {
			return nil, err
		}
	}
	c.o = o

	c.Zendesk = zdfake.New(zdfake.WithCredentials(zdfake.Agent, secrets[envZendeskToken]),
		zdfake.WithWebhookForm(zdfake.EventForm))
	zdURL, err := c.serve(c.Zendesk)
	if err != nil {
		return nil, err
	}
	c.Jira = jirafake.New(jirafake.WithAuth(gatewayJiraUser, secrets[envJiraToken]))
	jiraURL, err := c.serve(http.HandlerFunc(c.jiraHandler))
	if err != nil {
		return nil, err
	}
	c.Jira.SetBaseURL(jiraURL)
	lbURL, err := c.serve(http.HandlerFunc(c.balance))
	if err != nil {
		return nil, err
	}
	c.HookURL = lbURL + "/webhooks/zendesk/zendesk"
	c.Zendesk.SetWebhook(c.HookURL, secrets[envZendeskSecret])

	// The balancer keeps connections to the replicas open, as many as
	// are in flight: past capacity, a new connection per request would
	// spend the loopback's ports.
	toReplicas := http.DefaultTransport.(*http.Transport).Clone()
	toReplicas.MaxIdleConnsPerHost = 512
	for i := range o.Replicas {
		addr, err := freePort() // the replica listens there; nothing else takes a just-freed loopback port this soon
		if err != nil {
			return nil, err
		}
		r := &Replica{Index: i, Addr: addr, c: c, cfg: filepath.Join(o.Dir, fmt.Sprintf("replica-%d.yaml", i))}
		r.proxy = &httputil.ReverseProxy{
			Transport: toReplicas,
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(&url.URL{Scheme: "http", Host: addr}) },
			// A replica that died mid-request: the sender sees 502 and retries.
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) },
		}
		text := ReplicaConfig(addr, o.Mappings, zdURL, jiraURL, o.PollInterval, o.Workers)
		if err := os.WriteFile(r.cfg, []byte(text), 0o600); err != nil {
			return nil, err
		}
		c.Replicas = append(c.Replicas, r)
	}
	for _, r := range c.Replicas {
		if err := r.start(); err != nil {
			return nil, err
		}
	}
	c.wg.Go(c.healthLoop)
	for _, r := range c.Replicas {
		if err := r.WaitReady(ctx, 2*time.Minute); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ReplicaConfig is the configuration of one replica: the Zendesk and Jira
// connectors against the fakes (Jira without webhooks: it is polled), the
// store from LIAISON_DATABASE_URL.
func ReplicaConfig(listen, mappings, zendeskURL, jiraURL string, poll time.Duration, workers int) string {
	s := fmt.Sprintf(`listen: %s
store: env:%s
mappings: %s
log: {level: warn}
connectors:
  zendesk:
    base_url: %s
    email: %s
    token_env: %s
    webhook_secret_env: %s
    poll_interval: %s
  jira:
    base_url: %s
    deployment: cloud
    email: %s
    token_env: %s
    webhooks: false
    projects: {dev: [KBOT]}
    timezone: UTC
    poll_interval: %s
`, listen, EnvDatabaseURL, mappings, zendeskURL, zdfake.Agent, envZendeskToken, envZendeskSecret, poll,
		jiraURL, gatewayJiraUser, envJiraToken, poll)
	if workers > 0 {
		s += fmt.Sprintf("workers: %d\n", workers)
	}
	return s
}

func randomHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// serve starts h on a loopback port and returns its base URL.
func (c *Cluster) serve(h http.Handler) (string, error) {
	srv, base, err := serveLoopback(h, nil)
	if err == nil {
		c.servers = append(c.servers, srv)
	}
	return base, err
}

// serveLoopback starts h on a free loopback port (connState, when set,
// sees its connections) and returns the server and its base URL.
func serveLoopback(h http.Handler, connState func(net.Conn, http.ConnState)) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnState: connState}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

// OnJiraCreate calls f (nil: nothing) with the labels of every issue the
// Jira fake created through its API, when it answered.
func (c *Cluster) OnJiraCreate(f func(labels []string, at time.Time)) {
	if f == nil {
		c.onCreate.Store(nil)
		return
	}
	c.onCreate.Store(&f)
}

// jiraHandler serves the Jira fake and reports the issues created.
func (c *Cluster) jiraHandler(w http.ResponseWriter, r *http.Request) {
	f := c.onCreate.Load()
	if f == nil || r.Method != http.MethodPost || r.URL.Path != "/rest/api/2/issue" {
		c.Jira.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusWriter{ResponseWriter: w}
	c.Jira.ServeHTTP(rec, r)
	if rec.status != http.StatusCreated {
		return
	}
	var in struct {
		Fields struct {
			Labels []string `json:"labels"`
		} `json:"fields"`
	}
	if json.Unmarshal(body, &in) == nil {
		(*f)(in.Fields.Labels, time.Now())
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// balance sends a request to the next ready replica, round robin; 503
// when none is ready.
func (c *Cluster) balance(w http.ResponseWriter, r *http.Request) {
	var live []*Replica
	for _, rep := range c.Replicas {
		if rep.Ready() {
			live = append(live, rep)
		}
	}
	if len(live) == 0 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "no replica ready", http.StatusServiceUnavailable)
		return
	}
	live[c.next.Add(1)%uint64(len(live))].proxy.ServeHTTP(w, r)
}

// healthLoop asks every running replica's /readyz four times a second,
// as a load balancer's health check does.
func (c *Cluster) healthLoop() {
	hc := &http.Client{Timeout: 2 * time.Second}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		for _, r := range c.Replicas {
			if !r.running() {
				continue
			}
			ok := false
			if resp, err := hc.Get("http://" + r.Addr + "/readyz"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ok = resp.StatusCode == http.StatusOK
			}
			r.mu.Lock()
			r.ready = ok && r.cmd != nil && !r.killed
			r.mu.Unlock()
		}
	}
}

// start launches the replica's process and a watcher that restarts it when
// it was killed (after downFor) or, supervised, when it exited by itself.
func (r *Replica) start() error {
	c := r.c
	cmd := c.o.Launch(r.cfg)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, c.env...)
	logf, err := os.OpenFile(filepath.Join(c.o.Dir, fmt.Sprintf("replica-%d.log", r.Index)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	r.mu.Lock()
	r.starts++
	fmt.Fprintf(logf, "=== start %d\n", r.starts)
	if err := cmd.Start(); err != nil {
		r.mu.Unlock()
		logf.Close()
		return fmt.Errorf("replica %d: %w", r.Index, err)
	}
	exited := make(chan struct{})
	r.cmd, r.exited, r.killed, r.ready = cmd, exited, false, false
	r.mu.Unlock()
	c.wg.Go(func() {
		werr := cmd.Wait()
		logf.Close()
		r.mu.Lock()
		killed, wait := r.killed, r.downFor
		r.cmd, r.ready = nil, false
		if !killed && !c.stopping.Load() {
			r.exits = append(r.exits, fmt.Sprintf("%v; log ends:\n%s", werr, r.logTail(2048)))
			wait = 500 * time.Millisecond
		}
		r.mu.Unlock()
		close(exited)
		if c.stopping.Load() || (!killed && !c.o.Supervise) {
			return
		}
		select {
		case <-c.done:
			return
		case <-time.After(wait):
		}
		if err := r.start(); err != nil {
			c.log.Error("restarting replica failed", "replica", r.Index, "err", err)
		}
	})
	return nil
}

// Kill sends SIGKILL to the replica's process and waits for it to die; the
// replica is started again downFor later. It returns false when no process
// was running.
func (r *Replica) Kill(downFor time.Duration) bool {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	if cmd == nil {
		r.mu.Unlock()
		return false
	}
	r.killed, r.downFor, r.ready = true, downFor, false
	r.mu.Unlock()
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	return true
}

// PID is the current process's id (0 when none runs).
func (r *Replica) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Ready reports whether the balancer sends to this replica.
func (r *Replica) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

func (r *Replica) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd != nil && !r.killed
}

// Starts counts the processes started for this replica.
func (r *Replica) Starts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts
}

// Exits lists the times the replica exited by itself (not killed), each
// with the error and the end of its log.
func (r *Replica) Exits() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.exits)
}

// WaitReady waits until the replica answers /readyz with 200.
func (r *Replica) WaitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !r.Ready() {
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %d not ready after %s; its log ends:\n%s", r.Index, limit, r.LogTail(4096))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// LogTail returns the last n bytes of the replica's log (all its processes).
func (r *Replica) LogTail(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logTail(n)
}

func (r *Replica) logTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(r.c.o.Dir, fmt.Sprintf("replica-%d.log", r.Index)))
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Stop ends the replicas (SIGTERM, a graceful shutdown; SIGKILL after 20s),
// then the balancer and the fakes.
func (c *Cluster) Stop() {
	if !c.stopping.CompareAndSwap(false, true) {
		return
	}
	close(c.done)
	for _, r := range c.Replicas {
		r.mu.Lock()
		cmd, exited := r.cmd, r.exited
		r.mu.Unlock()
		if cmd == nil {
			continue
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
	}
	c.wg.Wait()
	for _, s := range c.servers {
		s.Close()
	}
}

// Counts of the webhooks Deliver handled: sent by the fake, re-sent after
// an answer other than 2xx, and never acknowledged before the context ended.
func (c *Cluster) Counts() (sent, resent, unacked int64) {
	return c.sent.Load(), c.resent.Load(), c.unacked.Load()
}

// Deliver performs a person's action in the Zendesk fake, which sends its
// webhook through the balancer; when the webhook was not acknowledged
// (a replica died mid-request, the store was unreachable, no replica was
// ready), it re-sends that same delivery — same body, same event id, same
// signature — until it is, as Zendesk retries. act returns the ticket the
// action was about. Deliver returns the ticket, and the error of the action
// itself (not of its webhook) or ctx's when it ended before the
// acknowledgement.
func (c *Cluster) Deliver(ctx context.Context, act func() (int64, error)) (int64, error) {
	ticket, err := act()
	if err == nil {
		c.sent.Add(1)
		return ticket, nil
	}
	if ticket == 0 || !strings.Contains(err.Error(), "fake: webhook") {
		return ticket, err
	}
	c.sent.Add(1)
	d, ok := c.LastDelivery(ticket)
	if !ok {
		return ticket, fmt.Errorf("ticket %d: webhook failed (%v) but no delivery is recorded", ticket, err)
	}
	wait := 50 * time.Millisecond
	for {
		c.resent.Add(1)
		status, err := httpfake.Post(c.client, c.HookURL, d.Header, d.Body)
		if err == nil && status/100 == 2 {
			c.markAcked(d.Body)
			return ticket, nil
		}
		select {
		case <-ctx.Done():
			c.unacked.Add(1)
			return ticket, fmt.Errorf("ticket %d: delivery %s never acknowledged: %w", ticket, DeliveryID(d.Body), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// LastDelivery finds the newest webhook the Zendesk fake sent about a
// ticket. When only one sender acts on a ticket at a time, it is the one
// that sender's action just sent.
func (c *Cluster) LastDelivery(ticket int64) (zdfake.Delivery, bool) {
	needle := []byte(`"subject":"zen:ticket:` + strconv.FormatInt(ticket, 10) + `"`)
	ds := c.Zendesk.Deliveries()
	for i := len(ds) - 1; i >= 0; i-- {
		if bytes.Contains(ds[i].Body, needle) {
			return ds[i], true
		}
	}
	return zdfake.Delivery{}, false
}

func (c *Cluster) markAcked(body []byte) {
	c.ackedMu.Lock()
	defer c.ackedMu.Unlock()
	c.acked[DeliveryID(body)] = true
}

// Acknowledged lists the delivery ids of the webhooks the fake sent that a
// replica acknowledged, first time or on a re-send, and the ids of those
// dropped on purpose (DropWebhooks) or never acknowledged.
func (c *Cluster) Acknowledged() (ok, dropped, failed []string) {
	c.ackedMu.Lock()
	defer c.ackedMu.Unlock()
	for _, d := range c.Zendesk.Deliveries() {
		id := DeliveryID(d.Body)
		switch {
		case d.Dropped:
			dropped = append(dropped, id)
		case d.Status/100 == 2 || c.acked[id]:
			ok = append(ok, id)
		default:
			failed = append(failed, id)
		}
	}
	return ok, dropped, failed
}

// DeliveryID is the event id of a ticket-event webhook body, the id the
// Zendesk connector stores the event under.
func DeliveryID(body []byte) string {
	var ev struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return ""
	}
	return ev.ID
}

// PostgresSchema creates a schema of its own in the database at base and
// returns a DSN whose search_path points at it (and whose connections name
// themselves application), and a function that drops the schema.
func PostgresSchema(ctx context.Context, base, application string) (dsn string, drop func(context.Context) error, err error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	schema := "liaison_replicas_" + randomHex()[:12]
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	if application != "" {
		q.Set("application_name", application)
	}
	u.RawQuery = q.Encode()
	drop = func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		return err
	}
	return u.String(), drop, nil
}

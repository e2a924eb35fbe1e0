//go:build faults

package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/liaisonhq/liaison/internal/httpfake"
	"github.com/liaisonhq/liaison/internal/loadtest"
)

// pgProxy is a TCP proxy in front of PostgreSQL that the test can cut:
// while down it closes every connection it carries and every new one at
// once, as a database that went away does.
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *pgProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go p.serve()
	return p
}

func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(c, s)
		go pipe(s, c)
	}
}

// setDown cuts the database off (closing what is open) or lets it back.
func (p *pgProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}

func status(t *testing.T, u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestFaults_DatabaseOutage cuts a replica off PostgreSQL after it
// started: /readyz answers 503 and a webhook is refused with 503 (with
// Retry-After) rather than acknowledged, for as long as the database is
// unreachable. Once it is back, /readyz answers 200, the same delivery sent
// again is accepted and stored once, and its escalation is written.
func TestFaults_DatabaseOutage(t *testing.T) {
	dsn := testSchema(t, applicationName())
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host)
	u.Host = px.ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := loadtest.StartCluster(ctx, loadtest.ClusterOptions{Dir: t.TempDir(), Replicas: 1, Store: u.String(),
		Mappings: mappingsDir(t), Launch: launch, PollInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Stop()
	rep := cl.Replicas[0]
	base := "http://" + rep.Addr
	hasIssue := func(id int64) func() bool {
		marker := loadtest.EscalationMarker(ruleEscalate, id)
		return func() bool {
			for _, is := range cl.Jira.Issues() {
				if slices.Contains(is.Labels, marker) {
					return true
				}
			}
			return false
		}
	}
	bug := func(n int) func() (int64, error) {
		return func() (int64, error) {
			return cl.Zendesk.CreateTicket(fmt.Sprintf("outage%d@acme.example", n), fmt.Sprintf("Login %d fails", n),
				"The login page answers 500.", []string{"bug"}, nil)
		}
	}

	first, err := cl.Deliver(ctx, bug(1))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the first ticket's Jira issue", hasIssue(first))
	t.Logf("ticket %d escalated with the database up", first)

	px.setDown(true)
	waitFor(t, 15*time.Second, "/readyz to answer 503 with the database cut off", func() bool {
		return status(t, base+"/readyz") == http.StatusServiceUnavailable
	})
	id, err := bug(2)()
	if err == nil {
		t.Fatal("a webhook was acknowledged while the database was unreachable")
	}
	d, ok := cl.LastDelivery(id)
	if !ok {
		t.Fatalf("no delivery recorded for ticket %d", id)
	}
	hook := base + "/webhooks/zendesk/zendesk"
	// Straight to the replica, not through the balancer (which has taken
	// it out): the replica itself refuses, every time, while it cannot store.
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewReader(d.Body))
		req.Header = d.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("delivery %d while the database is down: status %d, Retry-After %q; want 503 with Retry-After",
				i+1, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		time.Sleep(300 * time.Millisecond) // the sender's retry interval, not a wait for an outcome
	}
	if hasIssue(id)() {
		t.Fatal("the refused delivery was acted on")
	}
	t.Logf("database cut off: /readyz 503; ticket %d's delivery refused with 503 and Retry-After, 3 times straight to the replica", id)

	px.setDown(false)
	waitFor(t, 30*time.Second, "/readyz to answer 200 with the database back", func() bool {
		return status(t, base+"/readyz") == http.StatusOK
	})
	code, err := httpfake.Post(http.DefaultClient, hook, d.Header, d.Body)
	if err != nil || code != http.StatusOK {
		t.Fatalf("delivery after the database came back: status %d, %v; want 200", code, err)
	}
	waitFor(t, 30*time.Second, "the refused ticket's Jira issue once the sender retried", hasIssue(id))
	t.Logf("database back: /readyz 200, the same delivery accepted and ticket %d escalated", id)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM inbox WHERE source = 'zendesk' AND delivery_id = $1`,
		loadtest.DeliveryID(d.Body)).Scan(&n); err != nil || n != 1 {
		t.Errorf("the delivery is stored %d times (%v); want once", n, err)
	}
	if exits := rep.Exits(); len(exits) > 0 {
		t.Errorf("the replica exited during the outage: %v", exits)
	}
}

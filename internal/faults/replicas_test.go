//go:build faults

package faults

import (
	"context"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	jirafake "github.com/liaisonhq/liaison/connectors/jira/fake"
	"github.com/liaisonhq/liaison/connectors/zendesk"
	zdfake "github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/loadtest"
	"github.com/liaisonhq/liaison/internal/store"
)

// The rules of testdata/mappings whose writes the test accounts for.
const (
	ruleEscalate = "escalate-bug"
	ruleMirror   = "replies-to-developers"
	ruleNote     = "note-escalation"
)

// ticketPlan is what the generator does with the i-th ticket: open it
// (tagged bug or not), have the customer reply publicly, maybe have an
// agent write an internal note, and maybe tag it bug afterwards.
type ticketPlan struct {
	bug      bool
	replies  int
	note     bool
	tagLater bool
}

func planFor(i int) ticketPlan {
	p := ticketPlan{bug: i%10 < 7, replies: 1 + i%3, note: i%4 == 0}
	p.tagLater = !p.bug && i%2 == 0
	return p
}

// chaos is the faults injected while the generator runs, with counts for
// the summary.
type chaos struct {
	t       *testing.T
	cl      *loadtest.Cluster
	base    string // DSN to reach the server with (not one of the replicas')
	app     string
	start   time.Time
	mu      sync.Mutex
	counts  map[string]int
	lease   string // the poll lease owner killed, to check it was taken over
	pgKills int    // backends terminated
}

func (c *chaos) note(kind string, format string, args ...any) {
	c.mu.Lock()
	c.counts[kind]++
	c.mu.Unlock()
	c.t.Logf("%6.1fs fault: %s", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

func (c *chaos) kill(i int, down time.Duration) {
	r := c.cl.Replicas[i]
	pid := r.PID()
	if r.Kill(down) {
		c.note("kills", "SIGKILL replica %d (pid %d); restarted in %s", i, pid, down)
	}
}

// terminate ends every PostgreSQL connection of the replicas, as a
// database restart or a failover would.
func (c *chaos) terminate(ctx context.Context) {
	conn, err := pgx.Connect(ctx, c.base)
	if err != nil {
		c.t.Errorf("connecting to terminate the replicas' connections: %v", err)
		return
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, c.app).Scan(&n)
	if err != nil {
		c.t.Errorf("terminating the replicas' connections: %v", err)
		return
	}
	c.mu.Lock()
	c.pgKills += n
	c.mu.Unlock()
	c.note("pg_terminations", "terminated %d PostgreSQL connections of the replicas", n)
}

// killLeaseHolder SIGKILLs the replica polling Jira, found by the owner of
// the poll lease (host-pid), so that another replica must take it over.
func (c *chaos) killLeaseHolder(ctx context.Context, dsn string) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		c.t.Errorf("reading the poll lease: %v", err)
		return
	}
	defer conn.Close(ctx)
	var owner string
	err = conn.QueryRow(ctx, `SELECT owner FROM leases WHERE name = 'poll:jira'`).Scan(&owner)
	if err != nil {
		c.t.Logf("no jira poll lease yet: %v", err)
		return
	}
	pid, _ := strconv.Atoi(owner[strings.LastIndexByte(owner, '-')+1:])
	for i, r := range c.cl.Replicas {
		if pid != 0 && r.PID() == pid {
			c.mu.Lock()
			c.lease = owner
			c.mu.Unlock()
			c.note("lease_holder_kills", "the jira poll lease holder is replica %d (%s)", i, owner)
			c.kill(i, 2*time.Second)
			return
		}
	}
}

// pause waits d unless ctx ends first; the schedule's pacing, not a wait
// for an outcome.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// run injects faults until ctx ends: the scripted list once, then kills,
// bursts and terminations in turn.
func (c *chaos) run(ctx context.Context, dsn string) {
	jira, zd := c.cl.Jira, c.cl.Zendesk
	script := []func(){
		func() {
			jira.FailNext(40, 429, time.Second)
			c.note("jira_429", "Jira answers 429 (Retry-After 1s) to the next 40 requests")
		},
		func() { c.kill(0, 2*time.Second) },
		func() { zd.FailNext(20, 503, 0); c.note("zendesk_5xx", "Zendesk answers 503 to the next 20 requests") },
		func() { c.terminate(ctx) },
		func() {
			zd.DropWebhooks(3)
			c.note("zendesk_drops", "Zendesk drops its next 3 webhooks (the poller must find them)")
		},
		func() { jira.FailNext(30, 502, 0); c.note("jira_5xx", "Jira answers 502 to the next 30 requests") },
		func() { c.killLeaseHolder(ctx, dsn) },
		func() {
			// Past the connectors' 30s request timeout: requests that arrive
			// in the next 4s are never answered.
			jira.Slow(40 * time.Second)
			c.note("jira_hangs", "Jira hangs (40s, past the 30s client timeout) for requests arriving in the next 4s")
			pause(ctx, 4*time.Second)
			jira.Slow(0)
		},
		func() {
			zd.FailNext(30, 429, 2*time.Second)
			c.note("zendesk_429", "Zendesk answers 429 (Retry-After 2s) to the next 30 requests")
		},
		func() {
			c.note("double_kills", "two replicas at once")
			c.kill(1, 3*time.Second)
			c.kill(2, 1*time.Second)
		},
		func() { c.terminate(ctx) },
		func() {
			zd.Slow(35 * time.Second)
			c.note("zendesk_hangs", "Zendesk hangs (35s) for requests arriving in the next 3s")
			pause(ctx, 3*time.Second)
			zd.Slow(0)
		},
		func() { c.kill(2, time.Second) },
		func() {
			// Slow success: the writes are made, but only after the
			// connectors stopped waiting for them, while a replica dies.
			jira.HoldWrites(8, nil, nil)
			zd.HoldWrites(8, nil, nil)
			c.note("slow_success", "Jira and Zendesk make their next 8 writes each only after the client gave up")
			c.kill(1, 2*time.Second)
		},
		func() {
			// And answers just under the timeout (the claim's 25s).
			jira.Slow(20 * time.Second)
			c.note("slow_answers", "Jira answers in 20s, just under the timeout, requests arriving in the next 3s")
			pause(ctx, 3*time.Second)
			jira.Slow(0)
		},
		func() {
			jira.FailNext(30, 503, 2*time.Second)
			c.note("jira_5xx", "Jira answers 503 (Retry-After 2s) to the next 30 requests")
		},
		func() { c.terminate(ctx) },
	}
	loop := []func(){
		func() { c.kill(int(time.Now().UnixNano()%3), 1500*time.Millisecond) },
		func() { jira.FailNext(25, 500, 0); c.note("jira_5xx", "Jira answers 500 to the next 25 requests") },
		func() { c.terminate(ctx) },
		func() { zd.FailNext(15, 502, 0); c.note("zendesk_5xx", "Zendesk answers 502 to the next 15 requests") },
	}
	for i := 0; ; i++ {
		if !pause(ctx, 3*time.Second) {
			return
		}
		if i < len(script) {
			script[i]()
		} else {
			loop[(i-len(script))%len(loop)]()
		}
	}
}

// TestFaults_ReplicasUnderFaults: three replicas on PostgreSQL, killed and
// restarted under a few thousand webhooks while the services fail, hang
// and drop webhooks and the database drops its connections. Afterwards:
// every acknowledged webhook is in the store, every write the rules require
// exists exactly once at the fakes, and no other write was made.
func TestFaults_ReplicasUnderFaults(t *testing.T) {
	app := applicationName()
	dsn := testSchema(t, app)
	tickets := 900
	if v, err := strconv.Atoi(os.Getenv("LIAISON_FAULTS_TICKETS")); err == nil && v > 0 {
		tickets = v
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if keep := os.Getenv("LIAISON_FAULTS_KEEP"); keep != "" {
		// The replicas' logs and configuration, kept for a look afterwards.
		dir = keep
	}
	cl, err := loadtest.StartCluster(ctx, loadtest.ClusterOptions{Dir: dir, Replicas: 3, Store: dsn,
		Mappings: mappingsDir(t), Launch: launch, Supervise: true, Workers: 8, PollInterval: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Stop()
	t.Logf("3 replicas ready in %s", time.Since(start).Round(time.Millisecond))
	zd := cl.Zendesk

	// The generator: 16 senders, each working through tickets one at a
	// time, every person action's webhook retried until acknowledged. New
	// tickets are paced over generatorSpan, so that the faults land on a
	// steady load from its start to its end.
	const generatorSpan = 75 * time.Second
	every := generatorSpan / time.Duration(tickets)
	genStart := time.Now()
	var (
		mu      sync.Mutex
		ids     = map[int]int64{} // generator index → Zendesk ticket id
		next    atomic.Int64
		genErrs []string
	)
	genCtx, genCancel := context.WithTimeout(ctx, 4*time.Minute)
	defer genCancel()
	fail := func(format string, args ...any) {
		mu.Lock()
		genErrs = append(genErrs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var gen sync.WaitGroup
	for range 16 {
		gen.Go(func() {
			for {
				i := int(next.Add(1))
				if i > tickets || genCtx.Err() != nil {
					return
				}
				if !pause(genCtx, time.Until(genStart.Add(time.Duration(i)*every))) {
					return
				}
				p := planFor(i)
				email := fmt.Sprintf("customer%d@acme.example", i)
				var tags []string
				if p.bug {
					tags = []string{"bug"}
				}
				id, err := cl.Deliver(genCtx, func() (int64, error) {
					return zd.CreateTicket(email, fmt.Sprintf("Export %d fails", i),
						fmt.Sprintf("The export of report %d stops with an error.", i), tags, nil)
				})
				if err != nil {
					fail("ticket %d: %v", i, err)
					continue
				}
				mu.Lock()
				ids[i] = id
				mu.Unlock()
				for r := range p.replies {
					if _, err := cl.Deliver(genCtx, func() (int64, error) {
						_, err := zd.Reply(id, email, fmt.Sprintf("Reply %d on %d: it still fails.", r+1, i), true)
						return id, err
					}); err != nil {
						fail("ticket %d reply %d: %v", i, r, err)
					}
				}
				if p.note {
					if _, err := cl.Deliver(genCtx, func() (int64, error) {
						_, err := zd.Reply(id, zdfake.Agent, "Internal: customer is on the enterprise plan.", false)
						return id, err
					}); err != nil {
						fail("ticket %d note: %v", i, err)
					}
				}
				if p.tagLater {
					if _, err := cl.Deliver(genCtx, func() (int64, error) {
						return id, zd.SetFields(id, map[string]string{"tags": "bug"})
					}); err != nil {
						fail("ticket %d tag: %v", i, err)
					}
				}
			}
		})
	}

	chaosCtx, stopChaos := context.WithCancel(ctx)
	ch := &chaos{t: t, cl: cl, base: postgresDSN(), app: app, start: start, counts: map[string]int{}}
	chaosDone := make(chan struct{})
	go func() { defer close(chaosDone); ch.run(chaosCtx, dsn) }()
	gen.Wait()
	stopChaos()
	<-chaosDone
	genTime := time.Since(start)
	for _, e := range genErrs {
		t.Error(e)
	}
	// Faults end: every replica back, the services answering.
	cl.Jira.FailNext(0, 0, 0)
	cl.Jira.Slow(0)
	cl.Zendesk.Slow(0)
	for _, r := range cl.Replicas {
		if err := r.WaitReady(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	// Quiescence: the shared queue empty (no dirty case, no pending
	// action) and staying so for longer than a poll interval, so that the
	// pollers had their turn after the last change.
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var quiet time.Time
	waitFor(t, 3*time.Minute, "the replicas to settle", func() bool {
		cases, actions, err := st.QueueDepth(ctx)
		if err != nil || cases > 0 || actions > 0 {
			quiet = time.Time{}
			return false
		}
		if quiet.IsZero() {
			quiet = time.Now()
		}
		return time.Since(quiet) > 7*time.Second
	})
	elapsed := time.Since(start)

	// What the senders sent and what the store holds.
	ackedIDs, droppedIDs, failedIDs := cl.Acknowledged()
	stored := map[string]string{} // delivery id → via
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT source, delivery_id, via FROM inbox`)
	if err != nil {
		t.Fatal(err)
	}
	via := map[string]int{}
	for rows.Next() {
		var src, id, v string
		if err := rows.Scan(&src, &id, &v); err != nil {
			t.Fatal(err)
		}
		via[src+"/"+v]++
		if src == "zendesk" {
			stored[id] = v
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, id := range ackedIDs {
		if _, ok := stored[id]; !ok {
			missing++
			t.Errorf("acknowledged delivery %s is not in the store", id)
		}
	}
	for _, id := range failedIDs {
		t.Errorf("delivery %s was never acknowledged", id)
	}
	var leaseOwner string
	_ = conn.QueryRow(ctx, `SELECT owner FROM leases WHERE name = 'poll:jira'`).Scan(&leaseOwner)
	// Writes that had an attempt of unknown outcome and were settled: done,
	// with that attempt's start kept.
	var uncertain int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE state = 'done' AND sent_at > 0`).Scan(&uncertain); err != nil {
		t.Fatal(err)
	}

	// What the rules required, and what the fakes hold.
	acc := account(t, zd, cl.Jira, ids, tickets, start)
	dead, err := st.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent, resent, unacked := cl.Counts()
	kills, restarts, exits := 0, 0, 0
	for _, r := range cl.Replicas {
		restarts += r.Starts() - 1
		for _, e := range r.Exits() {
			exits++
			t.Logf("replica %d exited by itself (restarted by the supervisor): %s", r.Index, e)
		}
	}
	kills = ch.counts["kills"]
	takeover := "not tested"
	if ch.lease != "" {
		takeover = fmt.Sprintf("%s killed, now held by %s", ch.lease, leaseOwner)
	}
	fmt.Printf("faults summary: replicas=3 tickets=%d webhooks sent=%d (re-sent %d, dropped %d, unacknowledged %d) "+
		"events stored=%d (zendesk webhook %d, zendesk poll %d, jira poll %d; acknowledged but missing %d) "+
		"writes required=%d observed=%d (jira issues %d, jira comments %d, zendesk notes %d) duplicates=%d lost=%d unexpected=%d uncertain resolved=%d "+
		"dead letters=%d kills=%d restarts=%d self-exits=%d pg connections terminated=%d in %d rounds "+
		"service faults=%d jira poll lease: %s; generator=%s total=%s\n",
		tickets, sent, resent, len(droppedIDs), unacked+int64(len(failedIDs)),
		via["zendesk/webhook"]+via["zendesk/poll"]+via["jira/poll"], via["zendesk/webhook"], via["zendesk/poll"], via["jira/poll"], missing,
		acc.required, acc.observed, acc.issues, acc.jiraComments, acc.notes, acc.duplicates, acc.lost, acc.unexpected, uncertain,
		len(dead), kills, restarts, exits, ch.pgKills, ch.counts["pg_terminations"],
		ch.counts["jira_429"]+ch.counts["jira_5xx"]+ch.counts["jira_hangs"]+ch.counts["zendesk_429"]+ch.counts["zendesk_5xx"]+ch.counts["zendesk_hangs"]+ch.counts["zendesk_drops"]+ch.counts["slow_success"]+ch.counts["slow_answers"],
		takeover, genTime.Round(time.Second), elapsed.Round(time.Second))
	for _, a := range dead {
		fmt.Printf("dead letter: rule %s, %s on %s (subject %s), %d attempts, last error: %s\n",
			a.Rule, a.Kind, a.Target, a.Subject, a.Attempts, a.LastError)
	}
	for _, l := range acc.problems {
		t.Error(l)
	}
	if acc.duplicates != 0 || acc.lost != 0 || acc.unexpected != 0 || missing != 0 || unacked != 0 || len(failedIDs) != 0 {
		t.Errorf("duplicates %d, lost %d, unexpected writes %d, acknowledged but not stored %d, unacknowledged %d; want all 0",
			acc.duplicates, acc.lost, acc.unexpected, missing, unacked+int64(len(failedIDs)))
	}
	if len(dead) != 0 {
		t.Errorf("%d dead letters (listed above); the faults were all transient", len(dead))
	}
	if acc.required == 0 || acc.observed != acc.required {
		t.Errorf("writes observed %d, required %d", acc.observed, acc.required)
	}
	if sent < int64(tickets) {
		t.Errorf("only %d webhooks sent for %d tickets", sent, tickets)
	}
	if kills < 3 || ch.counts["pg_terminations"] < 2 {
		t.Errorf("the run ended before its faults: %d kills, %d PostgreSQL terminations", kills, ch.counts["pg_terminations"])
	}
	if ch.lease != "" && (leaseOwner == "" || leaseOwner == ch.lease) {
		t.Errorf("the jira poll lease of the killed replica (%s) was not taken over (now %q)", ch.lease, leaseOwner)
	}
}

// accounting is the comparison of the writes the rules require with the
// writes the fakes hold.
type accounting struct {
	required, observed           int
	issues, jiraComments, notes  int
	duplicates, lost, unexpected int
	problems                     []string
}

var markerRE = regexp.MustCompile(`liaison-[0-9a-f]{12}`)

// account derives, from the fakes' state alone, every write the rules
// require — each identified by the marker of its action — and counts how
// often each is there. A marker found twice is a duplicate; one required
// but absent is lost; one present but not required is unexpected.
func account(t *testing.T, zd *zdfake.Server, jira *jirafake.Server, ids map[int]int64, tickets int, start time.Time) accounting {
	var a accounting
	// Every marker at the fakes, with how often it occurs and when.
	seen := map[string]int{}
	at := map[string][]string{}
	when := func(m string, ts time.Time) { at[m] = append(at[m], fmt.Sprintf("%.1fs", ts.Sub(start).Seconds())) }
	issueByMarker := map[string]jirafake.Issue{}
	for _, is := range jira.Issues() {
		for _, l := range is.Labels {
			if markerRE.MatchString(l) {
				seen[l]++
				when(l, is.Created)
				a.issues++
				issueByMarker[l] = is
			}
		}
		for _, c := range is.Comments {
			for _, m := range markerRE.FindAllString(c.Body, -1) {
				seen[m]++
				when(m, c.Created)
				a.jiraComments++
			}
		}
	}
	for _, tk := range zd.Tickets() {
		for _, c := range tk.Comments {
			if m := zendesk.MarkerOf(c.Body); m != "" {
				seen[m]++
				when(m, c.CreatedAt)
				a.notes++
			}
		}
	}
	a.observed = a.issues + a.jiraComments + a.notes

	required := map[string]string{} // marker → what it is
	for i := 1; i <= tickets; i++ {
		id, ok := ids[i]
		if !ok {
			continue // its creation was never acknowledged; reported already
		}
		tk, _ := zd.Ticket(id)
		p := planFor(i)
		zdRef := loadtest.TicketRef(id)
		create := loadtest.EscalationMarker(ruleEscalate, id)
		if !p.bug && !p.tagLater {
			if seen[create] > 0 {
				a.problems = append(a.problems, fmt.Sprintf("ticket %d is not a bug but has a Jira issue", id))
			}
			continue
		}
		required[create] = fmt.Sprintf("the Jira issue of ticket %d", id)
		is, ok := issueByMarker[create]
		if !ok {
			continue // lost: counted below
		}
		jiraRef := core.Ref{System: "jira", Kind: core.DevTicket, ID: is.Key}
		required[core.MarkerFor(core.ActionKey("comment", ruleNote, jiraRef.String(), zdRef.String()))] =
			fmt.Sprintf("the note naming %s on ticket %d", is.Key, id)
		for _, c := range tk.Comments {
			if !c.Public || c.Body == tk.Description || zendesk.MarkerOf(c.Body) != "" {
				continue
			}
			mk := core.MirrorKey(zdRef, strconv.FormatInt(c.ID, 10), jiraRef)
			required[core.MarkerFor(core.ActionKey("mirror", ruleMirror, mk))] =
				fmt.Sprintf("the copy of comment %d of ticket %d on %s", c.ID, id, is.Key)
		}
	}
	a.required = len(required)
	for _, m := range slices.Sorted(maps.Keys(required)) {
		switch n := seen[m]; {
		case n == 0:
			a.lost++
			a.problems = append(a.problems, "lost: "+required[m]+" ("+m+")")
		case n > 1:
			a.duplicates += n - 1
			a.problems = append(a.problems, fmt.Sprintf("duplicate: %s (%s) written %d times, at %s", required[m], m, n, strings.Join(at[m], ", ")))
		}
	}
	for _, m := range slices.Sorted(maps.Keys(seen)) {
		if _, ok := required[m]; !ok {
			a.unexpected += seen[m]
			a.problems = append(a.problems, fmt.Sprintf("unexpected write with marker %s (%d times)", m, seen[m]))
		}
	}
	if len(a.problems) > 50 {
		t.Logf("%d problems; the first 50 follow", len(a.problems))
		a.problems = a.problems[:50]
	}
	return a
}

package loadtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The overload measure: the replicas' world (StartCluster) driven past its
// capacity, open loop, to show that what the gateway acknowledges it
// applies. Each webhook is a new Zendesk ticket tagged bug, sent once (no
// re-send: a refused delivery is Zendesk's to retry, and is not counted
// as owed); each acknowledged one owes exactly one Jira issue, found at
// the Jira fake by its marker label.

// customers is how many requesters the overload run's tickets come from.
const customers = 50

// maxInFlight is how many webhooks may await their answer at once: each
// holds three of this process's file descriptors (the sender's
// connection, the balancer's end of it, the balancer's to a replica) and
// the replica's read of its ticket from the Zendesk fake a fourth; a
// thousand are kept for the rest.
func maxInFlight() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<20 {
		return 10000
	}
	return max(int(l.Cur)-1000, 400) / 4
}

// OverloadOptions size an overload run.
type OverloadOptions struct {
	// Dir holds each setup's files (SQLite database, configurations, logs).
	Dir string
	// Postgres is the server a PostgreSQL setup uses (see ReplicaOptions).
	Postgres string
	// Rate is the webhooks sent per second (default 1,000), for For
	// (default 10s): open loop, each sent on its tick whatever the answers
	// to the earlier ones.
	Rate int
	For  time.Duration
	// Settle bounds the wait, after the last answer, for every
	// acknowledged change to be applied (default 3m); what is still
	// missing then is lost.
	Settle time.Duration
	Launch func(config string) *exec.Cmd
	Log    *slog.Logger
}

// OverloadFigures are one setup's overload run.
type OverloadFigures struct {
	Setup   ReplicaSetup
	Skipped string
	// Sent webhooks, at SendRate per second; each was Acknowledged (2xx),
	// Refused (answered otherwise, 503 mostly) or Unanswered (the sender
	// gave up: connection error or its 30 s timeout). NotSent counts the
	// ticks skipped because InFlightCap webhooks were awaiting their
	// answer (see maxInFlight).
	Sent, NotSent, InFlightCap int
	SendRate                   float64
	Acknowledged, Refused      int
	Unanswered                 int
	Applied, Lost, Duplicates  int
	// AppliedUnowed counts issues created for refused or unanswered
	// deliveries: stored before the answer went wrong, which is allowed.
	AppliedUnowed int
	// Settled is the time from the last answer to the last acknowledged
	// change applied (Settle when some were lost).
	Settled time.Duration
	// LogErrors counts the replicas' log lines at level ERROR.
	LogErrors int
}

func (f OverloadFigures) String() string {
	if f.Skipped != "" {
		return fmt.Sprintf("%-14s skipped: %s", f.Setup, f.Skipped)
	}
	s := ""
	if f.NotSent > 0 {
		s = fmt.Sprintf(" (%d not sent: %d awaiting an answer)", f.NotSent, f.InFlightCap)
	}
	return fmt.Sprintf("%-14s sent %d at %.0f/s%s: acknowledged %d, refused %d, unanswered %d; applied %d of the acknowledged (+%d of the others) %s after the last answer: lost=%d duplicates=%d; %d error lines logged",
		f.Setup, f.Sent, f.SendRate, s, f.Acknowledged, f.Refused, f.Unanswered, f.Applied, f.AppliedUnowed,
		f.Settled.Round(100*time.Millisecond), f.Lost, f.Duplicates, f.LogErrors)
}

// RunOverload runs each setup (default: 1 replica on SQLite) past its
// capacity and counts what became of every acknowledged webhook. Its error
// is about the run itself; loss and duplicates are in the figures.
func RunOverload(ctx context.Context, o OverloadOptions, setups ...ReplicaSetup) ([]OverloadFigures, error) {
	if len(setups) == 0 {
		setups = []ReplicaSetup{{"sqlite", 1}}
	}
	if o.Rate <= 0 {
		o.Rate = 1000
	}
	if o.For <= 0 {
		o.For = 10 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 3 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return eachSetup(ctx, o.Dir, o.Postgres, setups,
		func(s ReplicaSetup, skipped string) OverloadFigures {
			return OverloadFigures{Setup: s, Skipped: skipped}
		},
		func(s ReplicaSetup, dir, dsn string, f *OverloadFigures) error {
			return overload(ctx, o, s, dir, dsn, f)
		})
}

// overload runs one setup.
func overload(ctx context.Context, o OverloadOptions, s ReplicaSetup, dir, dsn string, f *OverloadFigures) error {
	cl, err := StartCluster(ctx, ClusterOptions{Dir: dir, Replicas: s.Replicas, Store: dsn, Launch: o.Launch, Log: o.Log,
		PollInterval: time.Minute})
	if err != nil {
		return err
	}
	defer cl.Stop()
	var mu sync.Mutex
	created := map[string][]time.Time{} // marker → when each issue carrying it was created
	cl.OnJiraCreate(func(labels []string, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range labels {
			if strings.HasPrefix(l, "liaison-") {
				created[l] = append(created[l], at)
			}
		}
	})

	var (
		ansMu    sync.Mutex
		owed     []string // markers of acknowledged deliveries
		unowed   []string
		lastAnsw time.Time
	)
	var wg sync.WaitGroup
	f.InFlightCap = maxInFlight()
	inFlight := make(chan struct{}, f.InFlightCap)
	total := int(float64(o.Rate) * o.For.Seconds())
	interval := time.Second / time.Duration(o.Rate)
	start := time.Now()
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		select {
		case inFlight <- struct{}{}:
		default:
			f.NotSent++
			continue
		}
		wg.Go(func() {
			defer func() { <-inFlight }()
			// Few customers: the Zendesk fake finds a user by scanning them
			// all, on every API call, and would become the bottleneck.
			id, err := cl.Zendesk.CreateTicket(fmt.Sprintf("customer%d@overload.example", i%customers), fmt.Sprintf("Export %d fails", i),
				"The export stops with an error.", []string{"bug"}, nil)
			ansMu.Lock()
			defer ansMu.Unlock()
			lastAnsw = time.Now()
			switch {
			case id == 0:
				f.Unanswered++
			case err == nil:
				f.Acknowledged++
				owed = append(owed, EscalationMarker(EscalateRule, id))
			case strings.Contains(err.Error(), "webhook answered"):
				f.Refused++
				unowed = append(unowed, EscalationMarker(EscalateRule, id))
			default:
				f.Unanswered++
				unowed = append(unowed, EscalationMarker(EscalateRule, id))
			}
		})
	}
	f.SendRate = float64(total-f.NotSent) / time.Since(start).Seconds()
	wg.Wait()
	f.Sent = total - f.NotSent

	applied := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, m := range owed {
			if len(created[m]) > 0 {
				n++
			}
		}
		return n
	}
	werr := waitUntil(ctx, o.Settle, func() bool { return applied() == len(owed) })
	if werr != nil && ctx.Err() != nil {
		return werr
	}
	mu.Lock()
	var last time.Time
	for _, m := range owed {
		switch ts := created[m]; {
		case len(ts) == 0:
			f.Lost++
		default:
			f.Applied++
			f.Duplicates += len(ts) - 1
			if ts[0].After(last) {
				last = ts[0]
			}
		}
	}
	for _, m := range unowed {
		if ts := created[m]; len(ts) > 0 {
			f.AppliedUnowed++
			f.Duplicates += len(ts) - 1
		}
	}
	mu.Unlock()
	f.Settled = max(last.Sub(lastAnsw), 0)
	if f.Lost > 0 {
		f.Settled = o.Settle
	}
	n, err := logErrors(dir)
	f.LogErrors = n
	return err
}

// logErrors counts the lines at level ERROR in the replicas' logs in dir.
func logErrors(dir string) (int, error) {
	logs, err := filepath.Glob(filepath.Join(dir, "replica-*.log"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			return n, fmt.Errorf("reading a replica's log: %w", err)
		}
		for l := range strings.Lines(string(b)) {
			if strings.Contains(l, "level=ERROR") || strings.Contains(l, `"level":"ERROR"`) {
				n++
			}
		}
	}
	return n, nil
}

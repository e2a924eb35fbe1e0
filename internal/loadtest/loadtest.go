// Package loadtest measures the gateway end to end on the sandbox: signed
// webhooks over loopback HTTP into the real daemon (SQLite with full
// durability), with the load generator in the same process, so the figures
// include its cost. `liaison bench` prints its report.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sb "github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/sandbox"
)

// Options size a run.
type Options struct {
	Dir         string        // for the SQLite file
	IngestN     int           // events for the ingest-rate phase (default 20000)
	Concurrency int           // clients in the ingest phase (default 64)
	Rate        int           // paced rate for latency phases (default 500/s)
	Paced       time.Duration // length of each paced phase (default 5s)
	ReconcileN  int           // cases for the reconcile phase (default 5000)
	Log         *slog.Logger
}

// Report holds the measured figures.
type Report struct {
	IngestEvents   int
	IngestRate     float64 // events/s, acknowledged after durable commit, workers held
	IngestBusyRate float64 // the same with the workers reconciling beside it
	AckP50, AckP99 time.Duration
	AckRate        float64 // achieved paced rate
	// DiskP50, DiskP99: the disk alone, just before the ack phase (see
	// diskProbe); FloorP50, FloorP99: a minimal durable receiver at the
	// same rate, just after it (see floorProbe). Both bound every
	// acknowledgement from below on the machine as it was then.
	DiskP50, DiskP99   time.Duration
	FloorP50, FloorP99 time.Duration
	ReconcileCases     int
	ReconcileRate      float64 // cases/s
	E2EP50, E2EP99     time.Duration
	E2ERate            float64
	E2ECount           int
	PeakRSSBytes       int64
	Errors             int
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "durable ingest through HTTP:   %8.0f events/s   (%d signed webhooks, verified, journaled, acknowledged, in the store; workers held)\n", r.IngestRate, r.IngestEvents)
	fmt.Fprintf(&b, "  with workers reconciling:    %8.0f events/s   (the same, each case reconciled beside the intake)\n", r.IngestBusyRate)
	fmt.Fprintf(&b, "acknowledgement latency:       p50 %-9s p99 %-9s at %.0f requests/s\n", r.AckP50.Round(time.Microsecond), r.AckP99.Round(time.Microsecond), r.AckRate)
	fmt.Fprintf(&b, "  the disk alone, just before: p50 %-9s p99 %-9s (write %d KB + fsync every %s, as one webhook's commit)\n", r.DiskP50.Round(time.Microsecond), r.DiskP99.Round(time.Microsecond), probeBytes>>10, probeEvery)
	fmt.Fprintf(&b, "  a minimal receiver, after:   p50 %-9s p99 %-9s (same rate and client; it reads, appends to a file, fsyncs, answers)\n", r.FloorP50.Round(time.Microsecond), r.FloorP99.Round(time.Microsecond))
	fmt.Fprintf(&b, "reconcile:                     %8.0f cases/s    (a backlog of %d mails: each case plans and applies a create, then triage)\n", r.ReconcileRate, r.ReconcileCases)
	fmt.Fprintf(&b, "event received → action done:  p50 %-9s p99 %-9s at %.0f events/s (%d events)\n", r.E2EP50.Round(time.Microsecond), r.E2EP99.Round(time.Microsecond), r.E2ERate, r.E2ECount)
	fmt.Fprintf(&b, "peak memory (RSS):             %8.1f MiB\n", float64(r.PeakRSSBytes)/(1<<20))
	if r.Errors > 0 {
		fmt.Fprintf(&b, "errors:                        %d requests failed\n", r.Errors)
	}
	return b.String()
}

type client struct {
	http   *http.Client
	base   string
	secret core.Secret
}

// post sends one signed sandbox delivery and returns the latency.
func (c *client) post(ctx context.Context, system string, d sb.Delivery) (time.Duration, error) {
	body, _ := json.Marshal(d)
	return c.send(ctx, c.base+"/webhooks/sandbox/"+system, body)
}

// send posts a signed body to url and returns the latency.
func (c *client) send(ctx context.Context, url string, body []byte) (time.Duration, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set(sb.SignatureHeader, sb.Sign(c.secret, body))
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

// Run performs the phases in order on one sandbox daemon.
func Run(ctx context.Context, o Options) (Report, error) {
	o.IngestN = orDefault(o.IngestN, 20000)
	o.Concurrency = orDefault(o.Concurrency, 64)
	o.Rate = orDefault(o.Rate, 500)
	o.ReconcileN = orDefault(o.ReconcileN, 5000)
	if o.Paced == 0 {
		o.Paced = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s, err := sandbox.Start(ctx, sandbox.Options{Dir: o.Dir, Listen: "127.0.0.1:0", Log: o.Log, IdleWait: 20 * time.Millisecond})
	if err != nil {
		return Report{}, err
	}
	defer s.Stop()
	c := &client{base: "http://" + s.Addr, secret: core.Secret(os.Getenv(sandbox.SecretEnv)),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency * 2}, Timeout: 30 * time.Second}}
	var r Report

	// Phase 1: ingest rate. Closed customer tickets, which no rule acts
	// on. First intake alone, with the workers held: verify, commit
	// durably, acknowledge; the backlog is reconciled afterwards, as after
	// any burst. Then the same with the workers reconciling every case
	// (finding nothing to do) beside the intake.
	var errs atomic.Int64
	ingest := func(tag string) (float64, error) {
		start := time.Now()
		burst(o.IngestN, o.Concurrency, func(i int64) error {
			_, err := c.post(ctx, "zendesk", ticket(i, tag))
			return err
		}, &errs)
		// Acknowledged means on disk, in the intake journal; the phase
		// ends when the store has taken in every event too.
		err := stored(ctx, s)
		return float64(o.IngestN) / time.Since(start).Seconds(), err
	}
	s.Daemon.Engine.Hold()
	r.IngestEvents = o.IngestN
	if r.IngestRate, err = ingest("ingest"); err != nil {
		return r, err
	}
	s.Daemon.Engine.Resume()
	if err := quiesce(ctx, s); err != nil {
		return r, err
	}
	if r.IngestBusyRate, err = ingest("busy"); err != nil {
		return r, err
	}
	if err := quiesce(ctx, s); err != nil {
		return r, err
	}

	// Phase 2: acknowledgement latency at a steady rate. Every answer
	// waits for an fsync, so the disk's own latency at that moment is
	// measured first, beside the figure it bounds: on a shared machine it
	// changes from one minute to the next.
	if r.DiskP50, r.DiskP99, err = diskProbe(filepath.Dir(s.DBPath)); err != nil {
		return r, err
	}
	lat, rate, _ := paced(ctx, o.Rate, o.Paced, func(i int) (time.Duration, error) {
		return c.post(ctx, "zendesk", ticket(int64(o.IngestN+i), "paced"))
	}, &errs)
	r.AckP50, r.AckP99, r.AckRate = pct(lat, 50), pct(lat, 99), rate
	if err := quiesce(ctx, s); err != nil {
		return r, err
	}
	if r.FloorP50, r.FloorP99, err = floorProbe(ctx, c, filepath.Dir(s.DBPath), o.Rate, o.Paced, &errs); err != nil {
		return r, err
	}

	// Phase 3: reconcile rate. The mails arrive while the workers are held,
	// so that the figure is the workers' alone, from a backlog: from
	// Resume until every mail has its customer ticket (one create per
	// case, plus the triage its rules then plan, and the echoes of those
	// writes coming back by webhook). Creates are counted as the help
	// desk sees them, not by listing its records, which would cost the
	// system under test the CPU of the count.
	zd := s.Systems["zendesk"]
	var created atomic.Int64
	zd.OnWrite(func(w sb.Write) {
		if w.Kind == core.Create {
			created.Add(1)
		}
	})
	s.Daemon.Engine.Hold()
	burst(o.ReconcileN, o.Concurrency, func(i int64) error {
		_, err := c.post(ctx, "imap", mail(i, "rec"))
		return err
	}, &errs)
	if err := stored(ctx, s); err != nil {
		return r, err
	}
	start := time.Now()
	s.Daemon.Engine.Resume()
	if err := waitUntil(ctx, 5*time.Minute, func() bool { return created.Load() >= int64(o.ReconcileN) }); err != nil {
		return r, fmt.Errorf("reconcile phase: %w", err)
	}
	zd.OnWrite(nil)
	r.ReconcileCases = o.ReconcileN
	r.ReconcileRate = float64(o.ReconcileN) / time.Since(start).Seconds()
	if err := quiesce(ctx, s); err != nil {
		return r, err
	}

	// Phase 4: event → action delay at a steady rate: each mail's ticket
	// creation is timed from the moment its webhook was sent.
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var delays []time.Duration
	zd.OnWrite(func(w sb.Write) {
		if w.Kind != core.Create {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for id, t := range sent {
			if strings.Contains(w.Key, id) {
				delays = append(delays, w.At.Sub(t))
				delete(sent, id)
				return
			}
		}
	})
	_, r.E2ERate, _ = paced(ctx, o.Rate, o.Paced, func(i int) (time.Duration, error) {
		d := mail(int64(i), "e2e")
		mu.Lock()
		sent[d.Item.Ref.ID] = time.Now()
		mu.Unlock()
		return c.post(ctx, "imap", d)
	}, &errs)
	waitUntil(ctx, time.Minute, func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) == 0 })
	zd.OnWrite(nil)
	mu.Lock()
	r.E2ECount = len(delays)
	r.E2EP50, r.E2EP99 = pct(delays, 50), pct(delays, 99)
	mu.Unlock()
	r.Errors = int(errs.Load())
	r.PeakRSSBytes = peakRSS()
	return r, nil
}

func ticket(i int64, tag string) sb.Delivery {
	id := tag + "-" + strconv.FormatInt(i, 10)
	return sb.Delivery{ID: "bench-" + id, Type: core.Created, Item: core.Item{
		Ref:   core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: id},
		Title: "Cannot export report " + id, Body: "The export button does nothing.", Native: "closed",
		Reporter: "customer@example.com", UpdatedAt: time.Now()}}
}

func mail(i int64, tag string) sb.Delivery {
	id := fmt.Sprintf("<%s-%d@bench.example>", tag, i)
	return sb.Delivery{ID: "bench-" + id, Type: core.Mailed, Item: core.Item{
		Ref:   core.Ref{System: "imap", Kind: core.EmailThread, ID: id},
		Title: "Invoice PDF is empty", Body: "The invoice PDF for November is empty.", Native: "received",
		Reporter: "payer@example.com", Fields: map[string]string{"from": "payer@example.com"}, UpdatedAt: time.Now()}}
}

// burst calls send for 1..n from conc goroutines at once, counting errors.
func burst(n, conc int, send func(i int64) error, errs *atomic.Int64) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if err := send(i); err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
}

// paced calls f at rate per second for d (open loop: a slow answer does not
// slow the schedule), and returns the latencies and the achieved rate.
func paced(ctx context.Context, rate int, d time.Duration, f func(i int) (time.Duration, error), errs *atomic.Int64) ([]time.Duration, float64, int) {
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, total)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := f(i)
			if err != nil {
				errs.Add(1)
				return
			}
			mu.Lock()
			lat = append(lat, l)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, float64(total) / time.Since(start).Seconds(), total
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

// probeBytes and probeEvery shape diskProbe's writes like the log writes
// of webhooks at 500/s: 12 pages each.
const (
	probeBytes = 12 * 4096
	probeEvery = 2 * time.Millisecond
	probeN     = 1000
)

// diskProbe times probeN writes of probeBytes, each followed by an fsync,
// every probeEvery, to a file of its own in dir, cycling through 4 MB as
// SQLite reuses its log.
func diskProbe(dir string) (p50, p99 time.Duration, err error) {
	f, err := os.CreateTemp(dir, "disk-probe-")
	if err != nil {
		return 0, 0, fmt.Errorf("disk probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, probeBytes)
	lat := make([]time.Duration, 0, probeN)
	for i := range probeN {
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i*probeBytes)%(4<<20)); err != nil {
			return 0, 0, fmt.Errorf("disk probe: %w", err)
		}
		if err := f.Sync(); err != nil {
			return 0, 0, fmt.Errorf("disk probe: %w", err)
		}
		lat = append(lat, time.Since(start))
		time.Sleep(probeEvery)
	}
	return pct(lat, 50), pct(lat, 99), nil
}

// floorProbe sends paced webhooks, as the acknowledgement phase does, to
// the least a durable receiver must do: read the body, append it to a
// file, fsync, answer (fsyncs run side by side, as the store's do). No
// verification, parsing or database: what remains is what this machine's
// loopback HTTP, scheduler and disk cost at that rate, measured beside
// the figure they bound.
func floorProbe(ctx context.Context, c *client, dir string, rate int, d time.Duration, errs *atomic.Int64) (p50, p99 time.Duration, err error) {
	f, err := os.CreateTemp(dir, "floor-probe-")
	if err != nil {
		return 0, 0, fmt.Errorf("floor probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var end atomic.Int64 // of what the file holds
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		n := int64(len(body))
		if _, err := f.WriteAt(body, end.Add(n)-n); err != nil {
			http.Error(w, "write", http.StatusServiceUnavailable)
			return
		}
		if err := f.Sync(); err != nil {
			http.Error(w, "sync", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"accepted":1}`) // the daemon's answer, byte for byte
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, fmt.Errorf("floor probe: %w", err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	lat, _, _ := paced(ctx, rate, d, func(i int) (time.Duration, error) {
		body, _ := json.Marshal(ticket(int64(i), "floor"))
		return c.send(ctx, url, body)
	}, errs)
	return pct(lat, 50), pct(lat, 99), nil
}

// quiesce waits until the engine has nothing queued, then lets the store
// catch up (its log checkpointed) and collects garbage, so that a phase
// measures its own load at a steady rate and not the tail of the previous
// phase's burst.
func quiesce(ctx context.Context, s *sandbox.Sandbox) error {
	for _, c := range s.Systems {
		c.FlushEchoes()
	}
	err := waitUntil(ctx, 5*time.Minute, func() bool {
		cases, actions, err := s.Daemon.Store.QueueDepth(ctx)
		return err == nil && cases == 0 && actions == 0 && s.Daemon.Engine.Busy() == 0
	})
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.Daemon.Store.Checkpoint(cctx); err != nil {
		return err
	}
	runtime.GC()
	return nil
}

// stored waits until the store has taken in every acknowledged event.
func stored(ctx context.Context, s *sandbox.Sandbox) error {
	return waitUntil(ctx, 5*time.Minute, func() bool { return s.Daemon.Engine.IntakeBacklog() == 0 })
}

func waitUntil(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// peakRSS reads the process's high-water resident set size.
func peakRSS() int64 { return statusHWM("/proc/self/status") }

// statusHWM reads VmHWM, the high-water resident set, from a process's
// /proc status file; 0 where there is none (not Linux).
func statusHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

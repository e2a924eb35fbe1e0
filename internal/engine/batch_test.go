package engine

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// sandboxIDs matches the ids the sandbox help desk hands out in the order
// it is asked: a batch asks in no fixed order.
var sandboxIDs = regexp.MustCompile(`customer_ticket/\d+|#\d+`)

func normalized(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = sandboxIDs.ReplaceAllString(l, "customer_ticket/N")
	}
	slices.Sort(out)
	return out
}

// mails puts n support mails at the mailbox and returns their webhooks.
func mails(t *testing.T, w *world, n int) []core.Event {
	var evs []core.Event
	for i := range n {
		evs = append(evs, w.put(t, core.Item{Ref: core.Ref{System: "imap", Kind: core.EmailThread, ID: fmt.Sprintf("<m%d@customer.example>", i)},
			Title: fmt.Sprintf("Invoice %d is empty", i), Body: "The invoice PDF is empty.", Native: "received",
			Reporter: fmt.Sprintf("payer%d@customer.example", i)}, core.Mailed))
	}
	return evs
}

// TestReconcileAll_ABatchEndsAsOneByOne: cases reconciled together, their
// connector calls side by side and their store writes shared, end as they
// do one at a time, with the same writes, and a batch's own writes do not
// queue its cases for another reconcile.
func TestReconcileAll_ABatchEndsAsOneByOne(t *testing.T) {
	m := defaults(t)
	ref := newWorld(t, m)
	ref.submit(t, append(story(t, ref), mails(t, ref, 12)...)...)
	ref.drain(t)
	want, wantKeys := normalized(strings.Split(ref.state(), "\n")), normalized(ref.writeKeys())

	w := newWorld(t, m)
	w.submit(t, append(story(t, w), mails(t, w, 12)...)...)
	ctx := context.Background()
	w.clock.Add(time.Second)
	ids, err := w.st.ClaimCases(ctx, w.eng.o.Owner, w.clock.Now(), 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 13 {
		t.Fatalf("claimed %d cases, want 13 (the story and 12 mails)", len(ids))
	}
	w.eng.ReconcileAll(ctx, ids)
	if again, err := w.st.ClaimCases(ctx, "other", w.clock.Now(), 100, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("after the batch, cases %v (err %v) were due again: its own writes queued them", again, err)
	}
	if got := normalized(strings.Split(w.state(), "\n")); !slices.Equal(got, want) {
		t.Fatalf("state after one batch differs from one by one\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	keys := normalized(w.writeKeys())
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("writes of the batch\n %q\nwant\n %q", keys, wantKeys)
	}
	if n := strings.Count(strings.Join(keys, "\n"), "create|"); n < 12 {
		t.Fatalf("%d creates, want one ticket per mail", n)
	}
}

// TestHold_IngestsButActsOnNothingUntilResume: a held engine makes events
// durable and leaves their cases due; on Resume the workers take them up.
func TestHold_IngestsButActsOnNothingUntilResume(t *testing.T) {
	w := newWorld(t, defaults(t))
	w.eng.o.IdleWait = 5 * time.Millisecond
	w.eng.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	w.submit(t, mails(t, w, 3)...)
	time.Sleep(50 * time.Millisecond)
	if n := len(w.sys["zendesk"].Writes()); n != 0 {
		t.Fatalf("a held engine made %d writes", n)
	}
	if cases, _, err := w.st.QueueDepth(ctx); err != nil || cases != 3 {
		t.Fatalf("queue holds %d cases (err %v), want the 3 mails' cases", cases, err)
	}
	w.eng.Resume()
	deadline := time.Now().Add(10 * time.Second)
	for len(w.sys["zendesk"].Records(core.CustomerTicket)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after Resume, %d of 3 tickets were created", len(w.sys["zendesk"].Records(core.CustomerTicket)))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// heldWrites holds a system's writes of one kind until released, and
// says on entered (when not nil) that one is held.
type heldWrites struct {
	*sandbox.Connector
	kind    core.ActionKind
	release chan struct{}
	entered chan struct{}
}

func (s heldWrites) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Kind == s.kind {
		if s.entered != nil {
			s.entered <- struct{}{}
		}
		select {
		case <-s.release:
		case <-ctx.Done():
			return core.Result{}, ctx.Err()
		}
	}
	return s.Connector.Apply(ctx, a)
}

// TestReconcileAll_ReleasesACaseOnceItIsDone: a case with nothing more to
// do is released while another of its batch still waits on a tracker, so
// its next event is taken up without waiting for the slowest.
func TestReconcileAll_ReleasesACaseOnceItIsDone(t *testing.T) {
	m := defaults(t)
	w := newWorld(t, m)
	slow := heldWrites{w.sys["zendesk"], core.SetFields, make(chan struct{}), nil}
	eng := w.holding(t, slow)
	closed := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4600"}
	w.submit(t, w.put(t, core.Item{Ref: closed, Title: "Thanks, all good", Native: "closed"}, core.Updated))
	w.submit(t, mails(t, w, 1)...)
	ctx := context.Background()
	_, done := w.reconcileDue(t, eng, 2, "the closed ticket's case and the mail's")
	defer func() { close(slow.release); <-done }()

	// The mail's ticket is created, then its triage waits on the help
	// desk; the closed ticket had nothing to do.
	quiet, _ := w.st.CaseOf(ctx, closed)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := w.st.MarkDirty(ctx, quiet, time.Time{}); err != nil {
			t.Fatal(err)
		}
		got, err := w.st.ClaimCases(ctx, "other", w.clock.Now(), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got, quiet) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the closed ticket's case stayed claimed while the rest of its batch waited")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("the batch ended before the held write: the test proves nothing")
	default:
	}
}

// newEngine replaces the world's engine by one made from o, with the
// world's store, mappings, clock, log and systems where o has none.
func (w *world) newEngine(t *testing.T, o Options) *Engine {
	t.Helper()
	if o.Store == nil {
		o.Store = w.st
	}
	if o.Connectors == nil {
		o.Connectors = []core.Connector{w.sys["imap"], w.sys["zendesk"], w.sys["jira"], w.sys["github"]}
	}
	o.Mappings, o.Clock, o.Log, o.CheckSettled = w.eng.Mappings(), w.clock, w.eng.log, true
	eng, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	settledChecked(t, eng)
	w.eng = eng
	return eng
}

// holding replaces the world's engine by one whose help desk is held.
func (w *world) holding(t *testing.T, h heldWrites) *Engine {
	return w.newEngine(t, Options{Connectors: []core.Connector{w.sys["imap"], h, w.sys["jira"], w.sys["github"]}})
}

// reconcileDue claims the cases due a second from now for eng, expecting
// want of them (what), and reconciles them in the background until done
// is closed.
func (w *world) reconcileDue(t *testing.T, eng *Engine, want int, what string) (ids []core.CaseID, done chan struct{}) {
	t.Helper()
	w.clock.Add(time.Second)
	ids, err := w.st.ClaimCases(context.Background(), eng.o.Owner, w.clock.Now(), 10, time.Minute)
	if err != nil || len(ids) != want {
		t.Fatalf("claimed %v (err %v), want %s", ids, err, what)
	}
	done = make(chan struct{})
	go func() { eng.ReconcileAll(context.Background(), ids); close(done) }()
	return ids, done
}

// TestReconcileAll_AnActionInFlightKeepsItsCaseQueued: when a join hands
// one case to two workers of this process, the second finds the first's
// action in flight and leaves it alone. Its release must not take the case
// off the queue: if the process died before the first worker recorded the
// write, no one would ever try the action again (the SIGKILL crash test
// found this as triage transitions left pending with the queue empty).
func TestReconcileAll_AnActionInFlightKeepsItsCaseQueued(t *testing.T) {
	w := newWorld(t, defaults(t))
	held := heldWrites{w.sys["zendesk"], core.Create, make(chan struct{}), make(chan struct{}, 1)}
	eng := w.holding(t, held)
	w.submit(t, mails(t, w, 1)...)
	ctx := context.Background()
	ids, first := w.reconcileDue(t, eng, 1, "the mail's case")
	release := sync.OnceFunc(func() { close(held.release) })
	defer func() { release(); <-first }()
	select {
	case <-held.entered: // the first worker is creating the customer ticket
	case <-time.After(10 * time.Second):
		t.Fatal("the create was never tried")
	}
	// A second worker of the same owner, as after a join, reconciles the
	// same case while the create is in flight.
	eng.ReconcileAll(ctx, ids)
	if cases, actions, err := w.st.QueueDepth(ctx); err != nil || cases != 1 || actions != 1 {
		t.Fatalf("with the create in flight: %d queued cases, %d pending actions (err %v); want 1 and 1", cases, actions, err)
	}
	release()
	<-first
	w.drain(t)
	if cases, actions, err := w.st.QueueDepth(ctx); err != nil || cases != 0 || actions != 0 {
		t.Fatalf("after draining: %d queued cases, %d pending actions (err %v)", cases, actions, err)
	}
	if n := len(w.sys["zendesk"].Writes()); n == 0 {
		t.Fatal("the help desk saw no write")
	}
}

// claimCounter counts the store's claims.
type claimCounter struct {
	core.Store
	claims atomic.Int64
}

func (c *claimCounter) ClaimCases(ctx context.Context, owner string, now time.Time, n int, lease time.Duration) ([]core.CaseID, error) {
	c.claims.Add(1)
	return c.Store.ClaimCases(ctx, owner, now, n, lease)
}

// TestIdle_OneWorkerLooksForDueCases: idle workers look for due cases once
// per IdleWait between them, not once each; a case that comes due with no
// one waking them is still found.
func TestIdle_OneWorkerLooksForDueCases(t *testing.T) {
	w := newWorld(t, defaults(t))
	counter := &claimCounter{Store: w.st}
	w.eng.o.Store = counter
	w.eng.o.IdleWait = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.eng.Run(ctx) }()
	defer func() { cancel(); <-done }()

	const idle = 300 * time.Millisecond
	time.Sleep(idle)
	// 16 workers looking each would make about 480 claims; one, about 30.
	if n := counter.claims.Load(); n > 2*int64(idle/w.eng.o.IdleWait) {
		t.Errorf("%d idle workers made %d claims in %s with IdleWait %s: more than one of them is looking",
			w.eng.o.Workers, n, idle, w.eng.o.IdleWait)
	}

	// A case marked due behind the engine's back (as another replica's
	// ingest would) is found by the looking worker.
	fresh, err := w.st.Ingest(ctx, []core.Ingest{{Event: mails(t, w, 1)[0]}})
	if err != nil || !fresh[0] {
		t.Fatalf("ingest: %v %v", fresh, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(w.sys["zendesk"].Records(core.CustomerTicket)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a due case nobody woke the workers for was not taken up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// loadCounter counts the store's case loads.
type loadCounter struct {
	*store.Store
	loads atomic.Int64
	// delay makes every load take that long, as a reconcile under way
	// does while it waits for a tracker's answers.
	delay time.Duration
}

func (l *loadCounter) LoadCases(ctx context.Context, ids []core.CaseID) ([]*core.Case, error) {
	l.loads.Add(1)
	time.Sleep(l.delay)
	return l.Store.LoadCases(ctx, ids)
}

// run runs eng until the test ends or stop is called, and returns once
// its group committers are up (until then Submit writes directly, and
// hands nothing to the workers).
func run(t *testing.T, eng *Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		if err := eng.Run(ctx); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	for !eng.committing.Load() {
		time.Sleep(time.Millisecond)
	}
	return stop
}

// running starts an engine on the world's store, its loads counted, and
// returns a function that submits one closed help-desk ticket (a case no
// rule acts on) and one that waits until the queue is empty.
func (w *world) running(t *testing.T, linger, loadDelay time.Duration) (lc *loadCounter, submit func(i int), settle func()) {
	t.Helper()
	lc = &loadCounter{Store: w.st, delay: loadDelay}
	eng := w.newEngine(t, Options{Store: lc, Linger: linger})
	run(t, eng)
	ctx := context.Background()
	submit = func(i int) {
		ref := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: fmt.Sprint(7000 + i)}
		ev := core.Event{Source: "zendesk", Via: core.ViaWebhook, Type: core.Created, DeliveryID: fmt.Sprint("linger-", i),
			Item: core.Item{Ref: ref, Title: "Thanks, all good", Native: "closed", UpdatedAt: w.clock.Now()}, At: w.clock.Now()}
		if _, err := eng.Submit(ctx, []core.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	settle = func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			cases, _, err := w.st.QueueDepth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if cases == 0 && eng.Busy() == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d cases still queued", cases)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return lc, submit, settle
}

// TestLinger_CasesComingFastShareAReconcile: cases handed more often than
// once per Linger while others are being reconciled wait for each other
// and are loaded together; the first of them, after a quiet spell, goes
// at once.
func TestLinger_CasesComingFastShareAReconcile(t *testing.T) {
	w := newWorld(t, defaults(t))
	lc, submit, settle := w.running(t, 300*time.Millisecond, 100*time.Millisecond)
	for i := range 9 {
		submit(i)
		time.Sleep(5 * time.Millisecond)
	}
	settle()
	// Without lingering each case is loaded alone: 9 loads.
	if n := lc.loads.Load(); n > 4 {
		t.Fatalf("9 cases arriving 5 ms apart took %d loads, want them to share (at most 4)", n)
	}
}

// TestLinger_ALoneCaseGoesAtOnce: a case that arrives after a quiet spell
// does not wait for others that may never come.
func TestLinger_ALoneCaseGoesAtOnce(t *testing.T) {
	w := newWorld(t, defaults(t))
	lc, submit, _ := w.running(t, 10*time.Second, 0)
	submit(1)
	deadline := time.Now().Add(5 * time.Second)
	for lc.loads.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a lone case waited for others (Linger is 10s)")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// racingStore enqueues, before the engine's first enqueue, that
// enqueue's actions about one subject, as a second worker handed the same
// case by a join would.
type racingStore struct {
	core.Store
	subject core.Ref
	raced   atomic.Bool
}

func (s *racingStore) Enqueue(ctx context.Context, as []core.Action) ([]bool, error) {
	if !s.raced.Swap(true) {
		var theirs []core.Action
		for _, a := range as {
			if a.Subject == s.subject {
				theirs = append(theirs, a)
			}
		}
		if _, err := s.Store.Enqueue(ctx, theirs); err != nil {
			return nil, err
		}
	}
	return s.Store.Enqueue(ctx, as)
}

// TestReconcileAll_ANewActionIsTriedBesideAnotherWorkers: in a batch where
// one case's action was enqueued by another worker meanwhile, which may be
// trying it, the other cases' new actions are still known never tried and
// are sent at once. (They waited a lease and a grace, a minute, as if an
// earlier attempt might still land: under load, a mail's acknowledgement
// came a minute late.)
func TestReconcileAll_ANewActionIsTriedBesideAnotherWorkers(t *testing.T) {
	w := newWorld(t, defaults(t))
	eng := w.newEngine(t, Options{Store: &racingStore{Store: w.st, subject: mailRef(0)}})
	w.submit(t, mails(t, w, 2)...)
	ctx := context.Background()
	w.clock.Add(time.Second)
	ids, err := w.st.ClaimCases(ctx, eng.o.Owner, w.clock.Now(), 10, time.Minute)
	if err != nil || len(ids) != 2 {
		t.Fatalf("claimed %v (err %v), want both mails' cases in one batch", ids, err)
	}
	eng.ReconcileAll(ctx, ids)
	var created []string
	for _, wr := range w.sys["zendesk"].Writes() {
		if wr.Kind == core.Create {
			created = append(created, wr.Key)
		}
	}
	// Mail 0's create is the other worker's to make, or to look up once
	// it can no longer be in flight.
	if len(created) != 1 || !strings.Contains(created[0], mailRef(1).String()) {
		t.Fatalf("tickets created: %q; want mail 1's, at once", created)
	}
}

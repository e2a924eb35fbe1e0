package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/store"
	"github.com/liaisonhq/liaison/mappings"
)

// world is an engine on a real SQLite store with sandbox systems named like
// the real connectors, driven synchronously.
type world struct {
	path  string
	st    *store.Store
	eng   *Engine
	sys   map[string]*sandbox.Connector
	clock *clock.Manual
}

// newWorld starts a world; wrap, when given, stands in for what a system's
// API does around the sandbox's (wrap(name, c) returns the connector the
// engine uses).
func newWorld(t *testing.T, m *core.Mappings, wrap ...func(string, core.Connector) core.Connector) *world {
	t.Helper()
	clock := clock.NewManual(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "l.db")
	st, err := store.Open(context.Background(), "sqlite://"+path, store.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{st: st, path: path, sys: map[string]*sandbox.Connector{}, clock: clock}
	var conns []core.Connector
	for _, name := range []string{"imap", "zendesk", "jira", "github"} {
		c, err := sandbox.New(core.Setup{Name: name, Clock: clock, Log: slog.New(slog.DiscardHandler), Decode: func(v any) error {
			no := false
			v.(*sandbox.Config).Webhooks = &no
			v.(*sandbox.Config).Prefix = map[core.Kind]string{core.DevTicket: "KBOT-"}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		w.sys[name] = c.(*sandbox.Connector)
		for _, f := range wrap {
			c = f(name, c)
		}
		conns = append(conns, c)
	}
	w.eng, err = New(Options{Store: st, Connectors: conns, Mappings: m, Clock: clock, Log: slog.New(slog.DiscardHandler), CheckSettled: true})
	if err != nil {
		t.Fatal(err)
	}
	settledChecked(t, w.eng)
	return w
}

// settledChecked fails the test if eng released a case as settled that
// the store's state plans more for (Options.CheckSettled, which every
// engine of these tests runs with).
func settledChecked(t *testing.T, eng *Engine) {
	t.Cleanup(func() {
		if n := eng.Unsettled(); n > 0 {
			t.Errorf("%d case(s) released as settled plan more from the store", n)
		}
	})
}

func defaults(t *testing.T) *core.Mappings {
	t.Helper()
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (w *world) submit(t *testing.T, evs ...core.Event) {
	t.Helper()
	if _, err := w.eng.Submit(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func (w *world) drain(t *testing.T) {
	t.Helper()
	w.clock.Add(time.Second)
	if _, err := w.eng.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// put changes a record at its source as a person would and returns the
// webhook event the source would send.
func (w *world) put(t *testing.T, it core.Item, typ core.EventType, links ...core.Link) core.Event {
	t.Helper()
	w.clock.Add(time.Second)
	got, err := w.sys[it.Ref.System].Put(context.Background(), it, typ)
	if err != nil {
		t.Fatal(err)
	}
	return core.Event{Source: it.Ref.System, Via: core.ViaWebhook, Type: typ, Item: got, Links: links,
		DeliveryID: fmt.Sprintf("%s@v%d", got.Ref, got.Version), At: w.clock.Now()}
}

func (w *world) comment(t *testing.T, r core.Ref, author, body string, public bool) core.Event {
	t.Helper()
	w.clock.Add(time.Second)
	got, err := w.sys[r.System].Comment(context.Background(), r, author, body, public)
	if err != nil {
		t.Fatal(err)
	}
	// Like a comment webhook: the new comment only.
	last := got.Comments[len(got.Comments)-1]
	return core.Event{Source: r.System, Via: core.ViaWebhook, Type: core.Commented,
		Item:       core.Item{Ref: r, UpdatedAt: got.UpdatedAt, Version: got.Version, Comments: []core.Comment{last}, Seen: []core.EventType{core.Commented}},
		DeliveryID: fmt.Sprintf("%s@v%d", r, got.Version), At: w.clock.Now()}
}

// echoes returns the webhooks the sources would send about the gateway's
// writes since the given write count.
func (w *world) echoes(since map[string]int) []core.Event {
	var out []core.Event
	for name, c := range w.sys {
		ws := c.Writes()
		for _, wr := range ws[since[name]:] {
			it, _ := c.Record(wr.Target)
			out = append(out, core.Event{Source: name, Via: core.ViaWebhook, Type: core.Updated, Item: it,
				DeliveryID: fmt.Sprintf("%s@v%d", it.Ref, it.Version), At: wr.At})
		}
		since[name] = len(ws)
	}
	return out
}

// state is what the systems hold, written the same way for every run.
func (w *world) state() string {
	var lines []string
	for name, c := range w.sys {
		for _, k := range core.Kinds {
			for _, it := range c.Records(k) {
				var cs []string
				for _, cm := range it.Comments {
					cs = append(cs, fmt.Sprintf("[%v %s: %s]", cm.Public, cm.Author, strings.TrimSpace(cm.Body)))
				}
				sort.Strings(cs)
				var fs []string
				for k, v := range it.Fields {
					fs = append(fs, k+"="+v)
				}
				sort.Strings(fs)
				lines = append(lines, fmt.Sprintf("%s %s %q status=%s prio=%s fields=%v comments=%v", name, it.Ref, it.Title, it.Native, it.Priority, fs, cs))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (w *world) writeKeys() []string {
	var keys []string
	for _, c := range w.sys {
		for _, wr := range c.Writes() {
			keys = append(keys, wr.Key)
		}
	}
	sort.Strings(keys)
	return keys
}

// story makes the person side of a support problem at the sources: a bug
// ticket linked by hand to a developer ticket, two pull requests (one
// merged, one abandoned), comments on both tickets. It returns the webhooks
// those changes send, in the order they happened.
var story0 = core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}

func story(t *testing.T, w *world) []core.Event {
	dev := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-88"}
	tk := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "4521"}
	pr1 := core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/app#341"}
	pr2 := core.Ref{System: "github", Kind: core.PullRequest, ID: "acme/app#342"}
	var evs []core.Event
	evs = append(evs, w.put(t, core.Item{Ref: dev, Title: "Reset link gives 500", Native: "In Progress", Priority: "High"}, core.Created))
	evs = append(evs, w.put(t, core.Item{Ref: tk, Title: "Password reset broken", Native: "open", Priority: "high", Labels: []string{"bug"},
		Fields: map[string]string{"org": "customer-corp"}}, core.Created, core.Link{From: tk, To: dev, Role: core.EscalatedTo, Origin: core.Explicit}))
	evs = append(evs, w.put(t, core.Item{Ref: pr1, Title: "KBOT-88: reset tokens in UTC", Native: "open", URL: "https://gh/341"}, core.Opened))
	evs = append(evs, w.put(t, core.Item{Ref: pr2, Title: "KBOT-88: try another approach", Native: "open", URL: "https://gh/342"}, core.Opened))
	evs = append(evs, w.comment(t, dev, "grace", "Root cause: tokens compared in local time.", true))
	evs = append(evs, w.comment(t, tk, "ada@customer.example", "It also happens on mobile.", true))
	evs = append(evs, w.put(t, core.Item{Ref: pr2, Title: "KBOT-88: try another approach", Native: "closed", URL: "https://gh/342"}, core.ClosedUnmerged))
	evs = append(evs, w.put(t, core.Item{Ref: pr1, Title: "KBOT-88: reset tokens in UTC", Native: "merged", URL: "https://gh/341"}, core.Merged))
	return evs
}

// TestReconcile_OrderDoesNotMatter is the level-triggering property: for
// random interleavings of the same deliveries — shuffled, duplicated, with
// the echoes of the gateway's own writes coming back at random times and
// reconciles at random points — the systems end in the same state, and no
// write is ever made twice or caused by an echo.
func TestReconcile_OrderDoesNotMatter(t *testing.T) {
	m := defaults(t)
	ref := newWorld(t, m)
	evs := story(t, ref)
	ref.submit(t, evs...)
	ref.drain(t)
	want, wantKeys := ref.state(), ref.writeKeys()
	if len(wantKeys) < 5 {
		t.Fatalf("the story should need several writes; made %d:\n%s", len(wantKeys), want)
	}
	for _, must := range []string{"KBOT-88 \"Reset link gives 500\" status=Ready for QA", "Developer ticket=KBOT-88",
		"[false liaison: grace commented on KBOT-88", "[true liaison: Reply on help-desk ticket #4521"} {
		if !strings.Contains(want, must) {
			t.Fatalf("reference state lacks %q:\n%s", must, want)
		}
	}

	trials := 25
	if testing.Short() {
		trials = 8
	}
	for trial := 0; trial < trials; trial++ {
		seed := uint64(trial + 1)
		rng := rand.New(rand.NewPCG(seed, seed))
		w := newWorld(t, m)
		evs := story(t, w)
		// Deliver the first two (the tickets) first so cases start alike;
		// shuffle the rest with duplicates.
		queue := slices.Clone(evs[:2])
		rest := slices.Clone(evs[2:])
		for _, i := range rng.Perm(len(rest)) {
			queue = append(queue, rest[i])
			if rng.IntN(3) == 0 {
				queue = append(queue, rest[rng.IntN(len(rest))])
			}
		}
		since := map[string]int{}
		finalOnly := trial%5 == 0
		for len(queue) > 0 {
			n := 1 + rng.IntN(3)
			n = min(n, len(queue))
			w.submit(t, queue[:n]...)
			queue = queue[n:]
			if !finalOnly && rng.IntN(2) == 0 {
				w.drain(t)
				// Echoes of our writes come back later, in any order, some twice.
				for _, e := range w.echoes(since) {
					at := rng.IntN(len(queue) + 1)
					queue = slices.Insert(queue, at, e)
					if rng.IntN(4) == 0 {
						queue = append(queue, e)
					}
				}
			}
		}
		w.drain(t)
		w.submit(t, w.echoes(since)...)
		w.drain(t)
		if got := w.state(); got != want {
			t.Fatalf("trial %d (seed %d): final state differs\n got:\n%s\nwant:\n%s", trial, seed, got, want)
		}
		keys := w.writeKeys()
		if dup := duplicates(keys); len(dup) > 0 {
			t.Fatalf("trial %d: writes made twice: %v", trial, dup)
		}
		// With one reconcile at the end, the writes are exactly those the
		// final state needs; with intermediate reconciles, at most the
		// transitions through states it passed on the way are added.
		if finalOnly && !slices.Equal(keys, wantKeys) {
			t.Fatalf("trial %d: writes\n %q\nwant\n %q", trial, keys, wantKeys)
		}
		for _, k := range keys {
			if !slices.Contains(wantKeys, k) && !strings.HasPrefix(k, "transition|") {
				t.Fatalf("trial %d: write %q is not one the final state needs", trial, k)
			}
		}
	}
}

func duplicates(s []string) []string {
	var out []string
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			out = append(out, s[i])
		}
	}
	return out
}

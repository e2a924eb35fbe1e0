package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/logtest"
)

// intake keeps what the server accepted, in place of the engine.
type intake struct {
	conns map[string]core.Connector
	mu    sync.Mutex
	got   []core.Event
	fail  int // Accept calls still to fail
}

func (in *intake) Accept(_ context.Context, events []core.Event) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.fail > 0 {
		in.fail--
		return errors.New("the store is unreachable")
	}
	in.got = append(in.got, events...)
	return nil
}

func (in *intake) Connector(name string) (core.Connector, bool) {
	c, ok := in.conns[name]
	return c, ok
}

func (in *intake) Store() core.Store { return nil }

func (in *intake) accepted() []core.Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]core.Event(nil), in.got...)
}

const hookSecret = "server-test-secret"

// newServer serves one sandbox instance named "sandbox", a real connector
// that verifies its deliveries' HMAC signatures and fetches nothing.
func newServer(t *testing.T, o Options) (*Server, *intake) {
	t.Helper()
	c, err := sandbox.New(core.Setup{Name: "sandbox", Log: slog.New(slog.DiscardHandler),
		Decode: func(v any) error { v.(*sandbox.Config).WebhookSecretEnv = "HOOK_SECRET"; return nil },
		Env:    func(string) string { return hookSecret }})
	if err != nil {
		t.Fatal(err)
	}
	in := &intake{conns: map[string]core.Connector{"sandbox": c}}
	o.Intake, o.Kinds = in, map[string]string{"sandbox": "sandbox"}
	o.Log = slog.New(slog.DiscardHandler)
	return New(o), in
}

// signedDelivery is a sandbox delivery of a customer ticket, signed.
func signedDelivery(t *testing.T, id string) (body []byte, sig string) {
	t.Helper()
	body, err := json.Marshal(sandbox.Delivery{ID: id, Type: core.Updated,
		Item: core.Item{Ref: core.Ref{System: "sandbox", Kind: core.CustomerTicket, ID: "4521"}, Title: "Cannot log in"}})
	if err != nil {
		t.Fatal(err)
	}
	return body, sandbox.Sign(hookSecret, body)
}

// Whatever instance names requests make up, the refusals count under one
// label: the series of liaison_webhooks_rejected_total stay as many as
// the configuration and the closed set of reasons make.
func TestMadeUpInstanceNamesDoNotGrowTheMetrics(t *testing.T) {
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_webhooks_rejected_total"}, []string{"source", "reason"})
	srv, _ := newServer(t, Options{Rejected: rejected})
	h := srv.Handler()
	post := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader([]byte(`{}`))))
		return rec.Code
	}
	if code := post("/webhooks/jira/made-up"); code != http.StatusNotFound {
		t.Fatalf("unknown instance answered %d, want 404", code)
	}
	before := testutil.CollectAndCount(rejected)
	name := make([]byte, 64)
	for i := range 10_000 {
		for j := range name {
			name[j] = "abcdefghijklmnopqrstuvwxyz0123456789-_"[rand.IntN(38)]
		}
		kind := []string{"jira", "github", "zendesk", "sandbox", string(name[:8])}[i%5]
		if code := post("/webhooks/" + kind + "/" + string(name)); code != http.StatusNotFound {
			t.Fatalf("made-up instance %q answered %d, want 404", name, code)
		}
	}
	if after := testutil.CollectAndCount(rejected); after != before {
		t.Errorf("series after 10,000 made-up names: %d, before: %d", after, before)
	}
	if got := testutil.ToFloat64(rejected.WithLabelValues(unknownSource, "unknown")); got != 10_001 {
		t.Errorf("refusals counted under %q: %v, want 10001", unknownSource, got)
	}
}

// What can be refused before the body is read is: a body that is not
// JSON, a declared length over the limit, an unknown endpoint.
func TestWebhookRefusedBeforeReading(t *testing.T) {
	srv, in := newServer(t, Options{})
	h := srv.Handler()
	body, sig := signedDelivery(t, "d-1")
	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		length int64
		want   int
	}{
		{"form body", "/webhooks/sandbox/sandbox", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, -1, http.StatusUnsupportedMediaType},
		{"declared over the limit", "/webhooks/sandbox/sandbox", http.Header{"Content-Type": {"application/json"}}, core.MaxWebhookBody + 1, http.StatusRequestEntityTooLarge},
		{"kind that is not the instance's", "/webhooks/jira/sandbox", nil, -1, http.StatusNotFound},
		{"signed JSON", "/webhooks/sandbox/sandbox", http.Header{"Content-Type": {"application/json; charset=utf-8"}}, -1, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(body))
			for k, v := range tc.header {
				req.Header[k] = v
			}
			req.Header.Set(sandbox.SignatureHeader, sig)
			if tc.length >= 0 {
				req.ContentLength = tc.length
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("answered %d %q, want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
	if got := in.accepted(); len(got) != 1 {
		t.Errorf("accepted %d events, want the signed one only", len(got))
	}
}

// An accepted event keeps the body as received although the buffer it was
// read into is reused by the next request.
func TestAcceptedEventKeepsItsBodyAfterTheBufferIsReused(t *testing.T) {
	srv, in := newServer(t, Options{})
	h := srv.Handler()
	var sent [][]byte
	for i := range 20 {
		body, sig := signedDelivery(t, fmt.Sprintf("d-%d", i))
		req := httptest.NewRequest(http.MethodPost, "/webhooks/sandbox/sandbox", bytes.NewReader(body))
		req.Header.Set(sandbox.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("delivery %d answered %d %q", i, rec.Code, rec.Body)
		}
		sent = append(sent, body)
	}
	got := in.accepted()
	for i, ev := range got {
		if !bytes.Equal(ev.Raw, sent[i]) {
			t.Errorf("event %d: Raw %q, want %q", i, ev.Raw, sent[i])
		}
	}
}

// A signed delivery sent again is answered without being decoded, once it
// was stored; one refused because it could not be stored is taken when
// its sender retries it.
func TestReplayOfAStoredDeliveryIsANoOp(t *testing.T) {
	replayed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_webhooks_replayed_total"}, []string{"source"})
	srv, in := newServer(t, Options{Replayed: replayed})
	in.fail = 1
	h := srv.Handler()
	body, sig := signedDelivery(t, "d-1")
	send := func() (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/sandbox/sandbox", bytes.NewReader(body))
		req.Header.Set(sandbox.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	for i, want := range []struct {
		code   int
		answer string
	}{
		{http.StatusServiceUnavailable, "temporarily unable to store"},
		{http.StatusOK, `{"accepted":1}`},
		{http.StatusOK, `{"accepted":0}`},
		{http.StatusOK, `{"accepted":0}`},
	} {
		if code, answer := send(); code != want.code || answer != want.answer {
			t.Errorf("send %d: %d %s, want %d %s", i+1, code, answer, want.code, want.answer)
		}
	}
	if got := in.accepted(); len(got) != 1 {
		t.Errorf("accepted %d events, want 1", len(got))
	}
	if got := testutil.ToFloat64(replayed.WithLabelValues("sandbox")); got != 2 {
		t.Errorf("replays counted: %v, want 2", got)
	}
	// The memory of stored deliveries is bounded: the oldest is forgotten.
	for i := range storedKeys {
		srv.replays.remember("sandbox", fmt.Sprint(i))
	}
	if code, answer := send(); code != http.StatusOK || answer != `{"accepted":1}` {
		t.Errorf("once forgotten: %d %s, want it decoded and accepted again", code, answer)
	}
}

// A body of undeclared length (chunked) is read a class at a time within
// the budget, and refused past the limit.
func TestChunkedBodiesAreReadWithinTheLimit(t *testing.T) {
	srv, in := newServer(t, Options{})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	body, _ := signedDelivery(t, "chunked")
	// Pad the JSON to several classes: the sandbox decoder reads one value.
	padded := append(bytes.Clone(body), bytes.Repeat([]byte(" "), 100_000)...)
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{
		{"within the limit", padded, http.StatusOK},
		{"over the limit", append(bytes.Clone(body), bytes.Repeat([]byte(" "), core.MaxWebhookBody)...), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An io.Reader that is not a *bytes.Reader: no declared length.
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/webhooks/sandbox/sandbox", io.MultiReader(bytes.NewReader(tc.body)))
			req.Header.Set(sandbox.SignatureHeader, sandbox.Sign(hookSecret, tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("answered %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if got := in.accepted(); len(got) != 1 || !bytes.Equal(got[0].Raw, padded) {
		t.Errorf("accepted %d events, want the padded one with its body", len(got))
	}
	if n := srv.bodies.inUse(); n != 0 {
		t.Errorf("%d bytes still reserved after the requests", n)
	}
}

// countingListener counts, per connection, the bytes the server has read.
type countingListener struct {
	net.Listener
	mu   sync.Mutex
	read map[string]*atomic.Int64 // by the client's address
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := new(atomic.Int64)
	l.mu.Lock()
	l.read[c.RemoteAddr().String()] = n
	l.mu.Unlock()
	return countingConn{c, n}, nil
}

func (l *countingListener) readFrom(client string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.read[client]; n != nil {
		return n.Load()
	}
	return 0
}

// heldMemory is the memory the Go runtime holds from the system (mapped
// and not returned), which is what the process's RSS is made of.
func heldMemory() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// 250 connections each send an unsigned 5 MiB body but its last byte, and
// hold it open. The bodies in flight stay within their budget: the process
// (server and these clients together) holds less than 300 MiB, and a
// signed webhook sent meanwhile is still accepted. Without the budget each
// handler would hold its whole body: 1.25 GiB.
func TestAbusiveBodiesStayWithinMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 1.25 GiB over loopback")
	}
	const conns, size = 250, core.MaxWebhookBody
	const limit = 300 << 20
	srv, in := newServer(t, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln, read: map[string]*atomic.Int64{}}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(cl)
	defer hs.Close()
	addr := ln.Addr().String()

	legit := func(id string) (int, time.Duration) {
		body, sig := signedDelivery(t, id)
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/sandbox/sandbox", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(sandbox.SignatureHeader, sig)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("signed webhook: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	if code, _ := legit("warm-up"); code != http.StatusOK {
		t.Fatalf("signed webhook before the abuse answered %d", code)
	}
	_, quiet := legit("before")

	peak := heldMemory()
	stopSampling := make(chan struct{})
	sampled := make(chan uint64)
	go func() {
		top := peak
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				top = max(top, heldMemory())
			case <-stopSampling:
				sampled <- max(top, heldMemory())
				return
			}
		}
	}()

	noise := bytes.Repeat([]byte("x"), size-1)
	type attacker struct {
		conn     net.Conn
		written  int64 // bytes the server must read, headers included
		answered atomic.Bool
	}
	attackers := make([]*attacker, conns)
	var wg sync.WaitGroup
	for i := range attackers {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		a := &attacker{conn: c}
		attackers[i] = a
		defer c.Close()
		go func() {
			// Whatever comes back (a refusal, a reset) means the server
			// is done with the connection.
			io.ReadAll(c)
			a.answered.Store(true)
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			head := fmt.Sprintf("POST /webhooks/sandbox/sandbox HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, size)
			if _, err := io.WriteString(c, head); err != nil {
				return
			}
			if _, err := c.Write(noise); err != nil {
				return
			}
			a.written = int64(len(head) + len(noise))
		}()
	}
	wg.Wait()
	// Every connection is either answered or has all it sent read by the
	// server, which then waits for the last byte.
	deadline := time.Now().Add(time.Minute)
	for _, a := range attackers {
		for !a.answered.Load() && cl.readFrom(a.conn.LocalAddr().String()) < a.written {
			if time.Now().After(deadline) {
				t.Fatal("the server neither answered nor read the bodies sent")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	code, during := legit("during")
	close(stopSampling)
	peak = <-sampled
	held := 0
	for _, a := range attackers {
		if !a.answered.Load() {
			held++
		}
	}
	t.Logf("bodies held open: %d of %d; peak memory held from the system: %d MiB; signed webhook answered in %v (%v before the abuse)",
		held, conns, peak>>20, during.Round(time.Microsecond), quiet.Round(time.Microsecond))
	if code != http.StatusOK {
		t.Errorf("signed webhook during the abuse answered %d, want 200", code)
	}
	if peak >= limit {
		t.Errorf("peak memory %d MiB, want under %d MiB", peak>>20, limit>>20)
	}
	if got := in.accepted(); len(got) != 3 || got[2].DeliveryID != "during" {
		t.Errorf("accepted %d events, want the three signed ones", len(got))
	}
}

// countingReceiver counts a receiver's signature checks and what
// ReceiveWebhook was told of them.
type countingReceiver struct {
	*sandbox.Connector
	mu               sync.Mutex
	verified, toldOK int
}

func (c *countingReceiver) VerifyWebhook(req core.WebhookRequest) (string, error) {
	c.mu.Lock()
	c.verified++
	c.mu.Unlock()
	return c.Connector.VerifyWebhook(req)
}

func (c *countingReceiver) ReceiveWebhook(ctx context.Context, req core.WebhookRequest) ([]core.Event, error) {
	if req.Verified {
		c.mu.Lock()
		c.toldOK++
		c.mu.Unlock()
	}
	return c.Connector.ReceiveWebhook(ctx, req)
}

// A delivery's signature is computed once: the server's check tells the
// receiver it passed. A forged one is refused without reaching it.
func TestSignatureIsCheckedOncePerDelivery(t *testing.T) {
	srv, in := newServer(t, Options{})
	rc := &countingReceiver{Connector: in.conns["sandbox"].(*sandbox.Connector)}
	in.conns["sandbox"] = rc
	h := srv.Handler()
	body, sig := signedDelivery(t, "d-once")
	for _, tc := range []struct {
		sig  string
		code int
	}{{sig, http.StatusOK}, {"sha256=" + strings.Repeat("0", 64), http.StatusUnauthorized}} {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/sandbox/sandbox", bytes.NewReader(body))
		req.Header.Set(sandbox.SignatureHeader, tc.sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("signature %.12s…: %d, want %d", tc.sig, rec.Code, tc.code)
		}
	}
	if rc.verified != 2 || rc.toldOK != 1 {
		t.Errorf("verified %d times, receiver told once verified %d times; want 2 and 1", rc.verified, rc.toldOK)
	}
	if got := in.accepted(); len(got) != 1 {
		t.Errorf("accepted %d events, want 1", len(got))
	}
}

// panickyReceiver panics on its first delivery, once in its signature
// check and once in its decoding, quoting the body as a careless
// connector might.
type panickyReceiver struct {
	*sandbox.Connector
	inVerify bool
	tripped  atomic.Bool
}

func (p *panickyReceiver) VerifyWebhook(req core.WebhookRequest) (string, error) {
	if p.inVerify && !p.tripped.Swap(true) {
		panic("cannot verify " + string(req.Body))
	}
	return p.Connector.VerifyWebhook(req)
}

func (p *panickyReceiver) ReceiveWebhook(ctx context.Context, req core.WebhookRequest) ([]core.Event, error) {
	if !p.inVerify && !p.tripped.Swap(true) {
		var fields map[string]string
		fields["body"] = string(req.Body) // a nil map: the runtime panics
	}
	return p.Connector.ReceiveWebhook(ctx, req)
}

// A connector that panics on a delivery refuses that delivery with a 500
// and one log line with the stack, never the body; the next delivery is
// served as usual.
func TestAConnectorThatPanicsOnADeliveryRefusesItAlone(t *testing.T) {
	for _, inVerify := range []bool{true, false} {
		var log logtest.Buffer
		rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_webhooks_rejected_total"}, []string{"source", "reason"})
		srv, in := newServer(t, Options{Rejected: rejected})
		srv.o.Log = slog.New(slog.NewTextHandler(&log, nil))
		in.conns["sandbox"] = &panickyReceiver{Connector: in.conns["sandbox"].(*sandbox.Connector), inVerify: inVerify}
		h := srv.Handler()
		var codes []int
		for _, id := range []string{"d-panics", "d-after"} {
			body, sig := signedDelivery(t, id)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/sandbox/sandbox", bytes.NewReader(body))
			req.Header.Set(sandbox.SignatureHeader, sig)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			codes = append(codes, rec.Code)
		}
		if codes[0] != http.StatusInternalServerError || codes[1] != http.StatusOK {
			t.Errorf("in verify %v: answers %v, want 500 then 200", inVerify, codes)
		}
		if got := in.accepted(); len(got) != 1 || got[0].DeliveryID != "d-after" {
			t.Errorf("in verify %v: accepted %+v, want only d-after", inVerify, got)
		}
		if n := testutil.ToFloat64(rejected.WithLabelValues("sandbox", "panic")); n != 1 {
			t.Errorf("in verify %v: %v refusals counted as panic, want 1", inVerify, n)
		}
		out := log.String()
		if !strings.Contains(out, "connector failed on it") || !strings.Contains(out, "panickyReceiver") {
			t.Errorf("in verify %v: log lacks the refusal or its stack:\n%s", inVerify, out)
		}
		if strings.Contains(out, "Cannot log in") || strings.Contains(out, "4521") {
			t.Errorf("in verify %v: the log quotes the body:\n%s", inVerify, out)
		}
	}
}

package console

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// benchCases is how many cases the benchmarks' store holds: a customer
// ticket escalated to a developer ticket in each, 200,000 records.
const benchCases = 100_000

var benchWords = []string{"export", "login", "invoice", "reset", "upload", "report", "timeout", "search", "billing", "sync"}

// fillBench stores benchCases cases, in batches as a busy intake would.
func fillBench(b *testing.B, st *store.Store) {
	b.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	const batch = 1000
	for start := 0; start < benchCases; start += batch {
		in := make([]core.Ingest, 0, 2*batch)
		for i := start; i < start+batch; i++ {
			ticket := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: strconv.Itoa(10_000 + i)}
			issue := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-" + strconv.Itoa(i+1)}
			w := benchWords[i%len(benchWords)]
			t := at.Add(time.Duration(i) * time.Second)
			in = append(in,
				core.Ingest{Event: core.Event{Source: "zendesk", DeliveryID: "t" + ticket.ID, Via: core.ViaWebhook, Type: core.Created, At: t,
					Item: core.Item{Ref: ticket, Title: fmt.Sprintf("Customer %d: %s fails with error %d", i, w, 500+i%7),
						Reporter: fmt.Sprintf("user%d@customer%d.example", i, i%500), Native: "open", UpdatedAt: t}}},
				core.Ingest{Event: core.Event{Source: "jira", DeliveryID: "i" + issue.ID, Via: core.ViaWebhook, Type: core.Created, At: t,
					Item:  core.Item{Ref: issue, Title: fmt.Sprintf("%s breaks for customer %d", w, i), Native: "In Progress", UpdatedAt: t},
					Links: []core.Link{{From: ticket, To: issue, Role: core.EscalatedTo, Origin: core.Ours}}}})
		}
		if _, err := st.Ingest(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
}

// sqliteBench opens a SQLite store in the benchmark's folder and fills it.
// A benchmark that runs sub-benchmarks runs once, so this fills once.
func sqliteBench(b *testing.B) *store.Store {
	b.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	start := time.Now()
	fillBench(b, st)
	b.Logf("sqlite: %d cases stored in %s", benchCases, time.Since(start).Round(time.Second))
	return st
}

// benchSchema is the PostgreSQL schema the benchmark keeps its 100,000
// cases in between runs: filling it takes minutes, so a run reuses a
// filled one.
const benchSchema = "liaison_console_bench"

func postgresBench(b *testing.B) *store.Store {
	b.Helper()
	base := os.Getenv("LIAISON_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("PostgreSQL unreachable and CI=true: %v", err)
		}
		b.Skipf("PostgreSQL unreachable (set LIAISON_TEST_POSTGRES to run this benchmark): %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+benchSchema); err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", benchSchema)
	u.RawQuery = q.Encode()
	st, err := store.Open(context.Background(), u.String(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	last := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-" + strconv.Itoa(benchCases)}
	if _, err := st.CaseOf(context.Background(), last); err != nil {
		start := time.Now()
		fillBench(b, st)
		b.Logf("postgres: %d cases stored in %s", benchCases, time.Since(start).Round(time.Second))
	}
	// Statistics as autovacuum would have them by now: a fill of minutes
	// outruns it, and a planner without them walks the wrong index.
	actx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := conn.Exec(actx, "ANALYZE "+benchSchema+".items, "+benchSchema+".item_search, "+benchSchema+".links, "+
		benchSchema+".inbox, "+benchSchema+".outbox, "+benchSchema+".audit"); err != nil {
		b.Fatal(err)
	}
	return st
}

// benchConsole is a console on st and a signed-in viewer's cookie.
func benchConsole(b *testing.B, st *store.Store) (http.Handler, *http.Cookie) {
	b.Helper()
	users, err := NewUsers(viewerAccount)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Options{Records: st, Users: users})
	if err != nil {
		b.Fatal(err)
	}
	v, err := c.seal(sessionCookie, session{Name: viewerAccount.Name, Role: Viewer, Expires: time.Now().Add(time.Hour).Unix(), Nonce: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return c.Handler(), &http.Cookie{Name: sessionCookie, Value: v}
}

// measure serves one request per iteration, each from next, and reports
// the server-side latency's median and 99th percentile in milliseconds.
// Every answer must hold want (a page that found nothing would be fast
// for the wrong reason).
func measure(b *testing.B, h http.Handler, ck *http.Cookie, want string, next func(i int) string) {
	b.Helper()
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest(http.MethodGet, next(i), nil)
		req.AddCookie(ck)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		took = append(took, time.Since(start))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			b.Fatalf("GET %s: %d, without %q", req.URL, rec.Code, want)
		}
	}
	b.StopTimer()
	slices.Sort(took)
	at := func(p float64) float64 { return float64(took[int(p*float64(len(took)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func benchPages(b *testing.B, open func(*testing.B) *store.Store) {
	st := open(b)
	h, ck := benchConsole(b, st)
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func() int { return rnd.IntN(benchCases) }
	b.Run("case", func(b *testing.B) {
		measure(b, h, ck, `<tr class="record`, func(int) string {
			return "/case?ref=" + url.QueryEscape("zendesk/customer_ticket/"+strconv.Itoa(10_000+pick()))
		})
	})
	searches := map[string]func() string{
		"ticket-number": func() string { return strconv.Itoa(10_000 + pick()) },
		"issue-key":     func() string { return "kbot-" + strconv.Itoa(pick()+1) },
		"email":         func() string { n := pick(); return fmt.Sprintf("user%d@customer%d.example", n, n%500) },
		"title-words":   func() string { return benchWords[pick()%len(benchWords)] + " fails" },
		"no-match":      func() string { return "nothing matches this " + strconv.Itoa(pick()) },
	}
	for _, name := range []string{"ticket-number", "issue-key", "email", "title-words", "no-match"} {
		b.Run("search-"+name, func(b *testing.B) {
			want := `class="hit"`
			if name == "no-match" {
				want = `id="none"`
			}
			measure(b, h, ck, want, func(int) string { return "/search?q=" + url.QueryEscape(searches[name]()) })
		})
	}
}

// BenchmarkPages_SQLite and BenchmarkPages_Postgres time the case page
// and the search, server-side, on a store of 100,000 cases:
//
//	go test -run '^$' -bench Pages -benchtime 400x ./internal/console/
func BenchmarkPages_SQLite(b *testing.B)   { benchPages(b, sqliteBench) }
func BenchmarkPages_Postgres(b *testing.B) { benchPages(b, postgresBench) }

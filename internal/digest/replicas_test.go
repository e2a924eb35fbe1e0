package digest_test

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/digest"
	"github.com/liaisonhq/liaison/internal/digest/digesttest"
	"github.com/liaisonhq/liaison/internal/loadtest"
	"github.com/liaisonhq/liaison/internal/notify"
	"github.com/liaisonhq/liaison/internal/store"
)

// TestScheduler_TwoReplicasSendOnce: two replicas, each with its own
// handle on one database, check the schedule at the same moments, many
// times and at once; each organisation gets its digest once. After the
// first replica's lease has expired, the second finds the cursors moved
// and sends nothing; nor do two replicas started afresh (a restart).
func TestScheduler_TwoReplicasSendOnce(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "digest.db") }},
		{"postgres", postgresSchema},
	} {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			clock := &manualClock{t: utc(23, 7, 0)}
			open := seededDatabase(t, db.dsn(t), clock)
			m := defaults(t)
			mb := &mailbox{}
			replicas := func() []*digest.Scheduler {
				a, b := scheduler(open(), mb, clock, m), scheduler(open(), mb, clock, m)
				b.Owner = "replica-b"
				return []*digest.Scheduler{a, b}
			}
			rs := replicas()
			rs[0].Tick(ctx) // the organisations' cursors start at 2026-W46
			race := func(at time.Time, rs []*digest.Scheduler) {
				t.Helper()
				clock.Set(at)
				var wg sync.WaitGroup
				for _, s := range rs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range 20 {
							if _, err := s.Tick(ctx); err != nil {
								t.Errorf("tick: %v", err)
								return
							}
						}
					}()
				}
				wg.Wait()
			}
			race(utc(23, 8, 0), rs)
			want := []string{
				"it-lead@acme.example,cto@acme.example: Support digest for Acme Corp, week 2026-W47",
				"ops@globex.example: Support digest for Globex, week 2026-W47",
			}
			if got := mb.take(); !slices.Equal(sorted(got), want) {
				t.Fatalf("sent %q; want each organisation once: %q", got, want)
			}
			race(utc(23, 8, 11), rs) // the lease has expired
			race(utc(23, 9, 0), replicas())
			if got := mb.take(); len(got) != 0 {
				t.Fatalf("sent again: %q", got)
			}
		})
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

// seededDatabase seeds the database at dsn with the digest's week and
// returns how a replica opens its own handle on it.
func seededDatabase(t *testing.T, dsn string, clock core.Clock) func() *store.Store {
	ctx := context.Background()
	open := func() *store.Store {
		st, err := store.Open(ctx, dsn, store.Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	if err := digesttest.Seed(ctx, open()); err != nil {
		t.Fatal(err)
	}
	return open
}

// postgresSchema is a DSN for a schema of the test's own on the test
// server (LIAISON_TEST_POSTGRES, or the one CI provides), dropped when
// the test ends. Without a server the test skips, except under CI=true.
func postgresSchema(t *testing.T) string {
	base := cmp.Or(os.Getenv("LIAISON_TEST_POSTGRES"), "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable and CI=true: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (set LIAISON_TEST_POSTGRES to run this test): %v", err)
	}
	conn.Close(ctx)
	dsn, drop, err := loadtest.PostgresSchema(ctx, base, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop(context.Background()) })
	return dsn
}

// TestScheduler_OrganisationTimeZone: an organisation with its own
// calendar in the mappings gets its digest at the scheduled time in its
// time zone: Monday 08:00 in New York is 13:00 UTC.
func TestScheduler_OrganisationTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	ctx := context.Background()
	st := seeded(t)
	m := defaults(t)
	for _, s := range m.SLAs {
		s.Calendars = map[string]*core.Calendar{"globex": {Name: "globex", Location: ny}}
	}
	mb := &mailbox{}
	clock := &manualClock{t: utc(23, 7, 0)}
	s := scheduler(st, mb, clock, m)
	for _, tc := range []struct {
		at   time.Time
		want []string
	}{
		{utc(23, 7, 0), nil},
		{utc(23, 8, 0), []string{"it-lead@acme.example,cto@acme.example: Support digest for Acme Corp, week 2026-W47"}},
		{utc(23, 12, 59), nil},
		{utc(23, 13, 0), []string{"ops@globex.example: Support digest for Globex, week 2026-W47"}},
	} {
		clock.Set(tc.at)
		if _, err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if got := mb.take(); !slices.Equal(got, tc.want) {
			t.Fatalf("at %s sent %q; want %q", tc.at.Format(time.RFC3339), got, tc.want)
		}
	}
}

// slowMailbox takes a while per mail: the clock moves on by each mail's
// duration, and during a mail whose number is in during, other runs.
type slowMailbox struct {
	*mailbox
	clock  *manualClock
	each   time.Duration
	calls  int
	during map[int]func()
}

func (m *slowMailbox) Mail(ctx context.Context, x notify.Mail) error {
	m.calls++
	m.clock.Set(m.clock.Now().Add(m.each))
	if f := m.during[m.calls]; f != nil {
		f()
	}
	return m.mailbox.Mail(ctx, x)
}

// TestScheduler_SlowBatchKeepsTheLease: a replica whose mails take six
// minutes each outlasts one ten-minute lease over two organisations. The
// other replica, checking while the second mail is on its way, finds the
// lease still held (renewed before each mail) and sends nothing.
func TestScheduler_SlowBatchKeepsTheLease(t *testing.T) {
	ctx := context.Background()
	clock := &manualClock{t: utc(23, 7, 0)}
	open := seededDatabase(t, "sqlite://"+filepath.Join(t.TempDir(), "digest.db"), clock)
	m := defaults(t)
	mb := &mailbox{}
	b := scheduler(open(), mb, clock, m)
	b.Owner = "replica-b"
	var duringB int
	slow := &slowMailbox{mailbox: mb, clock: clock, each: 6 * time.Minute, during: map[int]func(){2: func() {
		n, err := b.Tick(ctx)
		if err != nil {
			t.Errorf("replica b: %v", err)
		}
		duringB = n
	}}}
	a := scheduler(open(), slow, clock, m)
	if _, err := a.Tick(ctx); err != nil { // the organisations' cursors start at 2026-W46
		t.Fatal(err)
	}
	clock.Set(utc(23, 8, 0))
	if n, err := a.Tick(ctx); err != nil || n != 2 {
		t.Fatalf("replica a sent %d (%v); want 2", n, err)
	}
	if got := sorted(mb.take()); duringB != 0 || len(got) != 2 {
		t.Fatalf("sent %q (replica b %d); want each organisation once, by replica a", got, duringB)
	}
}

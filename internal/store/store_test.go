package store

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// backends runs a test against a fresh store on each backend.
func backends(t *testing.T, run func(t *testing.T, s *Store, clock *testClock)) {
	t.Run("sqlite", func(t *testing.T) {
		c := &testClock{now: workloadEpoch}
		run(t, openSQLiteTest(t, c), c)
	})
	t.Run("postgres", func(t *testing.T) {
		c := &testClock{now: workloadEpoch}
		run(t, openPostgresTest(t, c), c)
	})
}

type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

func TestOpen_DSNForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct {
		dsn     string
		file    string // created by a good DSN
		wantErr string // in a bad DSN's error
	}{
		{dsn: "sqlite://rel.db", file: filepath.Join(dir, "rel.db")},
		{dsn: "sqlite:plain.db", file: filepath.Join(dir, "plain.db")},
		{dsn: "sqlite://" + filepath.Join(dir, "abs.db"), file: filepath.Join(dir, "abs.db")},
		{dsn: "sqlite::memory:"},
		{dsn: "sqlite://", wantErr: "names no file"},
		{dsn: "sqlite://x.db?_pragma=foo", wantErr: "no query parameters"},
		{dsn: "mysql://root:hunter2@db/liaison", wantErr: `unknown dsn scheme "mysql"`},
		{dsn: "liaison.db", file: filepath.Join(dir, "liaison.db")},
		{dsn: filepath.Join(dir, "bare-abs.db"), file: filepath.Join(dir, "bare-abs.db")},
	} {
		t.Run(c.dsn, func(t *testing.T) {
			s, err := Open(context.Background(), c.dsn, Options{})
			if c.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatalf("Open(%q) succeeded", c.dsn)
				}
				if !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Open(%q) = %v, want an error about %q", c.dsn, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", c.dsn, err)
			}
			defer s.Close()
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			if c.file != "" {
				if _, err := os.Stat(c.file); err != nil {
					t.Fatalf("Open(%q) made no %s: %v", c.dsn, c.file, err)
				}
			}
		})
	}
}

func TestOpen_MemoryLeavesNothingBehind(t *testing.T) {
	s, err := Open(context.Background(), "sqlite::memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := s.be.(*sqliteBackend).tempDir
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("temporary folder: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Close left %s behind: %v", dir, err)
	}
}

// TestErrors_NeverCarryCredentialsOrBodies: a DSN's password, a webhook
// body and a header value never appear in what the store returns.
func TestErrors_NeverCarryCredentialsOrBodies(t *testing.T) {
	const secret = "s3cr3t-Pa55word"
	var errs []error
	// A password in a DSN the store cannot use.
	_, err := Open(context.Background(), "postgres://liaison:"+secret+"@127.0.0.1:1/liaison?sslmode=disable&connect_timeout=1", Options{})
	errs = append(errs, err)
	_, err = Open(context.Background(), "postgres://liaison:"+secret+"@[::1/x", Options{})
	errs = append(errs, err)
	_, err = Open(context.Background(), "mysql://liaison:"+secret+"@db/x", Options{})
	errs = append(errs, err)
	// A webhook body in an event the store refuses.
	s := openSQLiteTest(t, core.SystemClock{})
	bad := core.Event{Source: "github", Raw: []byte(`{"token":"` + secret + `"}`),
		Item: core.Item{Ref: core.Ref{System: "github", Kind: core.PullRequest, ID: "1"}, Title: secret}}
	_, err = s.Ingest(context.Background(), []core.Ingest{{Event: bad}})
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("case %d: error carries the secret: %v", i, err)
		}
	}
}

func TestRaw_BodyComesBackAsReceivedUntilPruned(t *testing.T) {
	w := loadWorkload(t, 10)
	backends(t, func(t *testing.T, s *Store, clock *testClock) {
		ctx := context.Background()
		batch := w.batch("raw", 0, 3)
		batch = append(batch, core.Ingest{Event: core.Event{Source: "zendesk", DeliveryID: "small", Raw: []byte(`{"id":1}`),
			Item: core.Item{Ref: core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "1"}}}})
		if _, err := s.Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, in := range batch {
			raw, err := s.Raw(ctx, in.Event.Source, in.Event.DeliveryID)
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != string(in.Event.Raw) {
				t.Fatalf("raw body of %q differs: %d bytes, want %d", in.Event.DeliveryID, len(raw), len(in.Event.Raw))
			}
		}
		// A body an earlier version stored deflated reads back as well.
		old := batch[1].Event
		var deflated bytes.Buffer
		fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
		fw.Write(old.Raw)
		fw.Close()
		if err := s.be.write(ctx, true, func(q querier) error {
			_, err := q.exec(ctx, `UPDATE inbox SET raw = $1, raw_encoding = 'deflate' WHERE source = $2 AND delivery_id = $3`, deflated.Bytes(), old.Source, old.DeliveryID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if raw, err := s.Raw(ctx, old.Source, old.DeliveryID); err != nil || !bytes.Equal(raw, old.Raw) {
			t.Fatalf("a deflated body read back as %d bytes, %v; want its %d", len(raw), err, len(old.Raw))
		}
		if _, err := s.Raw(ctx, "github", "never"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Raw of an unknown delivery: %v", err)
		}
		clock.now = clock.now.Add(8 * 24 * time.Hour)
		n, err := s.PruneExpired(ctx)
		if err != nil || n != int64(len(batch)) {
			t.Fatalf("PruneExpired = %d, %v; want %d bodies", n, err, len(batch))
		}
		if raw, err := s.Raw(ctx, batch[0].Event.Source, batch[0].Event.DeliveryID); err != nil || raw != nil {
			t.Fatalf("Raw after prune = %d bytes, %v; want none", len(raw), err)
		}
	})
}

// TestMigrate_FromVersion1BackfillsKinds opens a database at schema
// version 1 with records in it, then with this binary's migrations.
func TestMigrate_FromVersion1BackfillsKinds(t *testing.T) {
	for _, c := range []struct {
		name   string
		dsn    func(t *testing.T) string
		schema fs.FS
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "v1.db") }, sqliteMigrations},
		{"postgres", func(t *testing.T) string { return testSchema(t) }, postgresMigrations},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := c.dsn(t)
			v1, err := fs.ReadFile(c.schema, "0001_init.sql")
			if err != nil {
				t.Fatal(err)
			}
			old, err := open(ctx, dsn, Options{}, fstest.MapFS{"0001_init.sql": {Data: v1}})
			if err != nil {
				t.Fatal(err)
			}
			for _, ref := range []string{"jira/dev_ticket/KBOT-1", "github/pull_request/acme/kbot#1"} {
				if _, err := old.be.writeOne(ctx, true, `INSERT INTO items (ref, case_id, snapshot, updated_at) VALUES ($1, 1, $2, 5)`,
					ref, `{"ref":{"System":"`+strings.Split(ref, "/")[0]+`"}}`); err != nil {
					t.Fatal(err)
				}
			}
			old.Close()
			s, err := Open(ctx, dsn, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if v, err := s.SchemaVersion(ctx); err != nil || v < 2 {
				t.Fatalf("SchemaVersion = %d, %v", v, err)
			}
			its, err := s.Records(ctx, core.Selector{System: "github", Kind: core.PullRequest}, time.Time{}, 10)
			if err != nil || len(its) != 1 {
				t.Fatalf("Records after the upgrade = %v, %v; want the pull request", its, err)
			}
		})
	}
}

func TestMigrate_RefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "newer.db")
	s, err := Open(context.Background(), "sqlite://"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.be.writeOne(context.Background(), true, `INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'from_the_future', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(context.Background(), "sqlite://"+path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Open of a newer schema = %v, want a refusal", err)
	}
}

func TestMigrations_AreNumberedOnceAndAlike(t *testing.T) {
	lite, err := migrations(sqliteMigrations)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrations(postgresMigrations)
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones: each change needs both", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].version != i+1 || lite[i].name != pg[i].name {
			t.Fatalf("migration %d: %q (v%d) and %q: want versions 1, 2, … named alike", i, lite[i].name, lite[i].version, pg[i].name)
		}
	}
	if _, err := migrations(fstest.MapFS{"init.sql": {}}); err == nil {
		t.Fatal("a migration without a number was accepted")
	}
	if _, err := migrations(fstest.MapFS{"0001_a.sql": {}, "0001_b.sql": {}}); err == nil {
		t.Fatal("two migrations with one number were accepted")
	}
}

func FuzzRawRoundTrip(f *testing.F) {
	for _, name := range []string{"pull_request-opened.json", "webhook-issue_updated-status-todo-to-inprogress.json", "api-ticket-create-response-with-audit.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		stored, enc := encodeRaw(raw)
		back, err := decodeRaw(stored, enc)
		if err != nil {
			t.Fatal(err)
		}
		if string(back) != string(raw) {
			t.Fatalf("%d bytes came back as %d (%s)", len(raw), len(back), enc)
		}
		if len(raw) >= minRawCompress && len(stored) > len(raw) {
			t.Fatalf("stored form of %d bytes grew to %d", len(raw), len(stored))
		}
	})
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"jira/dev_ticket/KBOT-88", "github/pull_request/acme/kbot#341", "imap/email_thread/<a/b@c>", "x/y/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRef(s)
		if err != nil {
			return
		}
		if r.String() != s {
			t.Fatalf("parseRef(%q) = %#v, which prints as %q", s, r, r.String())
		}
	})
}

// TestEncodeRaw: what S2 shrinks is stored compressed; what it cannot
// (small, or compressed already) is stored as it came.
func TestEncodeRaw(t *testing.T) {
	pr, err := os.ReadFile(filepath.Join("testdata", "pull_request-opened.json"))
	if err != nil {
		t.Fatal(err)
	}
	// An upload or a compressed body: bytes S2 cannot shrink.
	noise := make([]byte, 2*probeMin)
	rand.NewChaCha8([32]byte{1}).Read(noise)
	for _, c := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"small", pr[:minRawCompress-1], rawPlain},
		{"webhook JSON", pr, rawS2},
		{"incompressible", noise, rawPlain},
	} {
		stored, enc := encodeRaw(c.raw)
		back, err := decodeRaw(stored, enc)
		if enc != c.want || err != nil || !bytes.Equal(back, c.raw) {
			t.Errorf("%s: encoding %q (want %q), round trip %v equal=%v", c.name, enc, c.want, err, bytes.Equal(back, c.raw))
		}
	}
}

package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/liaisonhq/liaison/connectors/github/fake"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
)

// fuzzConnector is a connector on a fake that knows the testdata's pull
// request, so that pull request deliveries complete.
func fuzzConnector(tb testing.TB) *Connector {
	gh := fake.New(fake.WithToken(testToken))
	b := readTestdata(tb, "pull_request-opened.json")
	if err := gh.ImportPR(b); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(gh)
	tb.Cleanup(srv.Close)
	c, err := newConnector(setup("github", "base_url: "+srv.URL+"\ntoken_env: GH_TOKEN\nwebhook_secret_env: GH_SECRET\n"+testdataRepos, clock.NewManual(time.Now()), &bytes.Buffer{}), fastRetries)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// FuzzWebhook feeds arbitrary signed bodies, under every event name the
// testdata has, to ReceiveWebhook: it never panics, fails only with
// *core.BadInput, and every event it returns names a pull request of a
// configured repository under the delivery's id.
func FuzzWebhook(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		f.Add(eventOf(file), readTestdata(f, filepath.Base(file)))
	}
	f.Add("pull_request_review", []byte(`{"action":"submitted","review":{"state":"approved"},"pull_request":{"number":2,"head":{"ref":"x","sha":"ec26c3e57ca3a959ca5aad62de7213c562f8c821"}},"repository":{"full_name":"Codertocat/Hello-World"}}`))
	f.Add("push", []byte(`{"ref":"refs/heads/changes","repository":{"full_name":"Codertocat/Hello-World"},"commits":[{"id":"1","message":"KBOT-1"}]}`))
	c := fuzzConnector(f)
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		req := webhook(event, "fuzz-1", body)
		evs, err := c.ReceiveWebhook(t.Context(), req)
		c.drainLater(t.Context(), discard{}) // the reads it deferred, never panicking either
		var bad *core.BadInput
		if err != nil && !errors.As(err, &bad) {
			if !eventNameRe.MatchString(event) {
				t.Fatalf("a bad event name gave %v, not *core.BadInput", err)
			}
			// A well-formed delivery may fail only on the API (temporary).
			if perm, _ := core.Classify(err); perm {
				t.Fatalf("permanent error from a delivery: %v", err)
			}
		}
		for _, e := range evs {
			if e.Source != "github" || !strings.HasPrefix(e.DeliveryID, "fuzz-1") || e.Item.Ref.System != "github" ||
				e.Item.Ref.Kind != core.PullRequest || !strings.Contains(e.Item.Ref.ID, "#") || len(e.Item.Seen) == 0 {
				t.Fatalf("event %+v", e)
			}
			if _, ok := c.repoOf(e.Item.Fields["repo"]); e.Item.Title != "" && !ok {
				t.Fatalf("event for a repository not configured: %+v", e.Item)
			}
		}
		// The same body under another signature is forged.
		req.Header.Set("X-Hub-Signature-256", Sign("other", body))
		if _, err := c.ReceiveWebhook(t.Context(), req); !errors.Is(err, core.ErrForged) {
			t.Fatalf("wrong signature: %v", err)
		}
	})
}

// FuzzKeys runs link discovery, as the engine does with the mapping
// files' patterns, over a pull request normalized from arbitrary title,
// branch, body and commit messages: it never panics and every key it finds
// occurs in the text it was found in.
func FuzzKeys(f *testing.F) {
	f.Add("KBOT-88 fix login timeout", "KBOT-88-login", "Fixes ZD-4521 and #4522", "KBOT-88 retry\nKBOT-89: also")
	f.Add("Update the README with new information.", "changes", "This is a pretty simple change that we need to pull into master.", "Initial commit")
	f.Add("", "", "", "")
	f.Add("ÄKBOT-1", "feature/ABC-0001_x", "#", "\x00KBOT-9\xff")
	c := &Connector{name: "github"}
	patterns := keyPatterns()
	f.Fuzz(func(t *testing.T, title, branch, body, commits string) {
		pr := &gh.PullRequest{Number: gh.Int(3), Title: &title, Body: &body, Head: &gh.PullRequestBranch{Ref: &branch, SHA: gh.String("abc")}}
		it := c.prItem("acme/kbot", pr)
		setCommits(&it, strings.Split(commits, "\n"))
		text := title + "\x00" + branch + "\x00" + body + "\x00" + commits
		m := &core.Mappings{Patterns: patterns}
		links := m.Discover(&it)
		for i, l := range links {
			if l.From != it.Ref || l.Origin != core.Discovered || l.To.ID == "" {
				t.Fatalf("link %+v", l)
			}
			if !strings.Contains(text, l.To.ID) {
				t.Fatalf("key %q is not in the input", l.To.ID)
			}
			if slices.Contains(links[:i], l) {
				t.Fatalf("link %+v found twice", l)
			}
		}
	})
}

// BenchmarkWebhookDecode measures a pull_request delivery from signature
// to normalized snapshot (commits known for its head sha, as they are after
// the first delivery of a head).
func BenchmarkWebhookDecode(b *testing.B) {
	c := fuzzConnector(b)
	body := readTestdata(b, "pull_request-opened.json")
	req := webhook("pull_request", "bench", body)
	if evs, err := c.ReceiveWebhook(b.Context(), req); err != nil || len(evs) != 1 {
		b.Fatalf("%v %d", err, len(evs))
	}
	c.drainLater(b.Context(), discard{}) // reads the commits, known from then on
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		evs, err := c.ReceiveWebhook(b.Context(), req)
		if err != nil || len(evs) != 1 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// discard is a sink that keeps nothing.
type discard struct{}

func (discard) Ingest(context.Context, []core.Event) error      { return nil }
func (discard) Cursor(context.Context, string) (string, error)  { return "", nil }
func (discard) SetCursor(context.Context, string, string) error { return nil }

// FuzzDecodePR holds decodePR to encoding/json's answers: on any body,
// both fail or both decode the same values.
func FuzzDecodePR(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		f.Add(readTestdata(f, filepath.Base(file)))
	}
	for _, s := range []string{
		`{"action":"closed","pull_request":{"number":1e2,"title":"a\ud800b","merged_at":"2020-01-01T00:00:00Z","labels":null}}`,
		`{"ACTION":"closed","Pull_Request":{"Number":3,"TITLE":"x"},"action":"opened"}`,
		`{"action":"closed"}x`, "\ufeff{}", `{"pull_request":{"number":99999999999999999999}}`, `{"pull_request":{"number":"3"}}`,
		"{\"pull_request\":{\"title\":\"a\xffb\"}}", `{"pull_request":{"merged_at":1577836800}}`, `{"pull_request":{"assignees":{}}}`,
		`{"a":1,}`, `{"x":01}`, `{"x":"\q"}`, `{"x":NaN}`,
		// Deeper than encoding/json allows (10,000), in a field neither reads.
		`{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `,"action":"closed"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var want, got prDelivery
		werr := json.Unmarshal(body, &want)
		gerr := decodePR(body, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("encoding/json: %v; decodePR: %v", werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("encoding/json decoded\n%+v\ndecodePR\n%+v", want, got)
		}
	})
}

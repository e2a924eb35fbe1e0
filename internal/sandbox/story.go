// Package sandbox runs the daemon against in-process stand-ins for the
// help desk, bug tracker, code host and mailbox, and plays the support
// story through it as the people involved would: a customer mails, an agent
// triages, a developer opens and merges a fix, QA validates, it ships. Every
// step goes through the real HTTP intake (signed webhooks), the store and
// the engine; `make run` is this.
package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	sb "github.com/liaisonhq/liaison/connectors/sandbox"
	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/daemon"
)

// SecretEnv is the variable the sandbox instances read their webhook
// secret from; Start sets it to a random value.
const SecretEnv = "LIAISON_SANDBOX_SECRET"

// Options configure a sandbox run.
type Options struct {
	Dir    string // where the SQLite file goes
	Listen string // HTTP address; a busy port falls back to a free one
	Log    *slog.Logger
	// IdleWait overrides the engine's idle polling (tests).
	IdleWait time.Duration
	// CheckSettled is the engine's (tests).
	CheckSettled bool
	// StateDir, when set, keeps the stand-ins' records in files there.
	StateDir string
}

// Sandbox is a running daemon with its stand-in systems.
type Sandbox struct {
	Daemon  *daemon.Daemon
	Addr    string
	DBPath  string
	Systems map[string]*sb.Connector
	log     *slog.Logger
	done    chan error
	cancel  context.CancelFunc
}

// Config returns the daemon configuration the sandbox runs: four sandbox
// instances named like the real connectors, so the default mappings apply
// unchanged when real trackers replace them.
func Config(addr, dbPath, stateDir string) string {
	inst := func(name, kinds, prefix string) string {
		s := fmt.Sprintf("  %s:\n    kind: sandbox\n    kinds: [%s]\n    webhook_secret_env: %s\n    webhook_url: http://%s/webhooks/sandbox/%s\n",
			name, kinds, SecretEnv, addr, name)
		if prefix != "" {
			s += "    prefix: {" + prefix + "}\n"
		}
		if stateDir != "" {
			s += fmt.Sprintf("    state_file: %s\n", filepath.Join(stateDir, name+".json"))
		}
		return s
	}
	return fmt.Sprintf("listen: %s\nstore: sqlite://%s\nconnectors:\n", addr, dbPath) +
		inst("imap", "email_thread", "") +
		inst("zendesk", "customer_ticket", "") +
		inst("jira", "dev_ticket, change_ticket", `dev_ticket: "KBOT-", change_ticket: "DO-"`) +
		inst("github", "pull_request", `pull_request: "acme/app#"`)
}

// Start builds and runs the daemon in the background.
func Start(ctx context.Context, o Options) (*Sandbox, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	ln, err := listen(o)
	if err != nil {
		return nil, err
	}
	if os.Getenv(SecretEnv) == "" {
		os.Setenv(SecretEnv, randomSecret())
	}
	dbPath, err := freshDB(o.Dir, o.Log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	addr := ln.Addr().String()
	cfg, err := config.Parse("sandbox.yaml", []byte(Config(addr, dbPath, o.StateDir)))
	if err != nil {
		ln.Close()
		return nil, err
	}
	d, err := daemon.Build(ctx, cfg, daemon.Options{Log: o.Log, IdleWait: o.IdleWait, CheckSettled: o.CheckSettled})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Sandbox{Daemon: d, Addr: addr, DBPath: dbPath, Systems: map[string]*sb.Connector{}, log: o.Log, done: make(chan error, 1)}
	for _, c := range d.Connectors() {
		s.Systems[c.Name()] = c.(*sb.Connector)
	}
	rctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go func() { s.done <- d.Run(rctx, ln) }()
	return s, nil
}

// Stop shuts the daemon down and waits for it.
func (s *Sandbox) Stop() error {
	s.cancel()
	return <-s.done
}

// Outcome is what the story produced, for tests and the closing summary.
type Outcome struct {
	Mail, Ticket, Dev, PR core.Ref
}

// Play runs the support story, waiting after each step for the gateway to
// do its part, and fails with what it was waiting for if it does not.
func (s *Sandbox) Play(ctx context.Context) (Outcome, error) {
	var o Outcome
	imap, zd, jira, gh := s.Systems["imap"], s.Systems["zendesk"], s.Systems["jira"], s.Systems["github"]
	step := func(msg string, args ...any) { s.log.Info("story: "+msg, args...) }

	step("a customer mails support about a broken password reset")
	mail, err := imap.Put(ctx, core.Item{Ref: core.Ref{Kind: core.EmailThread, ID: "<reset-500@customer.example>"},
		Title: "Password reset link gives error 500", Native: "received", Reporter: "ada@customer.example",
		Body:   "Hello, since this morning the password reset link in your e-mail opens an error page (500).\nAda",
		Fields: map[string]string{"from": "ada@customer.example", "org": "customer-corp"}}, core.Mailed)
	if err != nil {
		return o, err
	}
	o.Mail = mail.Ref
	tk, err := waitFor(ctx, "a customer ticket for the mail", func() (core.Item, bool) { return first(zd.Records(core.CustomerTicket)) })
	if err != nil {
		return o, err
	}
	o.Ticket = tk.Ref

	step("an agent sets the ticket's priority and organisation; the gateway triages it", "ticket", tk.Ref.String())
	if _, err := zd.Update(ctx, tk.Ref, core.Updated, func(it *core.Item) {
		it.Priority = "high"
		it.Labels = append(it.Labels, "bug")
		if it.Fields == nil {
			it.Fields = map[string]string{}
		}
		it.Fields["org"] = "customer-corp"
	}); err != nil {
		return o, err
	}
	if _, err := waitStatus(ctx, zd, tk.Ref, "pending"); err != nil {
		return o, fmt.Errorf("waiting for the reporter to be asked what the report lacks: %w", err)
	}
	step("the reporter answers the questions")
	if _, err := zd.Update(ctx, tk.Ref, core.Commented, func(it *core.Item) {
		it.Native = "open" // an end user's reply reopens the ticket
		it.Comments = append(slices.Clone(it.Comments), core.Comment{ID: "reply-1", Author: it.Reporter, Public: true,
			Body: "1. Request a password reset.\n2. Open the link in the mail.\nIt happens every time: yes."})
	}); err != nil {
		return o, err
	}
	dev, err := waitFor(ctx, "a developer ticket escalated from the customer ticket", func() (core.Item, bool) { return first(jira.Records(core.DevTicket)) })
	if err != nil {
		return o, err
	}
	o.Dev = dev.Ref

	step("a developer opens a pull request naming the ticket", "dev_ticket", dev.Ref.ID)
	pr, err := gh.Put(ctx, core.Item{Ref: core.Ref{Kind: core.PullRequest, ID: "acme/app#341"},
		Title: dev.Ref.ID + ": expire reset tokens in UTC", Native: "open", Reporter: "grace",
		URL: "https://github.example/acme/app/pull/341", Fields: map[string]string{"branch": "fix/" + dev.Ref.ID + "-reset-token"}}, core.Opened)
	if err != nil {
		return o, err
	}
	o.PR = pr.Ref
	if _, err := waitStatus(ctx, jira, dev.Ref, "In Review"); err != nil {
		return o, err
	}

	step("the pull request is merged")
	if _, err := gh.Update(ctx, pr.Ref, core.Merged, func(it *core.Item) { it.Native = "merged" }); err != nil {
		return o, err
	}
	if _, err := waitStatus(ctx, jira, dev.Ref, "Ready for QA"); err != nil {
		return o, err
	}

	step("QA validates in the dev environment, then a consultant in pre-prod")
	for _, st := range []string{"QA Validated", "Preprod Validated"} {
		if _, err := jira.Update(ctx, dev.Ref, core.StatusChange, func(it *core.Item) {
			it.Native = st
			if st == "Preprod Validated" {
				it.Fields = withField(it.Fields, "Release note", "Reset tokens were compared in local time; they now expire in UTC.")
			}
		}); err != nil {
			return o, err
		}
	}
	if _, err := waitFor(ctx, "a public comment to the customer and the ticket pending", func() (core.Item, bool) {
		it, ok := zd.Record(tk.Ref)
		return it, ok && it.Native == "pending" && slices.ContainsFunc(it.Comments, func(c core.Comment) bool { return c.Public && c.Marker != "" })
	}); err != nil {
		return o, err
	}

	step("the fix is deployed; the developer ticket is done")
	if _, err := jira.Update(ctx, dev.Ref, core.StatusChange, func(it *core.Item) {
		it.Native, it.Fields = "Done", withField(it.Fields, "resolution", "Fixed")
	}); err != nil {
		return o, err
	}
	if _, err := waitStatus(ctx, zd, tk.Ref, "solved"); err != nil {
		return o, err
	}
	step("done: the customer ticket is solved", "ticket", tk.Ref.String(), "dev_ticket", dev.Ref.String(), "pull_request", pr.Ref.String())
	return o, nil
}

func withField(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func first(its []core.Item) (core.Item, bool) {
	if len(its) == 0 {
		return core.Item{}, false
	}
	return its[0], true
}

func waitStatus(ctx context.Context, c *sb.Connector, r core.Ref, native string) (core.Item, error) {
	return waitFor(ctx, fmt.Sprintf("%s to reach %q", r, native), func() (core.Item, bool) {
		it, ok := c.Record(r)
		return it, ok && strings.EqualFold(it.Native, native)
	})
}

const waitLimit = 20 * time.Second

var errStalled = errors.New("stalled")

// waitFor polls cond until it holds or waitLimit passes.
func waitFor[T any](ctx context.Context, what string, cond func() (T, bool)) (T, error) {
	deadline := time.Now().Add(waitLimit)
	for {
		if it, ok := cond(); ok {
			return it, nil
		}
		if time.Now().After(deadline) {
			var zero T
			return zero, fmt.Errorf("story stalled: waited %s for %s: %w", waitLimit, what, errStalled)
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// listen opens the daemon's address (127.0.0.1:8080 by default), or a
// free loopback port when that one is busy.
func listen(o Options) (net.Listener, error) {
	addr := cmp.Or(o.Listen, "127.0.0.1:8080")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		o.Log.Info("address busy; using a free port", "wanted", addr)
		return net.Listen("tcp", "127.0.0.1:0")
	}
	return ln, nil
}

// freshDB returns the sandbox's database path in dir, removing what an
// earlier run left there: the story replays the same deliveries, which
// that database would take for duplicates.
func freshDB(dir string, log *slog.Logger) (string, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("sandbox: %q is not a folder (--dir names where the database goes)", dir)
	}
	path := filepath.Join(dir, "liaison-sandbox.db")
	if _, err := os.Stat(path); err == nil {
		log.Info("starting from an empty database; removing the previous run's", "path", path)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return "", fmt.Errorf("removing the previous sandbox database: %w", err)
		}
	}
	return path, nil
}

package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	ghfake "github.com/liaisonhq/liaison/connectors/github/fake"
	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
	jirafake "github.com/liaisonhq/liaison/connectors/jira/fake"
	mantisfake "github.com/liaisonhq/liaison/connectors/mantis/fake"
	zdfake "github.com/liaisonhq/liaison/connectors/zendesk/fake"
	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/daemon"
)

// World is the daemon with the real Jira, GitHub, Zendesk and IMAP
// connectors, pointed at HTTP fakes of those services and an in-process
// IMAP server, all on loopback: what `make run` shows, and what the
// end-to-end tests drive.
type World struct {
	Daemon  *daemon.Daemon
	Addr    string
	DBPath  string
	Jira    *jirafake.Server
	GitHub  *ghfake.Server
	Zendesk *zdfake.Server
	IMAP    *imaptest.Server
	SMTP    *imaptest.SMTP
	// Mantis is the bug tracker instead of Jira under WithDevTracker("mantis").
	Mantis *mantisfake.Server
	// Repo is the GitHub repository the story's pull requests live in.
	Repo string

	log     *slog.Logger
	tracker devTracker
	servers []*http.Server
	done    chan error
	cancel  context.CancelFunc
	secrets map[string]string // webhook secret by fake: jira, github, zendesk
}

// WorldOption adjusts the world beyond Options, for end-to-end tests.
type WorldOption func(*worldSettings)

type worldSettings struct {
	echo        bool
	maxAttempts int
	mappings    string
	imap        *imapAccount
	attachMax   int64
	devTracker  string
}

type imapAccount struct {
	host           string
	port           int
	user, password string
	mailbox        string
}

// WithEchoWebhooks makes the Jira and Zendesk fakes send webhooks for the
// gateway's own API writes too, as Jira's webhooks and Zendesk's triggers
// do: the gateway then sees its writes come back.
func WithEchoWebhooks() WorldOption {
	return func(s *worldSettings) { s.echo = true }
}

// WithMaxAttempts sets the daemon's max_attempts: how many failed attempts
// dead-letter an action.
func WithMaxAttempts(n int) WorldOption {
	return func(s *worldSettings) { s.maxAttempts = n }
}

// WithMappings makes the daemon load the mapping folder dir instead of the
// embedded defaults.
func WithMappings(dir string) WorldOption {
	return func(s *worldSettings) { s.mappings = dir }
}

// WithAttachmentLimit sets the mailbox's, the help desk's and the bug
// tracker's attachment_limit: the largest file, in bytes, kept from a mail
// or carried onto a record.
func WithAttachmentLimit(n int64) WorldOption {
	return func(s *worldSettings) { s.attachMax = n }
}

// WithIMAPServer points the imap connector at another server (a real
// Dovecot on loopback, plain IMAP) instead of the in-process one, which
// still runs but is not read. The connector reads mailbox (which must
// exist) and files mail under mailbox/Processed, mailbox/Failed and
// (what it sends) mailbox/Sent, so that a test can keep to a mailbox of its
// own on a shared server.
func WithIMAPServer(host string, port int, user, password, mailbox string) WorldOption {
	return func(s *worldSettings) {
		s.imap = &imapAccount{host: host, port: port, user: user, password: password, mailbox: mailbox}
	}
}

// StoryMail returns the customer's first mail of the story, as Play
// delivers it.
func StoryMail() []byte { return []byte(storyMail) }

// WebhookSecret returns the secret the fake named system ("jira", "github"
// or "zendesk") signs its webhooks with and the daemon checks them
// against, for tests that re-send, re-route or forge deliveries.
func (w *World) WebhookSecret(system string) string {
	switch system {
	case "jira":
		return w.secrets[envJiraSecret]
	case "github":
		return w.secrets[envGitHubSecret]
	case "zendesk":
		return w.secrets[envZendeskSecret]
	}
	return ""
}

// Credentials of the world, set in the environment by StartWorld; the
// daemon's configuration names the variables, never the values.
const (
	envJiraToken     = "LIAISON_WORLD_JIRA_TOKEN"
	envJiraSecret    = "LIAISON_WORLD_JIRA_SECRET"
	envGitHubToken   = "LIAISON_WORLD_GITHUB_TOKEN"
	envGitHubSecret  = "LIAISON_WORLD_GITHUB_SECRET"
	envZendeskToken  = "LIAISON_WORLD_ZENDESK_TOKEN"
	envZendeskSecret = "LIAISON_WORLD_ZENDESK_SECRET"
	envIMAPPassword  = "LIAISON_WORLD_IMAP_PASSWORD"

	gatewayJiraUser = "liaison@example.com"
	supportAddress  = "support@example.com"
)

func randomSecret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// serve starts h on a loopback port and returns its base URL.
func (w *World) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	w.servers = append(w.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

// WorldConfig is the daemon configuration for the world's services.
func WorldConfig(addr, dbPath, jiraURL, githubURL, zendeskURL string, imapPort, smtpPort int, repo string) string {
	return fmt.Sprintf(`listen: %s
store: sqlite://%s
connectors:
  imap:
    host: 127.0.0.1
    port: %d
    tls: plain
    username: %s
    password_env: %s
    own_address: %s
    poll_interval: 1s
    smtp: {host: 127.0.0.1, port: %d, tls: plain}
  zendesk:
    base_url: %s
    email: %s
    token_env: %s
    webhook_secret_env: %s
  jira:
    base_url: %s
    deployment: cloud
    email: %s
    token_env: %s
    webhook_secret_env: %s
    projects: {dev: [KBOT], change: DO}
    timezone: UTC
  github:
    base_url: %s
    token_env: %s
    webhook_secret_env: %s
    repos: [%s]
`, addr, dbPath, imapPort, supportAddress, envIMAPPassword, supportAddress, smtpPort,
		zendeskURL, zdfake.Agent, envZendeskToken, envZendeskSecret,
		jiraURL, gatewayJiraUser, envJiraToken, envJiraSecret,
		githubURL, envGitHubToken, envGitHubSecret, repo)
}

// StartWorld starts the fakes and the daemon. Stop it with Stop. The
// services' credentials go into the process environment, so two worlds
// must not start at the same time.
func StartWorld(ctx context.Context, o Options, opts ...WorldOption) (w *World, err error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var ws worldSettings
	for _, opt := range opts {
		opt(&ws)
	}
	w = &World{log: o.Log, done: make(chan error, 1), Repo: "acme/app"}
	// The error returns below set w to nil; the services close through
	// this copy.
	started := w
	defer func() {
		if err != nil {
			started.closeServices()
		}
	}()
	if w.DBPath, err = freshDB(o.Dir, o.Log); err != nil {
		return nil, err
	}
	secrets := map[string]string{}
	for _, k := range []string{envJiraToken, envJiraSecret, envGitHubToken, envGitHubSecret, envZendeskToken, envZendeskSecret, envIMAPPassword, envMantisToken} {
		secrets[k] = randomSecret()
		if k == envIMAPPassword && ws.imap != nil {
			secrets[k] = ws.imap.password
		}
		os.Setenv(k, secrets[k])
	}
	w.secrets = secrets
	ln, err := listen(o)
	if err != nil {
		return nil, err
	}
	w.Addr = ln.Addr().String()
	hook := func(kind, name string) string { return "http://" + w.Addr + "/webhooks/" + kind + "/" + name }

	jiraOpts := []jirafake.Option{jirafake.WithAuth(gatewayJiraUser, secrets[envJiraToken]), jirafake.WithWorkflow(storyWorkflow())}
	zendeskOpts := []zdfake.Option{zdfake.WithCredentials(zdfake.Agent, secrets[envZendeskToken])}
	if ws.echo {
		jiraOpts = append(jiraOpts, jirafake.WithAPIWebhooks())
		zendeskOpts = append(zendeskOpts, zdfake.WithEchoWebhooks())
	}
	w.Jira = jirafake.New(jiraOpts...)
	jiraURL, err := w.serve(w.Jira)
	if err != nil {
		return nil, err
	}
	w.Jira.SetBaseURL(jiraURL)
	w.Jira.SetWebhook(hook("jira", "jira"), secrets[envJiraSecret])
	w.tracker = jiraTracker{w.Jira}
	mantisURL := ""
	switch ws.devTracker {
	case "", "jira":
	case "mantis":
		mt := newMantisTracker(secrets[envMantisToken])
		if mantisURL, err = w.serve(mt.fake); err != nil {
			return nil, err
		}
		w.Mantis, w.tracker = mt.fake, mt
	default:
		return nil, fmt.Errorf("sandbox: dev tracker %q: want jira or mantis", ws.devTracker)
	}

	w.GitHub = ghfake.New(ghfake.WithToken(secrets[envGitHubToken]))
	githubURL, err := w.serve(w.GitHub)
	if err != nil {
		return nil, err
	}
	if err := w.GitHub.AddRepo(w.Repo); err != nil {
		return nil, err
	}
	w.GitHub.SetWebhook(hook("github", "github"), secrets[envGitHubSecret])

	w.Zendesk = zdfake.New(zendeskOpts...)
	zendeskURL, err := w.serve(w.Zendesk)
	if err != nil {
		return nil, err
	}
	w.Zendesk.SetWebhook(hook("zendesk", "zendesk"), secrets[envZendeskSecret])

	if w.IMAP, err = imaptest.Start(imaptest.Options{User: supportAddress, Password: secrets[envIMAPPassword]}); err != nil {
		return nil, err
	}
	if w.SMTP, err = imaptest.StartSMTP(imaptest.SMTPOptions{}); err != nil {
		return nil, err
	}

	imapPort := w.IMAP.Port()
	if ws.imap != nil {
		imapPort = ws.imap.port
	}
	cfgText := WorldConfig(w.Addr, w.DBPath, jiraURL, githubURL, zendeskURL, imapPort, w.SMTP.Port(), w.Repo)
	if ws.imap != nil {
		// These keys and values occur only in the imap section.
		cfgText = strings.Replace(cfgText, "host: 127.0.0.1\n    port: "+strconv.Itoa(imapPort), "host: "+ws.imap.host+"\n    port: "+strconv.Itoa(imapPort), 1)
		cfgText = strings.Replace(cfgText, "username: "+supportAddress, "username: "+ws.imap.user, 1)
		cfgText = strings.Replace(cfgText, "own_address: "+supportAddress+"\n", fmt.Sprintf(
			"own_address: %s\n    mailboxes: [%q]\n    processed_mailbox: %q\n    failed_mailbox: %q\n    sent_mailbox: %q\n",
			supportAddress, ws.imap.mailbox, ws.imap.mailbox+"/Processed", ws.imap.mailbox+"/Failed", ws.imap.mailbox+"/Sent"), 1)
	}
	if ws.attachMax > 0 {
		for _, system := range []string{"imap", "zendesk", "jira"} {
			cfgText = strings.Replace(cfgText, "  "+system+":\n", fmt.Sprintf("  %s:\n    attachment_limit: %d\n", system, ws.attachMax), 1)
		}
	}
	if ws.maxAttempts > 0 {
		cfgText += fmt.Sprintf("max_attempts: %d\n", ws.maxAttempts)
	}
	if w.Mantis != nil {
		// Mantis in Jira's place, and its shipped mappings.
		from, to := strings.Index(cfgText, "  jira:\n"), strings.Index(cfgText, "  github:\n")
		if from < 0 || to < from {
			return nil, errors.New("sandbox: the configuration has no jira section, before github, for Mantis to replace")
		}
		cfgText = cfgText[:from] + mantisSection(mantisURL) + cfgText[to:] + "dev_tracker: mantis\n"
	}
	if ws.mappings != "" {
		cfgText += fmt.Sprintf("mappings: %s\n", ws.mappings)
	}
	cfg, err := config.Parse("world.yaml", []byte(cfgText))
	if err != nil {
		ln.Close()
		return nil, err
	}
	d, err := daemon.Build(ctx, cfg, daemon.Options{Log: o.Log, IdleWait: o.IdleWait, CheckSettled: o.CheckSettled})
	if err != nil {
		ln.Close()
		return nil, err
	}
	w.Daemon = d
	rctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	go func() { w.done <- d.Run(rctx, ln) }()
	return w, nil
}

// storyWorkflow is the fake Jira's workflow: the developer workflow the
// default mappings name, and the change-ticket statuses.
func storyWorkflow() jirafake.Workflow {
	wf := jirafake.DefaultWorkflow()
	wf.Statuses = append(wf.Statuses, "Open", "Awaiting Approval", "Approved")
	return wf
}

// Stop shuts the daemon down, then the services.
func (w *World) Stop() error {
	var err error
	if w.cancel != nil {
		w.cancel()
		err = <-w.done
	}
	w.closeServices()
	return err
}

func (w *World) closeServices() {
	for _, s := range w.servers {
		s.Close()
	}
	if w.IMAP != nil {
		w.IMAP.Close()
	}
	if w.SMTP != nil {
		w.SMTP.Close()
	}
}

// WorldOutcome names what the story made, in the services' own terms.
type WorldOutcome struct {
	TicketID int64
	IssueKey string
	PR       int
}

// storyMail is the customer's first mail.
const storyMail = "From: Ada Lovelace <ada@customer.example>\r\n" +
	"To: Support <support@example.com>\r\n" +
	"Subject: Password reset link gives error 500\r\n" +
	"Message-ID: <reset-500@customer.example>\r\n" +
	"Date: Mon, 23 Nov 2026 09:00:00 +0100\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello,\r\n\r\nsince this morning the password reset link in your e-mail opens an error page (500).\r\n\r\nAda\r\n"

// Play runs the support story through the services as the people
// involved would, waiting after each step for the gateway's part.
func (w *World) Play(ctx context.Context) (WorldOutcome, error) {
	var o WorldOutcome
	step := func(msg string, args ...any) { w.log.Info("story: "+msg, args...) }

	step("a customer mails support about a broken password reset", "mailbox", "INBOX")
	if _, err := w.IMAP.Append("INBOX", []byte(storyMail)); err != nil {
		return o, err
	}
	if err := waitCond(ctx, "a help-desk ticket for the mail", func() bool { return len(w.Zendesk.Tickets()) > 0 }); err != nil {
		return o, err
	}
	t := w.Zendesk.Tickets()[0]
	o.TicketID = t.ID

	step("an agent sets the ticket's priority; the gateway triages it", "ticket", t.ID, "requester", t.Requester)
	if err := w.Zendesk.SetFields(t.ID, map[string]string{"priority": "high"}); err != nil {
		return o, err
	}
	if err := waitCond(ctx, "the reporter asked for what the report lacks", func() bool {
		t, _ := w.Zendesk.Ticket(o.TicketID)
		return t.Status == "pending"
	}); err != nil {
		return o, err
	}

	step("the reporter answers the questions", "ticket", t.ID)
	if _, err := w.Zendesk.Reply(t.ID, t.Requester, "1. Request a password reset.\n2. Open the link in the mail.\nIt happens every time: yes.", true); err != nil {
		return o, err
	}
	key, err := waitFor(ctx, "a developer ticket", w.tracker.first)
	if err != nil {
		return o, err
	}
	o.IssueKey = key
	st := w.tracker.steps()

	step("a developer opens a pull request naming the ticket", "issue", o.IssueKey)
	n, err := w.GitHub.OpenPR(w.Repo, w.tracker.prTitle(o.IssueKey, "expire reset tokens in UTC"),
		"Reset tokens were compared in local time.", w.tracker.branch(o.IssueKey, "reset-token"))
	if err != nil {
		return o, err
	}
	o.PR = n
	if err := w.waitIssue(ctx, o.IssueKey, st.review); err != nil {
		return o, err
	}

	step("the pull request is merged", "pr", n)
	if err := w.GitHub.MergePR(w.Repo, n); err != nil {
		return o, err
	}
	if err := w.waitIssue(ctx, o.IssueKey, st.qa); err != nil {
		return o, err
	}

	step("QA validates in the dev environment, then a consultant in pre-prod")
	for _, s := range st.validated {
		if err := w.tracker.move(o.IssueKey, s); err != nil {
			return o, err
		}
	}
	if err := waitCond(ctx, "one public comment to the customer and the ticket pending", func() bool {
		t, _ := w.Zendesk.Ticket(o.TicketID)
		return t.Status == "pending"
	}); err != nil {
		return o, err
	}

	step("the fix is deployed; the developer ticket is done")
	if err := w.tracker.move(o.IssueKey, st.done); err != nil {
		return o, err
	}
	if err := waitCond(ctx, "the customer ticket solved", func() bool {
		t, _ := w.Zendesk.Ticket(o.TicketID)
		return t.Status == "solved"
	}); err != nil {
		return o, err
	}
	step("done: the customer ticket is solved", "ticket", o.TicketID, "issue", o.IssueKey, "pr", w.Repo+"#"+strconv.Itoa(n))
	return o, nil
}

func (w *World) waitIssue(ctx context.Context, key, status string) error {
	return waitCond(ctx, fmt.Sprintf("%s to reach %q", key, status), func() bool { return w.tracker.status(key) == status })
}

// waitCond polls cond until it holds, for at most waitLimit.
func waitCond(ctx context.Context, what string, cond func() bool) error {
	_, err := waitFor(ctx, what, func() (struct{}, bool) { return struct{}{}, cond() })
	return err
}

// Package notify sends the gateway's notifications: the Notify actions
// that rules and response-time breaches plan, and mail on behalf of other
// parts of the daemon (the weekly digest).
//
// A Notify action's To is either an http(s) URL, which gets a JSON POST
//
//	{"rule": "...", "subject": "zendesk/customer_ticket/4521",
//	 "url": "https://…/4521", "title": "...", "text": "...", "at": "RFC 3339"}
//
// (the "text" key makes it a valid Mattermost incoming-webhook message as
// it stands), or one or more mail addresses (comma-separated), which get a
// plain-text mail through the configured SMTP server with Auto-Submitted:
// auto-generated. A Slack or Microsoft Teams incoming webhook gets a
// message in that chat's own format instead of the generic body: a
// header, the text as written, and a link to the record (see FormatFor).
//
// Outbound webhooks go through a Guard: every connection, including those
// a redirect leads to and those a re-resolved name leads to, is checked at
// dial time against private, loopback, link-local, unique-local, CGNAT,
// unspecified and reserved addresses, unless the allowlist permits them.
// A webhook URL's path and query are its credential (chat webhooks carry a
// token there), so errors, notes and logs show scheme and host only.
//
// Each Apply makes one attempt; the engine's outbox retries. Failures are
// classified: a refused address, a malformed destination, a 4xx answer or a
// 5xx SMTP reply is core.Permanent; 429, 5xx, timeouts, transport errors and
// 4xx SMTP replies are core.RetryAfter (with the server's Retry-After).
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// Options configure a Notifier. The zero value refuses mail and posts
// webhooks to public addresses only.
type Options struct {
	// SMTP is the outgoing mail server; nil refuses mail with a permanent
	// error that says to configure notify.smtp.
	SMTP *SMTP
	// Allow lists CIDRs, addresses and host names webhooks may reach
	// although they are private (see ParseAllow).
	Allow []string
	// Timeout bounds one webhook POST or one mail (default 30s).
	Timeout time.Duration
	// Records, when set, looks up an action's subject so that the payload
	// carries its URL and, when the action has no title, its title.
	Records Records
	Clock   core.Clock
	Log     *slog.Logger
}

// Records reads one record's snapshot; core.Store satisfies it.
type Records interface {
	Item(ctx context.Context, r core.Ref) (*core.Item, error)
}

// Notifier applies Notify actions. It is safe for concurrent use.
type Notifier struct {
	o     Options
	guard *Guard
	http  *http.Client
	log   *slog.Logger
	clock core.Clock
}

// New checks the options (the allowlist, the SMTP settings) and builds a
// Notifier.
func New(o Options) (*Notifier, error) {
	g, err := ParseAllow(o.Allow)
	if err != nil {
		return nil, err
	}
	if o.SMTP != nil {
		sm := *o.SMTP // check fills defaults; the caller's copy stays as given
		if err := sm.check(); err != nil {
			return nil, err
		}
		o.SMTP = &sm
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{o: o, guard: g, http: g.client(o.Timeout), log: o.Log, clock: o.Clock}, nil
}

// Apply implements core.Applier for core.Notify actions: a POST to an
// http(s) URL or a mail to the addresses in a.To.
func (n *Notifier) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Kind != core.Notify {
		return core.Result{}, core.Permanent(fmt.Errorf("notify: cannot apply a %q action, only notify", a.Kind))
	}
	to := strings.TrimSpace(a.To)
	if to == "" {
		return core.Result{}, core.Permanent(fmt.Errorf("notify: rule %q planned a notification with no destination", a.Rule))
	}
	subj := n.subject(ctx, a)
	if strings.Contains(to, "://") {
		return n.post(ctx, a, to, subj)
	}
	return n.mailAction(ctx, a, to, subj)
}

// subject is the record the notification is about, as far as it is known.
func (n *Notifier) subject(ctx context.Context, a core.Action) core.Item {
	it := core.Item{Ref: a.Subject}
	if n.o.Records == nil || a.Subject.IsZero() {
		return it
	}
	got, err := n.o.Records.Item(ctx, a.Subject)
	if err != nil {
		if !errors.Is(err, core.ErrNotFound) {
			n.log.Warn("notify: reading the subject for its url failed; sending without", "subject", a.Subject.String(), "err", err)
		}
		return it
	}
	return *got
}

// title is the action's title, or one made from the rule and the subject.
func title(a core.Action, subj core.Item) string {
	if t := strings.TrimSpace(a.Title); t != "" {
		return t
	}
	s := a.Subject.String()
	if subj.Title != "" {
		s += ` "` + subj.Title + `"`
	}
	if a.Rule == "" {
		return "Liaison: " + s
	}
	return fmt.Sprintf("Liaison: %s (%s)", s, a.Rule)
}

// Payload is the JSON body of a webhook notification.
type Payload struct {
	Rule    string    `json:"rule"`
	Subject string    `json:"subject"`
	URL     string    `json:"url"`
	Title   string    `json:"title"`
	Text    string    `json:"text"`
	At      time.Time `json:"at"`
}

func (n *Notifier) post(ctx context.Context, a core.Action, to string, subj core.Item) (core.Result, error) {
	shown := Redact(to)
	u, err := url.Parse(to)
	if err != nil || u.Host == "" {
		return core.Result{}, core.Permanent(fmt.Errorf("notify: webhook %s: not a valid URL", shown))
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return core.Result{}, core.Permanent(fmt.Errorf("notify: webhook %s: scheme %q is not http or https", shown, u.Scheme))
	}
	format, err := FormatFor(u, a.Fields["format"])
	if err != nil {
		return core.Result{}, core.Permanent(fmt.Errorf("notify: rule %q: %w", a.Rule, err))
	}
	p := Payload{Rule: a.Rule, Subject: a.Subject.String(), URL: subj.URL, Title: title(a, subj), Text: a.Body, At: n.clock.Now().UTC()}
	var msg any = p
	switch format {
	case FormatSlack:
		msg = slackMessage(p)
	case FormatTeams:
		msg = teamsMessage(p)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return core.Result{}, core.Permanent(fmt.Errorf("notify: encode webhook payload: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(string(body)))
	if err != nil {
		return core.Result{}, core.Permanent(fmt.Errorf("notify: webhook %s: cannot build the request", shown))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "liaison-notify")
	// Receivers that de-duplicate can key on it; a retried action carries
	// the same marker.
	req.Header.Set("X-Liaison-Marker", a.Marker())
	resp, err := n.http.Do(req)
	if err != nil {
		return core.Result{}, classifyTransport(shown, err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; the body itself may
	// echo what we sent and is never shown.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if err := classifyStatus(shown, resp, n.clock.Now()); err != nil {
		return core.Result{}, err
	}
	n.log.Info("notification posted", "to", shown, "status", resp.StatusCode, "rule", a.Rule)
	return core.Result{Note: fmt.Sprintf("posted to %s (%d)", shown, resp.StatusCode)}, nil
}

// classifyTransport turns a failed request into an outbox error without
// the URL: *url.Error prints the whole URL, path and query included, so
// only its cause is kept.
func classifyTransport(shown string, err error) error {
	var ref *RefusedError
	if errors.As(err, &ref) {
		return core.Permanent(fmt.Errorf("notify: webhook %s: %w", shown, ref))
	}
	cause := err
	var ue *url.Error
	for errors.As(cause, &ue) {
		cause = ue.Err
	}
	if ue != nil && ue.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return core.RetryAfter(fmt.Errorf("notify: webhook %s: timed out", shown), 0)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("notify: webhook %s: %w", shown, context.Canceled)
	}
	if strings.Contains(cause.Error(), "://") {
		// A redirect's Location can carry a credential as well.
		return core.RetryAfter(fmt.Errorf("notify: webhook %s: request failed (the cause names a URL and is withheld)", shown), 0)
	}
	return core.RetryAfter(fmt.Errorf("notify: webhook %s: %w", shown, cause), 0)
}

// classifyStatus: 2xx is success; 429 and 5xx are temporary, with the
// server's wait; any other status (4xx, an unfollowed 3xx) is permanent.
func classifyStatus(shown string, resp *http.Response, now time.Time) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	err := fmt.Errorf("notify: webhook %s answered %d %s", shown, code, http.StatusText(code))
	if retryhttp.Retryable(code) {
		wait, _ := retryhttp.ServerWait(resp, now)
		return core.RetryAfter(err, wait)
	}
	return core.Permanent(err)
}

func (n *Notifier) mailAction(ctx context.Context, a core.Action, to string, subj core.Item) (core.Result, error) {
	// The planner parsed the address; an action planned before it did
	// carries To alone, read as one address all the same.
	rcpts := a.Recipients
	if len(rcpts) == 0 {
		r, err := core.ParseRecipient(to)
		if err != nil {
			return core.Result{}, core.Permanent(fmt.Errorf("notify: rule %q: %w", a.Rule, err))
		}
		rcpts = []mail.Address{r}
	}
	body := a.Body
	if subj.URL != "" && !strings.Contains(body, subj.URL) {
		body = strings.TrimRight(body, "\n") + "\n\n" + subj.URL + "\n"
	}
	m := Mail{To: rcpts, Subject: title(a, subj), Body: body, ID: a.Key,
		Headers: map[string]string{"X-Liaison-Marker": a.Marker()}}
	if err := n.Mail(ctx, m); err != nil {
		return core.Result{}, err
	}
	return core.Result{Note: "mailed " + addrSpecs(rcpts)}, nil
}

var _ core.Applier = (*Notifier)(nil)

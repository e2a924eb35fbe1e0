package github

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	gojson "github.com/goccy/go-json"
	gh "github.com/google/go-github/v60/github"

	"github.com/liaisonhq/liaison/core"
)

// verifySignature reports whether header is the X-Hub-Signature-256 of body
// under secret, compared in constant time.
func verifySignature(secret core.Secret, header string, body []byte) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok || secret == "" {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil || len(sig) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret.Reveal()))
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// Sign returns the X-Hub-Signature-256 value GitHub sends for body, for
// tests and the fake.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

var (
	deliveryRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	eventNameRe = regexp.MustCompile(`^[a-z_]{1,50}$`)
)

// VerifyWebhook implements core.WebhookVerifier. The signature covers the
// body alone, so a delivery re-sent under a fresh X-GitHub-Delivery has the
// key of the first.
func (c *Connector) VerifyWebhook(req core.WebhookRequest) (string, error) {
	sig := req.Header.Get("X-Hub-Signature-256")
	if !c.set.webhooks || !verifySignature(c.set.secret, sig, req.Body) {
		return "", core.ErrForged
	}
	return strings.ToLower(sig), nil
}

// ReceiveWebhook verifies a delivery's X-Hub-Signature-256 (core.ErrForged
// when missing or wrong, before anything else is read), decodes it and
// returns its events, each with the delivery id as DeliveryID, without a
// call to the API: a pull request's commits (when known for its head sha,
// or when a key could be in them and is nowhere else) and the pull requests
// a push touched are read after the answer, by Run. Pings, events GitHub sends that
// are not handled and events of repositories not configured give no events.
func (c *Connector) ReceiveWebhook(ctx context.Context, req core.WebhookRequest) ([]core.Event, error) {
	if !req.Verified {
		if _, err := c.VerifyWebhook(req); err != nil {
			return nil, err
		}
	}
	event := req.Header.Get("X-GitHub-Event")
	if !eventNameRe.MatchString(event) {
		return nil, core.Malformed("missing or malformed X-GitHub-Event header")
	}
	id := req.Header.Get("X-GitHub-Delivery")
	if !deliveryRe.MatchString(id) {
		return nil, core.Malformed("missing or malformed X-GitHub-Delivery header")
	}
	p, err := c.parseDelivery(event, req.Body)
	if err != nil {
		return nil, err
	}
	if p.kind == kindPing {
		return nil, nil
	}
	if p.kind != kindIgnored {
		repo, ok := c.repoOf(p.repo)
		if !ok {
			// An organization hook sends every repository's events; only
			// the configured ones are linked.
			p.kind = kindIgnored
		}
		p.repo = repo
	}
	if p.kind == kindIgnored {
		webhooksIgnored.WithLabelValues(ignoredLabel(event)).Inc()
		return nil, nil
	}
	evs, err := c.complete(p, id, req.Body)
	if err != nil {
		return nil, err
	}
	for i := range evs {
		evs[i].Raw = req.Body
	}
	return evs, nil
}

// ignoredLabel is the event label of an ignored delivery: the events the
// connector handles by name, any other as "other", so that the series
// stay a closed set whatever event names arrive.
func ignoredLabel(event string) string {
	switch event {
	case "pull_request", "pull_request_review", "issue_comment", "push":
		return event
	}
	return "other"
}

type deliveryKind int

const (
	kindIgnored deliveryKind = iota
	kindPing
	kindPR      // a pull request snapshot (pull_request, pull_request_review)
	kindComment // a comment on a pull request
	kindPush    // commits pushed to a branch
)

// parsed is a delivery decoded without touching the network.
type parsed struct {
	kind    deliveryKind
	repo    string // owner/name from the payload
	typ     core.EventType
	seen    []core.EventType
	pr      *gh.PullRequest
	changes []core.Change
	item    core.Item // kindComment: the comment-only snapshot
	branch  string    // kindPush
	pushed  []*gh.HeadCommit
}

// parseDelivery decodes the body of a verified delivery of event. Malformed
// JSON, or a handled event missing what identifies its record, is a
// *core.BadInput; events and actions not handled are kindIgnored.
func (c *Connector) parseDelivery(event string, body []byte) (parsed, error) {
	switch event {
	case "ping":
		var e gh.PingEvent
		if err := json.Unmarshal(body, &e); err != nil {
			return parsed{}, badJSON(event, err)
		}
		return parsed{kind: kindPing}, nil

	case "pull_request":
		var e prDelivery
		if err := decodePR(body, &e); err != nil {
			return parsed{}, badJSON(event, err)
		}
		p := parsed{kind: kindPR, pr: e.PullRequest.pullRequest(), repo: e.Repo.FullName}
		switch e.Action {
		case "opened":
			p.typ = core.Opened
		case "reopened":
			p.typ, p.seen = core.Reopened, []core.EventType{core.Opened}
		case "closed":
			p.typ = core.ClosedUnmerged
			if p.pr.GetMerged() {
				p.typ = core.Merged
			}
		case "ready_for_review", "converted_to_draft":
			p.typ = core.StatusChange
		case "synchronize":
			p.typ = core.Pushed
		default: // edited, labeled, assigned, review_requested, ...
			p.typ = core.Updated
		}
		if ch := e.Changes; ch != nil {
			if ch.Title != nil {
				p.changes = append(p.changes, core.Change{Field: "title", From: ch.Title.From, To: p.pr.GetTitle()})
			}
			if ch.Body != nil {
				p.changes = append(p.changes, core.Change{Field: "body", From: ch.Body.From, To: p.pr.GetBody()})
			}
		}
		return p.check(event)

	case "pull_request_review":
		var e prDelivery
		if err := decodePR(body, &e); err != nil {
			return parsed{}, badJSON(event, err)
		}
		p := parsed{kind: kindPR, pr: e.PullRequest.pullRequest(), repo: e.Repo.FullName}
		if e.Action != "submitted" || e.Review == nil {
			return parsed{}, nil
		}
		switch strings.ToLower(e.Review.State) {
		case "approved":
			p.typ = core.Approved
		case "changes_requested":
			p.typ = core.ChangesRequested
		default: // commented, dismissed
			return parsed{}, nil
		}
		return p.check(event)

	case "issue_comment":
		var e gh.IssueCommentEvent
		if err := json.Unmarshal(body, &e); err != nil {
			return parsed{}, badJSON(event, err)
		}
		if e.Issue == nil || !e.Issue.IsPullRequest() {
			return parsed{}, nil // a plain issue is not a record we link
		}
		if e.Comment == nil || e.GetComment().GetID() == 0 || e.GetIssue().GetNumber() <= 0 {
			return parsed{}, core.Malformed("issue_comment delivery without comment or issue number")
		}
		cm := comment(e.Comment)
		switch e.GetAction() {
		case "created", "edited":
		case "deleted":
			cm.Deleted = true
		default:
			return parsed{}, nil
		}
		p := parsed{kind: kindComment, typ: core.Commented, repo: e.GetRepo().GetFullName()}
		p.item = core.Item{
			// A comment-only snapshot: Ref, time and the comment. The store
			// keeps the record's other fields (core.Merge).
			UpdatedAt: later(e.GetIssue().GetUpdatedAt().Time, e.GetComment().GetUpdatedAt().Time).UTC(),
			Comments:  []core.Comment{cm},
		}
		p.item.Ref.ID = "#" + strconv.Itoa(e.GetIssue().GetNumber()) // repo prefixed in complete
		if p.repo == "" {
			return parsed{}, core.Malformed("issue_comment delivery without repository")
		}
		return p, nil

	case "push":
		var e gh.PushEvent
		if err := json.Unmarshal(body, &e); err != nil {
			return parsed{}, badJSON(event, err)
		}
		branch, ok := strings.CutPrefix(e.GetRef(), "refs/heads/")
		if !ok || e.GetDeleted() || branch == "" {
			return parsed{}, nil // a tag, or a branch deleted
		}
		p := parsed{kind: kindPush, typ: core.Pushed, repo: e.GetRepo().GetFullName(), branch: branch, pushed: e.Commits}
		if p.repo == "" {
			return parsed{}, core.Malformed("push delivery without repository")
		}
		return p, nil
	}
	return parsed{}, nil
}

// check refuses a pull request delivery that does not say which pull
// request it is about.
func (p parsed) check(event string) (parsed, error) {
	if p.pr == nil || p.pr.GetNumber() <= 0 || p.repo == "" {
		return parsed{}, core.Malformed("%s delivery without pull request number or repository", event)
	}
	return p, nil
}

// badJSON reports undecodable JSON without quoting it.
func badJSON(event string, err error) error {
	// encoding/json's errors, and goccy/go-json's (decodePR).
	var (
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
		gse *gojson.SyntaxError
		gte *gojson.UnmarshalTypeError
	)
	at := func(offset int64) error {
		return core.Malformed("%s delivery: invalid JSON at byte %d", event, offset)
	}
	wrongType := func(field string) error {
		if field == "" {
			return core.Malformed("%s delivery: a field has the wrong type", event)
		}
		return core.Malformed("%s delivery: field %q has the wrong type", event, field)
	}
	switch {
	case errors.As(err, &se):
		return at(se.Offset)
	case errors.As(err, &gse):
		return at(gse.Offset)
	case errors.As(err, &te):
		return wrongType(te.Field)
	case errors.As(err, &gte):
		return wrongType(gte.Field)
	}
	return core.Malformed("%s delivery: invalid JSON", event)
}

// complete turns a parsed delivery into events without touching the
// network: what the payload lacks (commits that could name a key; the
// current state of the pull requests a push touched) is read after the
// acknowledgement, by Run (see laterRead).
func (c *Connector) complete(p parsed, id string, raw []byte) ([]core.Event, error) {
	now := c.now()
	ev := func(it core.Item, typ core.EventType, did string) core.Event {
		it.Seen = append([]core.EventType{typ}, p.seen...)
		return core.Event{Source: c.name, DeliveryID: did, Via: core.ViaWebhook, Type: typ, Item: it, Changes: p.changes, At: now}
	}
	switch p.kind {
	case kindPR:
		it := c.prItem(p.repo, p.pr)
		cl, some, known := c.knownCommits(it.Ref.ID, p.pr.GetHead().GetSHA())
		if some {
			// Read at an older head, they stand in until the read below:
			// the store replaces a record's discovered links with those
			// of its newest snapshot, and a pull request's commits stay
			// when more are pushed.
			setCommits(&it, cl.msgs)
		}
		c.index(&it)
		e := ev(it, p.typ, id)
		if !known && c.commitsMayLink(&it) {
			if err := c.deferRead(laterRead{id: id, repo: p.repo, pr: p.pr, ev: e}); err != nil {
				return nil, err
			}
		}
		return []core.Event{e}, nil

	case kindComment:
		it := p.item
		it.Ref = core.Ref{System: c.name, Kind: core.PullRequest, ID: p.repo + it.Ref.ID}
		return []core.Event{ev(it, p.typ, id)}, nil

	case kindPush:
		if len(c.openOn(p.repo, p.branch)) == 0 {
			return nil, nil
		}
		// The body buffer is the server's, reused after the answer.
		return nil, c.deferRead(laterRead{id: id, repo: p.repo, branch: p.branch, pushed: p.pushed, raw: slices.Clone(raw)})
	}
	return nil, nil
}

// tolerantSnapshot is snapshot for deliveries and polls: when GitHub
// refuses the commits for good (the token cannot read them), the event
// still goes through, without commits (logged), rather than failing every
// delivery or stopping the repository's poll for good.
func (c *Connector) tolerantSnapshot(ctx context.Context, repo string, pr *gh.PullRequest) (core.Item, error) {
	it, err := c.snapshot(ctx, repo, pr)
	if err == nil {
		return it, nil
	}
	if perm, _ := core.Classify(err); perm {
		c.log.Warn("github: pull request snapshot without commits", "instance", c.name, "pull_request", repo+"#"+strconv.Itoa(pr.GetNumber()), "err", err)
		it = c.prItem(repo, pr)
		c.index(&it)
		return it, nil
	}
	return core.Item{}, err
}

// commitsKnown returns the shas of a pull request's commits as last read.
func (c *Connector) commitsKnown(id string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commits[id].shas
}

// appendPushed adds to the item's commit messages those pushed commits the
// commits API did not list yet.
func appendPushed(it *core.Item, known []string, pushed []*gh.HeadCommit) {
	var msgs []string
	if s := it.Fields["commits"]; s != "" {
		msgs = []string{s}
	}
	for _, hc := range pushed {
		sha := hc.GetID()
		if sha == "" {
			sha = hc.GetSHA()
		}
		dup := false
		for _, k := range known {
			if k == sha {
				dup = true
				break
			}
		}
		if !dup && hc.GetMessage() != "" {
			msgs = append(msgs, hc.GetMessage())
		}
	}
	setCommits(it, msgs)
}

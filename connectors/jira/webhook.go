package jira

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// The headers Jira sends with a webhook delivery.
const (
	// HeaderSignature carries "sha256=<hex HMAC of the body>" when the
	// webhook was registered with a secret (admin webhooks, Cloud and Data
	// Center 10+).
	HeaderSignature = "X-Hub-Signature"
	// HeaderDelivery identifies a delivery; Jira keeps it across retries.
	HeaderDelivery = "X-Atlassian-Webhook-Identifier"
)

// Webhook event names Jira sends.
const (
	eventIssueCreated   = "jira:issue_created"
	eventIssueUpdated   = "jira:issue_updated"
	eventIssueDeleted   = "jira:issue_deleted"
	eventCommentCreated = "comment_created"
	eventCommentUpdated = "comment_updated"
	eventCommentDeleted = "comment_deleted"
)

// webhookFutureSkew is how far in the future a delivery's timestamp may
// be: the clock skew between Jira and this host.
const webhookFutureSkew = 2 * time.Minute

// errNotSigned is why an unsigned delivery is refused.
var errNotSigned = errors.New("no " + HeaderSignature + " header")

// ReceiveWebhook verifies a delivery's signature in constant time and turns
// it into events; it does no I/O, so it answers within Jira's timeout
// whatever the database is doing. It returns core.ErrForged for a missing,
// malformed or wrong signature and for a signed delivery older than
// webhook_max_age, dated more than webhookFutureSkew ahead, or not dated
// at all, a *core.BadInput for a body that is not a Jira event, and
// no events for deliveries it acknowledges without acting on (other event
// types, projects that are not ours, a Data Center comment about an issue
// not seen yet, which the next poll catches up). Nothing of the body or the
// headers reaches a log line or an error.
func (c *Connector) ReceiveWebhook(ctx context.Context, req core.WebhookRequest) ([]core.Event, error) {
	if !req.Verified {
		if _, err := c.verify(req.Header, req.Body); err != nil {
			c.metrics.webhook("forged")
			c.log.Warn("jira webhook refused", "instance", c.name, "reason", err.Error())
			return nil, fmt.Errorf("jira %q: %v: %w", c.name, err, core.ErrForged)
		}
	}
	events, err := c.decodeWebhook(req.Header, req.Body, c.clock.Now())
	switch {
	case errors.Is(err, core.ErrForged):
		c.metrics.webhook("forged")
		c.log.Warn("jira webhook refused", "instance", c.name, "reason", err.Error())
		return nil, err
	case err != nil:
		c.metrics.webhook("malformed")
		c.log.Warn("jira webhook not understood", "instance", c.name, "error", err.Error())
		return nil, err
	case len(events) == 0:
		c.metrics.webhook("ignored")
	default:
		c.metrics.webhook("accepted")
	}
	return events, nil
}

// VerifyWebhook implements core.WebhookVerifier: the key is the verified
// signature, which covers the body (and so its timestamp) alone. The age
// of the timestamp is checked when the body is decoded.
func (c *Connector) VerifyWebhook(req core.WebhookRequest) (string, error) {
	mac, err := c.verify(req.Header, req.Body)
	if err != nil {
		return "", fmt.Errorf("jira %q: %v: %w", c.name, err, core.ErrForged)
	}
	return string(mac), nil
}

// verify checks the HMAC-SHA256 signature of body and returns it. Its
// errors say what was wrong without quoting what was sent.
func (c *Connector) verify(h http.Header, body []byte) ([]byte, error) {
	if c.creds.secret == "" {
		return nil, errors.New("webhooks are off for this instance (webhooks: false)")
	}
	sig := h.Get(HeaderSignature)
	if sig == "" {
		return nil, errNotSigned
	}
	method, digest, ok := strings.Cut(sig, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(method), "sha256") {
		return nil, errors.New("signature is not of the form sha256=<hex>")
	}
	got, err := hex.DecodeString(strings.TrimSpace(digest))
	if err != nil {
		return nil, errors.New("signature is not hexadecimal")
	}
	mac := hmac.New(sha256.New, []byte(c.creds.secret.Reveal()))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, errors.New("signature does not match the body")
	}
	return got, nil
}

// decodeWebhook turns a verified delivery into events (see ReceiveWebhook).
func (c *Connector) decodeWebhook(h http.Header, body []byte, now time.Time) ([]core.Event, error) {
	var w wireWebhook
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, core.Malformed("jira webhook: %v", safeJSONError(err))
	}
	if w.WebhookEvent == "" {
		return nil, core.Malformed("jira webhook: no webhookEvent")
	}
	// Jira signs no time of its own, but the signed body carries one, in
	// every delivery of Cloud and Data Center: an old delivery is a replay
	// (Jira itself retries for ~30 minutes), and one from the future would
	// stay replayable for as long as it is early. A delivery without a
	// timestamp cannot be dated, so it is refused like a stale one.
	if w.Timestamp <= 0 {
		return nil, fmt.Errorf("jira %q: delivery without a timestamp: %w", c.name, core.ErrForged)
	}
	at := time.UnixMilli(w.Timestamp)
	switch age := now.Sub(at); {
	case age > time.Duration(c.cfg.WebhookMaxAge):
		return nil, fmt.Errorf("jira %q: stale delivery, sent %s ago: %w", c.name, age.Round(time.Second), core.ErrForged)
	case age < -webhookFutureSkew:
		return nil, fmt.Errorf("jira %q: delivery dated %s in the future (more than the %s of clock skew allowed): %w",
			c.name, (-age).Round(time.Second), webhookFutureSkew, core.ErrForged)
	}
	id := h.Get(HeaderDelivery)
	if id == "" {
		id = fallbackDeliveryID(&w)
	}
	switch w.WebhookEvent {
	case eventIssueCreated, eventIssueUpdated, eventIssueDeleted:
		return c.issueEvent(&w, id, at, body)
	case eventCommentCreated, eventCommentUpdated, eventCommentDeleted:
		return c.commentEvent(&w, id, at, body)
	}
	return nil, nil
}

// fallbackDeliveryID stands in for X-Atlassian-Webhook-Identifier on servers
// that do not send it: retries of one delivery carry the same body, so the
// same timestamp, event and issue.
func fallbackDeliveryID(w *wireWebhook) string {
	var key, comment string
	if w.Issue != nil {
		key = w.Issue.Key
	}
	if w.Comment != nil {
		comment = w.Comment.ID
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%d|%s|%s|%s", w.Timestamp, w.WebhookEvent, key, comment))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

func (c *Connector) issueEvent(w *wireWebhook, id string, at time.Time, body []byte) ([]core.Event, error) {
	if w.Issue == nil || w.Issue.Key == "" {
		return nil, core.Malformed("jira webhook %s: no issue", w.WebhookEvent)
	}
	ref, ok := c.refOf(w.Issue.Key)
	if !ok {
		return nil, nil
	}
	if !issueKeyRE.MatchString(w.Issue.Key) {
		return nil, core.Malformed("jira webhook %s: the issue key is not of the form ABC-123", w.WebhookEvent)
	}
	c.keys.remember(w.Issue.ID, w.Issue.Key)
	n, err := c.normalize(w.Issue, ref)
	if err != nil {
		return nil, core.Malformed("jira webhook %s: %v", w.WebhookEvent, err)
	}
	ev := core.Event{Source: c.name, DeliveryID: id, Via: core.ViaWebhook, At: at, Item: n.item, Links: n.links, Raw: body}
	var from, to string
	if w.Changelog != nil {
		for _, ci := range w.Changelog.Items {
			ch := changeOf(ci)
			ev.Changes = append(ev.Changes, ch)
			if ch.Field == "status" {
				from, to = ci.FromString, ci.ToString
			}
		}
	}
	switch w.WebhookEvent {
	case eventIssueCreated:
		ev.Type = core.Created
	case eventIssueDeleted:
		ev.Type = core.Deleted
		ev.Item.Deleted = true
	default:
		switch {
		case to != "":
			ev.Type = core.StatusChange
		case w.Comment != nil:
			ev.Type = core.Commented
		default:
			ev.Type = core.Updated
		}
	}
	ev.Item.Seen = []core.EventType{ev.Type}
	if to != "" && from != "" {
		c.flows.learn(n.project, n.issueType, from, to)
		if w.IssueEventTypeName == "issue_reopened" {
			ev.Item.Seen = append(ev.Item.Seen, core.Reopened)
		}
	}
	if w.Comment != nil {
		cm, err := commentOf(w.Comment)
		if err != nil {
			return nil, core.Malformed("jira webhook %s: %v", w.WebhookEvent, err)
		}
		if !containsComment(ev.Item.Comments, cm.ID) {
			ev.Item.Comments = append(ev.Item.Comments, cm)
		}
		if ev.Type != core.Commented {
			ev.Item.Seen = append(ev.Item.Seen, core.Commented)
		}
	}
	if ev.Item.UpdatedAt.IsZero() {
		ev.Item.UpdatedAt = at
	}
	// The changelog is the tracker's own history: the status the issue
	// left belongs on its path, whether or not the delivery that announced
	// that status has arrived yet. Rules that ask "did the fix pass QA
	// first" must not read a late delivery as a skipped step.
	ev.Item.Path = append(ev.Item.Path, transitionSteps(from, to, ev.Item.UpdatedAt)...)
	return []core.Event{ev}, nil
}

func (c *Connector) commentEvent(w *wireWebhook, id string, at time.Time, body []byte) ([]core.Event, error) {
	if w.Comment == nil || w.Comment.ID == "" {
		return nil, core.Malformed("jira webhook %s: no comment", w.WebhookEvent)
	}
	var key string
	if w.Issue != nil && w.Issue.Key != "" {
		if !issueKeyRE.MatchString(w.Issue.Key) {
			return nil, core.Malformed("jira webhook %s: the issue key is not of the form ABC-123", w.WebhookEvent)
		}
		key = w.Issue.Key
		c.keys.remember(w.Issue.ID, w.Issue.Key)
	}
	if key == "" {
		// Data Center's comment events name the issue by id only, in the
		// comment's self link: known if the issue was seen before.
		key = c.keys.lookup(issueIDFromSelf(w.Comment.Self))
	}
	if key == "" {
		c.log.Info("jira comment webhook about an issue not seen yet; the next poll catches it up", "instance", c.name)
		return nil, nil
	}
	ref, ok := c.refOf(key)
	if !ok {
		return nil, nil
	}
	cm, err := commentOf(w.Comment)
	if err != nil {
		return nil, core.Malformed("jira webhook %s: %v", w.WebhookEvent, err)
	}
	updated := commentTime(w.Comment)
	if w.WebhookEvent == eventCommentDeleted {
		cm.Deleted = true
		updated = at
	}
	if updated.IsZero() {
		updated = at
	}
	// A comment-only snapshot: the store keeps the issue's other fields.
	it := core.Item{Ref: ref, UpdatedAt: updated, Comments: []core.Comment{cm}, Seen: []core.EventType{core.Commented}}
	return []core.Event{{Source: c.name, DeliveryID: id, Via: core.ViaWebhook, Type: core.Commented, Item: it, At: at, Raw: body}}, nil
}

// changeOf names a changelog item by field id for Jira's own fields
// ("status", "assignee") and by display name for custom fields.
func changeOf(ci wireChangeItem) core.Change {
	f := ci.Field
	if ci.FieldType == "jira" && ci.FieldID != "" {
		f = ci.FieldID
	}
	if strings.EqualFold(f, "status") {
		f = "status"
	}
	return core.Change{Field: f, From: ci.FromString, To: ci.ToString}
}

func containsComment(cs []core.Comment, id string) bool {
	for _, c := range cs {
		if c.ID == id {
			return true
		}
	}
	return false
}

// issueIDFromSelf reads 10013 from .../rest/api/2/issue/10013/comment/10082.
func issueIDFromSelf(self string) string {
	_, rest, ok := strings.Cut(self, "/issue/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// issueKeys remembers issue ids' keys, for webhooks that carry only the id.
// It is bounded: when full it starts over, and a miss only delays an event
// to the next poll.
type issueKeys struct {
	mu sync.Mutex
	m  map[string]string
}

const maxIssueKeys = 50_000

func (k *issueKeys) remember(id, key string) {
	if id == "" || key == "" {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= maxIssueKeys {
		k.m = map[string]string{}
	}
	k.m[id] = key
}

func (k *issueKeys) lookup(id string) string {
	if id == "" {
		return ""
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[id]
}

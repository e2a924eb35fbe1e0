package zendesk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// The headers Zendesk signs webhooks with.
const (
	HeaderSignature = "X-Zendesk-Webhook-Signature"
	HeaderTimestamp = "X-Zendesk-Webhook-Signature-Timestamp"
)

// Sign returns the X-Zendesk-Webhook-Signature for a timestamp and body:
// base64 of the binary HMAC-SHA256 of timestamp+body under the secret.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyWebhook implements core.WebhookVerifier: the key is the verified
// signature, which covers the timestamp and the body, so the replays of one
// delivery within its window share it.
func (c *Connector) VerifyWebhook(req core.WebhookRequest) (string, error) {
	if !c.hooks {
		return "", fmt.Errorf("zendesk %q: %w: webhooks are turned off for this instance", c.name, core.ErrForged)
	}
	mac, err := c.verify(req.Header, req.Body)
	if err != nil {
		return "", err
	}
	return string(mac), nil
}

// verify checks a delivery's signature and freshness, and returns the
// signature. Every failure is core.ErrForged; the message says which check
// failed, never what was sent.
func (c *Connector) verify(h http.Header, body []byte) ([]byte, error) {
	sig, ts := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sig == "" || ts == "" {
		return nil, fmt.Errorf("zendesk %q: %w: %s or %s header missing", c.name, core.ErrForged, HeaderSignature, HeaderTimestamp)
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return nil, fmt.Errorf("zendesk %q: %w: signature is not base64", c.name, core.ErrForged)
	}
	mac := hmac.New(sha256.New, []byte(c.secret.Reveal()))
	mac.Write([]byte(ts))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, fmt.Errorf("zendesk %q: %w: signature does not match", c.name, core.ErrForged)
	}
	at, ok := parseStamp(ts)
	if !ok {
		return nil, fmt.Errorf("zendesk %q: %w: signature timestamp unreadable", c.name, core.ErrForged)
	}
	if d := c.clock.Now().Sub(at); d > c.maxSkew || d < -c.maxSkew {
		return nil, fmt.Errorf("zendesk %q: %w: signature timestamp more than %s from now (replay or clock skew)", c.name, core.ErrForged, c.maxSkew)
	}
	return got, nil
}

// parseStamp reads the signature timestamp: RFC 3339 as Zendesk sends it,
// or Unix seconds.
func parseStamp(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// The webhook forms the connector accepts.
const (
	formTrigger = iota + 1 // the JSON body of a trigger or automation (README)
	formEvent              // a ticket event subscription: type zen:event-type:ticket.*
	formIgnored            // another event domain (user, organization): acknowledged
)

// delivery is a decoded webhook, before anything is fetched.
type delivery struct {
	form     int
	ticketID int64

	// What the body carried: the trigger form's snapshot (custom fields
	// by id or title kept apart until the catalog names them), and the
	// newest comment of either form. It is used only when the ticket
	// cannot be read.
	item   core.Item
	fields map[string]string
	latest *core.Comment

	// Event form.
	eventID   string
	eventType core.EventType
	at        time.Time
}

// flex is a string that also accepts a JSON number, boolean or null, since
// a trigger body is written by hand and placeholders may go unquoted.
type flex string

func (f *flex) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flex(s)
	case b[0] == '{' || b[0] == '[':
		return errors.New("want a string")
	default:
		*f = flex(b)
	}
	return nil
}

func (f flex) String() string { return strings.TrimSpace(string(f)) }

// flexList is tags as Zendesk renders them ("a b c") or as a JSON array.
type flexList []string

func (l *flexList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var items []flex
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			if s := it.String(); s != "" {
				out = append(out, s)
			}
		}
		*l = out
		return nil
	}
	var s flex
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*l = strings.Fields(string(s))
	return nil
}

// triggerBody is the body the README tells admins to paste into the
// webhook action of their trigger (and automation).
type triggerBody struct {
	Ticket *struct {
		ID             flex            `json:"id"`
		URL            flex            `json:"url"`
		Status         flex            `json:"status"`
		Priority       flex            `json:"priority"`
		Type           flex            `json:"type"`
		Subject        flex            `json:"subject"`
		Description    flex            `json:"description"`
		RequesterEmail flex            `json:"requester_email"`
		RequesterName  flex            `json:"requester_name"`
		AssigneeEmail  flex            `json:"assignee_email"`
		Group          flex            `json:"group"`
		Organization   flex            `json:"organization"`
		Tags           flexList        `json:"tags"`
		CreatedAt      flex            `json:"created_at"`
		UpdatedAt      flex            `json:"updated_at"`
		LatestComment  *triggerComment `json:"latest_comment"`
		CustomFields   map[string]flex `json:"custom_fields"`
	} `json:"ticket"`
}

type triggerComment struct {
	ID          flex `json:"id"`
	Public      flex `json:"public"`
	AuthorEmail flex `json:"author_email"`
	CreatedAt   flex `json:"created_at"`
	Body        flex `json:"body"`
}

// eventBody is a ticket event subscription delivery.
type eventBody struct {
	Type    string `json:"type"`
	ID      flex   `json:"id"`
	Subject string `json:"subject"`
	Time    flex   `json:"time"`
	Detail  struct {
		ID flex `json:"id"`
	} `json:"detail"`
	Event struct {
		Comment *struct {
			ID       flex  `json:"id"`
			Body     flex  `json:"body"`
			IsPublic *bool `json:"is_public"`
			Author   *struct {
				ID flex `json:"id"`
			} `json:"author"`
		} `json:"comment"`
	} `json:"event"`
}

// webhookBody is either form: the trigger body's one key, "ticket", does
// not occur at the top of a ticket event, so one decode reads both.
type webhookBody struct {
	triggerBody
	eventBody
}

// decodeWebhook parses a (verified) body into a delivery. It never fetches
// and never echoes the body in its errors, which are *core.BadInput.
func decodeWebhook(body []byte) (*delivery, error) {
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		if json.Valid(body) && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			return nil, core.Malformed("zendesk webhook: body does not have the documented shape")
		}
		return nil, core.Malformed("zendesk webhook: body is not a JSON object")
	}
	switch {
	case strings.HasPrefix(b.Type, "zen:event-type:ticket."):
		return decodeEvent(&b.eventBody)
	case strings.HasPrefix(b.Type, "zen:event-type:"):
		return &delivery{form: formIgnored}, nil
	case b.Ticket != nil:
		return decodeTrigger(&b.triggerBody)
	}
	return nil, core.Malformed("zendesk webhook: neither a trigger body with a \"ticket\" object nor a ticket event")
}

func decodeTrigger(b *triggerBody) (*delivery, error) {
	t := b.Ticket
	id, err := strconv.ParseInt(t.ID.String(), 10, 64)
	if err != nil || id <= 0 {
		return nil, core.Malformed("zendesk webhook: trigger body: ticket.id is not a ticket number")
	}
	d := &delivery{form: formTrigger, ticketID: id}
	updated := parseTime(t.UpdatedAt.String())
	it := core.Item{
		Title:     t.Subject.String(),
		Body:      string(t.Description),
		Native:    nativeStatus(t.Status.String()),
		Priority:  placeholderValue(t.Priority.String()),
		Reporter:  t.RequesterEmail.String(),
		Assignee:  t.AssigneeEmail.String(),
		Labels:    []string(t.Tags),
		URL:       t.URL.String(),
		UpdatedAt: updated,
	}
	fields := map[string]string{}
	for k, v := range t.CustomFields {
		fields[strings.TrimSpace(k)] = string(v)
	}
	if v := placeholderValue(t.Type.String()); v != "" {
		fields["type"] = v
	}
	if v := placeholderValue(t.Group.String()); v != "" {
		fields["group"] = v
	}
	if v := placeholderValue(t.Organization.String()); v != "" {
		fields["org"] = v
	}
	d.fields = fields
	for _, tag := range it.Labels {
		if markerTagRE.MatchString(tag) {
			it.Marker = tag
			break
		}
	}
	if lc := t.LatestComment; lc != nil {
		cid, _ := strconv.ParseInt(lc.ID.String(), 10, 64)
		if cid > 0 {
			body, marker := splitMarker(string(lc.Body))
			created := parseTime(lc.CreatedAt.String())
			pub, _ := strconv.ParseBool(strings.ToLower(lc.Public.String()))
			d.latest = &core.Comment{
				ID: strconv.FormatInt(cid, 10), Author: lc.AuthorEmail.String(), Body: body,
				Public: pub, CreatedAt: created, Marker: marker,
			}
		}
	}
	d.item = it
	return d, nil
}

func decodeEvent(e *eventBody) (*delivery, error) {
	d := &delivery{form: formEvent, eventID: e.ID.String(), eventType: eventTypeOf(e.Type)}
	if d.eventID == "" {
		return nil, core.Malformed("zendesk webhook: ticket event without an id")
	}
	idText := e.Detail.ID.String()
	if s, ok := strings.CutPrefix(e.Subject, "zen:ticket:"); ok && idText == "" {
		idText = s
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return nil, core.Malformed("zendesk webhook: ticket event without a ticket number")
	}
	d.ticketID = id
	d.at = parseTime(e.Time.String())
	if cm := e.Event.Comment; cm != nil {
		cid, _ := strconv.ParseInt(cm.ID.String(), 10, 64)
		if cid > 0 {
			body, marker := splitMarker(string(cm.Body))
			c := &core.Comment{ID: strconv.FormatInt(cid, 10), Body: body, Marker: marker, CreatedAt: d.at}
			if cm.IsPublic != nil {
				c.Public = *cm.IsPublic
			}
			d.latest = c
		}
	}
	return d, nil
}

// eventTypeOf maps a ticket event type to the closest core event type.
func eventTypeOf(t string) core.EventType {
	switch strings.TrimPrefix(t, "zen:event-type:ticket.") {
	case "created":
		return core.Created
	case "comment_added":
		return core.Commented
	case "status_changed", "custom_status_changed":
		return core.StatusChange
	case "soft_deleted", "permanently_deleted", "marked_as_spam":
		return core.Deleted
	}
	return core.Updated
}

// placeholderValue drops the "-" Zendesk renders for an empty drop-down.
func placeholderValue(s string) string {
	s = strings.TrimSpace(s)
	if s == "-" {
		return ""
	}
	return strings.ToLower(s)
}

// parseTime reads the timestamps placeholders and events carry: RFC 3339
// (with or without seconds), or the "2006-01-02 15:04:05 -0700" form.
func parseTime(s string) time.Time {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05 MST"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// ReceiveWebhook implements core.WebhookReceiver. It verifies the
// signature and its timestamp (core.ErrForged) and decodes the trigger body
// or ticket event (*core.BadInput). Then it reads the ticket once (its
// comments only when their count changed since this process last read
// them): the store skips a duplicate delivery whole, so a webhook's
// snapshot must be exactly the one the poller would record under the same
// key, and only the API gives that (a trigger body holds only the fields
// the admin listed). If the read fails, the delivery is still acknowledged
// with what it carried (see partial) and the poller catches up, so that
// Zendesk's retries are not spent on our outage.
func (c *Connector) ReceiveWebhook(ctx context.Context, req core.WebhookRequest) ([]core.Event, error) {
	if !c.hooks {
		c.metrics.webhooks.WithLabelValues("forged").Inc()
		return nil, fmt.Errorf("zendesk %q: %w: webhooks are turned off for this instance", c.name, core.ErrForged)
	}
	if !req.Verified {
		if _, err := c.verify(req.Header, req.Body); err != nil {
			c.metrics.webhooks.WithLabelValues("forged").Inc()
			return nil, err
		}
	}
	d, err := decodeWebhook(req.Body)
	if err != nil {
		c.metrics.webhooks.WithLabelValues("malformed").Inc()
		return nil, err
	}
	if d.form == formIgnored {
		c.metrics.webhooks.WithLabelValues("ignored").Inc()
		return nil, nil
	}
	ev := c.fetched(ctx, d)
	ev.Raw = req.Body
	c.metrics.webhooks.WithLabelValues("accepted").Inc()
	return []core.Event{ev}, nil
}

// fetched completes a delivery by reading the ticket. A trigger delivery
// is keyed like a poll of the same version (<ref>@<updated_at>); a ticket
// event by its event id.
func (c *Connector) fetched(ctx context.Context, d *delivery) core.Event {
	ref := c.ref(d.ticketID)
	t, it, err := c.fetchTicket(ctx, d.ticketID)
	delivery, at := d.eventID, d.at
	switch {
	case errors.Is(err, core.ErrNotFound):
		// Gone (deleted, spam): a deletion that keeps what was known.
		if delivery == "" {
			delivery = ref.String() + "@deleted"
		}
		if at.IsZero() {
			at = c.clock.Now()
		}
		return c.event(core.Item{Ref: ref, Deleted: true}, core.Deleted, core.ViaWebhook, delivery, at)
	case err != nil:
		return c.partial(ctx, d, err)
	}
	typ := d.eventType
	if typ == "" {
		typ = guessType(t.CreatedAt, t.UpdatedAt, it.Deleted, it.Comments)
	}
	if delivery == "" {
		delivery = deliveryID(ref, it.UpdatedAt)
	}
	if at.IsZero() {
		at = it.UpdatedAt
	}
	return c.event(it, typ, core.ViaWebhook, delivery, at)
}

// partial is the event for a delivery whose ticket could not be read: what
// the body carried (a trigger body's fields, the comment either form
// named) with no update time. Merged into a known ticket it adds only the
// comment (core.Merge keeps the newer snapshot's fields); for a ticket not
// seen before it is the best there is until the poller reads it. Its key
// is its own, so the poller's complete snapshot is not taken for a duplicate.
func (c *Connector) partial(ctx context.Context, d *delivery, err error) core.Event {
	c.log.Warn("webhook: reading the ticket failed; keeping what the delivery carried", "ticket", d.ticketID, "err", err)
	ref := c.ref(d.ticketID)
	it := d.item
	it.Ref, it.UpdatedAt = ref, time.Time{}
	if it.URL == "" || !strings.HasPrefix(it.URL, "http") {
		it.URL = c.ticketURL(d.ticketID)
	}
	if len(d.fields) > 0 {
		// Custom fields named by id need the catalog; without it they
		// are left out rather than named wrongly.
		k, _ := c.catalog(ctx, false)
		it.Fields = map[string]string{}
		for key, v := range d.fields {
			if id, err := strconv.ParseInt(key, 10, 64); err == nil {
				if k == nil || k.fields[id] == nil {
					continue
				}
				key = k.fields[id].Title
			}
			it.Fields[key] = v
		}
	}
	if d.latest != nil {
		it.Comments = []core.Comment{*d.latest}
	}
	typ, delivery := d.eventType, d.eventID
	if typ == "" {
		typ = core.Updated
		if d.latest != nil {
			typ = core.Commented
		}
	}
	if delivery == "" {
		delivery = fmt.Sprintf("%s@%s#webhook", ref, d.item.UpdatedAt.UTC().Format(time.RFC3339Nano))
		if d.latest != nil {
			delivery += "#" + d.latest.ID
		}
	}
	at := d.at
	if at.IsZero() {
		at = c.clock.Now()
	}
	return c.event(it, typ, core.ViaWebhook, delivery, at)
}

// guessType says what a version most likely was: a creation when it is the
// first version, a comment when the newest comment is as new as the ticket,
// otherwise an update.
func guessType(created, updated time.Time, deleted bool, comments []core.Comment) core.EventType {
	switch {
	case deleted:
		return core.Deleted
	case !created.IsZero() && created.Equal(updated):
		return core.Created
	}
	for _, cm := range comments {
		if !updated.IsZero() && cm.CreatedAt.Truncate(time.Second).Equal(updated.Truncate(time.Second)) {
			return core.Commented
		}
	}
	return core.Updated
}

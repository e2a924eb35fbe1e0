package zendesk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// sideloads are the users and organizations a response carried along.
type sideloads struct {
	users map[int64]apiUser
	orgs  map[int64]string
}

func (c *Connector) sideload(users []apiUser, orgs []apiNamed) sideloads {
	sl := sideloads{users: make(map[int64]apiUser, len(users)), orgs: make(map[int64]string, len(orgs))}
	for _, u := range users {
		sl.users[u.ID] = u
		if u.Email != "" {
			c.emails.put(u.ID, u.Email)
			c.users.put(strings.ToLower(u.Email), u.ID)
		}
	}
	for _, o := range orgs {
		sl.orgs[o.ID] = o.Name
	}
	return sl
}

// email names a user by e-mail, from the sideload or what was seen before.
func (c *Connector) email(id int64, sl sideloads) string {
	if id == 0 {
		return ""
	}
	if u, ok := sl.users[id]; ok && u.Email != "" {
		return u.Email
	}
	e, _ := c.emails.get(id)
	return e
}

// markerTagRE matches what core.MarkerFor makes.
var markerTagRE = regexp.MustCompile(`^liaison-[0-9a-f]{12}$`)

// legacyMarkerRE finds the visible marker line "(ref liaison-…)" that
// earlier versions appended to their comments; it must be the last line.
var legacyMarkerRE = regexp.MustCompile(`\n*\(ref (liaison-[0-9a-f]{12})\)[ \t\r\n]*$`)

// The marker of a comment the gateway writes travels in it as invisible
// characters, so that customers never read the gateway's bookkeeping,
// while every way the comment comes back (the API's body and plain_body,
// the trigger webhook's placeholders, the e-mail Zendesk sends) still
// carries it. Not in html_body as an HTML comment: Zendesk cleans
// html_body with an allow-list and does not document that comments
// survive, and webhooks and polls read the plain body anyway.
//
// The form is markerOpen, then each of the marker's twelve hex digits as
// two characters of markerDigits (two bits each), then markerClose.
const (
	markerOpen  = "\u2063\u2062" // INVISIBLE SEPARATOR, INVISIBLE TIMES
	markerClose = "\u2063"
)

// markerDigits are zero-width characters that e-mail clients and browsers
// draw as nothing: ZERO WIDTH SPACE, ZERO WIDTH NON-JOINER, ZERO WIDTH
// JOINER, WORD JOINER.
var markerDigits = [4]rune{'\u200b', '\u200c', '\u200d', '\u2060'}

// hiddenMarker returns the invisible form of marker (liaison- and twelve
// hex digits), or "" for anything else.
func hiddenMarker(marker string) string {
	if !markerTagRE.MatchString(marker) {
		return ""
	}
	hexDigits := strings.TrimPrefix(marker, "liaison-")
	var b strings.Builder
	b.WriteString(markerOpen)
	for _, r := range hexDigits {
		v := strings.IndexRune("0123456789abcdef", r)
		b.WriteRune(markerDigits[v>>2])
		b.WriteRune(markerDigits[v&3])
	}
	b.WriteString(markerClose)
	return b.String()
}

// hiddenMarkerRE finds the invisible marker at the end of a comment.
var hiddenMarkerRE = regexp.MustCompile(markerOpen + `([\x{200b}\x{200c}\x{200d}\x{2060}]{24})` + markerClose + `[ \t\r\n]*$`)

// withMarker returns a comment body that carries marker invisibly.
func withMarker(body, marker string) string {
	return strings.TrimRight(body, " \t\r\n") + hiddenMarker(marker)
}

// splitMarker returns a comment body without its marker, and the marker
// ("" when the comment is not the gateway's). The marker must end the
// comment, so that a reply quoting one of ours above its own text is not
// taken for ours.
func splitMarker(body string) (string, string) {
	if m := hiddenMarkerRE.FindStringSubmatchIndex(body); m != nil {
		var hexDigits strings.Builder
		rs := []rune(body[m[2]:m[3]])
		for i := 0; i+1 < len(rs); i += 2 {
			v := slices.Index(markerDigits[:], rs[i])<<2 | slices.Index(markerDigits[:], rs[i+1])
			hexDigits.WriteByte("0123456789abcdef"[v])
		}
		return body[:m[0]], "liaison-" + hexDigits.String()
	}
	if m := legacyMarkerRE.FindStringSubmatchIndex(body); m != nil {
		return body[:m[0]], body[m[2]:m[3]]
	}
	return body, ""
}

// MarkerOf returns the marker of a comment the gateway wrote, "" for
// anyone else's: for tests that count the gateway's writes at a fake.
func MarkerOf(body string) string {
	_, m := splitMarker(body)
	return m
}

// item normalises a ticket. Custom fields are keyed by title; "type",
// "group", "form" and "org" carry the system values rules often ask for.
func (c *Connector) item(t *apiTicket, k *catalog, sl sideloads) core.Item {
	it := core.Item{
		Ref:       c.ref(t.ID),
		Title:     t.Subject,
		Body:      t.Description,
		Native:    strings.ToLower(t.Status),
		Priority:  strings.ToLower(t.Priority),
		Reporter:  c.email(t.RequesterID, sl),
		Assignee:  c.email(t.AssigneeID, sl),
		Labels:    t.Tags,
		URL:       c.ticketURL(t.ID),
		UpdatedAt: t.UpdatedAt.UTC(),
		Deleted:   strings.EqualFold(t.Status, "deleted"),
	}
	fields := map[string]string{}
	for _, f := range t.CustomFields {
		def := k.fields[f.ID]
		if def == nil {
			continue
		}
		if v, ok := fieldString(f.Value); ok {
			fields[def.Title] = v
		}
	}
	if t.Type != "" {
		fields["type"] = strings.ToLower(t.Type)
	}
	if n := k.groupNames[t.GroupID]; n != "" {
		fields["group"] = n
	}
	if n := k.formNames[t.TicketFormID]; n != "" {
		fields["form"] = n
	}
	if n := sl.orgs[t.OrganizationID]; n != "" {
		fields["org"] = n
	}
	if len(fields) > 0 {
		it.Fields = fields
	}
	for _, tag := range t.Tags {
		if markerTagRE.MatchString(tag) {
			it.Marker = tag
			break
		}
	}
	return it
}

// fieldString renders a custom field value as text: strings as they are,
// check boxes as "true"/"false", multi-selects space-separated (as
// Zendesk writes tags), numbers literally. ok is false for null.
func fieldString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
	case '[':
		var list []any
		if json.Unmarshal(raw, &list) == nil {
			parts := make([]string, 0, len(list))
			for _, v := range list {
				parts = append(parts, fmt.Sprint(v))
			}
			return strings.Join(parts, " "), true
		}
	case '{':
		return "", false
	}
	return string(raw), true // true, false, numbers
}

func (c *Connector) comment(ac apiComment, sl sideloads) core.Comment {
	body, marker := splitMarker(ac.Body)
	cm := core.Comment{
		ID:        strconv.FormatInt(ac.ID, 10),
		Author:    c.email(ac.AuthorID, sl),
		Body:      body,
		Public:    ac.Public,
		CreatedAt: ac.CreatedAt.UTC(),
		Marker:    marker,
	}
	for _, a := range ac.Attachments {
		cm.Files = append(cm.Files, core.Attachment{
			Name: a.FileName, ContentType: a.ContentType, Size: a.Size, URL: a.ContentURL,
		})
	}
	return cm
}

// commentCache remembers a ticket's comments as last read, so that an
// update that added none costs no request. Comments are append-only in
// Zendesk, so the count says whether the list changed.
type commentCache struct {
	count    int
	comments []core.Comment
}

// ticketComments returns every comment of a ticket. count (the
// comment_count sideload) lets it answer from the cache; -1 always reads.
func (c *Connector) ticketComments(ctx context.Context, id int64, count int) ([]core.Comment, error) {
	if cc, ok := c.comments.get(id); ok && count >= 0 && cc.count == count {
		return cc.comments, nil
	}
	c.metrics.fetches.WithLabelValues("comments").Inc()
	q := "?include=users&page[size]=100"
	var out []core.Comment
	for pages := 0; ; pages++ {
		if pages == 60 { // 5000 comments is Zendesk's per-ticket maximum
			return nil, fmt.Errorf("ticket %d: more than %d comment pages", id, pages)
		}
		var page commentsPage
		if err := c.get(ctx, fmt.Sprintf("/tickets/%d/comments.json%s", id, q), &page); err != nil {
			return nil, err
		}
		sl := c.sideload(page.Users, nil)
		for _, ac := range page.Comments {
			out = append(out, c.comment(ac, sl))
		}
		if !page.Meta.HasMore || page.Meta.AfterCursor == "" {
			break
		}
		q = "?include=users&page[size]=100&page[after]=" + url.QueryEscape(page.Meta.AfterCursor)
	}
	c.comments.put(id, commentCache{count: len(out), comments: out})
	return out, nil
}

// links are the explicit links a ticket states: the keys in the link field.
func (c *Connector) links(it *core.Item) []core.Link {
	if c.linkTarget.System == "" || it.Fields == nil {
		return nil
	}
	var out []core.Link
	for _, key := range splitList(it.Fields[c.cfg.LinkField]) {
		out = append(out, core.Link{
			From: it.Ref, To: core.Ref{System: c.linkTarget.System, Kind: c.linkTarget.Kind, ID: key},
			Role: core.EscalatedTo, Origin: core.Explicit,
		})
	}
	return out
}

// splitList splits "KBOT-1, KBOT-2" or "a b" into its items.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\t' })
}

// deliveryID is the de-duplication key of a ticket version: a poll and a
// trigger webhook that saw the same version produce the same id.
func deliveryID(r core.Ref, updated time.Time) string {
	return r.String() + "@" + updated.UTC().Format(time.RFC3339Nano)
}

// eventType guesses what happened from a snapshot alone.
func eventType(t *apiTicket) core.EventType {
	switch {
	case strings.EqualFold(t.Status, "deleted"):
		return core.Deleted
	case !t.CreatedAt.IsZero() && t.CreatedAt.Equal(t.UpdatedAt):
		return core.Created
	}
	return core.Updated
}

func (c *Connector) event(it core.Item, typ core.EventType, via core.Via, delivery string, at time.Time) core.Event {
	it.Seen = []core.EventType{typ}
	return core.Event{
		Source: c.name, DeliveryID: delivery, Via: via, Type: typ,
		Item: it, Links: c.links(&it), At: at,
	}
}

// fetchTicket reads one ticket with its users, organization and comments:
// a complete snapshot.
func (c *Connector) fetchTicket(ctx context.Context, id int64) (*apiTicket, core.Item, error) {
	c.metrics.fetches.WithLabelValues("ticket").Inc()
	var env ticketEnvelope
	if err := c.get(ctx, fmt.Sprintf("/tickets/%d.json?include=users,organizations,comment_count", id), &env); err != nil {
		if statusOf(err) == 404 {
			return nil, core.Item{}, fmt.Errorf("ticket %d: %w", id, core.ErrNotFound)
		}
		return nil, core.Item{}, err
	}
	k, err := c.catalogFor(ctx, &env.Ticket)
	if err != nil {
		return nil, core.Item{}, err
	}
	it := c.item(&env.Ticket, k, c.sideload(env.Users, env.Organizations))
	count := -1
	if env.Ticket.CommentCount != nil {
		count = *env.Ticket.CommentCount
	}
	cs, err := c.ticketComments(ctx, id, count)
	if err != nil {
		return nil, core.Item{}, err
	}
	it.Comments = cs
	return &env.Ticket, it, nil
}

// Fetch implements core.Fetcher: the ticket's current snapshot with its
// comments, or core.ErrNotFound.
func (c *Connector) Fetch(ctx context.Context, r core.Ref) (*core.Item, error) {
	id, err := c.ticketID(r)
	if err != nil {
		return nil, err
	}
	_, it, err := c.fetchTicket(ctx, id)
	if err != nil {
		return nil, err
	}
	return &it, nil
}

func (c *Connector) ticketID(r core.Ref) (int64, error) {
	if r.System != c.name || r.Kind != core.CustomerTicket {
		return 0, core.Permanent(fmt.Errorf("zendesk %q: %s is not one of this instance's customer tickets", c.name, r))
	}
	id, err := strconv.ParseInt(r.ID, 10, 64)
	if err != nil || id <= 0 {
		return 0, core.Permanent(fmt.Errorf("zendesk %q: ticket id %q is not a number", c.name, r.ID))
	}
	return id, nil
}

package zendesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nukosuke/go-zendesk/zendesk"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// The REST shapes the connector reads. They are its own rather than
// go-zendesk's so that one odd custom field value (a number where a string
// was expected) never makes a whole ticket unreadable.

type apiTicket struct {
	ID              int64           `json:"id"`
	Subject         string          `json:"subject"`
	Description     string          `json:"description"`
	Status          string          `json:"status"`
	Priority        string          `json:"priority"`
	Type            string          `json:"type"`
	RequesterID     int64           `json:"requester_id"`
	AssigneeID      int64           `json:"assignee_id"`
	OrganizationID  int64           `json:"organization_id"`
	GroupID         int64           `json:"group_id"`
	TicketFormID    int64           `json:"ticket_form_id"`
	CollaboratorIDs []int64         `json:"collaborator_ids"`
	Tags            []string        `json:"tags"`
	CustomFields    []apiFieldValue `json:"custom_fields"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	// CommentCount is present when the request asked for the
	// comment_count sideload.
	CommentCount *int `json:"comment_count"`
}

type apiFieldValue struct {
	ID    int64           `json:"id"`
	Value json.RawMessage `json:"value"`
}

type apiComment struct {
	ID          int64           `json:"id"`
	Type        string          `json:"type"`
	Body        string          `json:"body"`
	Public      bool            `json:"public"`
	AuthorID    int64           `json:"author_id"`
	Attachments []apiAttachment `json:"attachments"`
	CreatedAt   time.Time       `json:"created_at"`
}

type apiAttachment struct {
	ID          int64  `json:"id"`
	FileName    string `json:"file_name"`
	ContentURL  string `json:"content_url"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

type apiUser struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

type apiNamed struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// apiAudit is the audit a ticket create or update returns; its Comment
// event carries the new comment's id. An event has a comment's shape
// (without created_at: the audit's is the comment's).
type apiAudit struct {
	ID        int64        `json:"id"`
	AuthorID  int64        `json:"author_id"`
	CreatedAt time.Time    `json:"created_at"`
	Events    []apiComment `json:"events"`
}

// ticketEnvelope is GET /tickets/{id}, and the answer to a create or update.
type ticketEnvelope struct {
	Ticket        apiTicket  `json:"ticket"`
	Audit         *apiAudit  `json:"audit"`
	Users         []apiUser  `json:"users"`
	Organizations []apiNamed `json:"organizations"`
}

type commentsPage struct {
	Comments []apiComment `json:"comments"`
	Users    []apiUser    `json:"users"`
	Meta     struct {
		HasMore     bool   `json:"has_more"`
		AfterCursor string `json:"after_cursor"`
	} `json:"meta"`
	NextPage *string `json:"next_page"` // offset pagination, should a proxy drop page[size]
}

// exportPage is GET /incremental/tickets/cursor.json.
type exportPage struct {
	Tickets       []apiTicket `json:"tickets"`
	Users         []apiUser   `json:"users"`
	Organizations []apiNamed  `json:"organizations"`
	AfterCursor   string      `json:"after_cursor"`
	EndOfStream   bool        `json:"end_of_stream"`
}

type searchPage struct {
	Results []struct {
		ID         int64  `json:"id"`
		ResultType string `json:"result_type"`
	} `json:"results"`
	Count int64 `json:"count"`
}

// get, post and put call the API through go-zendesk's generic methods
// (which add the credentials) and turn every failure into an error the
// outbox understands, without the response body.
func (c *Connector) get(ctx context.Context, path string, out any) error {
	b, err := c.zd.Get(ctx, path)
	if err != nil {
		return c.classify(http.MethodGet, path, err)
	}
	return decode(http.MethodGet, path, b, out)
}

func (c *Connector) post(ctx context.Context, path string, in, out any) error {
	b, err := c.zd.Post(ctx, path, in)
	if err != nil {
		return c.classify(http.MethodPost, path, err)
	}
	return decode(http.MethodPost, path, b, out)
}

func (c *Connector) put(ctx context.Context, path string, in, out any) error {
	b, err := c.zd.Put(ctx, path, in)
	if err != nil {
		return c.classify(http.MethodPut, path, err)
	}
	return decode(http.MethodPut, path, b, out)
}

func decode(method, path string, b []byte, out any) error {
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		// A malformed answer (a proxy's error page) is worth a retry.
		return fmt.Errorf("%s %s: unreadable response: %w", method, pathOnly(path), err)
	}
	return nil
}

// classify turns a go-zendesk error into retryhttp's classification:
// core.RetryAfter for 429 and 5xx (with Retry-After), core.Permanent for
// other statuses. The message keeps Zendesk's short error code and
// description, never the body, and never any of our secrets.
func (c *Connector) classify(method, path string, err error) error {
	var ze zendesk.Error
	if errors.As(err, &ze) {
		resp := &http.Response{
			StatusCode: ze.Status(),
			Header:     ze.Headers(),
			Request:    &http.Request{Method: method, URL: &url.URL{Path: c.base.Path + pathOnly(path)}},
		}
		return retryhttp.Classify(resp, nil, c.scrub(errorDetail(ze)))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", method, pathOnly(path), ctxErr(err))
	}
	return retryhttp.Classify(nil, err, "")
}

func ctxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

// statusOf returns the HTTP status a classified error carries, or 0.
func statusOf(err error) int {
	var se *retryhttp.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// errorDetail extracts Zendesk's error code and description, e.g.
// "RecordInvalid: Record validation errors", bounded in length.
func errorDetail(ze zendesk.Error) string {
	b, _ := io.ReadAll(io.LimitReader(ze.Body(), 64<<10))
	var e struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"description"`
	}
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	var code string
	if json.Unmarshal(e.Error, &code) != nil {
		// Some endpoints nest it: {"error": {"title": ..., "message": ...}}.
		var nested struct {
			Title string `json:"title"`
		}
		_ = json.Unmarshal(e.Error, &nested)
		code = nested.Title
	}
	d := strings.TrimSpace(strings.Trim(code+": "+e.Description, ": "))
	if len(d) > 200 {
		d = d[:200] + "…"
	}
	return d
}

// scrub removes our own secrets from text that came from the server: the
// token, the webhook secret, and the Basic credentials as they travel.
func (c *Connector) scrub(s string) string {
	for _, v := range c.redact {
		if v != "" {
			s = strings.ReplaceAll(s, v, core.Secret(v).String())
		}
	}
	return s
}

// idempotencyKey makes the transport send an Idempotency-Key header, which
// Zendesk honours on ticket creation: a retried create whose first attempt
// got through returns the same ticket instead of a second one.
type idempotencyKey struct{}

func withIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

// instrumented sits under the retrying client, so it sees every attempt:
// it counts requests, keeps the rate-limit gauge, and adds per-request
// headers carried in the context.
type instrumented struct {
	next http.RoundTripper
	m    *instanceMetrics
}

func (t *instrumented) RoundTrip(r *http.Request) (*http.Response, error) {
	if k, ok := r.Context().Value(idempotencyKey{}).(string); ok && k != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Idempotency-Key", k)
	}
	resp, err := t.next.RoundTrip(r)
	code := "error"
	if err == nil {
		code = fmt.Sprint(resp.StatusCode)
		for _, h := range []string{"X-Rate-Limit-Remaining", "Ratelimit-Remaining"} {
			if v := resp.Header.Get(h); v != "" {
				var n float64
				if _, e := fmt.Sscan(v, &n); e == nil {
					t.m.rateRemaining.Set(n)
				}
				break
			}
		}
	}
	t.m.requests.WithLabelValues(r.Method, code).Inc()
	return resp, err
}

// boundedMap is a small concurrency-safe cache that forgets everything
// when it grows past its bound: simple, and enough for look-ups whose miss
// only costs one request.
type boundedMap[K comparable, V any] struct {
	mu  sync.Mutex
	max int
	m   map[K]V
}

func newBoundedMap[K comparable, V any](max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{max: max, m: map[K]V{}}
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[k]
	return v, ok
}

func (b *boundedMap[K, V]) put(k K, v V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.m) >= b.max {
		clear(b.m)
	}
	b.m[k] = v
}

type jsonRaw = json.RawMessage

// unmarshal is json.Unmarshal that treats an absent or null value as empty.
func unmarshal(b []byte, v any) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, v)
}

func marshalRaw(all []jsonRaw) []byte {
	b, _ := json.Marshal(all)
	return b
}

package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	gh "github.com/google/go-github/v60/github"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// etagCache keeps the last body and ETag of GET requests, so that asking
// again is a conditional request: GitHub answers 304 when nothing changed,
// and a 304 costs no rate limit.
type etagCache struct {
	mu       sync.Mutex
	maxBytes int
	size     int
	m        map[string]cached
}

type cached struct {
	etag string
	body []byte
	next int // next page, from the Link header (a 304 may not repeat it)
}

// newETagCache keeps up to maxBytes of bodies.
func newETagCache(maxBytes int) *etagCache {
	return &etagCache{maxBytes: maxBytes, m: map[string]cached{}}
}

func (e *etagCache) get(k string) (cached, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.m[k]
	return v, ok
}

func (e *etagCache) put(k string, v cached) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(v.body) > e.maxBytes/8 {
		return // too big to be worth keeping
	}
	if old, ok := e.m[k]; ok {
		e.size -= len(old.body)
		delete(e.m, k)
	}
	for old, c := range e.m {
		if e.size+len(v.body) <= e.maxBytes {
			break
		}
		// Any entry will do: a dropped one costs one unconditional request.
		e.size -= len(c.body)
		delete(e.m, old)
	}
	e.m[k] = v
	e.size += len(v.body)
}

// got describes a GET's answer.
type got struct {
	next        int  // next page, 0 when this is the last
	notModified bool // answered 304 from the cache
	etag        string
}

// getJSON GETs path (relative to the API root, query included) into v,
// conditionally when the path was read before: a 304 is answered from the
// cache and costs no rate limit.
func (c *Connector) getJSON(ctx context.Context, path string, v any) (got, error) {
	return c.get(ctx, path, false, "", v)
}

// getOwnETag GETs path conditionally on an ETag the caller keeps (the poll
// cursor's; none when etag is ""), bypassing the cache. On 304, v is left
// alone and got.notModified is set.
func (c *Connector) getOwnETag(ctx context.Context, path, etag string, v any) (got, error) {
	return c.get(ctx, path, true, etag, v)
}

func (c *Connector) get(ctx context.Context, path string, own bool, etag string, v any) (got, error) {
	req, err := c.gh.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		return got{}, fmt.Errorf("GET %s: %w", path, err)
	}
	var prev cached
	have := false
	if own {
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
	} else if prev, have = c.cache.get(path); have {
		req.Header.Set("If-None-Match", prev.etag)
	}
	var buf bytes.Buffer
	resp, err := c.gh.Do(ctx, req, &buf)
	if resp != nil && resp.StatusCode == http.StatusNotModified {
		switch {
		case own && etag != "":
			return got{notModified: true, etag: etag}, nil
		case have:
			return got{next: prev.next, notModified: true, etag: prev.etag}, c.decode(req, prev.body, v)
		}
	}
	if err != nil {
		return got{}, classify(resp, err)
	}
	g := got{next: resp.NextPage, etag: resp.Header.Get("ETag")}
	if g.etag != "" && !own {
		c.cache.put(path, cached{etag: g.etag, body: bytes.Clone(buf.Bytes()), next: g.next})
	}
	return g, c.decode(req, buf.Bytes(), v)
}

func (c *Connector) decode(req *http.Request, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decoding the answer: %v", req.URL.Path, err)
	}
	return nil
}

// classify turns a go-github outcome into the error the outbox understands:
// nil on success, core.RetryAfter for rate limits (primary and secondary,
// whose 403 would otherwise read as permanent), 429, 5xx and transport
// failures, core.Permanent for other statuses. The error carries the method,
// path and status, and GitHub's short message at most, never a body.
func classify(resp *gh.Response, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var rl *gh.RateLimitError
	if errors.As(err, &rl) {
		wait := time.Until(rl.Rate.Reset.Time)
		if wait < 0 {
			wait = 0
		}
		return core.RetryAfter(statusErr(rl.Response, "rate limit exhausted"), wait)
	}
	var abuse *gh.AbuseRateLimitError
	if errors.As(err, &abuse) {
		wait := time.Minute // GitHub: wait at least a minute when it does not say
		if abuse.RetryAfter != nil && *abuse.RetryAfter > 0 {
			wait = *abuse.RetryAfter
		}
		return core.RetryAfter(statusErr(abuse.Response, "secondary rate limit"), wait)
	}
	var hr *http.Response
	if resp != nil {
		hr = resp.Response
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		hr = er.Response
	}
	if hr == nil {
		return retryhttp.Classify(nil, err, "")
	}
	detail := ""
	if er != nil {
		detail = safeDetail(er.Message)
	}
	if hr.StatusCode == http.StatusForbidden && (hr.Header.Get("Retry-After") != "" || hr.Header.Get("X-RateLimit-Remaining") == "0") {
		// A rate limit whose body did not name it (go-github tells them
		// apart by the documentation URL): still temporary.
		wait, ok := retryhttp.ServerWait(hr, time.Now())
		if !ok {
			wait = time.Minute
		}
		return core.RetryAfter(statusErr(hr, detail), wait)
	}
	return retryhttp.Classify(hr, nil, detail)
}

func statusErr(hr *http.Response, detail string) error {
	se := &retryhttp.StatusError{Detail: detail}
	if hr != nil {
		se.Status = hr.StatusCode
		if hr.Request != nil {
			se.Method, se.Path = hr.Request.Method, hr.Request.URL.Path
		}
	}
	return se
}

// safeDetail keeps GitHub's error message when it is short, one line and
// printable ("Not Found", "Validation Failed"); anything else is dropped,
// since a message may quote what we sent.
func safeDetail(msg string) string {
	if msg == "" || len(msg) > 80 || !utf8.ValidString(msg) || strings.ContainsAny(msg, "\r\n\"'<>{}") {
		return ""
	}
	return msg
}

// isStatus reports whether err is a GitHub answer with the given status.
func isStatus(err error, status int) bool {
	var se *retryhttp.StatusError
	return errors.As(err, &se) && se.Status == status
}

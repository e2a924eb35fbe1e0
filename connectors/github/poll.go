package github

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/liaisonhq/liaison/core"
)

const (
	cursorVersion = 1
	// firstLookback is how far back a repository without a cursor is read:
	// as far as GitHub keeps failed deliveries. `liaison backfill` reaches
	// further with CursorAt.
	firstLookback = 72 * time.Hour
	// maxPollPages bounds the pages read per repository in one Poll; a
	// longer catch-up continues in the next call (more is true).
	maxPollPages = 5
	pollPageSize = 100
)

// pollCursor is Poll's cursor, stored by the engine as JSON.
type pollCursor struct {
	V     int                    `json:"v"`
	Repos map[string]*repoCursor `json:"repos"`
}

// repoCursor is how far one repository was read.
type repoCursor struct {
	// Since is the newest updated_at read; pull requests updated at or
	// after it are read again (their DeliveryID de-duplicates).
	Since time.Time `json:"since"`
	// ETag is the first page's ETag as of the scan that reached Since: an
	// unchanged first page answers 304, which costs no rate limit.
	ETag string `json:"etag,omitempty"`
	// Scan is a catch-up in progress, spanning several calls.
	Scan *scanState `json:"scan,omitempty"`
}

// scanState is an unfinished read of the list, newest first. Pages only
// shift towards the end while it runs (an updated pull request moves to the
// top), so resuming at Page can repeat a pull request but never skip one.
type scanState struct {
	Page   int       `json:"page"`
	Newest time.Time `json:"newest"`
	ETag   string    `json:"etag,omitempty"`
}

// CursorAt returns a cursor that reads every configured repository's pull
// requests updated since t.
func (c *Connector) CursorAt(t time.Time) string {
	cur := pollCursor{V: cursorVersion, Repos: map[string]*repoCursor{}}
	for _, r := range c.set.repos {
		cur.Repos[r] = &repoCursor{Since: t.UTC()}
	}
	b, _ := json.Marshal(cur)
	return string(b)
}

func (c *Connector) readCursor(s string) (pollCursor, error) {
	cur := pollCursor{V: cursorVersion, Repos: map[string]*repoCursor{}}
	if s == "" {
		return cur, nil
	}
	if err := json.Unmarshal([]byte(s), &cur); err != nil {
		return pollCursor{}, fmt.Errorf("github %q: poll cursor is not valid JSON: %v", c.name, err)
	}
	if cur.V != cursorVersion {
		return pollCursor{}, fmt.Errorf("github %q: poll cursor version %d, want %d", c.name, cur.V, cursorVersion)
	}
	if cur.Repos == nil {
		cur.Repos = map[string]*repoCursor{}
	}
	return cur, nil
}

// Poll reads the pull requests of every configured repository updated
// since the cursor, newest first, each with its commits; it returns them
// oldest first with DeliveryID "<ref>@<updated_at>". A repository whose
// first page is unchanged (304) costs no rate limit. A repository that
// fails is logged and keeps its cursor; when every repository fails, Poll
// returns the error. more is true when a repository has more pages to read.
func (c *Connector) Poll(ctx context.Context, cursor string) ([]core.Event, string, bool, error) {
	cur, err := c.readCursor(cursor)
	if err != nil {
		return nil, cursor, false, err
	}
	var (
		events  []core.Event
		more    bool
		lastErr error
		failed  int
	)
	for _, repo := range c.set.repos {
		rc := cur.Repos[repo]
		if rc == nil {
			rc = &repoCursor{Since: c.now().Add(-firstLookback).UTC()}
		}
		evs, next, repoMore, err := c.pollRepo(ctx, repo, *rc)
		if err != nil {
			if ctx.Err() != nil {
				return nil, cursor, false, ctx.Err()
			}
			failed++
			lastErr = err
			c.log.Warn("github: poll failed", "instance", c.name, "repo", repo, "err", err)
			continue
		}
		events = append(events, evs...)
		cur.Repos[repo] = &next
		more = more || repoMore
	}
	if failed > 0 && failed == len(c.set.repos) {
		return nil, cursor, false, lastErr
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return nil, cursor, false, err
	}
	return events, string(b), more, nil
}

// pollRepo reads one repository from rc and returns its events (oldest
// first) and its next cursor.
func (c *Connector) pollRepo(ctx context.Context, repo string, rc repoCursor) ([]core.Event, repoCursor, bool, error) {
	scan := rc.Scan
	if scan == nil {
		etag := rc.ETag
		if etag == "" {
			// A cursor stored before its ETag was known: the one kept in
			// memory is good for the same starting point.
			c.mu.Lock()
			if t, ok := c.pollTags[repo]; ok && t.since.Equal(rc.Since) {
				etag = t.etag
			}
			c.mu.Unlock()
		}
		scan = &scanState{Page: 1, Newest: rc.Since}
		var prs []*gh.PullRequest
		g, err := c.getOwnETag(ctx, c.listPath(repo, 1), etag, &prs)
		if err != nil {
			return nil, rc, false, err
		}
		if g.notModified {
			return nil, rc, false, nil
		}
		scan.ETag = g.etag
		evs, done, err := c.pollPage(ctx, repo, rc.Since, scan, prs)
		if err != nil {
			return nil, rc, false, err
		}
		if done || g.next == 0 {
			return c.finish(repo, rc, scan, evs)
		}
		scan.Page = g.next
		return c.continueScan(ctx, repo, rc, scan, evs, 1)
	}
	return c.continueScan(ctx, repo, rc, scan, nil, 0)
}

// continueScan reads further pages of a scan, up to maxPollPages in all.
func (c *Connector) continueScan(ctx context.Context, repo string, rc repoCursor, scan *scanState, evs []core.Event, pages int) ([]core.Event, repoCursor, bool, error) {
	s := *scan
	for ; pages < c.pollPages; pages++ {
		var prs []*gh.PullRequest
		g, err := c.getOwnETag(ctx, c.listPath(repo, s.Page), "", &prs)
		if err != nil {
			return nil, rc, false, err
		}
		page, done, err := c.pollPage(ctx, repo, rc.Since, &s, prs)
		if err != nil {
			return nil, rc, false, err
		}
		evs = append(evs, page...)
		if done || g.next == 0 {
			return c.finish(repo, rc, &s, evs)
		}
		s.Page = g.next
	}
	rc.Scan = &s
	slices.Reverse(evs)
	return evs, rc, true, nil
}

// finish ends a scan: the cursor moves to the newest time read.
func (c *Connector) finish(repo string, rc repoCursor, scan *scanState, evs []core.Event) ([]core.Event, repoCursor, bool, error) {
	next := repoCursor{Since: scan.Newest, ETag: scan.ETag}
	c.mu.Lock()
	c.pollTags[repo] = pollTag{since: next.Since, etag: next.ETag}
	c.mu.Unlock()
	slices.Reverse(evs)
	return evs, next, false, nil
}

// pollPage turns one page of the list into events, stopping at the first
// pull request older than since (done).
func (c *Connector) pollPage(ctx context.Context, repo string, since time.Time, scan *scanState, prs []*gh.PullRequest) ([]core.Event, bool, error) {
	var evs []core.Event
	for _, pr := range prs {
		up := pr.GetUpdatedAt().Time
		if up.Before(since) {
			return evs, true, nil
		}
		it, err := c.tolerantSnapshot(ctx, repo, pr)
		if err != nil {
			return nil, false, err
		}
		typ := core.Updated
		it.Seen = []core.EventType{core.Opened} // every pull request was opened
		switch it.Native {
		case nativeMerged:
			typ = core.Merged
		case nativeClosed:
			typ = core.ClosedUnmerged
		}
		if typ != core.Updated {
			it.Seen = append(it.Seen, typ)
		}
		evs = append(evs, core.Event{
			Source:     c.name,
			DeliveryID: pollDeliveryID(&it),
			Via:        core.ViaPoll,
			Type:       typ,
			Item:       it,
			At:         c.now(),
		})
		if up.After(scan.Newest) {
			scan.Newest = up.UTC()
		}
	}
	return evs, false, nil
}

// pollDeliveryID names a polled snapshot: "<ref>@<updated_at>/<digest>".
// A record seen again unchanged gets the same id (and is de-duplicated);
// the digest of what the snapshot says tells apart two changes made within
// the second GitHub's updated_at resolves.
func pollDeliveryID(it *core.Item) string {
	h := sha256.New()
	for _, s := range []string{it.Native, it.Title, it.Body, strings.Join(it.Labels, ","), it.Assignee, it.Fields["head_sha"], it.Fields["base"], it.Fields["commits"]} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return it.Ref.String() + "@" + it.UpdatedAt.Format(time.RFC3339Nano) + "/" + hex.EncodeToString(h.Sum(nil)[:4])
}

func (c *Connector) listPath(repo string, page int) string {
	return fmt.Sprintf("repos/%s/pulls?state=all&sort=updated&direction=desc&per_page=%d&page=%d", repo, c.pollPageSize, page)
}

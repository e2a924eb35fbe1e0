package github

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/liaisonhq/liaison/core"
)

// maxCommitPages bounds the commits read per pull request: GitHub lists at
// most 250 commits of a pull request, in pages of 100.
const maxCommitPages = 3

// maxKnownCommitLists bounds the commit lists kept in memory.
const maxKnownCommitLists = 20000

// snapshot normalizes a pull request with its commit messages, read from
// the commits API unless known for its head sha, and records it in the
// branch index that push events are matched against.
func (c *Connector) snapshot(ctx context.Context, repo string, pr *gh.PullRequest) (core.Item, error) {
	it := c.prItem(repo, pr)
	list, err := c.commitsOf(ctx, repo, pr.GetNumber(), pr.GetHead().GetSHA())
	if err != nil {
		return core.Item{}, err
	}
	setCommits(&it, list.msgs)
	c.index(&it)
	return it, nil
}

// commitsOf returns pull request n's commits as of head sha, from memory
// when they were read at that sha, otherwise from the commits API (with
// conditional requests, so an unchanged list costs no rate limit).
func (c *Connector) commitsOf(ctx context.Context, repo string, n int, head string) (commitList, error) {
	id := c.prRef(repo, n).ID
	c.mu.Lock()
	cl, ok := c.commits[id]
	c.mu.Unlock()
	if ok && head != "" && cl.head == head {
		return cl, nil
	}
	cl = commitList{head: head}
	for page := 1; page <= maxCommitPages; page++ {
		var rcs []*gh.RepositoryCommit
		g, err := c.getJSON(ctx, fmt.Sprintf("repos/%s/pulls/%d/commits?per_page=100&page=%d", repo, n, page), &rcs)
		if err != nil {
			return commitList{}, fmt.Errorf("reading the commits of %s#%d: %w", repo, n, err)
		}
		for _, rc := range rcs {
			cl.shas = append(cl.shas, rc.GetSHA())
			cl.msgs = append(cl.msgs, rc.GetCommit().GetMessage())
		}
		if g.next == 0 {
			break
		}
	}
	if head != "" {
		c.mu.Lock()
		if len(c.commits) >= maxKnownCommitLists {
			for k := range c.commits { // any: a dropped list is read again
				delete(c.commits, k)
				break
			}
		}
		c.commits[id] = cl
		c.mu.Unlock()
	}
	return cl, nil
}

// getPR reads one pull request (conditionally). A missing one is
// core.ErrNotFound.
func (c *Connector) getPR(ctx context.Context, repo string, n int) (*gh.PullRequest, error) {
	var pr gh.PullRequest
	if _, err := c.getJSON(ctx, fmt.Sprintf("repos/%s/pulls/%d", repo, n), &pr); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return nil, fmt.Errorf("pull request %s#%d: %w", repo, n, core.ErrNotFound)
		}
		return nil, fmt.Errorf("reading pull request %s#%d: %w", repo, n, err)
	}
	return &pr, nil
}

// index records whether a pull request is open on its head branch, so that
// a push to that branch can be matched to it.
func (c *Connector) index(it *core.Item) {
	repo, branch := it.Fields["repo"], it.Fields["branch"]
	if repo == "" || branch == "" {
		return
	}
	key := strings.ToLower(repo) + "\x00" + branch
	_, num, _ := strings.Cut(it.Ref.ID, "#")
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.branches[key]
	if it.Native == nativeOpen || it.Native == nativeDraft {
		if set == nil {
			set = map[string]int{}
			c.branches[key] = set
		}
		set[num] = 0
		return
	}
	delete(set, num)
	if len(set) == 0 {
		delete(c.branches, key)
	}
}

// openOn returns the numbers of the open pull requests known to have branch
// as their head in repo.
func (c *Connector) openOn(repo, branch string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.branches[strings.ToLower(repo)+"\x00"+branch]
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	return out
}

// Fetch reads one pull request's current snapshot, with its commits and
// comments. A pull request that does not exist is core.ErrNotFound.
func (c *Connector) Fetch(ctx context.Context, r core.Ref) (*core.Item, error) {
	owner, name, n, err := c.parsePRRef(r)
	if err != nil {
		return nil, core.Permanent(err)
	}
	repo := owner + "/" + name
	pr, err := c.getPR(ctx, repo, n)
	if err != nil {
		return nil, err
	}
	it, err := c.snapshot(ctx, repo, pr)
	if err != nil {
		return nil, err
	}
	ics, err := c.comments(ctx, repo, n)
	if err != nil {
		return nil, err
	}
	for _, ic := range ics {
		it.Comments = append(it.Comments, comment(ic))
	}
	return &it, nil
}

// maxCommentPages bounds the comments read from one pull request.
const maxCommentPages = 10

// comments lists a pull request's issue comments, oldest first.
func (c *Connector) comments(ctx context.Context, repo string, n int) ([]*gh.IssueComment, error) {
	var out []*gh.IssueComment
	for page := 1; page <= maxCommentPages; page++ {
		var ics []*gh.IssueComment
		g, err := c.getJSON(ctx, fmt.Sprintf("repos/%s/issues/%d/comments?per_page=100&page=%d", repo, n, page), &ics)
		if err != nil {
			return nil, fmt.Errorf("reading the comments of %s#%d: %w", repo, n, err)
		}
		out = append(out, ics...)
		if g.next == 0 {
			break
		}
	}
	return out, nil
}

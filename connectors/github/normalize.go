package github

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/liaisonhq/liaison/core"
)

// Native statuses of a pull request.
const (
	nativeOpen   = "open"
	nativeDraft  = "draft"
	nativeMerged = "merged"
	nativeClosed = "closed"
)

// NativeStatuses are the statuses a pull request can have, as Item.Native
// holds them and the mapping files name them.
var NativeStatuses = []string{nativeOpen, nativeDraft, nativeMerged, nativeClosed}

// markerRe finds the hidden marker the connector writes into its comments.
var markerRe = regexp.MustCompile(`<!--\s*(liaison-[0-9a-f]{12})\s*-->`)

// hiddenMarker is how a marker is embedded in a comment body: invisible in
// GitHub's rendering, kept verbatim in the API.
func hiddenMarker(m string) string { return "<!-- " + m + " -->" }

// nativeOf names a pull request's status.
func nativeOf(pr *gh.PullRequest) string {
	switch {
	case pr.GetMerged() || pr.MergedAt != nil:
		return nativeMerged
	case pr.GetState() == "closed":
		return nativeClosed
	case pr.GetDraft():
		return nativeDraft
	}
	return nativeOpen
}

// prItem normalizes a pull request of repo (owner/name). Fields["commits"]
// is left for the caller, which knows the commits.
func (c *Connector) prItem(repo string, pr *gh.PullRequest) core.Item {
	owner, _, _ := strings.Cut(repo, "/")
	it := core.Item{
		Ref:      c.prRef(repo, pr.GetNumber()),
		Title:    pr.GetTitle(),
		Body:     pr.GetBody(),
		Native:   nativeOf(pr),
		Reporter: pr.GetUser().GetLogin(),
		URL:      pr.GetHTMLURL(),
		Fields: map[string]string{
			"branch":   pr.GetHead().GetRef(),
			"base":     pr.GetBase().GetRef(),
			"head_sha": pr.GetHead().GetSHA(),
			"repo":     repo,
			"org":      owner,
			// author_association: OWNER, MEMBER, COLLABORATOR, NONE, …
			"author_association": pr.GetAuthorAssociation(),
		},
		UpdatedAt: pr.GetUpdatedAt().Time.UTC(),
		Untrusted: !c.set.trusts(repo, pr.GetAuthorAssociation()),
	}
	if a := pr.GetAssignee(); a != nil {
		it.Assignee = a.GetLogin()
	} else if len(pr.Assignees) > 0 {
		it.Assignee = pr.Assignees[0].GetLogin()
	}
	for _, l := range pr.Labels {
		if n := l.GetName(); n != "" {
			it.Labels = append(it.Labels, n)
		}
	}
	for k, v := range it.Fields {
		if v == "" {
			delete(it.Fields, k)
		}
	}
	return it
}

// comment normalizes an issue comment on a pull request.
func comment(ic *gh.IssueComment) core.Comment {
	cm := core.Comment{
		ID:        strconv.FormatInt(ic.GetID(), 10),
		Author:    ic.GetUser().GetLogin(),
		Body:      ic.GetBody(),
		Public:    false, // GitHub comments are for developers, never shown to customers
		CreatedAt: ic.GetCreatedAt().Time.UTC(),
	}
	if m := markerRe.FindStringSubmatch(cm.Body); m != nil {
		cm.Marker = m[1]
	}
	return cm
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// setCommits stores a commit list in the item's fields.
func setCommits(it *core.Item, msgs []string) {
	if len(msgs) == 0 {
		delete(it.Fields, "commits")
		return
	}
	if it.Fields == nil {
		it.Fields = map[string]string{}
	}
	it.Fields["commits"] = strings.Join(msgs, "\n")
}

package github

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// hookEvents are the events the connector reads from a GitHub webhook.
var hookEvents = []string{"issue_comment", "pull_request", "pull_request_review", "push"}

// wireHook is one webhook of GET /repos/{o}/{r}/hooks or /orgs/{org}/hooks.
type wireHook struct {
	ID     int64    `json:"id"`
	Active bool     `json:"active"`
	Events []string `json:"events"`
	Config struct {
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
	} `json:"config"`
}

// CheckSite implements core.SiteChecker: every configured repository is
// visible with write access (comments, labels, statuses), and, when
// webhooks are on, a repository or organization webhook reaches the
// gateway with the events the connector reads.
func (c *Connector) CheckSite(ctx context.Context, _ *core.Mappings, publicURL string) core.SiteReport {
	var r core.SiteReport
	target := cmp.Or(strings.TrimRight(publicURL, "/"), "https://<gateway>") + core.WebhookPath("github", c.name)
	orgs := map[string][]wireHook{} // org hooks, read once per owner
	scopesChecked := false
	var errs []error
	for _, repo := range c.set.repos {
		var meta struct {
			Permissions *struct {
				Push bool `json:"push"`
			} `json:"permissions"`
		}
		scopes, classic, err := c.readRepo(ctx, repo, &meta)
		if err == nil && classic && !scopesChecked {
			scopesChecked = true
			if !slices.Contains(scopes, "repo") && !slices.Contains(scopes, "public_repo") {
				r.Missing = append(r.Missing, fmt.Sprintf("the token (classic) has the scopes %q; it needs repo (or public_repo, for public repositories only): generate one in Settings → Developer settings → Personal access tokens",
					strings.Join(scopes, ", ")))
			}
		}
		if err != nil {
			if statusOf(err) == http.StatusNotFound {
				r.Missing = append(r.Missing, fmt.Sprintf("repository %s: not found, or the credentials cannot see it: install the GitHub App on it, or give the token access to it", repo))
				continue
			}
			if statusOf(err) == http.StatusUnauthorized {
				r.Err = fmt.Errorf("reading repository %s: %w", repo, err) // every request would say the same
				return r
			}
			errs = append(errs, fmt.Errorf("reading repository %s: %w", repo, err))
			continue
		}
		// Installation tokens carry no permissions here; a token does.
		if meta.Permissions != nil && !meta.Permissions.Push {
			r.Missing = append(r.Missing, fmt.Sprintf("repository %s: the credentials may read it but not write (comments, labels, commit statuses): give the token (or the App) Pull requests, Issues and Commit statuses read and write", repo))
		}
		if !c.set.webhooks {
			continue
		}
		hooks, err := c.hooksOf(ctx, "repos/"+repo)
		if err != nil && !refused(err) {
			errs = append(errs, fmt.Errorf("listing repository %s's webhooks: %w", repo, err))
			continue
		}
		problem := hookProblem(hooks, publicURL, c.name)
		if problem == "" {
			continue
		}
		// An organization webhook serves every repository of its owner.
		owner, _, _ := strings.Cut(repo, "/")
		if _, ok := orgs[owner]; !ok {
			orgs[owner], _ = c.hooksOf(ctx, "orgs/"+owner)
		}
		if hooks == nil && orgs[owner] == nil {
			r.Unsure = append(r.Unsure, fmt.Sprintf("repository %s: cannot list its webhooks nor %s's (%v; listing needs admin access, or the Webhooks read permission): check there is one to %s with the events %s",
				repo, owner, err, target, strings.Join(hookEvents, ", ")))
			continue
		}
		if problem = hookProblem(append(hooks, orgs[owner]...), publicURL, c.name); problem != "" {
			r.Missing = append(r.Missing, fmt.Sprintf("repository %s: %s: in the repository's (or %s's) Settings → Webhooks, payload URL %s, content type application/json, events %s",
				repo, problem, owner, target, strings.Join(hookEvents, ", ")))
		}
	}
	r.Err = errors.Join(errs...)
	return r
}

// readRepo reads a repository into meta, with the scopes of a classic
// token (GitHub names them in X-OAuth-Scopes; other tokens have none).
func (c *Connector) readRepo(ctx context.Context, repo string, meta any) (scopes []string, classic bool, err error) {
	req, err := c.gh.NewRequest(http.MethodGet, "repos/"+repo, nil)
	if err != nil {
		return nil, false, fmt.Errorf("GET repos/%s: %w", repo, err)
	}
	resp, err := c.gh.Do(ctx, req, meta)
	if err != nil {
		return nil, false, classify(resp, err)
	}
	_, classic = resp.Header[http.CanonicalHeaderKey("X-OAuth-Scopes")]
	for _, s := range strings.Split(resp.Header.Get("X-OAuth-Scopes"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, s)
		}
	}
	return scopes, classic, nil
}

// hooksOf lists the webhooks of a repository or organization path. A
// listing GitHub refuses is nil with the error; an empty one is not nil.
func (c *Connector) hooksOf(ctx context.Context, path string) ([]wireHook, error) {
	hooks := []wireHook{}
	if _, err := c.getJSON(ctx, path+"/hooks?per_page=100", &hooks); err != nil {
		return nil, err
	}
	return hooks, nil
}

// hookProblem says what is wrong with the webhooks to the gateway among
// hooks, "" when one is active, sends JSON and has every event.
func hookProblem(hooks []wireHook, publicURL, system string) string {
	problem := "no active webhook to the gateway"
	for _, h := range hooks {
		if !h.Active || !core.WebhookAt(h.Config.URL, publicURL, "github", system) {
			continue
		}
		var lacks []string
		for _, e := range hookEvents {
			if !slices.Contains(h.Events, e) && !slices.Contains(h.Events, "*") {
				lacks = append(lacks, e)
			}
		}
		switch {
		case h.Config.ContentType != "json":
			problem = fmt.Sprintf("webhook %d sends %s, not JSON", h.ID, cmp.Or(h.Config.ContentType, "form data"))
		case len(lacks) > 0:
			problem = fmt.Sprintf("webhook %d lacks the events %s", h.ID, strings.Join(lacks, ", "))
		default:
			return ""
		}
	}
	return problem
}

func statusOf(err error) int {
	var se *retryhttp.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// refused reports whether GitHub would not list something to these
// credentials (404 without admin access, 403 without the permission).
func refused(err error) bool {
	s := statusOf(err)
	return s == http.StatusNotFound || s == http.StatusForbidden
}

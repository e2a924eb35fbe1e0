package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/liaisonhq/liaison/core"
)

// SetFields keys the connector understands (see the package doc).
const (
	FieldLabelsAdd     = "labels+"
	FieldLabelsRemove  = "labels-"
	FieldStatus        = "commit_status"
	FieldStatusDesc    = "commit_status_description"
	FieldStatusURL     = "commit_status_url"
	FieldStatusContext = "commit_status_context"
)

var (
	setFieldKeys  = []string{FieldLabelsAdd, FieldLabelsRemove, FieldStatus, FieldStatusContext, FieldStatusDesc, FieldStatusURL}
	statusStates  = []string{"error", "failure", "pending", "success"}
	maxStatusDesc = 140 // GitHub truncates nothing: it refuses longer descriptions
)

// Apply performs an action on a pull request (see the package doc for what
// each kind does). It is idempotent for the action's key: a comment or link
// whose marker is already on the pull request is not written again, labels
// already there are not added, and a transition to the current state writes
// nothing. Errors are classified with core.Permanent and core.RetryAfter.
func (c *Connector) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	switch a.Kind {
	case core.Create:
		return core.Result{}, core.Permanent(fmt.Errorf("github %q: cannot create %s records: pull requests are opened by people", c.name, a.Target.Kind))
	case core.Notify:
		return core.Result{}, core.Permanent(fmt.Errorf("github %q: notify is not supported", c.name))
	}
	owner, name, n, err := c.parsePRRef(a.Target)
	if err != nil {
		return core.Result{}, core.Permanent(err)
	}
	repo := owner + "/" + name
	switch a.Kind {
	case core.AddComment:
		return c.commentOnce(ctx, repo, n, a.Body, a.Marker())
	case core.AddLink:
		body := a.Body
		if body == "" {
			body = linkText(a.Other, a.OtherURL)
		}
		return c.commentOnce(ctx, repo, n, body, a.Marker())
	case core.SetFields:
		return c.setFields(ctx, repo, n, a)
	case core.Transition:
		return c.transition(ctx, repo, n, a.Native)
	}
	return core.Result{}, core.Permanent(fmt.Errorf("github %q: unknown action kind %q", c.name, a.Kind))
}

func linkText(other core.Ref, u string) string {
	if u == "" {
		return "Linked to " + other.String()
	}
	return fmt.Sprintf("Linked to [%s](%s)", other.String(), u)
}

// commentOnce comments on pull request n with the marker embedded, unless a
// comment carrying the marker is already there (a retry after a lost answer,
// or a database restored from backup).
func (c *Connector) commentOnce(ctx context.Context, repo string, n int, body, marker string) (core.Result, error) {
	ics, err := c.comments(ctx, repo, n)
	if err != nil {
		if isStatus(err, http.StatusNotFound) {
			return core.Result{}, core.Permanent(fmt.Errorf("pull request %s#%d: %w", repo, n, core.ErrNotFound))
		}
		return core.Result{}, err
	}
	for _, ic := range ics {
		if comment(ic).Marker == marker {
			return core.Result{CommentID: strconv.FormatInt(ic.GetID(), 10), Note: "comment already present"}, nil
		}
	}
	text := strings.TrimRight(body, "\n") + "\n\n" + hiddenMarker(marker)
	req, err := c.gh.NewRequest(http.MethodPost, fmt.Sprintf("repos/%s/issues/%d/comments", repo, n), &gh.IssueComment{Body: &text})
	if err != nil {
		return core.Result{}, core.Permanent(err)
	}
	var ic gh.IssueComment
	resp, err := c.gh.Do(ctx, req, &ic)
	if err := classify(resp, err); err != nil {
		return core.Result{}, fmt.Errorf("commenting on %s#%d: %w", repo, n, err)
	}
	return core.Result{CommentID: strconv.FormatInt(ic.GetID(), 10)}, nil
}

// setFields adds and removes labels and sets the commit status.
func (c *Connector) setFields(ctx context.Context, repo string, n int, a core.Action) (core.Result, error) {
	var unknown []string
	for k := range a.Fields {
		if !slices.Contains(setFieldKeys, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return core.Result{}, core.Permanent(fmt.Errorf("github %q: unknown field %s for a pull request (known: %s)", c.name, strings.Join(unknown, ", "), strings.Join(setFieldKeys, ", ")))
	}
	add := append(slices.Clone(a.Labels), splitList(a.Fields[FieldLabelsAdd])...)
	del := splitList(a.Fields[FieldLabelsRemove])
	state := a.Fields[FieldStatus]
	if state != "" && !slices.Contains(statusStates, state) {
		return core.Result{}, core.Permanent(fmt.Errorf("github %q: %s %q: want one of %s", c.name, FieldStatus, state, strings.Join(statusStates, ", ")))
	}
	if state == "" && (a.Fields[FieldStatusDesc] != "" || a.Fields[FieldStatusURL] != "" || a.Fields[FieldStatusContext] != "") {
		return core.Result{}, core.Permanent(fmt.Errorf("github %q: %s details given without %s", c.name, FieldStatus, FieldStatus))
	}
	if len(add) == 0 && len(del) == 0 && state == "" {
		return core.Result{Note: "nothing to set"}, nil
	}

	pr, err := c.getPR(ctx, repo, n)
	if err != nil {
		return core.Result{}, notFoundPermanent(err)
	}
	have := map[string]bool{}
	for _, l := range pr.Labels {
		have[strings.ToLower(l.GetName())] = true
	}
	var toAdd, toDel []string
	for _, l := range add {
		// A label both added and removed is removed: the outcome must not
		// depend on how often the action is applied.
		removed := slices.ContainsFunc(del, func(d string) bool { return strings.EqualFold(d, l) })
		if !removed && !have[strings.ToLower(l)] && !slices.Contains(toAdd, l) {
			toAdd = append(toAdd, l)
		}
	}
	for _, l := range del {
		if have[strings.ToLower(l)] && !slices.Contains(toDel, l) {
			toDel = append(toDel, l)
		}
	}
	var notes []string
	if len(toAdd) > 0 {
		req, err := c.gh.NewRequest(http.MethodPost, fmt.Sprintf("repos/%s/issues/%d/labels", repo, n), map[string][]string{"labels": toAdd})
		if err != nil {
			return core.Result{}, core.Permanent(err)
		}
		resp, err := c.gh.Do(ctx, req, nil)
		if err := classify(resp, err); err != nil {
			return core.Result{}, fmt.Errorf("labelling %s#%d: %w", repo, n, err)
		}
		notes = append(notes, "labels added: "+strings.Join(toAdd, ", "))
	}
	for _, l := range toDel {
		req, err := c.gh.NewRequest(http.MethodDelete, fmt.Sprintf("repos/%s/issues/%d/labels/%s", repo, n, url.PathEscape(l)), nil)
		if err != nil {
			return core.Result{}, core.Permanent(err)
		}
		resp, err := c.gh.Do(ctx, req, nil)
		// Someone removed it meanwhile: what we wanted.
		if err := classify(resp, err); err != nil && !isStatus(err, http.StatusNotFound) {
			return core.Result{}, fmt.Errorf("unlabelling %s#%d: %w", repo, n, err)
		}
		notes = append(notes, "label removed: "+l)
	}
	if state != "" {
		sha := pr.GetHead().GetSHA()
		if sha == "" {
			return core.Result{}, core.Permanent(fmt.Errorf("pull request %s#%d has no head commit", repo, n))
		}
		ctxName := a.Fields[FieldStatusContext]
		if ctxName == "" {
			ctxName = c.set.statusContext
		}
		st := &gh.RepoStatus{State: &state, Context: &ctxName}
		if d := a.Fields[FieldStatusDesc]; d != "" {
			if len([]rune(d)) > maxStatusDesc {
				d = string([]rune(d)[:maxStatusDesc-1]) + "…"
			}
			st.Description = &d
		}
		if u := a.Fields[FieldStatusURL]; u != "" {
			st.TargetURL = &u
		}
		req, err := c.gh.NewRequest(http.MethodPost, fmt.Sprintf("repos/%s/statuses/%s", repo, url.PathEscape(sha)), st)
		if err != nil {
			return core.Result{}, core.Permanent(err)
		}
		resp, err := c.gh.Do(ctx, req, nil)
		if err := classify(resp, err); err != nil {
			return core.Result{}, fmt.Errorf("setting the commit status of %s#%d: %w", repo, n, err)
		}
		notes = append(notes, fmt.Sprintf("commit status %s: %s", ctxName, state))
	}
	if len(notes) == 0 {
		return core.Result{Note: "labels already as wanted"}, nil
	}
	return core.Result{Note: strings.Join(notes, "; ")}, nil
}

// transition opens or closes a pull request.
func (c *Connector) transition(ctx context.Context, repo string, n int, native string) (core.Result, error) {
	want := strings.ToLower(native)
	if want != nativeOpen && want != nativeClosed {
		return core.Result{}, core.Permanent(fmt.Errorf("github %q: cannot move a pull request to %q: only %q and %q can be written", c.name, native, nativeOpen, nativeClosed))
	}
	pr, err := c.getPR(ctx, repo, n)
	if err != nil {
		return core.Result{}, notFoundPermanent(err)
	}
	now := nativeOf(pr)
	if now == want || (want == nativeOpen && now == nativeDraft) {
		it, err := c.snapshot(ctx, repo, pr)
		if err != nil {
			return core.Result{Note: "already " + now}, nil
		}
		return core.Result{Item: &it, Note: "already " + now}, nil
	}
	if now == nativeMerged {
		return core.Result{}, core.Permanent(fmt.Errorf("pull request %s#%d is merged and cannot be %s", repo, n, want))
	}
	req, err := c.gh.NewRequest(http.MethodPatch, fmt.Sprintf("repos/%s/pulls/%d", repo, n), map[string]string{"state": want})
	if err != nil {
		return core.Result{}, core.Permanent(err)
	}
	var out gh.PullRequest
	resp, err := c.gh.Do(ctx, req, &out)
	if err := classify(resp, err); err != nil {
		return core.Result{}, fmt.Errorf("moving %s#%d to %q: %w", repo, n, want, err)
	}
	res := core.Result{Note: "pull request " + want}
	if it, err := c.snapshot(ctx, repo, &out); err == nil {
		res.Item = &it
	}
	return res, nil
}

// notFoundPermanent makes a missing pull request a permanent failure.
func notFoundPermanent(err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return core.Permanent(err)
	}
	return err
}

// splitList reads a comma-separated list, trimming blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

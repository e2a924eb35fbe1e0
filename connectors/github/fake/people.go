package fake

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/internal/httpfake"
)

// The methods below act as a person on GitHub: each changes the state and
// sends the webhook GitHub would send, signed with the secret given to
// SetWebhook, and returns once the receiver answered. They return an error
// for input GitHub would refuse, and when the receiver did not answer 2xx
// (the change is made all the same, as on GitHub); deliveries failed on
// purpose (FailNextDeliveries, DropWebhooks) are no error.

// OpenPR opens a pull request from branch into main, by the actor, with the
// commits pushed to branch so far (one commit whose message is the title
// when none were), and returns its number.
func (s *Server) OpenPR(repo, title, body, branch string) (int, error) {
	return s.openPR(repo, title, body, branch, false)
}

// OpenDraftPR opens a draft pull request, as OpenPR.
func (s *Server) OpenDraftPR(repo, title, body, branch string) (int, error) {
	return s.openPR(repo, title, body, branch, true)
}

func (s *Server) openPR(repo, title, body, branch string, draft bool) (int, error) {
	s.mu.Lock()
	r, err := s.repo(repo, true)
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	if branch == "" || title == "" {
		s.mu.Unlock()
		return 0, fmt.Errorf("fake: a pull request needs a title and a branch")
	}
	for _, p := range r.prs {
		if p.state == "open" && p.head == branch {
			s.mu.Unlock()
			return 0, fmt.Errorf("fake: a pull request for branch %q already exists (#%d)", branch, p.number)
		}
	}
	t := s.tick()
	commits := slices.Clone(r.branches[branch])
	if len(commits) == 0 {
		commits = []commitState{{sha: sha(r.full, branch, title, t.String()), message: title, author: s.actor, at: t}}
	}
	p := &prState{
		number: r.nextNumber, title: title, body: body, state: "open", draft: draft,
		head: branch, base: "main", user: s.actor, commits: commits, created: t, updated: t,
	}
	r.nextNumber++
	r.prs[p.number] = p
	payload := s.prPayload("opened", r, p, nil)
	s.mu.Unlock()
	return p.number, s.deliver("pull_request", "opened", r.full, payload, "", false)
}

// EditPR changes a pull request's title and body (edited).
func (s *Server) EditPR(repo string, n int, title, body string) error {
	return s.change(repo, n, "edited", func(p *prState) (map[string]any, error) {
		changes := map[string]any{}
		if title != p.title {
			changes["title"] = map[string]any{"from": p.title}
		}
		if body != p.body {
			changes["body"] = map[string]any{"from": p.body}
		}
		p.title, p.body = title, body
		return map[string]any{"changes": changes}, nil
	})
}

// MergePR merges an open pull request (closed, merged true).
func (s *Server) MergePR(repo string, n int) error {
	return s.change(repo, n, "closed", func(p *prState) (map[string]any, error) {
		if p.state != "open" || p.draft {
			return nil, fmt.Errorf("fake: pull request #%d is not open and ready: cannot merge", n)
		}
		t := s.tick()
		p.state, p.merged, p.mergedBy, p.mergedAt, p.closed = "closed", true, s.actor, t, t
		return nil, nil
	})
}

// ClosePR closes an open pull request without merging it.
func (s *Server) ClosePR(repo string, n int) error {
	return s.change(repo, n, "closed", func(p *prState) (map[string]any, error) {
		if p.state != "open" {
			return nil, fmt.Errorf("fake: pull request #%d is not open", n)
		}
		p.state, p.closed = "closed", s.tick()
		return nil, nil
	})
}

// ReopenPR reopens a pull request closed without merge.
func (s *Server) ReopenPR(repo string, n int) error {
	return s.change(repo, n, "reopened", func(p *prState) (map[string]any, error) {
		if p.state != "closed" || p.merged {
			return nil, fmt.Errorf("fake: pull request #%d is not closed unmerged", n)
		}
		p.state, p.closed = "open", time.Time{}
		return nil, nil
	})
}

// ConvertToDraft turns an open pull request into a draft.
func (s *Server) ConvertToDraft(repo string, n int) error {
	return s.change(repo, n, "converted_to_draft", func(p *prState) (map[string]any, error) {
		if p.state != "open" || p.draft {
			return nil, fmt.Errorf("fake: pull request #%d is not an open non-draft", n)
		}
		p.draft = true
		return nil, nil
	})
}

// ReadyForReview marks a draft pull request ready.
func (s *Server) ReadyForReview(repo string, n int) error {
	return s.change(repo, n, "ready_for_review", func(p *prState) (map[string]any, error) {
		if p.state != "open" || !p.draft {
			return nil, fmt.Errorf("fake: pull request #%d is not an open draft", n)
		}
		p.draft = false
		return nil, nil
	})
}

// Label adds a label to a pull request (labeled).
func (s *Server) Label(repo string, n int, label string) error {
	var r *repoState
	return s.change(repo, n, "labeled", func(p *prState) (map[string]any, error) {
		if !containsFold(p.labels, label) {
			p.labels = append(p.labels, label)
		}
		r, _ = s.repo(repo, false)
		return map[string]any{"label": s.labelJSON(r, label)}, nil
	})
}

// change applies f to pull request n and sends pull_request with action.
func (s *Server) change(repo string, n int, action string, f func(*prState) (map[string]any, error)) error {
	s.mu.Lock()
	r, p, err := s.pr(repo, n)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	extra, err := f(p)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	p.updated = s.tick()
	payload := s.prPayload(action, r, p, extra)
	s.mu.Unlock()
	return s.deliver("pull_request", action, r.full, payload, "", false)
}

// pr finds pull request n of repo. Call with mu held.
func (s *Server) pr(repo string, n int) (*repoState, *prState, error) {
	r, err := s.repo(repo, false)
	if err != nil {
		return nil, nil, err
	}
	p := r.prs[n]
	if p == nil {
		return nil, nil, fmt.Errorf("fake: no pull request %s#%d", repo, n)
	}
	return r, p, nil
}

// Push pushes commits with these messages to branch, by the actor: a push
// webhook, then a pull_request synchronize for each open pull request from
// that branch.
func (s *Server) Push(repo, branch string, messages ...string) error {
	if branch == "" || len(messages) == 0 {
		return fmt.Errorf("fake: a push needs a branch and at least one commit message")
	}
	s.mu.Lock()
	r, err := s.repo(repo, true)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	var open []*prState
	for _, p := range r.prs {
		if p.state == "open" && p.head == branch {
			open = append(open, p)
		}
	}
	slices.SortFunc(open, func(a, b *prState) int { return a.number - b.number })
	before := strings.Repeat("0", 40)
	if len(open) > 0 {
		before = open[0].headSHA()
	} else if bs := r.branches[branch]; len(bs) > 0 {
		before = bs[len(bs)-1].sha
	}
	t := s.tick()
	var pushed []commitState
	for i, m := range messages {
		pushed = append(pushed, commitState{sha: sha(r.full, branch, m, t.String(), strconv.Itoa(i)), message: m, author: s.actor, at: t})
	}
	after := pushed[len(pushed)-1].sha
	if len(open) == 0 {
		r.branches[branch] = append(r.branches[branch], pushed...)
	}
	push := s.pushPayload(r, branch, before, after, pushed)
	var syncs [][]byte
	for _, p := range open {
		p.commits = append(p.commits, pushed...)
		p.updated = t
		syncs = append(syncs, s.prPayload("synchronize", r, p, map[string]any{"before": before, "after": after}))
	}
	s.mu.Unlock()
	errs := []error{s.deliver("push", "", r.full, push, "", false)}
	for _, b := range syncs {
		errs = append(errs, s.deliver("pull_request", "synchronize", r.full, b, "", false))
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Comment comments on a pull request, by the actor, and returns the
// comment's id.
func (s *Server) Comment(repo string, n int, body string) (int64, error) {
	if body == "" {
		return 0, fmt.Errorf("fake: an empty comment on %s#%d", repo, n)
	}
	s.mu.Lock()
	r, p, err := s.pr(repo, n)
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	c := s.addComment(p, s.actor, body)
	payload := s.event(map[string]any{
		"action":     "created",
		"issue":      s.issueJSON(r, p),
		"comment":    s.commentJSON(r, p, c),
		"repository": s.repoJSON(r),
		"sender":     s.user(s.actor),
	})
	s.mu.Unlock()
	return c.id, s.deliver("issue_comment", "created", r.full, payload, "", false)
}

// Review submits a review, by the actor: state is approved,
// changes_requested or commented.
func (s *Server) Review(repo string, n int, state, body string) error {
	if !slices.Contains([]string{"approved", "changes_requested", "commented"}, state) {
		return fmt.Errorf("fake: review state %q: want approved, changes_requested or commented", state)
	}
	s.mu.Lock()
	r, p, err := s.pr(repo, n)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	t := s.tick()
	p.updated = t
	rid := s.newID()
	review := map[string]any{
		"id":                 rid,
		"node_id":            fmt.Sprintf("PRR_%d", rid),
		"user":               s.user(s.actor),
		"body":               nilIfEmpty(body),
		"commit_id":          p.headSHA(),
		"submitted_at":       stamp(t),
		"state":              state,
		"html_url":           fmt.Sprintf("%s/%s/pull/%d#pullrequestreview-%d", s.htmlURL, r.full, p.number, rid),
		"pull_request_url":   fmt.Sprintf("%s/repos/%s/pulls/%d", s.apiURL, r.full, p.number),
		"author_association": "MEMBER",
		"_links": map[string]any{
			"html":         map[string]any{"href": fmt.Sprintf("%s/%s/pull/%d#pullrequestreview-%d", s.htmlURL, r.full, p.number, rid)},
			"pull_request": map[string]any{"href": fmt.Sprintf("%s/repos/%s/pulls/%d", s.apiURL, r.full, p.number)},
		},
	}
	payload := s.event(map[string]any{
		"action":       "submitted",
		"review":       review,
		"pull_request": s.prJSON(r, p),
		"repository":   s.repoJSON(r),
		"sender":       s.user(s.actor),
	})
	s.mu.Unlock()
	return s.deliver("pull_request_review", "submitted", r.full, payload, "", false)
}

// ImportPR adds the pull request of a real pull_request webhook payload
// (pull_request and repository objects) to the fake's state, without
// sending anything: its number, title, body, state, draft and merged flags,
// branches, author, labels and times. It gets one commit, the payload's
// head sha, whose message is the title.
func (s *Server) ImportPR(payload []byte) error {
	var e struct {
		PR struct {
			Number   int        `json:"number"`
			Title    string     `json:"title"`
			Body     *string    `json:"body"`
			State    string     `json:"state"`
			Draft    bool       `json:"draft"`
			Merged   bool       `json:"merged"`
			Created  time.Time  `json:"created_at"`
			Updated  time.Time  `json:"updated_at"`
			Closed   *time.Time `json:"closed_at"`
			MergedAt *time.Time `json:"merged_at"`
			User     struct {
				Login string `json:"login"`
			} `json:"user"`
			Labels []struct {
				Name string `json:"name"`
			} `json:"labels"`
			Head, Base struct {
				Ref string `json:"ref"`
				SHA string `json:"sha"`
			}
		} `json:"pull_request"`
		Repo struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(payload, &e); err != nil {
		return fmt.Errorf("fake: import: %v", err)
	}
	if e.PR.Number <= 0 || e.Repo.FullName == "" || e.PR.Head.SHA == "" {
		return fmt.Errorf("fake: import: payload has no pull request number, head sha or repository")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(e.Repo.FullName, true)
	if err != nil {
		return err
	}
	p := &prState{
		number: e.PR.Number, title: e.PR.Title, state: e.PR.State, draft: e.PR.Draft, merged: e.PR.Merged,
		head: e.PR.Head.Ref, base: e.PR.Base.Ref, user: e.PR.User.Login,
		created: e.PR.Created.UTC(), updated: e.PR.Updated.UTC(),
		commits: []commitState{{sha: e.PR.Head.SHA, message: e.PR.Title, author: e.PR.User.Login, at: e.PR.Created.UTC()}},
	}
	if e.PR.Body != nil {
		p.body = *e.PR.Body
	}
	if e.PR.Closed != nil {
		p.closed = e.PR.Closed.UTC()
	}
	if e.PR.MergedAt != nil {
		p.mergedAt = e.PR.MergedAt.UTC()
		p.mergedBy = e.PR.User.Login
	}
	for _, l := range e.PR.Labels {
		p.labels = append(p.labels, l.Name)
	}
	r.prs[p.number] = p
	if p.number >= r.nextNumber {
		r.nextNumber = p.number + 1
	}
	return nil
}

// prPayload builds a pull_request webhook body. Call with mu held.
func (s *Server) prPayload(action string, r *repoState, p *prState, extra map[string]any) []byte {
	m := map[string]any{
		"action":       action,
		"number":       p.number,
		"pull_request": s.prJSON(r, p),
		"repository":   s.repoJSON(r),
		"sender":       s.user(s.actor),
		"installation": s.tpl.prEvent["installation"],
	}
	for k, v := range extra {
		m[k] = v
	}
	return s.event(m)
}

// pushPayload builds a push webhook body. Call with mu held.
func (s *Server) pushPayload(r *repoState, branch, before, after string, commits []commitState) []byte {
	m := clone(s.tpl.pushEvent,
		"Codertocat/Hello-World", r.full, "Codertocat", s.actor, "Hello-World", r.name,
		"https://api.github.com", s.apiURL, "https://github.com", s.htmlURL)
	items := make([]any, len(commits))
	for i, c := range commits {
		items[i] = s.pushCommitJSON(r, c)
	}
	m["ref"] = "refs/heads/" + branch
	m["before"], m["after"] = before, after
	m["created"] = strings.Trim(before, "0") == ""
	m["deleted"] = false
	m["forced"] = false
	m["base_ref"] = nil
	m["compare"] = fmt.Sprintf("%s/%s/compare/%s...%s", s.htmlURL, r.full, before[:12], after[:12])
	m["commits"] = items
	m["head_commit"] = items[len(items)-1]
	repo := m["repository"].(map[string]any)
	repo["id"] = r.id
	repo["name"], repo["full_name"] = r.name, r.full
	if owner, ok := repo["owner"].(map[string]any); ok {
		owner["login"], owner["name"] = r.owner, r.owner
	}
	m["pusher"] = map[string]any{"name": s.actor, "email": s.actor + "@users.noreply.github.com"}
	m["sender"] = s.user(s.actor)
	return s.event(m)
}

func (s *Server) event(m map[string]any) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic("fake: payload: " + err.Error()) // our own maps: cannot happen
	}
	return b
}

var hookClient = &http.Client{Timeout: 20 * time.Second}

// deliver sends a webhook and records the delivery (not under mu). guid is
// "" for a new delivery; a redelivery keeps the original's.
func (s *Server) deliver(event, action, repo string, payload []byte, guid string, redelivery bool) error {
	target, secret := s.hook.Target()
	if target == "" {
		return nil
	}
	s.mu.Lock()
	if s.faults.DropWebhook() {
		s.mu.Unlock()
		return nil
	}
	r, err := s.repo(repo, false)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if guid == "" {
		guid = newGUID()
	}
	d := &Delivery{
		ID: s.newID(), GUID: guid, Event: event, Action: action, At: s.now().UTC(),
		Redelivery: redelivery, HookID: r.hookID, Repo: r.full, repoID: r.id, payload: payload,
	}
	failed := s.failDeliv > 0
	if failed {
		s.failDeliv--
	}
	s.mu.Unlock()

	var sendErr error
	if failed {
		d.StatusCode, d.Status = 0, "failed to connect to host"
	} else {
		d.StatusCode, sendErr = send(target, secret, event, guid, r.hookID, r.id, payload)
		switch {
		case sendErr != nil:
			d.Status = "failed to connect to host"
		case d.StatusCode >= 200 && d.StatusCode < 300:
			d.Status = "OK"
		default:
			d.Status = fmt.Sprintf("Invalid HTTP Response: %d", d.StatusCode)
			sendErr = fmt.Errorf("fake: delivery %s of %s to the webhook: status %d", guid, event, d.StatusCode)
		}
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	return sendErr
}

// send POSTs one delivery with GitHub's headers and returns the status.
func send(target, secret, event, guid string, hookID, repoID int64, payload []byte) (int, error) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/fake")
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", guid)
	h.Set("X-GitHub-Hook-ID", strconv.FormatInt(hookID, 10))
	h.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	h.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(repoID, 10))
	if secret != "" {
		m1 := hmac.New(sha1.New, []byte(secret))
		m1.Write(payload)
		h.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(m1.Sum(nil)))
		m256 := hmac.New(sha256.New, []byte(secret))
		m256.Write(payload)
		h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m256.Sum(nil)))
	}
	status, err := httpfake.Post(hookClient, target, h, payload)
	if err != nil {
		return 0, fmt.Errorf("fake: delivery %s of %s: receiver unreachable", guid, event)
	}
	return status, nil
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

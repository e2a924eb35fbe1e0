package fake

import (
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The response and webhook shapes are the real payloads in testdata/
// (see testdata/SOURCES.md) with their values replaced; shapes the shared
// data has no sample of (commit list items, statuses, hook deliveries,
// reviews) follow GitHub's REST reference field for field.

//go:embed testdata/*.json
var testdata embed.FS

// templates are the real payloads, parsed once.
type templates struct {
	prEvent      map[string]any
	commentEvent map[string]any
	pushEvent    map[string]any
	hook         map[string]any
}

func loadTemplates() *templates {
	read := func(name string) map[string]any {
		b, err := testdata.ReadFile("testdata/" + name)
		if err != nil {
			panic("fake: embedded " + name + ": " + err.Error())
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			panic("fake: embedded " + name + ": " + err.Error())
		}
		return m
	}
	return &templates{
		prEvent:      read("pull_request-opened.json"),
		commentEvent: read("issue_comment-created-on-pull-request.json"),
		pushEvent:    read("push-new-branch.json"),
		hook:         read("ping.json")["hook"].(map[string]any),
	}
}

// clone deep-copies a template part, replacing the sample's names in every
// string (URLs carry them) by the given pairs.
func clone(v any, replace ...string) map[string]any {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(replace) > 0 {
		s = strings.NewReplacer(replace...).Replace(s)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func stampOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return stamp(t)
}

// id derives a stable numeric id from a name, for users and labels.
func id(name string) int64 {
	sum := sha1.Sum([]byte(name))
	var n int64
	for _, b := range sum[:6] {
		n = n<<8 | int64(b)
	}
	return n%90000000 + 10000000
}

func sha(parts ...string) string {
	sum := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

func (s *Server) user(login string) map[string]any {
	u := clone(s.tpl.prEvent["sender"], "Codertocat", login, "https://api.github.com", s.apiURL, "https://github.com", s.htmlURL)
	u["login"] = login
	u["id"] = id(login)
	return u
}

func (s *Server) repoJSON(r *repoState) map[string]any {
	m := clone(s.tpl.prEvent["repository"],
		"Codertocat/Hello-World", r.full, "Codertocat", r.owner, "Hello-World", r.name,
		"https://api.github.com", s.apiURL, "https://github.com", s.htmlURL)
	m["id"] = r.id
	m["name"], m["full_name"] = r.name, r.full
	m["owner"] = s.user(r.owner)
	return m
}

// HookEvents are the events the fake's webhooks are registered for: the
// ones person actions send.
var HookEvents = []string{"issue_comment", "pull_request", "pull_request_review", "push"}

// hookJSON renders a webhook registered at url, as GET .../hooks lists it;
// path is "repos/{o}/{r}" or "orgs/{org}".
func (s *Server) hookJSON(kind, path string, hookID int64, url string) map[string]any {
	m := clone(s.tpl.hook, "https://api.github.com/repos/Octocoders/Hello-World", s.apiURL+"/"+path)
	m["type"], m["id"], m["events"] = kind, hookID, HookEvents
	m["config"] = map[string]any{"content_type": "json", "url": url, "insecure_ssl": "0", "secret": "********"}
	return m
}

func (s *Server) labelJSON(r *repoState, name string) map[string]any {
	src := s.tpl.prEvent["pull_request"].(map[string]any)["labels"].([]any)[0]
	l := clone(src, "Codertocat/Hello-World", r.full, "https://api.github.com", s.apiURL)
	l["id"] = id(r.full + "/" + name)
	l["name"] = name
	l["url"] = s.apiURL + "/repos/" + r.full + "/labels/" + name
	l["default"] = false
	l["description"] = nil
	l["color"] = "ededed"
	return l
}

// labelsJSON is a pull request's labels, as the API lists them.
func (s *Server) labelsJSON(r *repoState, p *prState) []any {
	out := []any{}
	for _, l := range p.labels {
		out = append(out, s.labelJSON(r, l))
	}
	return out
}

func (s *Server) prJSON(r *repoState, p *prState) map[string]any {
	num := strconv.Itoa(p.number)
	tpl := s.tpl.prEvent["pull_request"].(map[string]any)
	head := p.headSHA()
	m := clone(tpl,
		"Codertocat/Hello-World", r.full, "https://api.github.com", s.apiURL, "https://github.com", s.htmlURL,
		"/pulls/2", "/pulls/"+num, "/pull/2", "/pull/"+num, "/issues/2", "/issues/"+num,
		"ec26c3e57ca3a959ca5aad62de7213c562f8c821", head)
	m["id"] = int64(r.id)*1000 + int64(p.number)
	m["number"] = p.number
	m["state"] = p.state
	m["title"] = p.title
	m["body"] = p.body
	if p.body == "" {
		m["body"] = nil
	}
	m["user"] = s.user(p.user)
	m["created_at"] = stamp(p.created)
	m["updated_at"] = stamp(p.updated)
	m["closed_at"] = stampOrNil(p.closed)
	m["merged_at"] = stampOrNil(p.mergedAt)
	m["merged"] = p.merged
	m["draft"] = p.draft
	m["merge_commit_sha"] = nil
	if p.merged {
		m["merge_commit_sha"] = sha(r.full, "merge", num)
		m["merged_by"] = s.user(p.mergedBy)
	}
	m["assignee"] = nil
	m["assignees"] = []any{}
	m["requested_reviewers"] = []any{}
	m["labels"] = s.labelsJSON(r, p)
	m["commits"] = len(p.commits)
	m["comments"] = len(p.comments)
	repo := s.repoJSON(r)
	for _, side := range []struct{ key, ref, sha string }{{"head", p.head, head}, {"base", p.base, sha(r.full, p.base)}} {
		b := m[side.key].(map[string]any)
		b["ref"] = side.ref
		b["sha"] = side.sha
		b["label"] = r.owner + ":" + side.ref
		b["user"] = s.user(r.owner)
		b["repo"] = repo
	}
	return m
}

// issueJSON is a pull request as the issues API and issue_comment webhooks
// show it.
func (s *Server) issueJSON(r *repoState, p *prState) map[string]any {
	num := strconv.Itoa(p.number)
	tpl := s.tpl.commentEvent["issue"]
	m := clone(tpl,
		"chhsia0/knative-route-demo", r.full, "https://api.github.com", s.apiURL, "https://github.com", s.htmlURL,
		"/pulls/3", "/pulls/"+num, "/pull/3", "/pull/"+num, "/issues/3", "/issues/"+num)
	m["id"] = int64(r.id)*1000 + int64(p.number)
	m["number"] = p.number
	m["title"] = p.title
	m["body"] = p.body
	m["state"] = p.state
	m["user"] = s.user(p.user)
	m["labels"] = s.labelsJSON(r, p)
	m["comments"] = len(p.comments)
	m["created_at"] = stamp(p.created)
	m["updated_at"] = stamp(p.updated)
	m["closed_at"] = stampOrNil(p.closed)
	return m
}

func (s *Server) commentJSON(r *repoState, p *prState, c *commentState) map[string]any {
	num := strconv.Itoa(p.number)
	m := clone(s.tpl.commentEvent["comment"],
		"chhsia0/knative-route-demo", r.full, "https://api.github.com", s.apiURL, "https://github.com", s.htmlURL,
		"/pull/3", "/pull/"+num, "/issues/3", "/issues/"+num, "546616131", strconv.FormatInt(c.id, 10))
	m["id"] = c.id
	m["body"] = c.body
	m["user"] = s.user(c.user)
	m["created_at"] = stamp(c.created)
	m["updated_at"] = stamp(c.updated)
	return m
}

// commitJSON is an item of GET /repos/{o}/{r}/pulls/{n}/commits.
func (s *Server) commitJSON(r *repoState, c commitState, parent string) map[string]any {
	person := map[string]any{"name": c.author, "email": c.author + "@users.noreply.github.com", "date": stamp(c.at)}
	parents := []any{}
	if parent != "" {
		parents = append(parents, map[string]any{
			"sha": parent, "url": s.apiURL + "/repos/" + r.full + "/commits/" + parent,
			"html_url": s.htmlURL + "/" + r.full + "/commit/" + parent,
		})
	}
	return map[string]any{
		"sha":     c.sha,
		"node_id": "C_" + c.sha[:20],
		"commit": map[string]any{
			"author":        person,
			"committer":     person,
			"message":       c.message,
			"tree":          map[string]any{"sha": sha(c.sha, "tree"), "url": s.apiURL + "/repos/" + r.full + "/git/trees/" + sha(c.sha, "tree")},
			"url":           s.apiURL + "/repos/" + r.full + "/git/commits/" + c.sha,
			"comment_count": 0,
			"verification":  map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil},
		},
		"url":          s.apiURL + "/repos/" + r.full + "/commits/" + c.sha,
		"html_url":     s.htmlURL + "/" + r.full + "/commit/" + c.sha,
		"comments_url": s.apiURL + "/repos/" + r.full + "/commits/" + c.sha + "/comments",
		"author":       s.user(c.author),
		"committer":    s.user(c.author),
		"parents":      parents,
	}
}

// pushCommitJSON is a commit as push webhooks show it.
func (s *Server) pushCommitJSON(r *repoState, c commitState) map[string]any {
	tpl := s.tpl.pushEvent["commits"].([]any)[0]
	m := clone(tpl, "Codertocat/Hello-World", r.full, "https://github.com", s.htmlURL, "6113728f27ae82c7b1a177c8d03f9e96e0adf246", c.sha)
	m["id"] = c.sha
	m["tree_id"] = sha(c.sha, "tree")
	m["message"] = c.message
	m["timestamp"] = stamp(c.at)
	person := map[string]any{"name": c.author, "email": c.author + "@users.noreply.github.com", "username": c.author}
	m["author"], m["committer"] = person, person
	return m
}

func (s *Server) statusJSON(r *repoState, sha string, st statusState) map[string]any {
	return map[string]any{
		"url":         s.apiURL + "/repos/" + r.full + "/statuses/" + sha,
		"avatar_url":  nil,
		"id":          st.id,
		"node_id":     fmt.Sprintf("SC_%d", st.id),
		"state":       st.State,
		"description": nilIfEmpty(st.Description),
		"target_url":  nilIfEmpty(st.TargetURL),
		"context":     st.Context,
		"created_at":  stamp(st.At),
		"updated_at":  stamp(st.At),
		"creator":     s.user(st.Creator),
	}
}

func (s *Server) deliveryJSON(d *Delivery) map[string]any {
	return map[string]any{
		"id":              d.ID,
		"guid":            d.GUID,
		"delivered_at":    stamp(d.At),
		"redelivery":      d.Redelivery,
		"duration":        0.05,
		"status":          d.Status,
		"status_code":     d.StatusCode,
		"event":           d.Event,
		"action":          nilIfEmpty(d.Action),
		"installation_id": nil,
		"repository_id":   d.repoID,
		"throttled_at":    nil,
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

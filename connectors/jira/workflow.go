package jira

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// issuePauses keeps the issues Jira has paused writes to (a 429 with
// RateLimit-Reason: jira-per-issue-on-write) and until when. Actions on a
// paused issue go back to the outbox without a request; other issues are
// not affected.
type issuePauses struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func (p *issuePauses) pause(key string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.until == nil {
		p.until = map[string]time.Time{}
	}
	if until.After(p.until[key]) {
		p.until[key] = until
	}
}

// wait returns how long writes to key stay paused at now.
func (p *issuePauses) wait(key string, now time.Time) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.until[key]
	if !ok {
		return 0, false
	}
	if !now.Before(u) {
		delete(p.until, key)
		return 0, false
	}
	return u.Sub(now), true
}

// workflows is what this connector has learned of each project's and issue
// type's workflow: which statuses lead to which. Edges come from the
// transitions the API offered (observe) and from status changes seen in
// changelogs and made by the connector (learn). It lives in memory; a
// restart learns again.
type workflows struct {
	mu sync.Mutex
	g  map[string]map[string]map[string]bool // project/type → from → to (lower-cased)
}

// maxStatuses bounds one workflow graph against a hostile stream of
// changelogs.
const maxStatuses = 200

func (w *workflows) graph(project, typ string) map[string]map[string]bool {
	if w.g == nil {
		w.g = map[string]map[string]map[string]bool{}
	}
	k := project + "/" + strings.ToLower(typ)
	g := w.g[k]
	if g == nil {
		g = map[string]map[string]bool{}
		w.g[k] = g
	}
	return g
}

func (w *workflows) add(g map[string]map[string]bool, from, to string) {
	from, to = strings.ToLower(from), strings.ToLower(to)
	if from == "" || to == "" || from == to {
		return
	}
	if g[from] == nil {
		if len(g) >= maxStatuses {
			return
		}
		g[from] = map[string]bool{}
	}
	g[from][to] = true
}

// observe records the transitions available from status cur.
func (w *workflows) observe(project, typ, cur string, ts []wireTransition) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.graph(project, typ)
	for _, t := range ts {
		w.add(g, cur, t.To.Name)
	}
}

// learn records that an issue moved from one status to another.
func (w *workflows) learn(project, typ, from, to string) {
	if project == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.add(w.graph(project, typ), from, to)
}

// firstHop runs a breadth-first search from cur to target over the learned
// graph, where cur's own edges are the live ones, never entering a visited
// status; it returns the status of the first hop, or "".
func (w *workflows) firstHop(project, typ, cur, target string, live []wireTransition, visited map[string]bool) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.graph(project, typ)
	target = strings.ToLower(target)
	// first[s] is the first hop on the shortest path found to s.
	first := map[string]string{}
	var queue []string
	for _, t := range live {
		s := strings.ToLower(t.To.Name)
		if visited[s] {
			continue
		}
		if _, seen := first[s]; !seen {
			first[s] = t.To.Name
			queue = append(queue, s)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s == target {
			return first[s]
		}
		for _, n := range slices.Sorted(maps.Keys(g[s])) {
			if visited[n] {
				continue
			}
			if _, seen := first[n]; !seen {
				first[n] = first[s]
				queue = append(queue, n)
			}
		}
	}
	return ""
}

// issueState is what a transition starts from: where the issue stands and
// the transitions Jira offers from there.
type issueState struct {
	status       wireStatus
	project, typ wireNamed
	trans        []wireTransition
}

// freshFor is how long a Fetch's read of an issue's state may stand in for
// the transition's own read. A reconcile fetches the issue and plans the
// transition at once; an issue moved in between makes Jira refuse the
// transition, which then reads again.
const freshFor = 5 * time.Second

// maxFresh bounds the reads kept.
const maxFresh = 10000

// freshStates keeps, per issue key, the state its last Fetch read, for
// one transition to use.
type freshStates struct {
	mu sync.Mutex
	m  map[string]freshState
}

type freshState struct {
	st issueState
	at time.Time
}

func (f *freshStates) put(key string, st issueState, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]freshState{}
	}
	if len(f.m) >= maxFresh {
		for k, v := range f.m {
			if now.Sub(v.at) > freshFor {
				delete(f.m, k)
			}
		}
		if len(f.m) >= maxFresh {
			return // a transition reads for itself
		}
	}
	f.m[key] = freshState{st: st, at: now}
}

// take returns the state read for key within freshFor, once.
func (f *freshStates) take(key string, now time.Time) (issueState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[key]
	delete(f.m, key)
	if !ok || now.Sub(v.at) > freshFor || now.Before(v.at) {
		return issueState{}, false
	}
	return v.st, true
}

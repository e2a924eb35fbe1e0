package jira

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jira "github.com/andygrunwald/go-jira"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/jirawiki"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// Apply performs one action on Jira. Create makes an issue (the engine has
// looked for its marker first); Transition moves an issue to a status by
// name, walking the workflow when it is more than one step away, and
// succeeds without a write when the issue is there already; AddComment
// comments with the action's marker; SetFields writes fields by name;
// AddLink makes a remote link to a record in another system (idempotent by
// its global id) or an issue link to another issue of this Jira. Failures
// are classified: core.Permanent for what retrying cannot fix (an unknown
// field, an unreachable status, a 4xx), core.RetryAfter for 429, 5xx and
// transport errors, and for writes to an issue Jira has paused.
func (c *Connector) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if a.Target.System != c.name {
		return core.Result{}, core.Permanent(fmt.Errorf("jira %q: action %q targets system %q", c.name, a.Key, a.Target.System))
	}
	if a.Kind == core.Create {
		res, err := c.create(ctx, a)
		return res, wrap(c.name, "creating a "+string(a.Target.Kind), err)
	}
	key := a.Target.ID
	if ref, ok := c.refOf(key); !ok || ref != a.Target || !issueKeyRE.MatchString(key) {
		return core.Result{}, core.Permanent(fmt.Errorf("jira %q: %q is not an issue of a %s project", c.name, a.Target.String(), a.Target.Kind))
	}
	keys := []string{key}
	if a.Kind == core.AddLink && a.Other.System == c.name {
		keys = append(keys, a.Other.ID)
	}
	if err := c.paused(keys...); err != nil {
		return core.Result{}, err
	}
	var (
		res   core.Result
		err   error
		doing string
	)
	switch a.Kind {
	case core.Transition:
		doing = "moving " + strconv.Quote(key)
		res, err = c.transition(ctx, a)
	case core.AddComment:
		doing = "commenting on " + strconv.Quote(key)
		res, err = c.comment(ctx, a)
	case core.SetFields:
		doing = "setting fields of " + strconv.Quote(key)
		res, err = c.setFields(ctx, a)
	case core.AddLink:
		doing = "linking " + strconv.Quote(key) + " to " + strconv.Quote(a.Other.String())
		res, err = c.link(ctx, a)
	default:
		return core.Result{}, core.Permanent(fmt.Errorf("jira %q: cannot apply %q actions", c.name, a.Kind))
	}
	return res, wrap(c.name, doing, err)
}

func wrap(name, doing string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("jira %q: %s: %w", name, doing, err)
}

// paused returns a core.RetryAfter when Jira paused writes to one of keys.
func (c *Connector) paused(keys ...string) error {
	now := c.clock.Now()
	for _, k := range keys {
		if d, ok := c.pauses.wait(k, now); ok {
			return core.RetryAfter(fmt.Errorf("jira %q: writes to issue %q are paused by Jira's per-issue rate limit", c.name, k), d)
		}
	}
	return nil
}

// create makes the issue: POST /rest/api/2/issue, one request.
func (c *Connector) create(ctx context.Context, a core.Action) (core.Result, error) {
	kind := a.Target.Kind
	projects := c.projectsOf(kind)
	if len(projects) == 0 {
		return core.Result{}, core.Permanent(fmt.Errorf("no project holds %s records (projects in the jira config)", kind))
	}
	fields := a.Fields
	get := func(k string) string {
		for name, v := range fields {
			if strings.EqualFold(name, k) {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	project := get("project")
	if project == "" {
		project = projects[0]
	}
	if !slices.Contains(projects, project) {
		return core.Result{}, core.Permanent(fmt.Errorf("project %q does not hold %s records (configured: %s)", project, kind, strings.Join(projects, ", ")))
	}
	title := summaryOf(a.Title)
	if title == "" {
		return core.Result{}, core.Permanent(errors.New("the action has no title for the issue's summary"))
	}
	cat, err := c.catalogue(ctx)
	if err != nil {
		return core.Result{}, err
	}
	issueType := get("issue_type")
	if issueType == "" {
		issueType = map[core.Kind]string{core.DevTicket: "Bug", core.ChangeTicket: "Task"}[kind]
	}
	pc := cat.projects[project]
	if pc == nil {
		return core.Result{}, core.Permanent(fmt.Errorf("project %q was not found on this Jira", project))
	}
	typeID, ok := pc.issueTypes[strings.ToLower(issueType)]
	if !ok {
		return core.Result{}, core.Permanent(fmt.Errorf("issue type %q is not in project %q (known: %s)", issueType, project, quoteList(pc.typeNames)))
	}
	out := map[string]any{
		"project":   map[string]string{"key": project},
		"issuetype": map[string]string{"id": typeID},
		"summary":   title,
	}
	carry, over, err := c.carried(ctx, a.Files)
	if err != nil {
		return core.Result{}, err
	}
	if desc := strings.TrimSpace(a.Body + core.NotCarried(over, c.cfg.AttachmentLimit)); desc != "" {
		out["description"] = desc
	}
	labels := []string{}
	for _, l := range a.Labels {
		if l = labelOf(l); l != "" && !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	if !slices.Contains(labels, a.Marker()) {
		labels = append(labels, a.Marker())
	}
	out["labels"] = labels
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		switch strings.ToLower(name) {
		case "project", "issue_type":
			continue
		}
		if err := c.putField(cat, out, nil, name, fields[name], true); err != nil {
			return core.Result{}, err
		}
	}
	var created wireCreated
	if err := c.do(ctx, http.MethodPost, "rest/api/2/issue", nil, map[string]any{"fields": out}, &created, ""); err != nil {
		return core.Result{}, err
	}
	if !issueKeyRE.MatchString(created.Key) || projectOfKey(created.Key) != project {
		return core.Result{}, core.RetryAfter(fmt.Errorf("jira answered the create without a key of project %q", project), 0)
	}
	c.keys.remember(created.ID, created.Key)
	res := core.Result{Created: core.Ref{System: c.name, Kind: kind, ID: created.Key}}
	// The issue exists: a failed upload must not make the create look
	// failed (a retry would find the issue by its marker and stop there),
	// so it is kept in the audit note and the log.
	if err := c.attach(ctx, created.Key, carry); err != nil {
		c.log.Warn("jira: the new issue is made, but a file did not reach it", "instance", c.name, "issue", created.Key, "err", err)
		res.Note = "files not attached: " + err.Error()
	}
	return res, nil
}

// summaryOf makes a title fit Jira's summary: one line, at most 255 characters.
func summaryOf(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 255 {
		r := []rune(s)
		s = string(r[:254]) + "…"
	}
	return s
}

// labelOf makes a label Jira accepts: no white space.
func labelOf(s string) string {
	return strings.Join(strings.Fields(s), "-")
}

// putField writes one Action.Fields entry into an issue's fields (or, for
// labels on an edit, its update operations), resolving the name and
// formatting the value for the field's type. On create an empty value is
// left out; on an edit it clears the field.
func (c *Connector) putField(cat *catalog, fields, update map[string]any, name, v string, creating bool) error {
	v = strings.TrimSpace(v)
	if v == "" && creating {
		return nil
	}
	switch strings.ToLower(name) {
	case "priority":
		if v == "" {
			return core.Permanent(errors.New("priority cannot be cleared"))
		}
		id, ok := cat.priorities[strings.ToLower(v)]
		if !ok {
			return core.Permanent(fmt.Errorf("priority %q does not exist (known: %s)", v, quoteList(cat.prioNames)))
		}
		fields["priority"] = map[string]string{"id": id}
		return nil
	case "components":
		var cs []map[string]string
		for _, n := range splitList(v) {
			cs = append(cs, map[string]string{"name": n})
		}
		if cs == nil {
			cs = []map[string]string{}
		}
		fields["components"] = cs
		return nil
	case "assignee":
		if v == "" {
			fields["assignee"] = nil
		} else {
			fields["assignee"] = c.userRef(v)
		}
		return nil
	case "labels":
		ls := []string{}
		for _, l := range splitList(v) {
			ls = append(ls, labelOf(l))
		}
		if creating {
			if cur, ok := fields["labels"].([]string); ok {
				ls = append(cur, ls...)
			}
			fields["labels"] = ls
			return nil
		}
		// Adding keeps the labels people and the gateway put there before.
		var ops []map[string]string
		for _, l := range ls {
			ops = append(ops, map[string]string{"add": l})
		}
		update["labels"] = ops
		return nil
	case "project", "issue_type":
		return core.Permanent(fmt.Errorf("%s cannot be changed by set_fields", name))
	}
	f, ok, err := cat.resolveField(name)
	if err != nil {
		return core.Permanent(fmt.Errorf("field %w", err))
	}
	if !ok {
		return core.Permanent(fmt.Errorf("field %q does not exist on this Jira (liaison check lists what is missing)", name))
	}
	if f.wiki() {
		// A text area shows wiki markup; what is written there (a
		// customer's steps to reproduce) reads as written.
		v = jirawiki.Literal(v)
	}
	val, err := c.fieldValue(f, v)
	if err != nil {
		return core.Permanent(err)
	}
	fields[f.ID] = val
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// userRef names a user the way the deployment wants: an account id on
// Cloud, a user name on Data Center.
func (c *Connector) userRef(v string) map[string]string {
	if c.cloud {
		return map[string]string{"accountId": v}
	}
	return map[string]string{"name": v}
}

// fieldValue formats v for field f by its schema type; "" is null.
func (c *Connector) fieldValue(f fieldDef, v string) (any, error) {
	if v == "" {
		return nil, nil
	}
	switch f.Type {
	case "number":
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("field %q wants a number, got %q", f.Name, core.Clip(v, 40))
		}
		return n, nil
	case "date":
		t, err := parseDate(v)
		if err != nil {
			return nil, fmt.Errorf("field %q wants a date (2006-01-02), got %q", f.Name, core.Clip(v, 40))
		}
		return t.Format("2006-01-02"), nil
	case "datetime":
		t, err := parseDate(v)
		if err != nil {
			return nil, fmt.Errorf("field %q wants a date and time (RFC 3339), got %q", f.Name, core.Clip(v, 40))
		}
		return formatJiraTime(t), nil
	case "option", "option-with-child":
		return map[string]string{"value": v}, nil
	case "user":
		return c.userRef(v), nil
	case "priority", "resolution", "version", "component", "securitylevel":
		return map[string]string{"name": v}, nil
	case "array":
		parts := splitList(v)
		switch f.Items {
		case "option":
			out := make([]map[string]string, len(parts))
			for i, p := range parts {
				out[i] = map[string]string{"value": p}
			}
			return out, nil
		case "user":
			out := make([]map[string]string, len(parts))
			for i, p := range parts {
				out[i] = c.userRef(p)
			}
			return out, nil
		case "component", "version":
			out := make([]map[string]string, len(parts))
			for i, p := range parts {
				out[i] = map[string]string{"name": p}
			}
			return out, nil
		}
		return parts, nil
	}
	return v, nil
}

func parseDate(v string) (time.Time, error) {
	for _, l := range []string{"2006-01-02", time.RFC3339Nano, "2006-01-02T15:04:05.000-0700", "2006-01-02 15:04"} {
		if t, err := time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a date")
}

// maxTransitionSteps bounds a walk through the workflow.
const maxTransitionSteps = 12

// transition moves the issue to a.Native. The first read gets the status
// and the transitions available from it in one request
// (GET issue?fields=status,...&expand=transitions); each step then posts one
// transition and, unless it reached the target, reads the transitions
// available from the new status. The next hop is the direct transition when
// there is one, else the first hop of a breadth-first search over the
// workflow this connector has seen (transitions the API offered before and
// status changes in changelogs), else — when the mappings rank the statuses
// — the available status closest to the target that lies between the two.
// No status is entered twice. When none fits, the error lists the statuses
// reachable from where the issue stands.
func (c *Connector) transition(ctx context.Context, a core.Action) (core.Result, error) {
	key := a.Target.ID
	km := c.maps.Load().Kind(c.name, a.Target.Kind)
	target := a.Native
	if target == "" && km != nil {
		target = km.Native[a.Status]
	}
	if target == "" {
		return core.Result{}, core.Permanent(fmt.Errorf("no native status for %q in the mappings", a.Status))
	}
	// The Fetch of this reconcile read the status and its transitions:
	// taken once, they spare a read. Should the issue have moved since,
	// Jira refuses the transition and it is tried from a fresh read.
	fr, cached := c.fresh.take(key, c.clock.Now())
	if !cached {
		var err error
		if fr, err = c.readTransitions(ctx, key); err != nil {
			return core.Result{}, err
		}
	}
	res, err := c.walk(ctx, a, km, key, target, fr)
	if cached && isStatus(err, http.StatusBadRequest) {
		if fr, err = c.readTransitions(ctx, key); err != nil {
			return core.Result{}, err
		}
		return c.walk(ctx, a, km, key, target, fr)
	}
	return res, err
}

// readTransitions reads an issue's status, project, type and the
// transitions available from its status, in one request.
func (c *Connector) readTransitions(ctx context.Context, key string) (issueState, error) {
	var iss wireIssue
	q := url.Values{"fields": {"status,project,issuetype"}, "expand": {"transitions"}}
	if err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+key, q, nil, &iss, ""); err != nil {
		return issueState{}, err
	}
	st, err := stateOf(&iss, key)
	if err != nil {
		return issueState{}, core.RetryAfter(err, 0)
	}
	return st, nil
}

// stateOf reads what a transition needs from an issue read with
// expand=transitions.
func stateOf(iss *wireIssue, key string) (issueState, error) {
	st := issueState{trans: iss.Transitions}
	for _, f := range []struct {
		n string
		v any
	}{{"status", &st.status}, {"project", &st.project}, {"issuetype", &st.typ}} {
		if err := iss.field(f.n, f.v); err != nil {
			return issueState{}, err
		}
	}
	if st.project.Key == "" {
		st.project.Key = projectOfKey(key)
	}
	return st, nil
}

// walk moves the issue from the state read to target (see transition).
func (c *Connector) walk(ctx context.Context, a core.Action, km *core.KindMap, key, target string, st issueState) (core.Result, error) {
	project, typ := st.project, st.typ
	cur, trans := st.status.Name, st.trans
	if strings.EqualFold(cur, target) {
		return core.Result{Note: "already in status " + strconv.Quote(cur)}, nil
	}
	rank := func(s string) int {
		if km == nil {
			return -1
		}
		return km.Canonical(s).Rank()
	}
	targetRank := a.Status.Rank()
	if targetRank < 0 {
		targetRank = rank(target)
	}
	visited := map[string]bool{strings.ToLower(cur): true}
	var path []string
	for step := 0; ; step++ {
		c.flows.observe(project.Key, typ.Name, cur, trans)
		next, ok := c.nextHop(project.Key, typ.Name, cur, target, trans, visited, rank, targetRank)
		if !ok {
			reach := make([]string, 0, len(trans))
			for _, t := range trans {
				reach = append(reach, t.To.Name)
			}
			msg := fmt.Sprintf("status %q is not reachable from %q (reachable in one step: %s)", target, cur, quoteList(reach))
			if len(path) > 0 {
				msg += fmt.Sprintf("; moved through %s on the way", quoteList(path))
			}
			return core.Result{}, core.Permanent(errors.New(msg))
		}
		body := map[string]any{"transition": map[string]string{"id": next.ID}}
		if err := c.do(ctx, http.MethodPost, "rest/api/2/issue/"+key+"/transitions", nil, body, nil, key); err != nil {
			return core.Result{}, err
		}
		c.flows.learn(project.Key, typ.Name, cur, next.To.Name)
		cur = next.To.Name
		path = append(path, cur)
		if strings.EqualFold(cur, target) {
			note := ""
			if len(path) > 1 {
				note = "via " + strings.Join(path[:len(path)-1], " → ")
			}
			return core.Result{Note: note}, nil
		}
		if step+1 >= maxTransitionSteps {
			return core.Result{}, core.Permanent(fmt.Errorf("status %q not reached after %d transitions (moved through %s)", target, step+1, quoteList(path)))
		}
		visited[strings.ToLower(cur)] = true
		var tr wireTransitions
		if err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+key+"/transitions", nil, nil, &tr, ""); err != nil {
			return core.Result{}, err
		}
		trans = tr.Transitions
	}
}

// nextHop picks the transition to take from cur (see transition).
func (c *Connector) nextHop(project, typ, cur, target string, live []wireTransition, visited map[string]bool, rank func(string) int, targetRank int) (wireTransition, bool) {
	for _, t := range live {
		if strings.EqualFold(t.To.Name, target) {
			return t, true
		}
	}
	if first := c.flows.firstHop(project, typ, cur, target, live, visited); first != "" {
		for _, t := range live {
			if strings.EqualFold(t.To.Name, first) {
				return t, true
			}
		}
	}
	curRank := rank(cur)
	if curRank < 0 || targetRank < 0 {
		return wireTransition{}, false
	}
	best, bestDist := -1, 1<<30
	for i, t := range live {
		if visited[strings.ToLower(t.To.Name)] {
			continue
		}
		r := rank(t.To.Name)
		if r < 0 {
			continue
		}
		between := (targetRank > curRank && r > curRank && r <= targetRank) ||
			(targetRank < curRank && r < curRank && r >= targetRank)
		if !between {
			continue
		}
		d := targetRank - r
		if d < 0 {
			d = -d
		}
		if d < bestDist {
			best, bestDist = i, d
		}
	}
	if best < 0 {
		return wireTransition{}, false
	}
	return live[best], true
}

// internalMode is how an internal comment is kept from customers.
type internalMode struct {
	kind  string // "property", "role" or "group"
	value string
}

func parseInternal(s string) (internalMode, error) {
	switch {
	case s == "" || s == "property":
		return internalMode{kind: "property"}, nil
	case strings.HasPrefix(s, "role:") && len(s) > 5:
		return internalMode{kind: "role", value: s[5:]}, nil
	case strings.HasPrefix(s, "group:") && len(s) > 6:
		return internalMode{kind: "group", value: s[6:]}, nil
	}
	return internalMode{}, fmt.Errorf("internal_comments %q: want property, role:<project role> or group:<group>", s)
}

// comment adds a comment with the action's marker as its last line: one
// POST. An internal one carries the JSM property sd.public.comment
// {"internal": true}, or a role or group visibility, as configured.
func (c *Connector) comment(ctx context.Context, a core.Action) (core.Result, error) {
	key := a.Target.ID
	carry, over, err := c.carried(ctx, a.Files)
	if err != nil {
		return core.Result{}, err
	}
	// The comment's files go on the issue first, so that the comment can
	// show them ([^name] is Jira's link to an issue's attachment). A retry
	// after a failure here uploads them again; Jira keeps both copies.
	if err := c.attach(ctx, key, carry); err != nil {
		return core.Result{}, err
	}
	text := strings.TrimRight(a.Body, " \t\r\n")
	for _, f := range carry {
		text += "\n[^" + f.Name + "]"
	}
	body := text + core.NotCarried(over, c.cfg.AttachmentLimit) + "\n\n" + markerLine(a.Marker())
	payload := map[string]any{"body": body}
	if !a.Public {
		mode, _ := parseInternal(c.cfg.InternalComments)
		switch mode.kind {
		case "property":
			payload["properties"] = []map[string]any{{"key": "sd.public.comment", "value": map[string]bool{"internal": true}}}
		default:
			payload["visibility"] = jira.CommentVisibility{Type: mode.kind, Value: mode.value}
		}
	}
	var wc wireComment
	if err := c.do(ctx, http.MethodPost, "rest/api/2/issue/"+key+"/comment", nil, payload, &wc, key); err != nil {
		return core.Result{}, err
	}
	res := core.Result{CommentID: wc.ID}
	if cm, err := commentOf(&wc); err == nil && wc.ID != "" {
		cm.Public, cm.Marker = a.Public, a.Marker()
		res.Item = &core.Item{Ref: a.Target, UpdatedAt: commentTime(&wc), Comments: []core.Comment{cm}}
	}
	return res, nil
}

// setFields writes the action's fields in one PUT.
func (c *Connector) setFields(ctx context.Context, a core.Action) (core.Result, error) {
	if len(a.Fields) == 0 {
		return core.Result{Note: "no fields to set"}, nil
	}
	cat, err := c.catalogue(ctx)
	if err != nil {
		return core.Result{}, err
	}
	fields, update := map[string]any{}, map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(a.Fields)) {
		if err := c.putField(cat, fields, update, name, a.Fields[name], false); err != nil {
			return core.Result{}, err
		}
	}
	body := map[string]any{}
	if len(fields) > 0 {
		body["fields"] = fields
	}
	if len(update) > 0 {
		body["update"] = update
	}
	key := a.Target.ID
	if err := c.do(ctx, http.MethodPut, "rest/api/2/issue/"+key, nil, body, nil, key); err != nil {
		return core.Result{}, err
	}
	return core.Result{}, nil
}

// issueLinkBody is POST /rest/api/2/issueLink's body.
type issueLinkBody struct {
	Type         linkTypeName `json:"type"`
	InwardIssue  issueKeyRef  `json:"inwardIssue"`
	OutwardIssue issueKeyRef  `json:"outwardIssue"`
}

type linkTypeName struct {
	Name string `json:"name"`
}

type issueKeyRef struct {
	Key string `json:"key"`
}

// link makes an issue link (same Jira) or a remote link (other systems).
func (c *Connector) link(ctx context.Context, a core.Action) (core.Result, error) {
	key := a.Target.ID
	if a.Other.System == c.name {
		other, ok := c.refOf(a.Other.ID)
		if !ok || other != a.Other || !issueKeyRE.MatchString(a.Other.ID) {
			return core.Result{}, core.Permanent(fmt.Errorf("%q is not an issue of this Jira's projects", a.Other.String()))
		}
		var body issueLinkBody
		body.Type.Name = c.cfg.IssueLinkType
		body.InwardIssue.Key, body.OutwardIssue.Key = key, a.Other.ID
		return core.Result{}, c.do(ctx, http.MethodPost, "rest/api/2/issueLink", nil, body, nil, key)
	}
	if a.OtherURL == "" {
		return core.Result{}, core.Permanent(fmt.Errorf("no URL for %q: a remote link needs one", a.Other.String()))
	}
	rl := jira.RemoteLink{
		GlobalID:     a.Other.String(),
		Application:  &jira.RemoteLinkApplication{Type: "liaison", Name: a.Other.System},
		Relationship: strings.ReplaceAll(string(a.Other.Kind), "_", " "),
		Object:       &jira.RemoteLinkObject{URL: a.OtherURL, Title: a.Other.System + " " + a.Other.ID},
	}
	return core.Result{}, c.do(ctx, http.MethodPost, "rest/api/2/issue/"+key+"/remotelink", nil, rl, nil, key)
}

// FindByMarker finds the issue a Create labelled with marker, by JQL
// (labels = "<marker>" in the kind's projects). It returns core.ErrNotFound
// when there is none. Cloud's search is eventually consistent: an issue
// created seconds ago may not be found yet.
func (c *Connector) FindByMarker(ctx context.Context, kind core.Kind, marker string) (core.Ref, error) {
	if !core.IsMarker(marker) {
		return core.Ref{}, core.Permanent(fmt.Errorf("jira %q: %q is not a liaison marker", c.name, core.Clip(marker, 40)))
	}
	projects := c.projectsOf(kind)
	if len(projects) == 0 {
		return core.Ref{}, fmt.Errorf("jira %q: no project holds %s records: %w", c.name, kind, core.ErrNotFound)
	}
	jql := fmt.Sprintf(`project in (%s) AND labels = "%s"`, strings.Join(projects, ", "), marker)
	page, err := c.search(ctx, jql, "", 1, "labels", "")
	if err != nil {
		return core.Ref{}, wrap(c.name, "looking for marker "+strconv.Quote(marker), err)
	}
	for _, iss := range page.Issues {
		if ref, ok := c.refOf(iss.Key); ok && ref.Kind == kind {
			return ref, nil
		}
	}
	return core.Ref{}, fmt.Errorf("jira %q: no %s labelled %q: %w", c.name, kind, marker, core.ErrNotFound)
}

// Fetch reads one issue's snapshot with the transitions available from its
// status (GET /rest/api/2/issue/{key}?expand=transitions), which a
// transition planned on the snapshot then uses instead of reading again;
// an issue that does not exist, or that Jira hides from the gateway's
// account, is core.ErrNotFound.
func (c *Connector) Fetch(ctx context.Context, r core.Ref) (*core.Item, error) {
	ref, ok := c.refOf(r.ID)
	if r.System != c.name || !ok || ref != r || !issueKeyRE.MatchString(r.ID) {
		return nil, fmt.Errorf("jira %q: %q is not an issue of a %s project: %w", c.name, r.String(), r.Kind, core.ErrNotFound)
	}
	var iss wireIssue
	q := url.Values{"expand": {"transitions"}}
	if err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+r.ID, q, nil, &iss, ""); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return nil, fmt.Errorf("jira %q: issue %q: %w", c.name, r.ID, core.ErrNotFound)
		}
		return nil, wrap(c.name, "reading "+strconv.Quote(r.ID), err)
	}
	c.keys.remember(iss.ID, iss.Key)
	if iss.Key != "" && iss.Key != r.ID {
		// The issue moved to another project and has a new key.
		return nil, fmt.Errorf("jira %q: issue %q is now %q: %w", c.name, r.ID, iss.Key, core.ErrNotFound)
	}
	n, err := c.normalize(&iss, r)
	if err != nil {
		return nil, fmt.Errorf("jira %q: reading %q: %w", c.name, r.ID, err)
	}
	if st, err := stateOf(&iss, r.ID); err == nil && iss.Transitions != nil {
		c.fresh.put(r.ID, st, c.clock.Now())
	}
	return &n.item, nil
}

func isStatus(err error, status int) bool {
	var se *retryhttp.StatusError
	return errors.As(err, &se) && se.Status == status
}

// Applied reports whether an earlier attempt of a already reached Jira: a
// comment carrying its marker, the issue in the target status, the issue
// link in place. Remote links and field writes are idempotent and simply
// applied again.
func (c *Connector) Applied(ctx context.Context, a core.Action) (core.Result, bool, error) {
	key := a.Target.ID
	if _, ok := c.refOf(key); !ok || a.Target.System != c.name {
		return core.Result{}, false, nil
	}
	switch a.Kind {
	case core.AddComment:
		var page wireCommentPage
		q := url.Values{"orderBy": {"-created"}, "maxResults": {"100"}}
		if err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+key+"/comment", q, nil, &page, ""); err != nil {
			return core.Result{}, false, wrap(c.name, "reading comments of "+strconv.Quote(key), err)
		}
		for _, wc := range page.Comments {
			if wc == nil {
				continue
			}
			if cm, err := commentOf(wc); err == nil && cm.Marker == a.Marker() {
				return core.Result{CommentID: wc.ID}, true, nil
			}
		}
	case core.Transition:
		var iss wireIssue
		var st wireStatus
		if err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+key, url.Values{"fields": {"status"}}, nil, &iss, ""); err != nil {
			return core.Result{}, false, wrap(c.name, "reading "+strconv.Quote(key), err)
		}
		if err := iss.field("status", &st); err != nil {
			return core.Result{}, false, err
		}
		target := a.Native
		if km := c.maps.Load().Kind(c.name, a.Target.Kind); target == "" && km != nil {
			target = km.Native[a.Status]
		}
		if target != "" && strings.EqualFold(st.Name, target) {
			return core.Result{Note: "already in status " + strconv.Quote(st.Name)}, true, nil
		}
	case core.AddLink:
		if a.Other.System != c.name {
			return core.Result{}, false, nil
		}
		var iss wireIssue
		var links []wireIssueLink
		if err := c.do(ctx, http.MethodGet, "rest/api/2/issue/"+key, url.Values{"fields": {"issuelinks"}}, nil, &iss, ""); err != nil {
			return core.Result{}, false, wrap(c.name, "reading "+strconv.Quote(key), err)
		}
		if err := iss.field("issuelinks", &links); err != nil {
			return core.Result{}, false, err
		}
		for _, l := range links {
			if (l.OutwardIssue != nil && l.OutwardIssue.Key == a.Other.ID) || (l.InwardIssue != nil && l.InwardIssue.Key == a.Other.ID) {
				return core.Result{}, true, nil
			}
		}
	}
	return core.Result{}, false, nil
}

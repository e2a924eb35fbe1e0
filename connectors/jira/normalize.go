package jira

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

var markerInTextRE = regexp.MustCompile(`liaison-[0-9a-f]{12}`)

// markerLine is the last line AddComment appends to a comment: the marker in
// a muted colour, so that people see a small tag and the connector knows the
// comment as the gateway's when it comes back.
func markerLine(marker string) string { return "{color:#97a0af}" + marker + "{color}" }

// splitMarker returns a comment body without the marker line AddComment
// appended, and the marker; a body without one comes back unchanged.
func splitMarker(body string) (string, string) {
	trimmed := strings.TrimRight(body, " \t\r\n")
	i := strings.LastIndexByte(trimmed, '\n')
	last := strings.TrimSpace(trimmed[i+1:])
	m := markerInTextRE.FindString(last)
	if m == "" || (last != m && last != markerLine(m)) {
		return body, ""
	}
	if i < 0 {
		return "", m
	}
	return strings.TrimRight(trimmed[:i], " \t\r\n"), m
}

// systemFieldsKept are the non-custom fields worth keeping in Item.Fields
// (by id, and by display name when the field list is loaded).
var systemFieldsKept = []string{"duedate", "fixVersions", "versions", "environment"}

// normalized is an issue as Liaison sees it.
type normalized struct {
	item      core.Item
	links     []core.Link
	project   string
	issueType string
	created   time.Time
}

// normalize turns an issue into an Item snapshot. The caller has checked
// that the issue's project is one of ours (ref).
func (c *Connector) normalize(iss *wireIssue, ref core.Ref) (normalized, error) {
	var (
		out                    normalized
		summary, updated, crea string
		status                 wireStatus
		priority, project, typ wireNamed
		resolution             wireNamed
		labels                 []string
		components             []wireNamed
		reporter, assignee     *wireUser
		issueLinks             []wireIssueLink
		comments               wireCommentPage
	)
	for _, f := range []struct {
		name string
		v    any
	}{
		{"summary", &summary}, {"updated", &updated}, {"created", &crea}, {"status", &status},
		{"priority", &priority}, {"project", &project}, {"issuetype", &typ}, {"resolution", &resolution},
		{"labels", &labels}, {"components", &components}, {"reporter", &reporter}, {"assignee", &assignee},
		{"issuelinks", &issueLinks}, {"comment", &comments},
	} {
		if err := iss.field(f.name, f.v); err != nil {
			return out, err
		}
	}
	body, err := richText(iss.Fields["description"])
	if err != nil {
		return out, fmt.Errorf("issue field \"description\": %w", err)
	}
	it := core.Item{
		Ref:      ref,
		Title:    summary,
		Body:     body,
		Native:   status.Name,
		Priority: priority.Name,
		Reporter: reporter.identity(),
		Assignee: assignee.identity(),
		Labels:   labels,
		URL:      c.browseURL(ref.ID),
		Fields:   map[string]string{},
	}
	if it.UpdatedAt, err = parseTime(updated); err != nil {
		return out, fmt.Errorf("issue field \"updated\": %w", err)
	}
	if out.created, err = parseTime(crea); err != nil {
		return out, fmt.Errorf("issue field \"created\": %w", err)
	}
	for _, l := range labels {
		if core.IsMarker(l) {
			it.Marker = l
			break
		}
	}
	out.project = project.Key
	if out.project == "" {
		out.project = projectOfKey(ref.ID)
	}
	out.issueType = typ.Name
	it.Fields["project"] = out.project
	if typ.Name != "" {
		it.Fields["issue_type"] = typ.Name
	}
	if resolution.Name != "" {
		it.Fields["resolution"] = resolution.Name
	}
	if len(components) > 0 {
		names := make([]string, 0, len(components))
		for _, c := range components {
			names = append(names, c.Name)
		}
		it.Fields["components"] = strings.Join(names, ", ")
	}
	cat := c.cat.Load()
	for id, raw := range iss.Fields {
		if !strings.HasPrefix(id, "customfield_") && !slices.Contains(systemFieldsKept, id) {
			continue
		}
		s, ok := fieldText(raw)
		if !ok || s == "" {
			continue
		}
		it.Fields[id] = s
		if f, ok := cat.fieldByID(id); ok {
			it.Fields[f.Name] = s
		}
	}
	for _, wc := range comments.Comments {
		if wc == nil {
			continue
		}
		cm, err := commentOf(wc)
		if err != nil {
			return out, err
		}
		it.Comments = append(it.Comments, cm)
	}
	it.Path = statusPath(iss.Changelog)
	out.links = c.issueLinks(ref, issueLinks)
	out.item = it
	return out, nil
}

// statusPath is the status history a changelog (expand=changelog, as
// polls ask) tells: each status change puts the issue in its new status at
// the change's time, and in its old one until then. Rules ask whether a
// fix passed QA before pre-production; a poll that saw only the last
// status would answer no.
func statusPath(cl *wireChangelogPage) []core.StatusStep {
	if cl == nil {
		return nil
	}
	var out []core.StatusStep
	for _, h := range cl.Histories {
		at, err := parseTime(h.Created)
		if err != nil || at.IsZero() {
			continue
		}
		for _, ci := range h.Items {
			if ci.Field != "status" {
				continue
			}
			out = append(out, transitionSteps(ci.FromString, ci.ToString, at)...)
		}
	}
	return out
}

// transitionSteps is what one status change of Jira's history says: the
// issue was in from until at (a millisecond before, Jira's resolution),
// and in to from at on. A webhook's changelog tells the change it is
// about, so even a delivery that overtook the one before it proves the
// status the issue left.
func transitionSteps(from, to string, at time.Time) []core.StatusStep {
	if to == "" || at.IsZero() {
		return nil
	}
	var out []core.StatusStep
	if from != "" {
		out = append(out, core.StatusStep{Native: from, At: at.Add(-time.Millisecond).UTC(), Left: true})
	}
	return append(out, core.StatusStep{Native: to, At: at.UTC()})
}

// issueLinks turns the issue's links to other issues of ours into explicit
// links: a change ticket is the change for the developer ticket it is
// linked to; other pairs merely mention each other.
func (c *Connector) issueLinks(self core.Ref, links []wireIssueLink) []core.Link {
	var out []core.Link
	for _, l := range links {
		var key string
		switch {
		case l.OutwardIssue != nil && l.OutwardIssue.Key != "":
			key = l.OutwardIssue.Key
		case l.InwardIssue != nil && l.InwardIssue.Key != "":
			key = l.InwardIssue.Key
		default:
			continue
		}
		other, ok := c.refOf(key)
		if !ok || other == self {
			continue
		}
		link := core.Link{From: self, To: other, Role: core.Mentions, Origin: core.Explicit}
		switch {
		case self.Kind == core.ChangeTicket && other.Kind == core.DevTicket:
			link.Role = core.ChangeFor
		case self.Kind == core.DevTicket && other.Kind == core.ChangeTicket:
			link = core.Link{From: other, To: self, Role: core.ChangeFor, Origin: core.Explicit}
		}
		if !slices.Contains(out, link) {
			out = append(out, link)
		}
	}
	return out
}

// commentOf normalizes a comment. A comment restricted to a role or group
// (visibility) or marked internal in Jira Service Management (jsdPublic
// false, or the sd.public.comment property) is not public.
func commentOf(wc *wireComment) (core.Comment, error) {
	body, err := richText(wc.Body)
	if err != nil {
		return core.Comment{}, fmt.Errorf("comment body: %w", err)
	}
	body, marker := splitMarker(body)
	cm := core.Comment{ID: wc.ID, Author: wc.Author.identity(), Body: body, Public: true, Marker: marker}
	if cm.CreatedAt, err = parseTime(wc.Created); err != nil {
		return core.Comment{}, fmt.Errorf("comment: %w", err)
	}
	if wc.Visibility != nil && (wc.Visibility.Type != "" || wc.Visibility.Value != "") {
		cm.Public = false
	}
	if wc.JSDPublic != nil && !*wc.JSDPublic {
		cm.Public = false
	}
	for _, p := range wc.Properties {
		if p.Key == "sd.public.comment" && internalProperty(p.Value) {
			cm.Public = false
		}
	}
	return cm, nil
}

func internalProperty(raw json.RawMessage) bool {
	var v struct {
		Internal json.RawMessage `json:"internal"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	// Jira stores it as a boolean or as the string "true".
	s := string(bytes.Trim(bytes.TrimSpace(v.Internal), `"`))
	return s == "true"
}

// commentTime is when a comment last changed, for the snapshot's order.
func commentTime(wc *wireComment) time.Time {
	for _, s := range []string{wc.Updated, wc.Created} {
		if t, err := parseTime(s); err == nil && !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

package mantis

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// markerLine is the last line AddComment appends to a note, so that the
// connector knows the note as the gateway's when it comes back (and never
// mirrors it again). Mantis notes are plain text: the marker stands alone,
// in brackets.
func markerLine(marker string) string { return "[" + marker + "]" }

// noteTailRE is a note's last line when it is a marker line.
var noteTailRE = regexp.MustCompile(`(?:^|\n)[ \t]*\[(liaison-[0-9a-f]{12})\][ \t\r\n]*$`)

// splitMarker returns a note's text without the marker line AddComment
// appended, and the marker; a text without one comes back unchanged.
func splitMarker(text string) (string, string) {
	loc := noteTailRE.FindStringSubmatchIndex(text)
	if loc == nil {
		return text, ""
	}
	return strings.TrimRight(text[:loc[0]], " \t\r\n"), text[loc[2]:loc[3]]
}

// Item.Fields keys for Mantis's own fields (custom fields keep their names).
const (
	fieldProject         = "project"
	fieldCategory        = "category"
	fieldSeverity        = "severity"
	fieldReproducibility = "reproducibility"
	fieldResolution      = "resolution"
	fieldViewState       = "view_state"
	fieldSteps           = "steps_to_reproduce"
	fieldAdditional      = "additional_information"
)

// normalized is an issue as Liaison sees it.
type normalized struct {
	item    core.Item
	links   []core.Link
	created time.Time
}

// refOfIssue returns the Ref of an issue read from Mantis, or false when its
// project is not one of ours.
func (c *Connector) refOfIssue(iss *wireIssue) (core.Ref, bool) {
	if iss.Project == nil || iss.ID <= 0 {
		return core.Ref{}, false
	}
	k, ok := c.kindOf(iss.Project.Name)
	if !ok {
		return core.Ref{}, false
	}
	c.kinds.remember(iss.ID, k)
	return core.Ref{System: c.name, Kind: k, ID: strconv.FormatInt(iss.ID, 10)}, true
}

// normalize turns an issue into an Item snapshot. The caller has checked
// that the issue's project is one of ours (ref).
func (c *Connector) normalize(iss *wireIssue, ref core.Ref) (normalized, error) {
	var out normalized
	updated, err := parseTime(iss.UpdatedAt)
	if err != nil {
		return out, fmt.Errorf("updated_at: %w", err)
	}
	if iss.CreatedAt != "" {
		if out.created, err = parseTime(iss.CreatedAt); err != nil {
			return out, fmt.Errorf("created_at: %w", err)
		}
	}
	it := core.Item{
		Ref:       ref,
		Title:     iss.Summary,
		Body:      iss.Description,
		URL:       c.viewURL(iss.ID),
		CreatedAt: out.created,
		UpdatedAt: updated,
		Version:   updated.Unix(),
		Fields:    map[string]string{},
	}
	if iss.Status != nil {
		it.Native = iss.Status.Name
	}
	if iss.Priority != nil {
		it.Priority = iss.Priority.Name
	}
	it.Reporter = iss.Reporter.identity()
	it.Assignee = iss.Handler.identity()
	set := func(k, v string) {
		if v != "" {
			it.Fields[k] = v
		}
	}
	if iss.Project != nil {
		set(fieldProject, iss.Project.Name)
	}
	if iss.Category != nil {
		set(fieldCategory, iss.Category.Name)
	}
	for k, e := range map[string]*wireEnum{fieldSeverity: iss.Severity, fieldReproducibility: iss.Reproducibility, fieldResolution: iss.Resolution, fieldViewState: iss.ViewState} {
		if e != nil {
			set(k, e.Name)
		}
	}
	set(fieldSteps, iss.StepsToReproduce)
	set(fieldAdditional, iss.AdditionalInformation)
	for _, cf := range iss.CustomFields {
		if strings.EqualFold(cf.Field.Name, c.cfg.MarkerField) {
			if core.IsMarker(cf.Value) {
				it.Marker = cf.Value
			}
			continue
		}
		set(cf.Field.Name, cf.Value)
	}
	for _, t := range iss.Tags {
		if t.Name != "" {
			it.Labels = append(it.Labels, t.Name)
		}
	}
	for _, n := range iss.Notes {
		cm, err := noteOf(n)
		if err != nil {
			return out, fmt.Errorf("note %d: %w", n.ID, err)
		}
		it.Comments = append(it.Comments, cm)
	}
	out.item = it
	out.links = c.relationshipLinks(ref, iss.Relationships)
	return out, nil
}

func (u *wireUser) identity() string {
	if u == nil {
		return ""
	}
	if u.Email != "" {
		return u.Email
	}
	return u.Name
}

// noteOf normalizes a note. A private note is not public; a note that is
// not plain text (a time-tracking or reminder entry) keeps its text.
func noteOf(n wireNote) (core.Comment, error) {
	at, err := parseTime(n.CreatedAt)
	if err != nil {
		return core.Comment{}, err
	}
	body, marker := splitMarker(n.Text)
	return core.Comment{
		ID:        strconv.FormatInt(n.ID, 10),
		Author:    n.Reporter.identity(),
		Body:      body,
		Public:    n.ViewState == nil || n.ViewState.Name != "private",
		CreatedAt: at,
		Marker:    marker,
	}, nil
}

// relationshipLinks turns relationships to issues of our projects into
// links. The far end carries no project: its kind is known only when the
// connector has read that issue; others are left for the far issue's own
// snapshot, which states the same relationship from its side.
func (c *Connector) relationshipLinks(self core.Ref, rels []wireRelationship) []core.Link {
	var out []core.Link
	for _, r := range rels {
		if r.Issue == nil || r.Issue.ID <= 0 {
			continue
		}
		kind, ok := c.kinds.lookup(r.Issue.ID)
		if !ok {
			continue
		}
		other := core.Ref{System: c.name, Kind: kind, ID: strconv.FormatInt(r.Issue.ID, 10)}
		if other == self {
			continue
		}
		link := linkBetween(self, other)
		if !slices.Contains(out, link) {
			out = append(out, link)
		}
	}
	return out
}

// linkBetween is the link a relationship states: a change ticket related
// to a developer ticket is the change for it; any other pair mentions.
func linkBetween(a, b core.Ref) core.Link {
	if a.Kind == core.DevTicket && b.Kind == core.ChangeTicket {
		a, b = b, a
	}
	role := core.Mentions
	if a.Kind == core.ChangeTicket && b.Kind == core.DevTicket {
		role = core.ChangeFor
	}
	return core.Link{From: a, To: b, Role: role, Origin: core.Explicit}
}

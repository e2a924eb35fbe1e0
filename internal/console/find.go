package console

import (
	"context"
	"errors"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// maxQuery bounds what the search box takes; a longer query is cut.
const maxQuery = 300

// query is what one search box's text may name.
type query struct {
	// IDs are the record ids it may stand for, most likely first.
	IDs []string
	// Person is a reporter's or assignee's e-mail address.
	Person string
	// Text is matched in titles, when long enough to mean something (3
	// characters).
	Text string
}

// parseQuery reads the search box: a ticket number (4521, #4521), an
// issue key (KBOT-88), a pull request's URL or repo#n, a tracker's URL of
// a ticket or issue, a Message-ID with or without its brackets, an e-mail
// address, or words of a title.
func parseQuery(s string) query {
	s = strings.TrimSpace(s)
	if len(s) > maxQuery {
		s = s[:maxQuery]
	}
	var q query
	add := func(id string) {
		if id != "" && !slices.Contains(q.IDs, id) {
			q.IDs = append(q.IDs, id)
		}
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
		add(idInURL(u))
		return q
	}
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		add(s[1 : len(s)-1]) // a Message-ID as mail headers write it
		return q
	}
	if a, err := mail.ParseAddress(s); err == nil {
		// A Message-ID looks like an address.
		add(a.Address)
		q.Person = a.Address
		return q
	}
	add(s)
	add(strings.TrimPrefix(s, "#"))
	if len([]rune(s)) >= 3 {
		q.Text = strings.ToLower(s)
	}
	return q
}

// idInURL is the record id in a tracker's URL: GitHub's
// /owner/repo/pull/12 is owner/repo#12, Jira's /browse/KEY-1 is KEY-1,
// Zendesk's /agent/tickets/4521 (and the API's /tickets/4521.json) is 4521.
func idInURL(u *url.URL) string {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	n := len(parts)
	switch {
	case n >= 4 && (parts[n-2] == "pull" || parts[n-2] == "pulls" || parts[n-2] == "issues"):
		return parts[n-4] + "/" + parts[n-3] + "#" + parts[n-1]
	case n >= 2 && (parts[n-2] == "browse" || parts[n-2] == "tickets" || parts[n-2] == "issue"):
		return strings.TrimSuffix(parts[n-1], ".json")
	}
	if k := u.Query().Get("selectedIssue"); k != "" {
		return k
	}
	return ""
}

// hit is one search result.
type hit struct {
	Item   core.Item
	Case   core.CaseID
	ByID   bool
	Placed bool // the record is in a case (it always is once stored)
}

// maxHits bounds a search's results.
const maxHits = 20

// find runs a query: records with a matching id first, then those of the
// person, then those whose title holds the text.
func find(ctx context.Context, rs Records, q query) ([]hit, error) {
	var (
		out  []hit
		seen = map[core.Ref]bool{}
	)
	collect := func(refs []core.Ref, byID bool) error {
		for _, r := range refs {
			if seen[r] || len(out) >= maxHits {
				continue
			}
			seen[r] = true
			h := hit{ByID: byID, Item: core.Item{Ref: r}}
			it, err := rs.Item(ctx, r)
			switch {
			case err == nil:
				h.Item = *it
			case !errors.Is(err, core.ErrNotFound):
				return err
			}
			if h.Case, err = rs.CaseOf(ctx, r); err == nil {
				h.Placed = true
			} else if !errors.Is(err, core.ErrNotFound) {
				return err
			}
			out = append(out, h)
		}
		return nil
	}
	for _, id := range q.IDs {
		refs, err := rs.FindByID(ctx, id, maxHits)
		if err != nil {
			return nil, err
		}
		if err := collect(refs, true); err != nil {
			return nil, err
		}
	}
	if q.Person != "" {
		refs, err := rs.FindByPerson(ctx, q.Person, maxHits)
		if err != nil {
			return nil, err
		}
		if err := collect(refs, false); err != nil {
			return nil, err
		}
	}
	// A record whose id is the query is what was asked for: its case
	// shows what names it. Words of a title are searched when no id
	// matched, or when the query has several words.
	if q.Text != "" && len(out) < maxHits && (len(out) == 0 || strings.ContainsAny(q.Text, " \t")) {
		refs, err := rs.FindByText(ctx, q.Text, maxHits)
		if err != nil {
			return nil, err
		}
		if err := collect(refs, false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

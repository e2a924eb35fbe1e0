package console

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"login", "home", "search", "case", "dead", "conflicts", "health", "mappings", "targets", "unread", "error"}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"clip": core.ClipLine,
	"join": strings.Join,
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		out[n] = t
	}
	return out, nil
}

// frame is what the layout needs around every page.
type frame struct {
	Title string
	User  *session
	CSRF  string
	Admin bool
	Query string
	Flash string
	Page  any
}

// render writes a page; a template that fails renders nothing of itself,
// so a half page never reaches the browser.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, page any) {
	f := frame{Title: name, User: s, Page: page, Flash: c.flash(r)}
	if s != nil {
		f.CSRF, f.Admin = c.csrf(s), s.Role == Admin
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, f); err != nil {
		c.o.Log.Error("console: render", "page", name, "err", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail shows an error page. The message is the console's own, never
// what the request or a store error said.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.render(w, r, status, "error", s, msg)
}

// internal logs err and shows a general error.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, s *session, err error) {
	c.o.Log.Error("console: request failed", "path", r.URL.Path, "err", err)
	c.fail(w, r, s, http.StatusInternalServerError, "Something went wrong reading the store; the daemon's log says what.")
}

func (c *Console) home(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, r, http.StatusOK, "home", s, nil)
}

type searchPage struct {
	Query string
	Hits  []hit
}

func (c *Console) search(w http.ResponseWriter, r *http.Request, s *session) {
	text := r.FormValue("q")
	if strings.TrimSpace(text) == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	hits, err := find(r.Context(), c.o.Records, parseQuery(text))
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "search", s, searchPage{Query: text, Hits: hits})
}

// caseView is the case page: one record's case whole.
type caseView struct {
	ID        core.CaseID
	Focus     core.Ref
	Records   []recordView
	Links     []linkView
	Pending   []core.Action
	Dead      []core.Action
	Timeline  []moment
	Conflicts []core.Conflict
	Roles     []core.Role
	Sync      syncView
}

type recordView struct {
	core.Item
	Focus bool
}

// Link is the record's page in its tracker, when it is an http(s) URL.
// The URL comes from outside (a tracker's payload, a mail): any other
// scheme (javascript:, data:) is no link at all.
func (v recordView) Link() string {
	u, err := url.Parse(v.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

type linkView struct {
	From, To core.Ref
	Role     core.Role
	How      string
	Joins    bool
	Created  time.Time
}

// moment is one line of a case's timeline: an event seen or an action's
// audit entry.
type moment struct {
	At     time.Time
	Ref    core.Ref
	What   string
	Detail string
	Rule   string
	Reason string
}

// how says in words who made a link.
func how(l store.LinkOrigin) string {
	switch l.Origin {
	case core.Explicit:
		if l.Source != "" {
			return "stated by " + l.Source
		}
		return "stated by " + l.From.System
	case core.Discovered:
		return "found by its key in the text of " + l.Source
	case core.Ours:
		return "made by the gateway when it created the record"
	case store.ByAgent:
		return "linked by hand by " + strings.TrimPrefix(l.Source, "agent:")
	}
	return string(l.Origin)
}

// linkRoles are the roles an admin may give a link made by hand.
var linkRoles = []core.Role{core.EscalatedTo, core.Fixes, core.ChangeFor, core.ThreadOf, core.DuplicateOf, core.Mentions}

// timelineLen bounds the entries read per record and shown per case.
const timelineLen = 100

func (c *Console) casePage(w http.ResponseWriter, r *http.Request, s *session) {
	ref, err := core.ParseRef(r.FormValue("ref"))
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "Name a record as system/kind/id, or find it with the search box.")
		return
	}
	v, err := c.loadCase(r, ref)
	if errors.Is(err, core.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "This gateway knows no such record.")
		return
	}
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "case", s, v)
}

func (c *Console) loadCase(r *http.Request, ref core.Ref) (*caseView, error) {
	ctx := r.Context()
	rs := c.o.Records
	id, err := rs.CaseOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	cs, err := rs.LoadCase(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &caseView{ID: id, Focus: ref, Roles: linkRoles}
	refs := make([]core.Ref, 0, len(cs.Items))
	for _, it := range cs.Items {
		v.Records = append(v.Records, recordView{Item: it, Focus: it.Ref == ref})
		refs = append(refs, it.Ref)
	}
	links, err := rs.LinksOf(ctx, refs)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		role := core.Mentions
		for _, cl := range cs.Links {
			if cl.From == l.From && cl.To == l.To {
				role = cl.Role
			}
		}
		v.Links = append(v.Links, linkView{From: l.From, To: l.To, Role: role, How: how(l),
			Joins: core.Link{Origin: l.Origin, Role: role}.Joins(), Created: l.Created})
	}
	slices.SortFunc(v.Links, func(a, b linkView) int {
		return cmp.Compare(a.From.String()+a.To.String(), b.From.String()+b.To.String())
	})
	if v.Sync, err = c.syncOf(ctx, id, cs); err != nil {
		return nil, err
	}
	acts, err := rs.Actions(ctx, id, "")
	if err != nil {
		return nil, err
	}
	for _, a := range acts {
		switch a.State {
		case core.Pending:
			v.Pending = append(v.Pending, a)
		case core.Dead:
			v.Dead = append(v.Dead, a)
		}
	}
	seen := map[string]bool{}
	for _, it := range cs.Items {
		audit, err := rs.Audit(ctx, it.Ref, timelineLen)
		if err != nil {
			return nil, err
		}
		for _, a := range audit {
			if seen[a.Key] {
				continue
			}
			seen[a.Key] = true
			v.Timeline = append(v.Timeline, moment{At: a.At, Ref: a.Target, What: string(a.Kind), Detail: a.Detail, Rule: a.Rule, Reason: a.Reason})
		}
		evs, err := rs.Events(ctx, it.Ref, timelineLen)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			v.Timeline = append(v.Timeline, moment{At: e.At, Ref: e.Item.Ref, What: "event: " + string(e.Type),
				Detail: fmt.Sprintf("via %s from %s", e.Via, e.Source)})
		}
	}
	slices.SortStableFunc(v.Timeline, func(a, b moment) int { return b.At.Compare(a.At) })
	v.Timeline = v.Timeline[:min(len(v.Timeline), timelineLen)]
	if v.Conflicts, err = rs.ConflictsOf(ctx, refs, timelineLen); err != nil {
		return nil, err
	}
	return v, nil
}

// caseURL is the case page of a record.
func caseURL(r core.Ref) string { return "/case?ref=" + url.QueryEscape(r.String()) }

// back returns to the page a form came from (a console path), saying
// what was done. The message is signed, so that a link from elsewhere
// cannot make a page say what the console did not.
func (c *Console) back(w http.ResponseWriter, r *http.Request, fallback, done string) {
	to := localPath(r.PostFormValue("back"))
	if to == "/" {
		to = fallback
	}
	u, _ := url.Parse(to)
	q := u.Query()
	q.Set("done", done)
	q.Set("sig", base64.RawURLEncoding.EncodeToString(c.mac("flash", done)))
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// flash is the signed message back left for the page, if any.
func (c *Console) flash(r *http.Request) string {
	done := r.URL.Query().Get("done")
	if done == "" || !validToken(base64.RawURLEncoding.EncodeToString(c.mac("flash", done)), r.URL.Query().Get("sig")) {
		return ""
	}
	return done
}

type deadPage struct {
	Dead []core.Action
}

func (c *Console) deadPage(w http.ResponseWriter, r *http.Request, s *session) {
	dead, err := c.o.Records.DeadLetters(r.Context())
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "dead", s, deadPage{Dead: dead})
}

// chosen returns the keys of the dead actions a form names (all with
// all=1). Named keys go to the store as they are: it moves only actions
// still dead, so only "all" needs the list.
func (c *Console) chosen(r *http.Request) ([]string, error) {
	if r.PostFormValue("all") != "1" {
		return r.PostForm["key"], nil
	}
	dead, err := c.o.Records.DeadLetters(r.Context())
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(dead))
	for i, a := range dead {
		keys[i] = a.Key
	}
	return keys, nil
}

// onDead is an admin's action on the chosen dead actions: replay (back
// to pending) or discard (given up), each audited with who in the
// store's transaction; done says what was done to them.
func (c *Console) onDead(done string, act func(ctx context.Context, who string, keys ...string) (int, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		keys, err := c.chosen(r)
		if err != nil {
			c.internal(w, r, s, err)
			return
		}
		n, err := act(r.Context(), s.Name, keys...)
		if err != nil {
			c.internal(w, r, s, err)
			return
		}
		c.o.Log.Info("console: dead actions "+done, "user", s.Name, "n", n)
		c.back(w, r, "/dead", fmt.Sprintf("%d action(s) %s", n, done))
	}
}

// twoRefs reads the two records a link form names.
func twoRefs(r *http.Request) (a, b core.Ref, err error) {
	if a, err = core.ParseRef(strings.TrimSpace(r.PostFormValue("from"))); err != nil {
		return a, b, err
	}
	if b, err = core.ParseRef(strings.TrimSpace(r.PostFormValue("to"))); err != nil {
		return a, b, err
	}
	if a == b {
		return a, b, errors.New("a record cannot be linked to itself")
	}
	return a, b, nil
}

func (c *Console) link(w http.ResponseWriter, r *http.Request, s *session) {
	a, b, err := twoRefs(r)
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "Name both records as system/kind/id (e.g. jira/dev_ticket/KBOT-1), two different ones.")
		return
	}
	role := core.Role(r.PostFormValue("role"))
	if !slices.Contains(linkRoles, role) {
		c.fail(w, r, s, http.StatusBadRequest, "Choose a role for the link.")
		return
	}
	for _, x := range []core.Ref{a, b} {
		if _, err := c.o.Records.CaseOf(r.Context(), x); errors.Is(err, core.ErrNotFound) {
			c.fail(w, r, s, http.StatusBadRequest, "Both records must be known to the gateway: "+x.String()+" is not.")
			return
		} else if err != nil {
			c.internal(w, r, s, err)
			return
		}
	}
	if err := c.o.Records.LinkByHand(r.Context(), core.Link{From: a, To: b, Role: role}, s.Name); err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.o.Log.Info("console: records linked by hand", "user", s.Name, "from", a.String(), "to", b.String())
	c.back(w, r, caseURL(a), "linked "+a.String()+" and "+b.String())
}

func (c *Console) unlink(w http.ResponseWriter, r *http.Request, s *session) {
	a, b, err := twoRefs(r)
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "Name both records as system/kind/id, two different ones.")
		return
	}
	found, err := c.o.Records.UnlinkByHand(r.Context(), a, b, s.Name)
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	if !found {
		c.fail(w, r, s, http.StatusNotFound, "These two records are not linked.")
		return
	}
	c.o.Log.Info("console: records unlinked by hand", "user", s.Name, "from", a.String(), "to", b.String())
	c.back(w, r, caseURL(a), "unlinked "+a.String()+" and "+b.String())
}

// retry makes the chosen pending actions of a case due now.
func (c *Console) retry(w http.ResponseWriter, r *http.Request, s *session) {
	n, err := c.o.Records.RetryNow(r.Context(), s.Name, r.PostForm["key"]...)
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.o.Log.Info("console: pending actions retried now", "user", s.Name, "n", n)
	c.back(w, r, "/", fmt.Sprintf("%d action(s) to be tried now", n))
}

type conflictsPage struct {
	Conflicts []core.Conflict
}

func (c *Console) conflictsPage(w http.ResponseWriter, r *http.Request, s *session) {
	cs, err := c.o.Records.Conflicts(r.Context(), 200)
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "conflicts", s, conflictsPage{Conflicts: cs})
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

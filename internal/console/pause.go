package console

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// maxPauseReason bounds the reason kept with a pause: a note, not a
// document.
const maxPauseReason = 500

// syncView is the case page's sync switches: the whole case's pause and
// each record's (nil where sync runs).
type syncView struct {
	Case    *store.Pause
	Records []recordSync
}

type recordSync struct {
	Ref   core.Ref
	Pause *store.Pause
}

// syncOf reads what is paused in case id, whose records are cs's.
func (c *Console) syncOf(ctx context.Context, id core.CaseID, cs *core.Case) (syncView, error) {
	ps, err := c.o.Records.Paused(ctx, id)
	if err != nil {
		return syncView{}, err
	}
	var v syncView
	byRef := map[core.Ref]*store.Pause{}
	for i := range ps {
		switch p := &ps[i]; {
		case p.Whole && v.Case == nil:
			v.Case = p
		case !p.Whole:
			byRef[p.Ref] = p
		}
	}
	for _, it := range cs.Items {
		v.Records = append(v.Records, recordSync{Ref: it.Ref, Pause: byRef[it.Ref]})
	}
	return v, nil
}

// pause pauses or resumes sync of one record, or of the whole case
// (whole=1), as the form's do says. The store writes the audit entry
// naming who; a resume makes the case due at once.
func (c *Console) pause(w http.ResponseWriter, r *http.Request, s *session) {
	ref, err := core.ParseRef(strings.TrimSpace(r.PostFormValue("ref")))
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "Name a record as system/kind/id.")
		return
	}
	p := store.Pause{Ref: ref, Whole: r.PostFormValue("whole") == "1", By: s.Name}
	what := ref.String()
	if p.Whole {
		what = "the case of " + what
	}
	var changed bool
	do := r.PostFormValue("do")
	switch do {
	case "pause":
		p.Reason = strings.TrimSpace(r.PostFormValue("reason"))
		if len([]rune(p.Reason)) > maxPauseReason {
			p.Reason = string([]rune(p.Reason)[:maxPauseReason])
		}
		changed, err = c.o.Records.Pause(r.Context(), p)
	case "resume":
		changed, err = c.o.Records.Resume(r.Context(), ref, p.Whole, s.Name)
	default:
		c.fail(w, r, s, http.StatusBadRequest, "Choose pause or resume.")
		return
	}
	switch {
	case errors.Is(err, core.ErrNotFound):
		c.fail(w, r, s, http.StatusNotFound, "This gateway knows no such record.")
		return
	case err != nil:
		c.internal(w, r, s, err)
		return
	case !changed && do == "pause":
		c.fail(w, r, s, http.StatusConflict, "Sync of "+what+" is paused already.")
		return
	case !changed:
		c.fail(w, r, s, http.StatusNotFound, "Sync of "+what+" is not paused.")
		return
	}
	c.o.Log.Info("console: sync "+do+"d", "user", s.Name, "ref", ref.String(), "whole_case", p.Whole)
	c.back(w, r, caseURL(ref), do+"d sync of "+what)
}

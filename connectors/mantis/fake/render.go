package fake

import (
	"strconv"
	"time"
)

// isoTime writes a time as Mantis does: ISO 8601, seconds, with an offset.
func isoTime(t time.Time) string { return t.Format("2006-01-02T15:04:05-07:00") }

// user renders an account reference: id, name, real_name, email.
func (s *Server) user(id int) map[string]any {
	u := s.users[id]
	if u == nil {
		return map[string]any{"id": id, "name": "user" + strconv.Itoa(id)}
	}
	return map[string]any{"id": u.ID, "name": u.Name, "real_name": u.RealName, "email": u.Email}
}

// render builds an issue as mci_issue_data_as_array does for REST: null and
// empty values left out.
func (s *Server) render(iss *Issue) map[string]any {
	p := s.projectByID(iss.Project)
	must := func(list []Enum, name string) map[string]any {
		e, _ := enumNamed(list, name)
		return e
	}
	out := map[string]any{
		"id":              iss.ID,
		"summary":         iss.Summary,
		"description":     iss.Description,
		"project":         map[string]any{"id": p.ID, "name": p.Name},
		"reporter":        s.user(iss.Reporter),
		"status":          must(s.statuses, iss.Status),
		"resolution":      must(Resolutions, iss.Resolution),
		"view_state":      must(viewStates, iss.ViewState),
		"priority":        must(Priorities, iss.Priority),
		"severity":        must(Severities, iss.Severity),
		"reproducibility": must(Reproducibility, iss.Reproducibility),
		"sticky":          false,
		"created_at":      isoTime(iss.CreatedAt),
		"updated_at":      isoTime(iss.UpdatedAt),
	}
	if iss.Category != "" {
		out["category"] = map[string]any{"id": p.ID*100 + 1, "name": iss.Category}
	}
	if iss.Steps != "" {
		out["steps_to_reproduce"] = iss.Steps
	}
	if iss.Additional != "" {
		out["additional_information"] = iss.Additional
	}
	if iss.Handler != 0 {
		out["handler"] = s.user(iss.Handler)
	}
	if len(iss.Notes) > 0 {
		notes := []map[string]any{}
		for _, n := range iss.Notes {
			vs := "public"
			if n.Private {
				vs = "private"
			}
			notes = append(notes, map[string]any{
				"id": n.ID, "reporter": s.user(n.Reporter), "text": n.Text,
				"view_state": must(viewStates, vs), "attachments": []any{}, "type": "note",
				"created_at": isoTime(n.CreatedAt), "updated_at": isoTime(n.CreatedAt),
			})
		}
		out["notes"] = notes
	}
	if len(iss.Relations) > 0 {
		var rels []map[string]any
		for _, r := range iss.Relations {
			t := s.issues[r.Target]
			typ := map[string]any{"name": r.Type, "label": r.Type}
			for _, e := range relationTypes {
				if e.Name == r.Type {
					typ["id"] = e.ID
				}
			}
			rels = append(rels, map[string]any{"id": r.ID, "type": typ, "issue": map[string]any{
				"id": t.ID, "summary": t.Summary, "status": must(s.statuses, t.Status), "resolution": must(Resolutions, t.Resolution)}})
		}
		out["relationships"] = rels
	}
	var cfs []map[string]any
	for _, name := range p.CustomFields {
		cfs = append(cfs, map[string]any{"field": map[string]any{"id": s.fields[name], "name": name}, "value": iss.Custom[name]})
	}
	if len(cfs) > 0 {
		out["custom_fields"] = cfs
	}
	if len(iss.Tags) > 0 {
		var tags []map[string]any
		for i, t := range iss.Tags {
			tags = append(tags, map[string]any{"id": i + 1, "name": t})
		}
		out["tags"] = tags
	}
	var hist []map[string]any
	for _, h := range iss.History {
		hist = append(hist, map[string]any{
			"created_at": isoTime(h.At), "user": s.user(s.me),
			"field":     map[string]any{"name": "status", "label": "Status"},
			"type":      map[string]any{"id": 0, "name": "field-updated"},
			"old_value": must(s.statuses, h.From), "new_value": must(s.statuses, h.To),
			"message": "Status", "change": h.From + " => " + h.To,
		})
	}
	if len(hist) > 0 {
		out["history"] = hist
	}
	return out
}

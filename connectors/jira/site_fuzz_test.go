package jira

import (
	"encoding/json"
	"testing"
)

// FuzzWorkflowFlow reads GET /rest/api/2/workflow/search's workflows:
// any answer makes a flow whose every status reaches itself, without
// panicking or looping.
func FuzzWorkflowFlow(f *testing.F) {
	f.Add([]byte(`{"id":{"name":"W"},"statuses":[{"id":"1","name":"To Do"},{"id":"2","name":"Done"}],"transitions":[{"name":"Create","from":[],"to":"1","type":"initial"},{"name":"Finish","from":["1"],"to":"2","type":"directed"},{"name":"Any","from":[],"to":"1","type":"global"}]}`))
	f.Add([]byte(`{"statuses":[],"transitions":[{"from":["9"],"to":"9"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var w wireWorkflow
		if json.Unmarshal(b, &w) != nil {
			return
		}
		fl := w.flow()
		for s := range fl.statuses {
			if !fl.reaches(s, s) {
				t.Fatalf("status %q does not reach itself", s)
			}
			for to := range fl.statuses {
				fl.reaches(s, to)
			}
		}
	})
}

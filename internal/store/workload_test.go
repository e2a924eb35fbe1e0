package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// workload makes a deterministic stream of events shaped like production:
// real webhook bodies from testdata as the raw bodies (a GitHub pull
// request is ~28 KB, a Jira issue update ~9 KB, a Zendesk ticket ~6 KB),
// snapshots taken from them, updates spread over a pool of records, and
// pull requests naming their Jira key so the link path runs.
type workload struct {
	records int
	noRaw   bool // events without raw bodies
	raw     [3][]byte
	title   [3]string
	body    [3]string
	native  [3]string
}

var workloadEpoch = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func loadWorkload(t testing.TB, records int) *workload {
	t.Helper()
	w := &workload{records: records}
	read := func(i int, name string, v any) {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w.raw[i] = b
	}
	var gh struct {
		PullRequest struct {
			Title, Body, State string
		} `json:"pull_request"`
	}
	read(0, "pull_request-opened.json", &gh)
	w.title[0], w.body[0], w.native[0] = gh.PullRequest.Title, gh.PullRequest.Body, gh.PullRequest.State
	var jira struct {
		Issue struct {
			Fields struct {
				Summary, Description string
				Status               struct{ Name string }
			}
		}
	}
	read(1, "webhook-issue_updated-status-todo-to-inprogress.json", &jira)
	w.title[1], w.body[1], w.native[1] = jira.Issue.Fields.Summary, jira.Issue.Fields.Description, jira.Issue.Fields.Status.Name
	var zd struct {
		Ticket struct{ Subject, Description, Status string }
	}
	read(2, "api-ticket-create-response-with-audit.json", &zd)
	w.title[2], w.body[2], w.native[2] = zd.Ticket.Subject, zd.Ticket.Description, zd.Ticket.Status
	return w
}

// event returns the n-th event of the stream; its delivery id is unique
// to n and prefix.
func (w *workload) event(prefix string, n int) core.Ingest {
	sys := n % 3
	id := (n / 3) % w.records
	jiraRef := core.Ref{System: "jira", Kind: core.DevTicket, ID: fmt.Sprintf("KBOT-%d", id)}
	var r core.Ref
	switch sys {
	case 0:
		r = core.Ref{System: "github", Kind: core.PullRequest, ID: fmt.Sprintf("acme/kbot#%d", id)}
	case 1:
		r = jiraRef
	case 2:
		r = core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: fmt.Sprint(id)}
	}
	at := workloadEpoch.Add(time.Duration(n) * time.Second)
	in := core.Ingest{Event: core.Event{
		Source: r.System, DeliveryID: fmt.Sprintf("%s-%d", prefix, n), Via: core.ViaWebhook, Type: core.Updated, At: at,
		Item: core.Item{Ref: r, Title: fmt.Sprintf("%s: %s", jiraRef.ID, w.title[sys]), Body: w.body[sys], Native: w.native[sys],
			UpdatedAt: at, Seen: []core.EventType{core.Updated}, Fields: map[string]string{"branch": "fix/" + jiraRef.ID}},
		Raw: w.raw[sys],
	}}
	if w.noRaw {
		in.Event.Raw = nil
	}
	if n%4 == 0 {
		in.Event.Item.Comments = []core.Comment{{ID: fmt.Sprint(n), Author: "ada@example.com", Body: "Still failing on 2.3.1", Public: true, CreatedAt: at}}
	}
	if sys == 0 {
		in.Discovered = []core.Link{{From: r, To: jiraRef, Role: core.Fixes, Origin: core.Discovered}}
	}
	return in
}

func (w *workload) batch(prefix string, from, size int) []core.Ingest {
	out := make([]core.Ingest, size)
	for i := range out {
		out[i] = w.event(prefix, from+i)
	}
	return out
}

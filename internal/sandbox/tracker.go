package sandbox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jirafake "github.com/liaisonhq/liaison/connectors/jira/fake"
	mantisfake "github.com/liaisonhq/liaison/connectors/mantis/fake"
)

// WithDevTracker makes the world's bug tracker name's fake ("jira", the
// default, or "mantis"), with the daemon configured for it as a team
// would: its connector, and dev_tracker for the shipped mappings.
func WithDevTracker(name string) WorldOption {
	return func(s *worldSettings) { s.devTracker = name }
}

// devTracker is the world's bug tracker as the story's developers and QA
// use it: where the gateway's developer ticket is, how a pull request
// names it, and its workflow's names for the story's steps.
type devTracker interface {
	// first returns the developer ticket the gateway made, if any.
	first() (key string, ok bool)
	status(key string) string
	move(key, status string) error
	// prTitle and branch name the ticket as its developers do.
	prTitle(key, what string) string
	branch(key, what string) string
	steps() trackerSteps
}

// trackerSteps are the workflow statuses the story waits for or sets.
type trackerSteps struct {
	review, qa string
	validated  []string // QA in the dev environment, then pre-production
	done       string
}

// jiraTracker is the Jira fake, project KBOT.
type jiraTracker struct{ fake *jirafake.Server }

func (j jiraTracker) first() (string, bool) {
	var keys []string
	for _, is := range j.fake.Issues() {
		if is.Project == "KBOT" && !is.Deleted {
			keys = append(keys, is.Key)
		}
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return "", false
	}
	return keys[0], true
}

func (j jiraTracker) status(key string) string {
	is, _ := j.fake.Issue(key)
	return is.Status
}

func (j jiraTracker) move(key, status string) error   { return j.fake.Transition(key, status) }
func (j jiraTracker) prTitle(key, what string) string { return key + ": " + what }
func (j jiraTracker) branch(key, what string) string  { return "fix/" + key + "-" + what }
func (j jiraTracker) steps() trackerSteps {
	return trackerSteps{review: "In Review", qa: "Ready for QA", validated: []string{"QA Validated", "Preprod Validated"}, done: "Done"}
}

// The CT2 handbook's Mantis projects, as mappings/examples/mantis routes
// to them, and the custom fields its rules write.
var (
	mantisDevProjects = []string{"Bugs InBox", "Change InBox", "Support Misc"}
	mantisStatuses    = []mantisfake.Enum{{ID: 10, Name: "new"}, {ID: 20, Name: "feedback"}, {ID: 30, Name: "acknowledged"},
		{ID: 40, Name: "confirmed"}, {ID: 50, Name: "assigned"}, {ID: 55, Name: "in review"}, {ID: 60, Name: "ready for qa"},
		{ID: 65, Name: "qa validated"}, {ID: 70, Name: "preprod validated"}, {ID: 80, Name: "resolved"}, {ID: 90, Name: "closed"}}
)

// mantisTracker is the Mantis fake, set up as the Mantis variant's
// comments say: the CT2 projects and DevOps with their custom fields, and
// the four statuses added for review and validation.
type mantisTracker struct {
	fake *mantisfake.Server
	bugs int // the Bugs InBox project's id
}

func newMantisTracker(token string) mantisTracker {
	f := mantisfake.New(token, mantisfake.WithStatuses(mantisStatuses), mantisfake.WithClock(distinctSeconds()))
	t := mantisTracker{fake: f}
	for _, p := range mantisDevProjects {
		id := f.AddProject(p, []string{"General"}, "Liaison marker", "Help desk ticket")
		if p == "Bugs InBox" {
			t.bugs = id
		}
	}
	f.AddProject("DevOps", []string{"Infrastructure"}, "Liaison marker", "Help desk ticket", "Target resources", "Approvers", "Target date")
	return t
}

// distinctSeconds is a clock whose readings are at least a second apart.
// Mantis keeps times to the second, and its poller tells a change by the
// issue's update time: two changes a person makes within one second
// would read as one.
func distinctSeconds() func() time.Time {
	var mu sync.Mutex
	var last time.Time
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now().UTC().Truncate(time.Second)
		if next := last.Add(time.Second); now.Before(next) {
			now = next
		}
		last = now
		return last
	}
}

func (m mantisTracker) first() (string, bool) {
	for id := 1; id <= m.fake.Count(); id++ {
		if is, ok := m.fake.Issue(id); ok && is.Project == m.bugs {
			return strconv.Itoa(id), true
		}
	}
	return "", false
}

func (m mantisTracker) status(key string) string {
	id, _ := strconv.Atoi(key)
	is, _ := m.fake.Issue(id)
	return is.Status
}

// move changes the status as a developer does in Mantis; resolving marks
// the issue fixed.
func (m mantisTracker) move(key, status string) error {
	id, err := strconv.Atoi(key)
	if _, ok := m.fake.Issue(id); err != nil || !ok {
		return fmt.Errorf("mantis: no issue %q", key)
	}
	m.fake.Update(id, func(is *mantisfake.Issue) {
		is.Status = status
		if status == "resolved" || status == "closed" {
			is.Resolution = "fixed"
		}
	})
	return nil
}

func (m mantisTracker) prTitle(key, what string) string { return "Mantis#" + key + ": " + what }
func (m mantisTracker) branch(key, what string) string  { return "fix/mantis-" + key + "-" + what }
func (m mantisTracker) steps() trackerSteps {
	return trackerSteps{review: "in review", qa: "ready for qa", validated: []string{"qa validated", "preprod validated"}, done: "resolved"}
}

// mantisSection is the daemon's connector section for the Mantis fake at url.
func mantisSection(url string) string {
	return fmt.Sprintf("  mantis:\n    base_url: %s\n    token_env: %s\n    projects: {dev: [%s], change: DevOps}\n    poll_interval: 1s\n",
		url, envMantisToken, strings.Join(mantisDevProjects, ", "))
}

// envMantisToken holds the Mantis fake's API token in the world.
const envMantisToken = "LIAISON_WORLD_MANTIS_TOKEN"

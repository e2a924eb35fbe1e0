package mappings

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// watchLog records what Watch reported, for a test to wait on.
type watchLog struct {
	mu     sync.Mutex
	loads  []*core.Mappings
	errs   []error
	change chan struct{}
}

func newWatchLog() *watchLog { return &watchLog{change: make(chan struct{}, 100)} }

func (w *watchLog) onLoad(m *core.Mappings) {
	w.mu.Lock()
	w.loads = append(w.loads, m)
	w.mu.Unlock()
	w.change <- struct{}{}
}

func (w *watchLog) onError(err error) {
	w.mu.Lock()
	w.errs = append(w.errs, err)
	w.mu.Unlock()
	w.change <- struct{}{}
}

// waitFor waits until cond holds, or fails the test after a deadline.
func (w *watchLog) waitFor(t *testing.T, what string, cond func(loads []*core.Mappings, errs []error) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		ok := cond(w.loads, w.errs)
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.change:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (w *watchLog) counts() (int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.loads), len(w.errs)
}

const watchedRules = `systems:
  jira:
    connector: jira
    kinds:
      dev_ticket:
        statuses: {To Do: open, In Review: in_review}
rules:
  - name: %s
    when: {kind: jira/dev_ticket}
    then:
      - transition: {status: in_review}
`

// write replaces a file at once, as editors save (a poll never sees it
// half-written; Watch's settling is for writers that do not do this).
func write(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatch_ReloadsValidAndKeepsOldOnInvalid(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	write(t, file, strings.Replace(watchedRules, "%s", "first", 1))

	w := newWatchLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Watch(ctx, dir, 5*time.Millisecond, Options{}, w.onLoad, w.onError)
		close(done)
	}()
	defer func() { cancel(); <-done }()

	ruleName := func(m *core.Mappings) string { return m.Rules[0].Name }
	w.waitFor(t, "the initial load", func(l []*core.Mappings, _ []error) bool { return len(l) == 1 })

	// A valid change is loaded.
	write(t, file, strings.Replace(watchedRules, "%s", "second", 1))
	w.waitFor(t, "the reload", func(l []*core.Mappings, _ []error) bool { return len(l) == 2 && ruleName(l[1]) == "second" })

	// An invalid change is reported with its position and not loaded.
	write(t, file, strings.Replace(strings.Replace(watchedRules, "%s", "third", 1), "status: in_review}", "status: in_reveiw}", 1))
	w.waitFor(t, "the diagnostics", func(_ []*core.Mappings, e []error) bool { return len(e) == 1 })
	w.mu.Lock()
	var ds Diagnostics
	if !errors.As(w.errs[0], &ds) || !strings.HasPrefix(ds.Error(), file+":11:") || !strings.Contains(ds.Error(), `"in_reveiw"`) {
		t.Errorf("error = %v", w.errs[0])
	}
	w.mu.Unlock()

	// A file that is not a mapping file changes nothing; nor does
	// rewriting the same content.
	write(t, filepath.Join(dir, "notes.txt"), "todo")
	write(t, file, strings.Replace(strings.Replace(watchedRules, "%s", "third", 1), "status: in_review}", "status: in_reveiw}", 1))

	// Fixing it loads again; a new file joins the folder.
	write(t, file, strings.Replace(watchedRules, "%s", "fourth", 1))
	w.waitFor(t, "the fixed folder", func(l []*core.Mappings, _ []error) bool { return len(l) == 3 && ruleName(l[2]) == "fourth" })
	write(t, filepath.Join(dir, "more.yml"), "people:\n  - name: Ada\n    ids: {jira: ada}\n")
	w.waitFor(t, "the added file", func(l []*core.Mappings, _ []error) bool { return len(l) == 4 && len(l[3].People) == 1 })

	if loads, errs := w.counts(); loads != 4 || errs != 1 {
		t.Errorf("loads %d, errors %d; want 4 and 1 (unchanged content is not reported again)", loads, errs)
	}
}

func TestWatch_MissingFolderIsReportedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	w := newWatchLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Watch(ctx, dir, 5*time.Millisecond, Options{}, w.onLoad, w.onError)
		close(done)
	}()
	defer func() { cancel(); <-done }()
	w.waitFor(t, "the error", func(_ []*core.Mappings, e []error) bool { return len(e) == 1 })
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "r.yaml"), strings.Replace(watchedRules, "%s", "late", 1))
	w.waitFor(t, "the folder's first load", func(l []*core.Mappings, _ []error) bool { return len(l) == 1 })
	if _, errs := w.counts(); errs != 1 {
		t.Errorf("errors = %d; the missing folder must be reported once", errs)
	}
}

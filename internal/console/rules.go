package console

import (
	"bytes"
	"cmp"
	"context"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/simulate"
	"github.com/liaisonhq/liaison/mappings"
)

// ruleRow is one entry of the mappings in force and where it is written.
type ruleRow struct {
	Kind, Name, Scope string
	Pos               core.Pos
}

type mappingsPage struct {
	Source   string
	Rows     []ruleRow
	Overlaid []string
	Disabled []string
	CanCheck bool
	File     string
	Content  string
	Checked  bool
	Errors   []string
	// Scenario is a pasted simulate scenario and Plan what it would do
	// (one JSON line per action), or Failed why it could not run.
	Scenario  string
	Simulated bool
	Plan      []string
	Failed    string
}

// maxMappingFile bounds a pasted mapping file.
const maxMappingFile = 512 << 10

func (c *Console) mappingsData() mappingsPage {
	p := mappingsPage{CanCheck: c.o.MappingsCheck != nil}
	if c.o.Mappings == nil {
		return p
	}
	m := c.o.Mappings()
	if m == nil {
		return p
	}
	p.Source, p.Overlaid, p.Disabled = m.Source, m.Overlaid, m.Disabled
	for _, r := range m.Rules {
		p.Rows = append(p.Rows, ruleRow{Kind: "rule", Name: r.Name, Scope: "when " + r.When.String(), Pos: r.Pos})
	}
	for _, x := range m.Patterns {
		p.Rows = append(p.Rows, ruleRow{Kind: "link pattern", Name: x.Name, Scope: x.From.String() + " → " + x.To.String(), Pos: x.Pos})
	}
	for _, x := range m.Sync {
		p.Rows = append(p.Rows, ruleRow{Kind: "sync", Name: x.Name, Scope: x.Field + ": " + x.A.String() + " ↔ " + x.B.String(), Pos: x.Pos})
	}
	for _, x := range m.SLAs {
		p.Rows = append(p.Rows, ruleRow{Kind: "response target", Name: x.Name, Pos: x.Pos})
	}
	for _, x := range m.Duplicates {
		p.Rows = append(p.Rows, ruleRow{Kind: "duplicate search", Name: x.Name, Pos: x.Pos})
	}
	for _, x := range m.Systems {
		p.Rows = append(p.Rows, ruleRow{Kind: "system map", Name: x.Name, Scope: x.Connector, Pos: x.Pos})
	}
	slices.SortStableFunc(p.Rows, func(a, b ruleRow) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line))
	})
	return p
}

func (c *Console) mappingsPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, r, http.StatusOK, "mappings", s, c.mappingsData())
}

// mappingsCheck checks a pasted mapping file in place of (or beside) the
// running folder's file of that name, as `liaison check` would, without
// touching the running rules.
func (c *Console) mappingsCheck(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.mappingsData()
	if c.o.MappingsCheck == nil {
		c.fail(w, r, s, http.StatusNotFound, "Checking mapping files is not available here.")
		return
	}
	name := path.Base(strings.TrimSpace(r.PostFormValue("file")))
	content := r.PostFormValue("content")
	if ext := path.Ext(name); ext != ".yaml" && ext != ".yml" || strings.HasPrefix(name, ".") {
		c.fail(w, r, s, http.StatusBadRequest, "Name the file you changed, e.g. rules.yaml.")
		return
	}
	if len(content) > maxMappingFile {
		c.fail(w, r, s, http.StatusRequestEntityTooLarge, "The file is larger than 512 KiB.")
		return
	}
	p.File, p.Content, p.Checked = name, content, true
	p.Errors = c.o.MappingsCheck(name, []byte(content))
	c.render(w, r, http.StatusOK, "mappings", s, p)
}

// simulateBudget bounds one simulation: a scenario is small, and a
// rule's evaluations have their own budget.
const simulateBudget = 20 * time.Second

// mappingsSimulate runs a pasted scenario against the rules in force, as
// `liaison simulate` does, in a store of its own that is thrown away:
// nothing running is touched. Admins only: it costs a store and a plan.
func (c *Console) mappingsSimulate(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.mappingsData()
	var m *core.Mappings
	if c.o.Mappings != nil {
		m = c.o.Mappings()
	}
	if m == nil {
		c.fail(w, r, s, http.StatusNotFound, "This console is not told the rules in force.")
		return
	}
	scenario := r.PostFormValue("scenario")
	if len(scenario) > maxMappingFile {
		c.fail(w, r, s, http.StatusRequestEntityTooLarge, "The scenario is larger than 512 KiB.")
		return
	}
	p.Scenario, p.Simulated = scenario, true
	sc, err := simulate.Load("scenario.yaml", []byte(scenario))
	if err != nil {
		p.Failed = err.Error()
		c.render(w, r, http.StatusOK, "mappings", s, p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), simulateBudget)
	defer cancel()
	var out bytes.Buffer
	if err := simulate.Run(ctx, sc, m, &out); err != nil {
		c.o.Log.Warn("console: simulation failed", "user", s.Name, "err", err)
		p.Failed = "The scenario could not be played: " + err.Error()
	}
	for line := range strings.Lines(out.String()) {
		p.Plan = append(p.Plan, strings.TrimRight(line, "\n"))
	}
	c.render(w, r, http.StatusOK, "mappings", s, p)
}

// CheckFolder returns a MappingsCheck that checks a changed file against
// a copy of the mapping folder dir (the embedded defaults when dir is
// empty) held in memory, so the running rules and the files on disk stay
// as they are. Each problem reads file:line:col: message.
func CheckFolder(dir string, opts mappings.Options) func(name string, content []byte) []string {
	return func(name string, content []byte) []string {
		src := mappings.Defaults()
		if dir != "" {
			src = os.DirFS(dir)
			if opts.Dir == "" {
				opts.Dir = dir
			}
		}
		files := fstest.MapFS{}
		entries, err := fs.ReadDir(src, ".")
		if err != nil {
			return []string{"the mapping folder cannot be read: " + err.Error()}
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := fs.ReadFile(src, e.Name())
			if err != nil {
				return []string{"the mapping folder cannot be read: " + err.Error()}
			}
			files[e.Name()] = &fstest.MapFile{Data: b}
		}
		files[name] = &fstest.MapFile{Data: content}
		var out []string
		for _, d := range mappings.Check(files, opts) {
			out = append(out, d.String())
		}
		return out
	}
}

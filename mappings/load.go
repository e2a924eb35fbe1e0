package mappings

import (
	"embed"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/liaisonhq/liaison/core"
)

// Options says what a load checks the files against and how it names them.
type Options struct {
	// Systems maps each configured connector instance to its connector kind
	// (jira → jira, "jira-eu" → jira). When non-nil, a system the mappings
	// define must run with the same connector kind; one that is not
	// configured is disabled with what names it (Mappings.Disabled), unless
	// its connector runs under another instance name (an error). Rules,
	// links, sync and people may only name systems the mappings define.
	// When nil (liaison check without a config), this is not checked.
	Systems map[string]string
	// Projects says which projects of each configured instance hold which
	// kind of record (config.Projects: Jira's projects: {dev: [KBOT],
	// change: DO}). A link pattern's {projects} stands for the projects of
	// its to kind, a kind's create project defaults to the first of them,
	// and a project or key prefix the mappings name that is not among
	// them is an error. When nil (liaison check without a config),
	// {projects} stands for any project key.
	Projects map[string]map[core.Kind][]string
	// Source describes where the mappings come from, for logs; it becomes
	// Mappings.Source.
	Source string
	// Dir is put before file names in diagnostics and positions, so that
	// they name the file as the admin knows it ("mappings/rules.yaml").
	// LoadDir sets it to the folder as given.
	Dir string
	// Budget bounds each evaluation of an if or a template (zero: the
	// defaults). Templates are linted within it too.
	Budget Budget
}

//go:embed default/*.yaml
var defaults embed.FS

// Defaults returns the embedded default mapping files (the folder
// mappings/default of the source tree). Load names its files
// "default/<file>" in diagnostics.
func Defaults() fs.FS {
	sub, err := fs.Sub(defaults, "default")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return defaultFS{sub}
}

// defaultFS marks the embedded defaults, so that Load can name them.
type defaultFS struct{ fs.FS }

// LoadDefaults loads the embedded defaults.
func LoadDefaults(opts Options) (*core.Mappings, error) { return Load(Defaults(), opts) }

// Load reads every *.yaml and *.yml file in the root of fsys, in name
// order, and compiles them together into one Mappings. On any problem it
// returns nil and a Diagnostics error listing every problem found, each
// at its file, line and column.
func Load(fsys fs.FS, opts Options) (*core.Mappings, error) {
	m, ds := load(fsys, opts)
	if len(ds) > 0 {
		return nil, ds
	}
	return m, nil
}

// LoadDir is Load of a folder on disk; diagnostics name the files by the
// folder as given (LoadDir("mappings", ...) → "mappings/rules.yaml:3:7").
func LoadDir(dir string, opts Options) (*core.Mappings, error) {
	return Load(os.DirFS(dir), dirOptions(dir, opts))
}

func dirOptions(dir string, opts Options) Options {
	if opts.Dir == "" {
		opts.Dir = dir
	}
	if opts.Source == "" {
		opts.Source = dir
	}
	return opts
}

// Check validates the mapping files without keeping the result: what
// `liaison check` reports. It returns nil when the files are valid.
func Check(fsys fs.FS, opts Options) Diagnostics {
	_, ds := load(fsys, opts)
	return ds
}

// CheckDir is Check of a folder on disk.
func CheckDir(dir string, opts Options) Diagnostics {
	return Check(os.DirFS(dir), dirOptions(dir, opts))
}

// mappingFiles lists the mapping files in the root of fsys, sorted.
func mappingFiles(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if ext := path.Ext(e.Name()); ext == ".yaml" || ext == ".yml" {
			names = append(names, e.Name())
		}
	}
	return names, nil // fs.ReadDir sorts by name
}

func displayName(opts Options, name string) string {
	if opts.Dir == "" {
		return name
	}
	return filepath.ToSlash(filepath.Join(opts.Dir, name))
}

func load(fsys fs.FS, opts Options) (*core.Mappings, Diagnostics) {
	if _, isDefault := fsys.(defaultFS); isDefault {
		if opts.Dir == "" {
			opts.Dir = "default"
		}
		if opts.Source == "" {
			opts.Source = "embedded defaults"
		}
	}
	var d diags
	folder := opts.Dir
	if folder == "" {
		folder = "."
	}
	names, err := mappingFiles(fsys)
	if err != nil {
		d.add(core.Pos{File: folder}, "cannot read the mappings folder: %s", fsErr(err))
		return nil, d.list
	}
	if len(names) == 0 {
		d.add(core.Pos{File: folder}, "no mapping files (*.yaml, *.yml) in the folder: point at the folder that holds them")
		return nil, d.list
	}
	var files []rawFile
	for _, name := range names {
		shown := displayName(opts, name)
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			d.add(core.Pos{File: shown}, "cannot read: %s", fsErr(err))
			continue
		}
		files = append(files, decodeFile(shown, src, &d)...)
	}
	var overlaid []string
	if extendsDefaults(files, &d) {
		if _, isDefault := fsys.(defaultFS); !isDefault {
			files, overlaid = overlay(defaultFiles(&d), files)
		}
	}
	c := newCompiler(&d, opts)
	func() {
		defer func() {
			if r := recover(); r != nil {
				d.add(core.Pos{File: displayName(opts, names[0]), Line: 1, Col: 1}, "%s (%v): please report it", internalError, r)
			}
		}()
		c.compile(files)
	}()
	if len(d.list) > 0 {
		return nil, d.list.sorted()
	}
	c.m.Disabled = c.m.Without(c.unconfiguredSet())
	c.m.Overlaid = overlaid
	return c.m, nil
}

// fsErr says what went wrong without repeating the path, which the
// diagnostic already names.
func fsErr(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// decodeFile parses one file and decodes each of its documents.
func decodeFile(name string, src []byte, d *diags) []rawFile {
	var out []rawFile
	for _, body := range parseFile(name, src, d) {
		dec := newDecoder(name, src, d)
		var f rawFile
		decodeTop(dec, body, &f)
		if dec.values > maxValues {
			continue // reported; what was decoded is partial
		}
		out = append(out, f)
	}
	return out
}

// internalError starts the message of a diagnostic made from a panic in
// this package; the fuzz test treats it as a failure.
const internalError = "internal error while reading this file"

// decodeTop decodes one document. A panic here is a bug in this package;
// it is reported as a diagnostic so that a reload cannot bring the daemon
// down, and the fuzz test catches it.
func decodeTop(dec *decoder, body ast.Node, f *rawFile) {
	defer func() {
		if r := recover(); r != nil {
			dec.d.add(core.Pos{File: dec.file, Line: 1, Col: 1}, "%s (%v): please report it", internalError, r)
		}
	}()
	dec.collectAnchors(body)
	dec.decode(body, reflect.ValueOf(f).Elem())
}

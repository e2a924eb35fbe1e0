package mappings

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// referencePage is the mapping reference the code generates.
var referencePage = filepath.Join("..", "docs", "mappings.md")

// TestReference_DocsAreTheCode: docs/mappings.md is what the decoder,
// the compiler's functions and core's vocabulary say (go test -run
// Reference -update rewrites it), and README.md, the prose reference,
// names every key, action and function the code knows.
func TestReference_DocsAreTheCode(t *testing.T) {
	ref := newReference(t)
	got := ref.page()
	if *update {
		if err := os.WriteFile(referencePage, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(referencePage)
	if err != nil || string(want) != got {
		t.Errorf("%s differs from what the code knows (go test ./mappings -run Reference -update rewrites it; %v)", referencePage, err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ref.names() {
		if !bytes.Contains(readme, []byte("`"+name+"`")) && !regexp.MustCompile(`(?m)^\s*-?\s*`+regexp.QuoteMeta(name)+`:`).Match(readme) {
			t.Errorf("README.md never names %q, which the code knows: document it", name)
		}
	}
}

// keyRow is one place of a mapping file and the keys it takes.
type keyRow struct {
	where string
	keys  []string
	note  string
}

type reference struct {
	t         *testing.T
	rows      []keyRow
	templates []docFunc
	exprFuncs []string
	env, item []docFunc
}

// docFunc is a documented name: a function, a field or a method.
type docFunc struct{ name, sig, doc string }

func newReference(t *testing.T) *reference {
	r := &reference{t: t}
	r.walk("", reflect.TypeOf(rawFile{}), map[reflect.Type]string{})
	r.templates = r.templateFuncs()
	r.exprFuncs = r.exprFunctionNames()
	r.env = r.structDocs("Env")
	r.item = r.structDocs("ItemView")
	return r
}

// placeholders name the free keys of each mapping the files hold.
var placeholders = map[string]string{
	"systems": "<system>", "kinds": "<kind>", "fields": "<field>", "statuses": "<native status>",
	"write_status": "<canonical status>", "priorities": "<native priority>", "write_priority": "<canonical priority>",
	"create": "<native field>", "resolutions": "<native resolution>", "ids": "<system>", "checklists": "<checklist>",
	"targets": "<priority>",
}

var (
	strType  = reflect.TypeOf(str{})
	boolType = reflect.TypeOf(boolean{})
	posType  = reflect.TypeOf(core.Pos{})
)

// walk adds the rows of a raw type found at where; seen holds the types
// already described, so that an action list or a calendar is described
// once and named elsewhere.
func (r *reference) walk(where string, t reflect.Type, seen map[reflect.Type]string) {
	switch {
	case t == strType || t == boolType || t == posType:
		return
	case strings.HasPrefix(t.Name(), "list["):
		items, _ := t.FieldByName("Items")
		r.walk(where+"[]", items.Type.Elem(), seen)
		return
	case strings.HasPrefix(t.Name(), "omap["):
		entries, _ := t.FieldByName("Entries")
		val, _ := entries.Type.Elem().FieldByName("Val")
		key := where[strings.LastIndex(where, ".")+1:]
		r.walk(where+"."+cmpOr(placeholders[key], "<name>"), val.Type, seen)
		return
	case t.Kind() != reflect.Struct:
		return
	}
	if first, ok := seen[t]; ok {
		r.rows = append(r.rows, keyRow{where: where, note: "as `" + first + "`"})
		return
	}
	seen[t] = where
	if t == reflect.TypeOf(rawAction{}) {
		r.rows = append(r.rows, keyRow{where: where, keys: verbs, note: "one of them, holding its keys"})
		var a rawAction
		for _, v := range verbs {
			r.walk(where+"."+v, reflect.TypeOf(a.slot(v)).Elem(), seen)
		}
		return
	}
	var keys []string
	for _, f := range fieldsOf(t) {
		keys = append(keys, f.key)
	}
	note := map[reflect.Type]string{
		reflect.TypeOf(rawWhen{}):  "or the shorthand `system/kind`",
		reflect.TypeOf(rawField{}): "or the native field name alone",
		reflect.TypeOf(rawFile{}):  "each optional; keys starting with `x-` are ignored (anchors)",
	}[t]
	if t == reflect.TypeOf(rawChecklist{}) {
		note = "`<what the reporter is asked for>: <where its value is found>`"
	}
	r.rows = append(r.rows, keyRow{where: cmpOr(where, "(a file's top level)"), keys: keys, note: note})
	for _, f := range fieldsOf(t) {
		r.walk(strings.TrimPrefix(where+"."+f.key, "."), t.Field(f.index).Type, seen)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parsed parses a Go file of this module for its comments.
func (r *reference) parsed(path string) *ast.File {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		r.t.Fatal(err)
	}
	return f
}

// templateFuncs lists the functions templates may call (the FuncMap the
// compiler builds), each with its type and the comment above it in
// template.go.
func (r *reference) templateFuncs() []docFunc {
	docs := map[string]string{}
	f := r.parsed("template.go")
	ast.Inspect(f, func(n ast.Node) bool {
		fd, ok := n.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "templateFuncs" {
			return true
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			for _, e := range cl.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if lit, ok := kv.Key.(*ast.BasicLit); ok {
					docs[strings.Trim(lit.Value, `"`)] = commentBefore(f, kv.Pos())
				}
			}
			return false
		})
		return false
	})
	var out []docFunc
	funcs := templateFuncs(&extras{m: &core.Mappings{}})
	for _, name := range slices.Sorted(maps.Keys(funcs)) {
		if name == templateStepFunc {
			continue
		}
		out = append(out, docFunc{name: name, sig: strings.TrimPrefix(reflect.TypeOf(funcs[name]).String(), "func"), doc: docs[name]})
	}
	// A comment above two functions ("native_status and native_priority
	// ...") documents both.
	for i := range out {
		if out[i].doc != "" {
			continue
		}
		for _, d := range docs {
			if strings.Contains(d, out[i].name+" ") {
				out[i].doc = d
			}
		}
	}
	return out
}

// commentBefore returns the text of the comment that ends on the line
// before pos, joined on one line.
func commentBefore(f *ast.File, pos token.Pos) string {
	for _, cg := range f.Comments {
		if cg.End() < pos && pos-cg.End() < 16 {
			return strings.Join(strings.Fields(cg.Text()), " ")
		}
	}
	return ""
}

// exprFunctionNames lists the names exprFunctions registers with
// expr.Function in funcs.go.
func (r *reference) exprFunctionNames() []string {
	var out []string
	ast.Inspect(r.parsed("funcs.go"), func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Function" && len(call.Args) > 0 {
			if lit, ok := call.Args[0].(*ast.BasicLit); ok {
				out = append(out, strings.Trim(lit.Value, `"`))
			}
		}
		return true
	})
	slices.Sort(out)
	return out
}

// structDocs lists a core type's exported fields and methods with their
// comments in core/mappings.go.
func (r *reference) structDocs(typ string) []docFunc {
	f := r.parsed(filepath.Join("..", "core", "mappings.go"))
	var out []docFunc
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			for _, s := range d.Specs {
				ts, ok := s.(*ast.TypeSpec)
				if !ok || ts.Name.Name != typ {
					continue
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, fl := range st.Fields.List {
					doc := strings.Join(strings.Fields(fl.Doc.Text()+" "+fl.Comment.Text()), " ")
					for _, n := range fl.Names {
						if n.IsExported() {
							out = append(out, docFunc{name: n.Name, sig: typeString(fl.Type), doc: doc})
						}
					}
				}
			}
		case *ast.FuncDecl:
			if d.Recv == nil || !d.Name.IsExported() || strings.TrimPrefix(typeString(d.Recv.List[0].Type), "*") != typ {
				continue
			}
			var params []string
			for _, p := range d.Type.Params.List {
				for _, n := range p.Names {
					params = append(params, n.Name+" "+typeString(p.Type))
				}
			}
			res := ""
			if d.Type.Results != nil {
				res = " " + typeString(d.Type.Results.List[0].Type)
			}
			out = append(out, docFunc{name: d.Name.Name, sig: "(" + strings.Join(params, ", ") + ")" + res, doc: strings.Join(strings.Fields(d.Doc.Text()), " ")})
		}
	}
	return out
}

func typeString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.StarExpr:
		return "*" + typeString(x.X)
	case *ast.ArrayType:
		return "[]" + typeString(x.Elt)
	case *ast.MapType:
		return "map[" + typeString(x.Key) + "]" + typeString(x.Value)
	case *ast.SelectorExpr:
		return typeString(x.X) + "." + x.Sel.Name
	}
	return "?"
}

// names are what README.md must name: every key, action and function.
func (r *reference) names() []string {
	seen := map[string]bool{}
	for _, row := range r.rows {
		for _, k := range row.keys {
			seen[k] = true
		}
	}
	for _, f := range r.templates {
		seen[f.name] = true
	}
	for _, f := range r.exprFuncs {
		seen[f] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

var pipe = regexp.MustCompile(`\|`)

func cell(s string) string { return pipe.ReplaceAllString(s, `\|`) }

func (r *reference) page() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Mapping reference\n\n")
	p("Generated from the code by `go test ./mappings -run Reference -update`: the keys the\n")
	p("decoder accepts, the functions and values of expressions and templates, and the\n")
	p("vocabulary. A test fails when this page, or [the mapping guide](../mappings/README.md)\n")
	p("that explains each with examples, misses what the code knows.\n\n")
	p("## Keys\n\n| where | keys | |\n|---|---|---|\n")
	for _, row := range r.rows {
		keys := make([]string, len(row.keys))
		for i, k := range row.keys {
			keys[i] = "`" + k + "`"
		}
		where := "`" + row.where + "`"
		if strings.HasPrefix(row.where, "(") {
			where = row.where
		}
		p("| %s | %s | %s |\n", where, strings.Join(keys, ", "), cell(row.note))
	}
	p("\nA `<name>` is free: an instance, a kind, a field, a status or a priority as the\nplaceholder says. Other keys are errors, with their file:line:col.\n")
	p("\n## Field types\n\n`systems.<system>.kinds.<kind>.fields.<field>.type`: %s. ", quoted(core.FieldTypeNames))
	p("`options` go with `dropdown` and `multiselect` only, and they need them.\n")
	p("\n## Values in expressions and templates\n\n")
	p("An expression (`if:`) sees these names; a template (`{{...}}`) sees them with a dot (`.Item`).\n\n")
	p("| name | type | |\n|---|---|---|\n")
	for _, f := range r.env {
		p("| `%s` | `%s` | %s |\n", f.name, f.sig, cell(f.doc))
	}
	p("\nA record (`Item`, `Target`, `Duplicate`, and each of `Linked`) has:\n\n| name | type | |\n|---|---|---|\n")
	for _, f := range r.item {
		p("| `%s` | `%s` | %s |\n", f.name, f.sig, cell(f.doc))
	}
	p("\n## Template functions\n\nBesides text/template's own (`eq`, `ne`, `lt`, `printf`, `index`, `len`, `and`, `or`, `not`, ...);\na piped value is the last argument.\n\n")
	p("| function | arguments | |\n|---|---|---|\n")
	for _, f := range r.templates {
		p("| `%s` | `%s` | %s |\n", f.name, f.sig, cell(f.doc))
	}
	p("\n## Expression functions\n\nBesides [expr's builtins](https://expr-lang.org/docs/language-definition): %s, with the arguments\nthey take in templates.\n", quoted(r.exprFuncs))
	p("\n## Vocabulary\n\n| what | values |\n|---|---|\n")
	p("| kinds | %s |\n", quoted(core.Kinds))
	p("| statuses | %s |\n", quoted(core.Statuses))
	p("| priorities | %s |\n", quoted(core.Priorities))
	p("| outcomes (`resolutions`) | %s |\n", quoted(core.Outcomes))
	p("| actions | %s |\n", quoted(verbs))
	return b.String()
}

func quoted[S ~string](names []S) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + string(n) + "`"
	}
	return strings.Join(q, ", ")
}

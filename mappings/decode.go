package mappings

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/liaisonhq/liaison/core"
)

// This file decodes the YAML syntax tree into the raw types of raw.go,
// strictly and with positions: every value keeps where it was written, an
// unknown key is reported with the keys that were expected, and decoding
// goes on after a problem so that one run reports them all. (A decode into
// tagged structs with the library's strict mode stops at the first error
// and forgets positions, which is why the tree is walked here.)

// maxDepth bounds nesting, which an alias cycle would otherwise make endless.
const maxDepth = 64

// maxValues bounds the values one file may expand to: aliases of aliases
// (a "billion laughs") would otherwise take forever to decode. The default
// files hold about a thousand.
const maxValues = 100_000

// decoder walks one file's syntax tree.
type decoder struct {
	file    string
	lines   [][]byte // the file's lines, for columns inside block scalars
	anchors map[string]ast.Node
	d       *diags
	ctx     []string // "rule \"x\": " prefixes of the enclosing named things
	depth   int
	values  int // values decoded so far, against maxValues
}

// spend counts one value decoded and reports false once the file has
// expanded past maxValues (reported once).
func (d *decoder) spend(n ast.Node) bool {
	d.values++
	if d.values == maxValues+1 {
		d.d.add(d.pos(n), "the file expands to more than %d values through its aliases: use fewer nested aliases", maxValues)
	}
	return d.values <= maxValues
}

// nodeDecoder is implemented by raw types that decode themselves.
type nodeDecoder interface {
	decodeNode(d *decoder, n ast.Node)
}

// described is implemented by raw structs to name themselves in messages
// ("unknown key "x" in transition").
type described interface{ what() string }

// named is implemented by raw structs whose "name" key labels messages
// about their contents (rule "escalate-bug": ...).
type named interface{ namePrefix() string }

// parseFile parses src, reporting a syntax error at its position. It returns
// the documents' bodies (nil entries for empty documents are dropped).
func parseFile(name string, src []byte, d *diags) []ast.Node {
	f, err := safeParse(src)
	if err != nil {
		d.list = append(d.list, syntaxDiagnostic(name, src, err))
		return nil
	}
	var out []ast.Node
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			out = append(out, doc.Body)
		}
	}
	return out
}

// safeParse runs the YAML parser, turning a panic inside it (malformed
// input it did not anticipate) into an error, so that a bad file is
// reported rather than crashing the daemon on reload.
func safeParse(src []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the YAML parser failed on this file (%v)", r)
		}
	}()
	return parser.ParseBytes(src, 0)
}

// syntaxDiagnostic turns a parser error into a diagnostic at its token.
func syntaxDiagnostic(name string, src []byte, err error) Diagnostic {
	pos := core.Pos{File: name, Line: 1, Col: 1}
	msg := err.Error()
	var ye yaml.Error
	if errors.As(err, &ye) {
		msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			pos = clampPos(name, tk.Position.Line, tk.Position.Column)
		}
	}
	msg = "yaml: " + msg
	// The most common slip: a template written without quotes reads as a
	// YAML flow mapping ({{ ... }}).
	if line := lineOf(src, pos.Line); bytes.Contains(line, []byte("{{")) && !quotedTemplate(line) {
		msg += `; a value holding a template must be quoted: title: "{{.Item.Title}}"`
	}
	return Diagnostic{Pos: pos, Msg: msg}
}

func quotedTemplate(line []byte) bool {
	i := bytes.Index(line, []byte("{{"))
	before := bytes.TrimRight(line[:i], " ")
	return bytes.ContainsAny(before, `'"`) || bytes.HasSuffix(before, []byte("|")) || bytes.HasSuffix(before, []byte(">"))
}

func lineOf(src []byte, n int) []byte {
	for i := 1; len(src) > 0; i++ {
		line, rest, _ := bytes.Cut(src, []byte("\n"))
		if i == n {
			return line
		}
		src = rest
	}
	return nil
}

func clampPos(file string, line, col int) core.Pos {
	return core.Pos{File: file, Line: max(line, 1), Col: max(col, 1)}
}

func newDecoder(file string, src []byte, d *diags) *decoder {
	return &decoder{file: file, lines: bytes.Split(src, []byte("\n")), anchors: map[string]ast.Node{}, d: d}
}

// errf reports a problem at n, prefixed with the enclosing named things.
func (d *decoder) errf(n ast.Node, format string, args ...any) {
	d.errAt(d.pos(n), format, args...)
}

func (d *decoder) errAt(p core.Pos, format string, args ...any) {
	d.d.add(p, strings.Join(d.ctx, "")+format, args...)
}

// pos is where n was written: a mapping's first key, a sequence's first
// dash, a scalar's first character (its quote, when quoted).
func (d *decoder) pos(n ast.Node) core.Pos {
	if m, ok := n.(*ast.MappingNode); ok && m != nil && !m.IsFlowStyle && len(m.Values) > 0 && m.Values[0] != nil && !isNil(m.Values[0].Key) {
		n = m.Values[0].Key
	}
	if mv, ok := n.(*ast.MappingValueNode); ok && mv != nil && !isNil(mv.Key) {
		n = mv.Key
	}
	if isNil(n) {
		return clampPos(d.file, 1, 1)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return clampPos(d.file, 1, 1)
	}
	return clampPos(d.file, tk.Position.Line, tk.Position.Column)
}

// collectAnchors records every anchor of a document before decoding, so
// that an alias resolves wherever it appears.
func (d *decoder) collectAnchors(n ast.Node) {
	d.walkAnchors(n, 0)
}

func (d *decoder) walkAnchors(n ast.Node, depth int) {
	if depth > maxDepth || isNil(n) {
		return
	}
	switch x := n.(type) {
	case *ast.AnchorNode:
		if !isNil(x.Name) {
			d.anchors[x.Name.String()] = x.Value
		}
		d.walkAnchors(x.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range x.Values {
			if mv != nil {
				d.walkAnchors(mv.Key, depth+1)
				d.walkAnchors(mv.Value, depth+1)
			}
		}
	case *ast.MappingValueNode:
		d.walkAnchors(x.Key, depth+1)
		d.walkAnchors(x.Value, depth+1)
	case *ast.SequenceNode:
		for _, v := range x.Values {
			d.walkAnchors(v, depth+1)
		}
	case *ast.TagNode:
		d.walkAnchors(x.Value, depth+1)
	}
}

// isNil reports whether n is nil, including a nil pointer in the interface.
func isNil(n ast.Node) bool {
	if n == nil {
		return true
	}
	v := reflect.ValueOf(n)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// resolve looks through anchors, aliases and tags to the node that holds
// the value. It returns nil for an alias to an unknown anchor, after
// reporting it.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for i := 0; i < maxDepth; i++ {
		if isNil(n) {
			return nil
		}
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		case *ast.AliasNode:
			name := ""
			if !isNil(x.Value) {
				name = x.Value.String()
			}
			target, ok := d.anchors[name]
			if !ok {
				d.errf(x, "unknown alias %q: define the anchor &%s before using it", "*"+name, name)
				return nil
			}
			n = target
		default:
			return n
		}
	}
	d.errf(n, "aliases nest too deeply")
	return nil
}

// nodeKind names a node's kind for "expected ..., got ..." messages.
func nodeKind(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "nothing"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case nil:
		return "nothing"
	}
	return "a string"
}

// decode fills v (addressable) from n.
func (d *decoder) decode(n ast.Node, v reflect.Value) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		d.errf(n, "the mapping nests too deeply (more than %d levels)", maxDepth)
		return
	}
	if !d.spend(n) {
		return
	}
	if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
		nd.decodeNode(d, n)
		return
	}
	if v.Kind() == reflect.Struct {
		d.decodeStruct(n, v)
		return
	}
	panic(fmt.Sprintf("mappings: no decoder for %s", v.Type()))
}

// keyValue is one key of a mapping with its value.
type keyValue struct {
	key   ast.Node
	name  string
	value ast.Node
}

// entries lists a mapping's keys in order, expanding merge keys (<<: *x),
// whose keys come first and are overridden by the mapping's own.
func (d *decoder) entries(m *ast.MappingNode) []keyValue {
	var merged, own []keyValue
	for _, mv := range m.Values {
		if mv == nil || isNil(mv.Key) {
			continue
		}
		if mv.Key.IsMergeKey() {
			merged = append(merged, d.mergeEntries(mv.Value)...)
			continue
		}
		k := d.resolve(mv.Key)
		if k == nil {
			continue
		}
		name, ok := scalarText(k)
		if !ok {
			d.errf(mv.Key, "a key must be a plain name, got %s", nodeKind(k))
			continue
		}
		own = append(own, keyValue{key: mv.Key, name: name, value: mv.Value})
	}
	// A key of the mapping's own overrides a merged one; of merged ones,
	// the first merged wins (YAML's merge rule).
	out := own
	have := map[string]bool{}
	for _, kv := range own {
		have[kv.name] = true
	}
	for _, kv := range merged {
		if !have[kv.name] {
			have[kv.name] = true
			out = append(out, kv)
		}
	}
	return out
}

func (d *decoder) mergeEntries(n ast.Node) []keyValue {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth || !d.spend(n) {
		return nil
	}
	switch x := d.resolve(n).(type) {
	case *ast.MappingNode:
		return d.entries(x)
	case *ast.SequenceNode:
		// Of several merged mappings, the first holding a key wins.
		var out []keyValue
		have := map[string]bool{}
		for _, e := range x.Values {
			for _, kv := range d.mergeEntries(e) {
				if !have[kv.name] {
					have[kv.name] = true
					out = append(out, kv)
				}
			}
		}
		return out
	case nil:
		return nil
	}
	d.errf(n, "a merge key (<<) takes a mapping or an alias of one")
	return nil
}

// structField is a decodable field of a raw struct.
type structField struct {
	key   string
	index int
}

func fieldsOf(t reflect.Type) []structField {
	var out []structField
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		out = append(out, structField{key: tag, index: i})
	}
	return out
}

func whatOf(v reflect.Value) string {
	if w, ok := v.Addr().Interface().(described); ok {
		return w.what()
	}
	return strings.TrimPrefix(v.Type().Name(), "raw")
}

func keysOf(fields []structField) []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys
}

// decodeStruct fills a raw struct from a mapping: known keys into their
// fields, unknown keys reported with the expected ones. A Pos field, when
// present, gets the mapping's position.
func (d *decoder) decodeStruct(n ast.Node, v reflect.Value) {
	fields := fieldsOf(v.Type())
	what := whatOf(v)
	if p := v.FieldByName("Pos"); p.IsValid() {
		p.Set(reflect.ValueOf(d.pos(n)))
	}
	r := d.resolve(n)
	if r == nil {
		return
	}
	if _, null := r.(*ast.NullNode); null {
		return
	}
	m, ok := r.(*ast.MappingNode)
	if !ok {
		d.errf(n, "expected %s (a mapping with keys %s), got %s", what, quoteList(keysOf(fields)), nodeKind(r))
		if b := v.FieldByName("Bad"); b.IsValid() {
			b.SetBool(true)
		}
		return
	}
	if p := v.FieldByName("Pos"); p.IsValid() {
		p.Set(reflect.ValueOf(d.pos(m)))
	}
	kvs := d.entries(m)
	if nm, ok := v.Addr().Interface().(named); ok {
		for _, kv := range kvs {
			if kv.name == "name" {
				if s, ok := scalarText(d.resolveQuiet(kv.value)); ok && s != "" {
					d.ctx = append(d.ctx, fmt.Sprintf("%s %q: ", nm.namePrefix(), s))
					defer func() { d.ctx = d.ctx[:len(d.ctx)-1] }()
				}
			}
		}
	}
	for _, kv := range kvs {
		i := slices.IndexFunc(fields, func(f structField) bool { return f.key == kv.name })
		if i < 0 && strings.HasPrefix(kv.name, "x-") && isTop(v) {
			continue // a place for anchors, as in Compose files
		}
		if i < 0 {
			d.errf(kv.key, "unknown key %q in %s (expected: %s)%s", kv.name, what, quoteList(keysOf(fields)), suggest(kv.name, keysOf(fields)))
			continue
		}
		d.decode(kv.value, v.Field(fields[i].index))
	}
}

// resolveQuiet resolves without reporting (the value is reported when
// decoded in its turn).
func (d *decoder) resolveQuiet(n ast.Node) ast.Node {
	for i := 0; i < maxDepth; i++ {
		if isNil(n) {
			return nil
		}
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		case *ast.AliasNode:
			if isNil(x.Value) {
				return nil
			}
			n = d.anchors[x.Value.String()]
		default:
			return n
		}
	}
	return nil
}

// scalarText returns a scalar's text as written (numbers and booleans as
// their source text) and whether n is a scalar. Null reads as "".
func scalarText(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	case *ast.NullNode:
		return "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if tk := x.GetToken(); tk != nil {
			return tk.Value, true
		}
		return "", true
	}
	return "", false
}

// str is a string value with where it was written. For expressions and
// templates it also knows where its content starts, so a problem found at a
// character inside the text is reported at that character in the file.
type str struct {
	V   string
	Pos core.Pos // the value's first character (its quote, when quoted)
	Set bool     // the key was present
	Bad bool     // the value had the wrong type, which is reported already

	content core.Pos // first character of the content
	block   bool     // a literal block (|): content lines are file lines
}

func (s *str) decodeNode(d *decoder, n ast.Node) {
	s.Pos = d.pos(n)
	s.content = s.Pos
	s.Set = true
	r := d.resolve(n)
	if r == nil {
		return
	}
	text, ok := scalarText(r)
	if !ok {
		d.errf(n, "expected a string, got %s", nodeKind(r))
		s.Bad = true
		return
	}
	s.V = text
	s.Pos = d.pos(r)
	s.content = s.Pos
	switch x := r.(type) {
	case *ast.StringNode:
		if tk := x.Token; tk != nil && (tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType) {
			s.content.Col++
		}
	case *ast.LiteralNode:
		s.block = x.Start != nil && strings.HasPrefix(x.Start.Value, "|")
		// The content starts on the line after the indicator, at the
		// block's indentation.
		line := s.Pos.Line + 1
		if x.Value != nil && x.Value.Token != nil && x.Value.Token.Position != nil && s.block {
			line = max(x.Value.Token.Position.Line, line)
		}
		s.content = core.Pos{File: d.file, Line: line, Col: 1}
		if line-1 < len(d.lines) {
			l := d.lines[line-1]
			s.content.Col = len(l) - len(bytes.TrimLeft(l, " ")) + 1
		}
	}
}

// at returns the file position of the character at line (0-based) and
// column (0-based, in runes) of the string's content. Lines past the first
// map exactly only for literal blocks; elsewhere the value's start is the
// best that can be said.
func (s str) at(line, col int) core.Pos {
	switch {
	case line == 0:
		return core.Pos{File: s.content.File, Line: s.content.Line, Col: s.content.Col + col}
	case s.block:
		return core.Pos{File: s.content.File, Line: s.content.Line + line, Col: s.content.Col + col}
	}
	return s.Pos
}

// atOffset is at for a rune offset into the content.
func (s str) atOffset(off int) core.Pos {
	line, col, n := 0, 0, 0
	for _, r := range s.V {
		if n >= off {
			break
		}
		n++
		if r == '\n' {
			line++
			col = 0
		} else {
			col++
		}
	}
	return s.at(line, col)
}

// boolean is a true/false value with its position.
type boolean struct {
	V   bool
	Pos core.Pos
	Set bool
	Bad bool
}

func (b *boolean) decodeNode(d *decoder, n ast.Node) {
	b.Pos, b.Set = d.pos(n), true
	switch x := d.resolve(n).(type) {
	case *ast.BoolNode:
		b.V = x.Value
	case nil:
	default:
		b.Bad = true
		text, _ := scalarText(x)
		if text != "" {
			d.errf(n, "expected true or false, got %q", text)
		} else {
			d.errf(n, "expected true or false, got %s", nodeKind(x))
		}
	}
}

// list is a YAML sequence of T. A single value where a list is expected is
// read as a list of one (seen: merged), which is what an admin means.
type list[T any] struct {
	Items []T
	Pos   core.Pos
	Set   bool
	Bad   bool
}

func (l *list[T]) decodeNode(d *decoder, n ast.Node) {
	l.Pos, l.Set = d.pos(n), true
	r := d.resolve(n)
	switch x := r.(type) {
	case nil, *ast.NullNode:
		return
	case *ast.SequenceNode:
		for _, e := range x.Values {
			var v T
			d.decode(e, reflect.ValueOf(&v).Elem())
			l.Items = append(l.Items, v)
		}
		return
	}
	var v T
	if _, isStr := any(v).(str); !isStr {
		// Only plain values have the one-value shorthand: a single rule or
		// action where a list is expected is a slip of indentation.
		d.errf(n, "expected a list (each %s starting with \"- \"), got %s", whatOf(reflect.ValueOf(&v).Elem()), nodeKind(r))
		l.Bad = true
		return
	}
	d.decode(n, reflect.ValueOf(&v).Elem())
	l.Items = append(l.Items, v)
}

// omap is a YAML mapping with free keys, in the order written (the order
// matters: the first native status listed for a canonical one is written).
type omap[T any] struct {
	Entries []entry[T]
	Pos     core.Pos
	Set     bool
	Bad     bool
}

type entry[T any] struct {
	Key str
	Val T
}

// keyed is implemented by types that are the values of an omap whose key
// names them (systems by instance, kinds by kind), to prefix messages.
type keyed interface{ keyPrefix() string }

func (m *omap[T]) decodeNode(d *decoder, n ast.Node) {
	m.Pos, m.Set = d.pos(n), true
	r := d.resolve(n)
	switch x := r.(type) {
	case nil, *ast.NullNode:
		return
	case *ast.MappingNode:
		for _, kv := range d.entries(x) {
			var e entry[T]
			e.Key = str{V: kv.name, Pos: d.pos(kv.key), Set: true}
			e.Key.content = e.Key.Pos
			pushed := false
			if k, ok := any(&e.Val).(keyed); ok {
				d.ctx = append(d.ctx, fmt.Sprintf("%s %q: ", k.keyPrefix(), kv.name))
				pushed = true
			}
			d.decode(kv.value, reflect.ValueOf(&e.Val).Elem())
			if pushed {
				d.ctx = d.ctx[:len(d.ctx)-1]
			}
			m.Entries = append(m.Entries, e)
		}
		return
	}
	d.errf(n, "expected a mapping (key: value), got %s", nodeKind(r))
	m.Bad = true
}

// isTop reports whether v is a file's top level, where keys starting with
// "x-" are ignored so that admins have a place to define anchors.
func isTop(v reflect.Value) bool { return v.Type() == reflect.TypeOf(rawFile{}) }

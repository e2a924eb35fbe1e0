package mappings

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
)

// A mapping folder whose files say `extends: defaults` holds only what it
// changes; the embedded defaults give the rest. Its file of the same name
// as a default file replaces that file whole. Otherwise each entry it
// names replaces the defaults' entry of that name: a rule, link, sync,
// sla or duplicates entry, a checklist, a kind of a system, the calendar,
// an organisation's calendar, the levels.
// What is not named stays as shipped, and follows the defaults on upgrade.

// extendsDefaults reports whether any file says extends: defaults, and
// refuses any other value.
func extendsDefaults(files []rawFile, d *diags) bool {
	on := false
	for _, f := range files {
		switch {
		case !f.Extends.Set:
		case f.Extends.V == "defaults":
			on = true
		default:
			d.add(f.Extends.Pos, "extends %q: the only mappings a folder can extend are the embedded ones: extends: defaults", f.Extends.V)
		}
	}
	return on
}

// defaultFiles decodes the embedded default files.
func defaultFiles(d *diags) []rawFile {
	fsys := Defaults()
	names, err := mappingFiles(fsys)
	if err != nil {
		panic(err) // embedded
	}
	var files []rawFile
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			panic(err)
		}
		files = append(files, decodeFile("default/"+name, src, d)...)
	}
	return files
}

// overlaySection is one kind of entry that an overlay replaces by name.
type overlaySection struct {
	name string
	// names lists the names f gives entries of this section.
	names func(f *rawFile) []string
	// drop removes from f the entries replaced reports, without changing
	// the slices f shares with the file it was copied from.
	drop func(f *rawFile, replaced func(string) bool)
}

// namedList is the overlaySection of a list or map of f whose entries key
// names.
func namedList[T any](name string, items func(f *rawFile) *[]T, key func(T) string) overlaySection {
	return overlaySection{
		name: name,
		names: func(f *rawFile) []string {
			var ns []string
			for _, it := range *items(f) {
				ns = append(ns, key(it))
			}
			return ns
		},
		drop: func(f *rawFile, replaced func(string) bool) {
			p := items(f)
			*p = slices.DeleteFunc(slices.Clone(*p), func(it T) bool { return replaced(key(it)) })
		},
	}
}

// overlaySections are the sections an overlay replaces entry by entry, in
// the order check lists what was added.
var overlaySections = []overlaySection{
	namedList("rule", func(f *rawFile) *[]rawRule { return &f.Rules.Items }, func(r rawRule) string { return r.Name.V }),
	namedList("link", func(f *rawFile) *[]rawLink { return &f.Links.Items }, func(l rawLink) string { return l.Name.V }),
	namedList("sync", func(f *rawFile) *[]rawSync { return &f.Sync.Items }, func(s rawSync) string { return s.Name.V }),
	namedList("sla", func(f *rawFile) *[]rawSLA { return &f.SLA.Items }, func(s rawSLA) string { return s.Name.V }),
	namedList("duplicates entry", func(f *rawFile) *[]rawDuplicate { return &f.Duplicates.Items }, func(s rawDuplicate) string { return s.Name.V }),
	namedList("checklist", func(f *rawFile) *[]entry[rawChecklist] { return &f.Checklists.Entries }, func(e entry[rawChecklist]) string { return e.Key.V }),
	namedList("calendar of", func(f *rawFile) *[]entry[rawCalendar] { return &f.Calendars.Entries }, func(e entry[rawCalendar]) string { return e.Key.V }),
	{
		name: "kind", // system/kind
		names: func(f *rawFile) []string {
			var ns []string
			for _, e := range f.Systems.Entries {
				for _, k := range e.Val.Kinds.Entries {
					ns = append(ns, e.Key.V+"/"+k.Key.V)
				}
			}
			return ns
		},
		drop: func(f *rawFile, replaced func(string) bool) {
			systems := slices.Clone(f.Systems.Entries)
			for i, e := range systems {
				e.Val.Kinds.Entries = slices.DeleteFunc(slices.Clone(e.Val.Kinds.Entries), func(k entry[rawKind]) bool {
					return replaced(e.Key.V + "/" + k.Key.V)
				})
				systems[i] = e
			}
			// A system whose every kind the admin replaced is the admin's
			// to describe, connector included.
			f.Systems.Entries = slices.DeleteFunc(systems, func(e entry[rawSystem]) bool { return len(e.Val.Kinds.Entries) == 0 })
		},
	},
}

// overlay returns the defaults with own laid over them, and a line per
// replaced file or entry and per added entry, for `check`.
func overlay(defaults, own []rawFile) ([]rawFile, []string) {
	var said []string
	ownFiles := map[string]bool{}
	// What own names, by section; what is left once the defaults are
	// gone through is new.
	names := make([]map[string]bool, len(overlaySections))
	for i := range names {
		names[i] = map[string]bool{}
	}
	ownCalendar, ownLevels := false, false
	for _, f := range own {
		ownFiles[path.Base(f.Pos.File)] = true
		for i, sec := range overlaySections {
			for _, n := range sec.names(&f) {
				names[i][n] = true
			}
		}
		ownCalendar = ownCalendar || f.Calendar.Pos.Line > 0
		ownLevels = ownLevels || f.Levels.Pos.Line > 0
	}
	var out []rawFile
	for _, f := range defaults {
		if base := path.Base(f.Pos.File); ownFiles[base] {
			said = append(said, "file "+base+" replaces the default's")
			// What the replacing file names again is not new.
			for i, sec := range overlaySections {
				for _, n := range sec.names(&f) {
					delete(names[i], n)
				}
			}
			continue
		}
		for i, sec := range overlaySections {
			sec.drop(&f, func(n string) bool {
				if !names[i][n] {
					return false
				}
				said = append(said, fmt.Sprintf("%s %s replaces the default's", sec.name, n))
				delete(names[i], n) // said once
				return true
			})
		}
		if ownCalendar && f.Calendar.Pos.Line > 0 {
			said = append(said, "calendar replaces the default's")
			f.Calendar = rawCalendar{}
		}
		if ownLevels && f.Levels.Pos.Line > 0 {
			said = append(said, "levels replace the default's")
			f.Levels = rawLevels{}
		}
		out = append(out, f)
	}
	for i, sec := range overlaySections {
		for _, n := range slices.Sorted(maps.Keys(names[i])) {
			said = append(said, fmt.Sprintf("%s %s is added", sec.name, n))
		}
	}
	return append(out, own...), said
}

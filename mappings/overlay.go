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
// sla or duplicates entry, a checklist, a kind of a system, the calendar.
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

// overlay returns the defaults with own laid over them, and a line per
// replaced file or entry and per added entry, for `check`.
func overlay(defaults, own []rawFile) ([]rawFile, []string) {
	var said []string
	ownFiles := map[string]bool{}
	for _, f := range own {
		ownFiles[path.Base(f.Pos.File)] = true
	}
	// What own names, by section.
	names := map[string]map[string]bool{}
	name := func(section, n string) {
		if names[section] == nil {
			names[section] = map[string]bool{}
		}
		names[section][n] = true
	}
	ownCalendar := false
	for _, f := range own {
		for _, r := range f.Rules.Items {
			name("rule", r.Name.V)
		}
		for _, l := range f.Links.Items {
			name("link", l.Name.V)
		}
		for _, s := range f.Sync.Items {
			name("sync", s.Name.V)
		}
		for _, s := range f.SLA.Items {
			name("sla", s.Name.V)
		}
		for _, s := range f.Duplicates.Items {
			name("duplicates entry", s.Name.V)
		}
		for _, e := range f.Checklists.Entries {
			name("checklist", e.Key.V)
		}
		for _, e := range f.Systems.Entries {
			for _, k := range e.Val.Kinds.Entries {
				name("kind", e.Key.V+"/"+k.Key.V)
			}
		}
		ownCalendar = ownCalendar || f.Calendar.Pos.Line > 0
	}
	replaced := func(section, n string) bool {
		if names[section][n] {
			said = append(said, fmt.Sprintf("%s %s replaces the default's", section, n))
			delete(names[section], n) // said once; what is left is new
			return true
		}
		return false
	}
	var out []rawFile
	for _, f := range defaults {
		if base := path.Base(f.Pos.File); ownFiles[base] {
			said = append(said, "file "+base+" replaces the default's")
			continue
		}
		f.Rules.Items = slices.DeleteFunc(slices.Clone(f.Rules.Items), func(r rawRule) bool { return replaced("rule", r.Name.V) })
		f.Links.Items = slices.DeleteFunc(slices.Clone(f.Links.Items), func(l rawLink) bool { return replaced("link", l.Name.V) })
		f.Sync.Items = slices.DeleteFunc(slices.Clone(f.Sync.Items), func(s rawSync) bool { return replaced("sync", s.Name.V) })
		f.SLA.Items = slices.DeleteFunc(slices.Clone(f.SLA.Items), func(s rawSLA) bool { return replaced("sla", s.Name.V) })
		f.Duplicates.Items = slices.DeleteFunc(slices.Clone(f.Duplicates.Items), func(s rawDuplicate) bool { return replaced("duplicates entry", s.Name.V) })
		f.Checklists.Entries = slices.DeleteFunc(slices.Clone(f.Checklists.Entries), func(e entry[rawChecklist]) bool { return replaced("checklist", e.Key.V) })
		systems := slices.Clone(f.Systems.Entries)
		for i, e := range systems {
			e.Val.Kinds.Entries = slices.DeleteFunc(slices.Clone(e.Val.Kinds.Entries), func(k entry[rawKind]) bool {
				return replaced("kind", e.Key.V+"/"+k.Key.V)
			})
			systems[i] = e
		}
		// A system whose every kind the admin replaced is the admin's to
		// describe, connector included.
		f.Systems.Entries = slices.DeleteFunc(systems, func(e entry[rawSystem]) bool { return len(e.Val.Kinds.Entries) == 0 })
		if ownCalendar && f.Calendar.Pos.Line > 0 {
			said = append(said, "calendar replaces the default's")
			f.Calendar = rawCalendar{}
		}
		out = append(out, f)
	}
	for _, section := range []string{"rule", "link", "sync", "sla", "duplicates entry", "checklist", "kind"} {
		for _, n := range slices.Sorted(maps.Keys(names[section])) {
			said = append(said, fmt.Sprintf("%s %s is added", section, n))
		}
	}
	return append(out, own...), said
}

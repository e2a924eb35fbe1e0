// Package mappings reads the admin's mapping files — YAML that says how
// each tracker's statuses, priorities and fields translate to Liaison's
// canonical vocabulary, which keys in which texts link records, and which
// rules keep linked records in step — and compiles them into core.Mappings.
//
// Loading is strict and complete: the YAML syntax tree is decoded into raw
// types that keep every value's position (an unknown key is an error naming
// the expected keys), then validated against core's vocabulary and the
// mappings' own systems, then compiled: expressions with expr-lang against
// core.Env, templates with text/template. Every problem is reported, each
// at its file:line:column, in one Diagnostics error; nothing is compiled
// from a folder that has any. README.md documents the format.
//
// The default mappings are embedded (Defaults); an admin's folder is read
// with LoadDir and watched with Watch. `liaison check` calls Check.
package mappings

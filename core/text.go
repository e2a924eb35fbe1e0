package core

import "strings"

// Clip shortens s to at most n runes, ending with "…" where it cut. It
// never splits a character. For the limits of chat blocks, paging APIs
// and terminal columns, and for quoting outside input in an error.
func Clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ClipLine is Clip of s folded onto one line: each run of white space,
// line breaks included, becomes one space.
func ClipLine(s string, n int) string {
	return Clip(strings.Join(strings.Fields(s), " "), n)
}

package core

import "testing"

func TestClip(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"one too long", 11, "one too lo…"},
		{"Größenänderung", 5, "Größ…"}, // never half a character
		{"日本語のテキスト", 4, "日本語…"},
		{"anything", 0, ""},
	}
	for _, tc := range tests {
		if got := Clip(tc.s, tc.n); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
	if got := ClipLine("Reset link\n\t gives   500", 40); got != "Reset link gives 500" {
		t.Errorf("ClipLine folded to %q", got)
	}
	if got := ClipLine("a\nb c d", 4); got != "a b…" {
		t.Errorf("ClipLine(…, 4) = %q", got)
	}
}

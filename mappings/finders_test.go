package mappings

import (
	"testing"
	"unicode/utf8"
)

func TestFinders(t *testing.T) {
	for _, tc := range []struct {
		finder, text string
		want         bool
	}{
		{"steps", "Steps: open the page, click Save.", true},
		{"steps", "Steps to reproduce:\nOpen the page", true},
		{"steps", "1. Open the page\n2. Click Save", true},
		{"steps", "- Open the page\n- Click Save", true},
		{"steps", "Étapes : ouvrir la page puis enregistrer.", true},
		{"steps", "Pour reproduire : ouvrir la facture.", true},
		{"steps", "1) Ouvrir la facture\n2) Imprimer", true},
		{"steps", "It fails.\n1. only one item", false},
		{"steps", "We followed all the steps in the guide.", false},
		{"steps", "It is not a bug.", false},
		{"reproducible", "It happens every time.", true},
		{"reproducible", "Only sometimes, after lunch.", true},
		{"reproducible", "Ça arrive à chaque fois.", true},
		{"reproducible", "Parfois seulement.", true},
		{"reproducible", "It is not a bug.", false},
		{"reproducible", "The timetable is wrong.", false},
		{"urgency", "It is urgent for us.", true},
		{"urgency", "Not urgent, it can wait.", true},
		{"urgency", "C'est bloquant pour la paie.", true},
		{"urgency", "Pas urgent.", true},
		{"urgency", "It is not a bug.", false},
		{"urgency", "Detergent residue in the report", false},
	} {
		if got := finders[tc.finder](tc.text); got != tc.want {
			t.Errorf("%s in %q = %v, want %v", tc.finder, tc.text, got, tc.want)
		}
	}
}

func TestUnquoted(t *testing.T) {
	in := "Thanks.\n> Steps: the steps to reproduce\nMore.\nOn Mon, 23 Nov 2026, Support wrote:\nStill quoted\n"
	if got, want := unquoted(in), "Thanks.\nMore.\n"; got != want {
		t.Errorf("unquoted = %q, want %q", got, want)
	}
}

// FuzzFinders: customer text of any shape is read without a panic, in
// time linear in its size (the patterns are RE2).
func FuzzFinders(f *testing.F) {
	for _, s := range []string{"1. a\n2. b", "Steps: x", "> quoted\nOn x wrote:", "à chaque fois", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range finderNames() {
			finders[name](unquoted(s))
		}
		if utf8.ValidString(s) && !utf8.ValidString(unquoted(s)) {
			t.Fatal("unquoted broke valid text")
		}
	})
}

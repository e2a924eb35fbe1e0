package core

import (
	"math"
	"strings"
	"unicode"
)

// Similarity scores how alike two records' texts are, from 0 to 1: the
// cosine of their word counts, with title words counted three times since
// a title names the problem. It is crude on purpose — no model, no
// language data — and the threshold in the mappings is the admin's lever.
func Similarity(a, b *Item) float64 {
	va, vb := words(a), words(b)
	var dot, na, nb float64
	for w, x := range va {
		dot += x * vb[w]
		na += x * x
	}
	for _, y := range vb {
		nb += y * y
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// stopWords are frequent words that say nothing about a problem.
var stopWords = map[string]bool{
	"the": true, "and": true, "for": true, "with": true, "that": true, "this": true, "from": true, "have": true,
	"has": true, "are": true, "was": true, "not": true, "but": true, "you": true, "your": true, "our": true,
	"les": true, "des": true, "une": true, "pas": true, "der": true, "die": true, "das": true, "und": true,
	"hello": true, "thanks": true, "please": true, "since": true, "when": true, "after": true, "into": true,
}

func words(it *Item) map[string]float64 {
	out := map[string]float64{}
	add := func(s string, weight float64) {
		for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if len([]rune(w)) >= 3 && !stopWords[w] {
				out[w] += weight
			}
		}
	}
	add(it.Title, 3)
	add(it.Body, 1)
	return out
}

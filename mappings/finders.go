package mappings

import (
	"regexp"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// This file finds checklist items in what a reporter wrote, for the
// checklist sources written text:<finder> ("steps or text:steps"): a mail
// that states its steps, "it happens every time" and "it is urgent" is not
// asked for them again. The finders know the languages of the default
// process, English and French. They read the title, the description and
// the reporter's later comments (ItemView.Said), never the gateway's own
// question, and skip quoted lines, where a reply by mail carries that
// question back.

// textFinder reports whether a text holds an item.
type textFinder func(text string) bool

// finders are the text:<name> sources, by name.
var finders = map[string]textFinder{
	"steps":        statesSteps,
	"reproducible": statesReproducibility,
	"urgency":      statesUrgency,
}

func finderNames() []string { return sortedKeys(finders) }

// listItem is a line of a numbered or bulleted list: "1. Open", "2) Click",
// "- Open", "* Click", "• Ouvrir".
var listItem = regexp.MustCompile(`^\s*(?:\d{1,2}\s*[.)-]|[-*•–])\s+\S`)

// stepsLead is the word that introduces steps: "Steps: ...", "Steps to
// reproduce: ...", "To reproduce: ...", "Étapes : ...", "Pour
// reproduire : ...", followed by something on the line or the next one.
var stepsLead = regexp.MustCompile(`(?i)(?:^|[\s(])(?:steps(?:\s+to\s+reproduce)?|to\s+reproduce|how\s+to\s+reproduce|repro(?:duction)?\s+steps|étapes?(?:\s+pour\s+reproduire)?|pour\s+reproduire)\s*:\s*(\S?)`)

// statesSteps: two or more list items in a row, or a line introduced by
// "Steps:" (or its French) with something after it.
func statesSteps(text string) bool {
	run, led := 0, false
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if led {
			return true // "Steps:" ending a line, and a line after it
		}
		if listItem.MatchString(line) {
			if run++; run >= 2 {
				return true
			}
		} else {
			run = 0
		}
		if m := stepsLead.FindStringSubmatch(line); m != nil {
			if m[1] != "" {
				return true
			}
			led = true
		}
	}
	return false
}

// reproducibility is how people say whether a problem comes back.
var reproducibility = []string{
	"every time", "each time", "all the time", "always", "consistently", "systematically",
	"reproducible", "reproducable", "not reproducible", "reproducible: yes", "reproducible: no",
	"sometimes", "intermittent", "intermittently", "randomly", "from time to time", "only once", "happened once",
	"à chaque fois", "a chaque fois", "chaque fois", "toujours", "systématiquement", "systematiquement",
	"reproductible", "non reproductible", "parfois", "de temps en temps", "aléatoirement", "une seule fois",
}

func statesReproducibility(text string) bool { return mentions(text, reproducibility...) }

// urgency is how people say how urgent a problem is for them.
var urgency = []string{
	"urgent", "urgently", "asap", "as soon as possible", "blocking", "blocker", "critical",
	"high priority", "low priority", "not urgent", "no rush", "can wait", "not blocking",
	"urgente", "bloquant", "bloquante", "critique", "prioritaire", "pas urgent", "pas pressé",
	"dès que possible", "au plus vite", "non bloquant", "peut attendre",
}

func statesUrgency(text string) bool { return mentions(text, urgency...) }

// reporterTexts is what the finders read: title, description and the
// reporter's later comments, each without its quoted lines.
func reporterTexts(v core.ItemView) []string {
	out := []string{v.Title, unquoted(v.Body)}
	for _, s := range v.Said {
		out = append(out, unquoted(s))
	}
	return out
}

// unquoted drops the lines a mail reply quotes ("> ...") and what follows
// the usual "On ... wrote:" / "Le ... a écrit :" line.
func unquoted(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, ">") {
			continue
		}
		if (strings.HasPrefix(t, "On ") && strings.HasSuffix(t, "wrote:")) || (strings.HasPrefix(t, "Le ") && strings.HasSuffix(t, "a écrit :")) {
			break
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// found reports whether the reporter's texts (reporterTexts) hold what
// finder looks for.
func found(texts []string, finder string) bool {
	f := finders[finder]
	if f == nil {
		return false
	}
	for _, t := range texts {
		if f(t) {
			return true
		}
	}
	return false
}

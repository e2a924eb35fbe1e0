package digest

import (
	_ "embed"
	"fmt"
	"os"
	"strings"
	"text/template"
	"time"
)

//go:embed digest.tmpl
var defaultTemplate string

// Template renders a Report. The template's own body is the mail's text;
// a template named "subject" its subject (the default one is used when an
// admin's template does not define it).
type Template struct {
	t *template.Template
}

var funcs = template.FuncMap{
	"join": strings.Join,
	// date: "Mon 16 Nov 2026".
	"date": func(t time.Time) string { return t.Format("Mon 02 Jan 2006") },
	// when: "Tue 17 Nov 14:05".
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "at an unknown time"
		}
		return t.Format("Mon 02 Jan 15:04")
	},
}

// DefaultTemplate is the digest template that ships embedded.
func DefaultTemplate() *Template {
	t, err := ParseTemplate("default digest template", defaultTemplate)
	if err != nil {
		panic(err) // the embedded template is tested
	}
	return t
}

// ParseTemplate parses an admin's template text; name appears in errors.
func ParseTemplate(name, text string) (*Template, error) {
	t := template.New(name).Funcs(funcs).Option("missingkey=error")
	// The default subject first, so that the admin's text may redefine it.
	if _, err := t.Parse(`{{define "subject"}}Support digest for {{.Org}}, week {{.Week}}{{end}}`); err != nil {
		return nil, err
	}
	if _, err := t.Parse(text); err != nil {
		return nil, fmt.Errorf("digest template: %w", err)
	}
	return &Template{t: t}, nil
}

// LoadTemplate reads a template file; an empty path gives the default.
func LoadTemplate(path string) (*Template, error) {
	if path == "" {
		return DefaultTemplate(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("digest template: %w", err)
	}
	return ParseTemplate(path, string(b))
}

// Render returns the subject (one line) and the text of r's digest.
func (t *Template) Render(r *Report) (subject, body string, err error) {
	var sb, bb strings.Builder
	if err := t.t.ExecuteTemplate(&sb, "subject", r); err != nil {
		return "", "", fmt.Errorf("digest template: subject: %w", err)
	}
	if err := t.t.Execute(&bb, r); err != nil {
		return "", "", fmt.Errorf("digest template: %w", err)
	}
	subject = strings.Join(strings.Fields(sb.String()), " ")
	body = strings.TrimLeft(bb.String(), "\n")
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	return subject, body, nil
}

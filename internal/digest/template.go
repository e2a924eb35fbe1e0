package digest

import (
	_ "embed"
	"fmt"
	htmltemplate "html/template"
	"os"
	"strings"
	"text/template"
	"time"
)

var (
	//go:embed digest.tmpl
	defaultTemplate string
	//go:embed digest.html.tmpl
	defaultHTML string
)

// Template renders a Report. The template's own body is the mail's text;
// a template named "subject" its subject (the default one is used when an
// admin's template does not define it). The default template also has an
// HTML part (the mail is then multipart/alternative); an admin's text
// template has none, so that the two parts never say different things.
type Template struct {
	t    *template.Template
	html *htmltemplate.Template
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
	t.html = htmltemplate.Must(htmltemplate.New("default digest HTML template").Funcs(htmltemplate.FuncMap(funcs)).
		Option("missingkey=error").Parse(defaultHTML))
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

// RenderHTML returns the HTML part of r's digest, or "" when the template
// has none.
func (t *Template) RenderHTML(r *Report) (string, error) {
	if t.html == nil {
		return "", nil
	}
	var b strings.Builder
	if err := t.html.Execute(&b, r); err != nil {
		return "", fmt.Errorf("digest HTML template: %w", err)
	}
	return strings.TrimLeft(b.String(), "\n"), nil
}

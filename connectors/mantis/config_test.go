package mantis

import (
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// TestConfigErrors: each mistake is refused with the key to fix.
func TestConfigErrors(t *testing.T) {
	ok := func() Config {
		return Config{BaseURL: "https://mantis.acme.example", TokenEnv: "MANTIS_TOKEN", Projects: Projects{Dev: []string{projBugs}}}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no base url", func(c *Config) { c.BaseURL = "" }, "base_url is required"},
		{"not http", func(c *Config) { c.BaseURL = "ftp://x" }, "want an http(s) URL"},
		{"credentials in url", func(c *Config) { c.BaseURL = "https://u:p@mantis.acme.example" }, "must not carry credentials"},
		{"token in clear", func(c *Config) { c.BaseURL = "http://mantis.acme.example" }, "use https, or set insecure_http: true"},
		{"no token", func(c *Config) { c.TokenEnv = "" }, "token_env or token_file is required"},
		{"unset token variable", func(c *Config) { c.TokenEnv = "NOPE" }, "NOPE"},
		{"no projects", func(c *Config) { c.Projects = Projects{} }, "name at least one project"},
		{"twice", func(c *Config) { c.Projects.Dev = []string{projBugs, "bugs inbox"} }, "listed twice"},
		{"shared project", func(c *Config) { c.Projects.Change = projBugs }, "holds both"},
		{"page size", func(c *Config) { c.PageSize = 500 }, "page_size 500"},
		{"overlap", func(c *Config) { c.PollOverlap = 1 }, "poll_overlap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok()
			tc.edit(&cfg)
			_, err := New(core.Setup{Name: "mantis", Decode: func(v any) error { *v.(*Config) = cfg; return nil }, Env: testEnv})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v; want %q", err, tc.want)
			}
		})
	}
	cfg := ok()
	cfg.BaseURL = "https://mantis.acme.example/api/rest/"
	c, err := New(core.Setup{Name: "mantis", Decode: func(v any) error { *v.(*Config) = cfg; return nil }, Env: testEnv})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.(*Connector).viewURL(12); got != "https://mantis.acme.example/view.php?id=12" {
		t.Fatalf("view url %q", got)
	}
}

// TestConfig_PlainHTTPWhenTheAdminSaysSo: insecure_http: true lets an
// http:// installation off loopback through.
func TestConfig_PlainHTTPWhenTheAdminSaysSo(t *testing.T) {
	cfg := Config{BaseURL: "http://mantis.acme.example", TokenEnv: "MANTIS_TOKEN", Projects: Projects{Dev: []string{projBugs}}, InsecureHTTP: true}
	if _, err := New(core.Setup{Name: "mantis", Decode: func(v any) error { *v.(*Config) = cfg; return nil }, Env: testEnv}); err != nil {
		t.Fatalf("insecure_http: true refused: %v", err)
	}
}

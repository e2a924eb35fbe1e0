package config

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	c, err := Parse("liaison.yaml", []byte(`
listen: 127.0.0.1:9090
store: sqlite://x.db
retention: {raw: 48h}
connectors:
  jira:
    base_url: http://127.0.0.1:1/
  helpdesk:
    kind: zendesk
    subdomain: acme
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9090" || c.Retention.Raw != 48*time.Hour || c.Workers != 16 || c.ShutdownTimeout != 30*time.Second {
		t.Fatalf("parsed %+v", c)
	}
	b, err := Parse("liaison.yaml", []byte("rule_budget: {steps: 5000, time: 250ms}\nshutdown_timeout: 5s\n"))
	if err != nil || b.RuleBudget != (RuleBudget{Steps: 5000, Time: 250 * time.Millisecond}) || b.ShutdownTimeout != 5*time.Second {
		t.Fatalf("rule_budget and shutdown_timeout: %v %+v", err, b)
	}
	in := c.Instances()
	if len(in) != 2 || in[0].Name != "jira" || in[0].Kind != "jira" || in[1].Name != "helpdesk" || in[1].Kind != "zendesk" {
		t.Fatalf("instances %+v", in)
	}
	var zd struct {
		Subdomain string `yaml:"subdomain"`
	}
	if err := in[1].Decode(&zd); err != nil || zd.Subdomain != "acme" {
		t.Fatalf("decode: %v %+v", err, zd)
	}
	var strict struct {
		BaseURL string `yaml:"base_url_typo"`
	}
	err = in[0].Decode(&strict)
	if err == nil || !strings.HasPrefix(err.Error(), "liaison.yaml:7:5: ") {
		t.Fatalf("unknown key in a connector section: err = %v; want it at liaison.yaml:7:5", err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown key", "listen: x\nstroe: y\n", "liaison.yaml:2:1: "},
		{"syntax", "listen: [x\n", "liaison.yaml:"},
		{"bad duration", "retention:\n  raw: soon\n", "liaison.yaml:2:8: "},
		{"bad level", "log: {level: loud}\n", `log.level "loud"`},
		{"bad shutdown timeout", "shutdown_timeout: soon\n", "liaison.yaml:1:19: shutdown_timeout"},
		{"bad rule budget time", "rule_budget:\n  time: forever\n", "liaison.yaml:2:9: rule_budget.time"},
		{"negative rule budget", "rule_budget: {steps: -1}\n", "rule_budget.steps -1"},
		{"connector not a map", "connectors:\n  jira: 3\n", "liaison.yaml:2:9: "},
		{"unknown dev tracker", "dev_tracker: bugzilla\n", `dev_tracker "bugzilla": want one of jira, mantis`},
		{"dev tracker and a folder", "dev_tracker: mantis\nmappings: ./m\n", "set one of them"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("liaison.yaml", []byte(c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

// TestBackpressureAndPprof: max_lag has a default and can be set; pprof is
// off unless set.
func TestBackpressureAndPprof(t *testing.T) {
	for _, c := range []struct {
		yaml   string
		maxLag time.Duration
		pprof  bool
	}{
		{"listen: 127.0.0.1:9090\n", DefaultMaxLag, false},
		{"backpressure: {max_lag: 2s}\npprof: true\n", 2 * time.Second, true},
	} {
		got, err := Parse("liaison.yaml", []byte(c.yaml))
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got.Backpressure.MaxLag != c.maxLag || got.Pprof != c.pprof {
			t.Errorf("%q: max_lag %s, pprof %v; want %s, %v", c.yaml, got.Backpressure.MaxLag, got.Pprof, c.maxLag, c.pprof)
		}
	}
}

package github

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzHookProblem reads GET .../hooks: any list of webhooks gets an
// answer, and a list holding the gateway's complete webhook none.
func FuzzHookProblem(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "ping.json"))
	if err != nil {
		f.Fatal(err)
	}
	var ping struct {
		Hook json.RawMessage `json:"hook"`
	}
	if err := json.Unmarshal(b, &ping); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("[" + string(ping.Hook) + "]"))
	f.Add([]byte(`[{"id":1,"active":true,"events":["push"],"config":{"url":"https://gw.example.org/webhooks/github/github","content_type":"form"}}]`))
	good := wireHook{ID: 2, Active: true, Events: []string{"*"}}
	good.Config.URL, good.Config.ContentType = "https://gw.example.org/webhooks/github/github", "json"
	f.Fuzz(func(t *testing.T, b []byte) {
		var hooks []wireHook
		if json.Unmarshal(b, &hooks) != nil {
			return
		}
		hookProblem(hooks, "https://gw.example.org", "github")
		if p := hookProblem(append(hooks, good), "https://gw.example.org", "github"); p != "" {
			t.Fatalf("with the gateway's webhook: %s", p)
		}
	})
}

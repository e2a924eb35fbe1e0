package pagingtest

import (
	"encoding/json"

	"github.com/liaisonhq/liaison/core"
)

// Setup is the core.Setup a test opens an on-call connector with: its
// configuration section as JSON (cfg), and key in whatever variable the
// section names for the credential. Callers add a clock or a log.
func Setup(name, cfg, key string) core.Setup {
	return core.Setup{Name: name, Env: func(string) string { return key },
		Decode: func(v any) error { return json.Unmarshal([]byte(cfg), v) }}
}

package zendesk

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzTrigger reads a trigger of GET /api/v2/triggers: whatever its
// conditions and actions, it fires on a sorted set of update types, never
// none.
func FuzzTrigger(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "api-triggers-list.json"))
	if err != nil {
		f.Fatal(err)
	}
	var list struct {
		Triggers []json.RawMessage `json:"triggers"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		f.Fatal(err)
	}
	for _, t := range list.Triggers {
		f.Add([]byte(t))
	}
	f.Add([]byte(`{"active":true,"actions":[{"field":"notification_webhook","value":["01EJFTSCC78X5V07NPY2MHR00M","{}"]}],"conditions":{"any":[{"field":"update_type","operator":"is","value":"Create"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var tr wireTrigger
		if json.Unmarshal(b, &tr) != nil {
			return
		}
		tr.notifies("01EJFTSCC78X5V07NPY2MHR00M")
		on := tr.firesOn()
		if len(on) == 0 || !slices.IsSorted(on) || len(slices.Compact(slices.Clone(on))) != len(on) {
			t.Fatalf("fires on %q", on)
		}
	})
}

package pagingtest

import (
	"slices"
	"testing"
)

func TestMismatches(t *testing.T) {
	const doc = `{"message": "m", "count": 1, "responders": [{"id": "x", "type": "team"}, {"username": "u", "type": "user"}],
		"details": {"a": "b"}, "payload": {"custom_details": {"s": "1%", "n": 0.75}}}`
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"conforms", `{"message": "hi", "responders": [{"username": "neo", "type": "user"}], "details": {"rule": "r"}}`, nil},
		{"unknown key", `{"mesage": "hi"}`, []string{"mesage: not a documented key"}},
		{"wrong type", `{"message": 3, "count": "1"}`, []string{"count: string, documented as number", "message: number, documented as string"}},
		{"array element like none", `{"responders": [{"name": "NOC", "type": "team"}]}`, []string{"responders[0].name: not a documented key"}},
		{"free-form keys, documented value types", `{"details": {"x": "y", "n": 1}, "payload": {"custom_details": {"k": 2, "l": true}}}`,
			[]string{"details.n: number, documented values are string", "payload.custom_details.l: boolean, documented values are number or string"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Mismatches([]byte(tc.body), []byte(doc), "details", "payload.custom_details")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

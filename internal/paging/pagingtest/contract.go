// Package pagingtest checks request bodies against a vendor's documented
// JSON, for the on-call connectors' contract tests.
package pagingtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Mismatches compares a body we send with the vendor's documented example
// of that request and lists where it departs from it: a key the example
// does not have, a value of another JSON type (string, number, boolean,
// object, array), an array element unlike the example's first. Objects at
// the paths in freeForm ("details", "payload.custom_details") take any
// keys, with values of the type of the example's values. Keys the example
// has and the body lacks are not reported: most are optional, and the
// tests name the ones they need.
func Mismatches(body, documented []byte, freeForm ...string) ([]string, error) {
	var got, doc any
	if err := json.Unmarshal(body, &got); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	if err := json.Unmarshal(documented, &doc); err != nil {
		return nil, fmt.Errorf("documented example: %w", err)
	}
	var out []string
	compare("", got, doc, freeForm, &out)
	sort.Strings(out)
	return out, nil
}

func compare(path string, got, doc any, freeForm []string, out *[]string) {
	if jsonType(got) != jsonType(doc) {
		*out = append(*out, fmt.Sprintf("%s: %s, documented as %s", orRoot(path), jsonType(got), jsonType(doc)))
		return
	}
	switch g := got.(type) {
	case map[string]any:
		d := doc.(map[string]any)
		free := slices.Contains(freeForm, path)
		var types []string
		for _, v := range d {
			types = append(types, jsonType(v))
		}
		slices.Sort(types)
		types = slices.Compact(types)
		for k, v := range g {
			dv, ok := d[k]
			switch {
			case ok:
				compare(join(path, k), v, dv, freeForm, out)
			case free && !slices.Contains(types, jsonType(v)):
				*out = append(*out, fmt.Sprintf("%s: %s, documented values are %s", join(path, k), jsonType(v), strings.Join(types, " or ")))
			case !free:
				*out = append(*out, fmt.Sprintf("%s: not a documented key", join(path, k)))
			}
		}
	case []any:
		// An element conforms when it is like one of the documented
		// elements (responders: a team by id, a team by name, a user).
		d := doc.([]any)
		if len(d) == 0 {
			return
		}
		for i, v := range g {
			var best []string
			for j, dv := range d {
				var got []string
				compare(fmt.Sprintf("%s[%d]", path, i), v, dv, freeForm, &got)
				if j == 0 || len(got) < len(best) {
					best = got
				}
			}
			*out = append(*out, best...)
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orRoot(p string) string {
	if p == "" {
		return "(body)"
	}
	return strings.TrimSpace(p)
}

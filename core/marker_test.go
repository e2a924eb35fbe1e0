package core

import "testing"

func TestIsMarker(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{MarkerFor("zendesk|4521|escalate"), true},
		{"liaison-0123456789ab", true},
		{"liaison-0123456789AB", false},
		{"liaison-0123456789a", false},
		{"liaison-0123456789abc", false},
		{"liaison-0123456789ab\n", false},
		{" liaison-0123456789ab", false},
		{"from-support", false},
		{"", false},
	} {
		if got := IsMarker(tc.s); got != tc.want {
			t.Errorf("IsMarker(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

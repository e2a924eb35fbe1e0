package core

import (
	"errors"
	"testing"
)

func TestPanicText_SaysWhatTheRuntimeSaidButQuotesNothingRead(t *testing.T) {
	recovered := func(f func()) (p any) {
		defer func() { p = recover() }()
		f()
		return nil
	}
	var m map[string]string
	tests := []struct {
		name string
		p    any
		want string
	}{
		{"the runtime's own", recovered(func() { m["k"] = "v" }), "assignment to entry in nil map"},
		{"a string that quotes a mail", "cannot parse Dear support, my password is hunter2", "a value of type string"},
		{"an error that quotes a ticket", errors.New("ticket title: Printer on fire"), "a value of type *errors.errorString"},
	}
	for _, tc := range tests {
		if got := PanicText(tc.p); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

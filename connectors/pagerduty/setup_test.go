package pagerduty

import (
	"context"
	"testing"

	"github.com/liaisonhq/liaison/mappings"
)

// TestCheckMappings_Defaults: the defaults name only PagerDuty's
// statuses and severities, checked without a request.
func TestCheckMappings_Defaults(t *testing.T) {
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	if err := e.conn.CheckMappings(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Calls.All()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

package opsgenie

import (
	"context"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/mappings"
)

// TestCheckMappings_KeyAndNames: at start, the defaults pass against an
// account that takes the key; a refused key is named (not shown).
func TestCheckMappings_KeyAndNames(t *testing.T) {
	m, err := mappings.LoadDefaults(mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "")
	if err := e.conn.CheckMappings(context.Background(), m); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	e.conn.key = ptr(core.Secret("wrong-" + testKey))
	err = e.conn.CheckMappings(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "the API key") || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), testKey) {
		t.Fatalf("refused key: %v", err)
	}
}

//go:build faults

package loadtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/internal/loadtest"
)

// TestFaults_OverloadAppliesEveryAcknowledgedChange drives one replica on
// SQLite (and one on PostgreSQL, when a server answers) with signed
// webhooks at 1,000/s, several times what it sustains, each owing a Jira
// issue: every webhook it acknowledged gets its issue, exactly one (an
// engine whose failed reconcile releases its case with nothing scheduled
// loses a few: the store's writer is that busy). It runs for one to three
// minutes per setup, hence the faults build tag (`make test-faults` does
// not run it: `go test -tags faults -run Overload ./internal/loadtest/`).
func TestFaults_OverloadAppliesEveryAcknowledgedChange(t *testing.T) {
	figs, err := loadtest.RunOverload(context.Background(), loadtest.OverloadOptions{Dir: t.TempDir(), Postgres: postgresDSN(),
		Rate: 1000, For: 8 * time.Second, Settle: 3 * time.Minute, Launch: launch},
		loadtest.ReplicaSetup{Store: "sqlite", Replicas: 1}, loadtest.ReplicaSetup{Store: "postgres", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range figs {
		t.Log(f)
		if f.Skipped != "" {
			if os.Getenv("CI") == "true" {
				t.Errorf("%s skipped: %s", f.Setup, f.Skipped)
			}
			continue
		}
		if f.Acknowledged == 0 {
			t.Errorf("%s: nothing acknowledged", f.Setup)
		}
		if f.Lost != 0 || f.Duplicates != 0 {
			t.Errorf("%s: lost=%d duplicates=%d; want 0 and 0", f.Setup, f.Lost, f.Duplicates)
		}
	}
}

package loadtest

import (
	"context"
	"testing"
	"time"
)

// TestRun_Small runs every phase at a small size: the load tool itself
// must keep working (its figures are measured by `liaison bench`).
func TestRun_Small(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon and sends a few thousand requests")
	}
	r, err := Run(context.Background(), Options{Dir: t.TempDir(), IngestN: 1000, Concurrency: 16, Rate: 200,
		Paced: time.Second, ReconcileN: 300})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.IngestRate <= 0 || r.IngestBusyRate <= 0 || r.ReconcileRate <= 0 || r.E2ECount != 200 || r.AckP99 <= 0 || r.FloorP99 <= 0 {
		t.Fatalf("report: %+v", r)
	}
	t.Logf("\n%s", r)
}

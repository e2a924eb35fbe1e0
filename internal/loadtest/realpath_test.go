package loadtest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/internal/loadtest"
)

// launchArgs runs `liaison ARGS...` as this test binary re-executed.
func launchArgs(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), argsEnv+"="+strings.Join(args, argsSep))
	return cmd
}

// TestRunReal_Small runs the real-connector phase briefly at a low rate,
// beside the relay: every webhook is acknowledged and moves its issue
// exactly once, with at most 3 API calls per webhook (the issue read with
// its transitions, the transition, the remote link) and none to GitHub;
// the same webhooks sent again (a new delivery id) cost none.
func TestRunReal_Small(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	figs, err := loadtest.RunReal(context.Background(), loadtest.RealOptions{Dir: t.TempDir(), Rates: []int{50}, For: time.Second,
		Settle: 30 * time.Second, Launch: launchArgs, Repeat: 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 2 {
		t.Fatalf("%d figures; want the relay's and Liaison's", len(figs))
	}
	for _, f := range figs {
		t.Log(f)
		if f.Sent == 0 || f.Acknowledged != f.Sent || f.Lost != 0 || f.Duplicated != 0 || f.Applied != f.Acknowledged {
			t.Errorf("%s: sent %d, acknowledged %d, applied %d, lost %d, duplicated %d; want all applied once", f.Side, f.Sent, f.Acknowledged, f.Applied, f.Lost, f.Duplicated)
		}
		if f.Side != "liaison" {
			continue
		}
		if f.Repeated == 0 || f.RepeatCalls != 0 {
			t.Errorf("liaison: %d webhooks sent again cost %d API calls; want some sent, and none", f.Repeated, f.RepeatCalls)
		}
		if c := f.CallsPerWebhook(); c > 3 {
			t.Errorf("liaison: %.2f API calls per webhook (%v); want at most 3", c, f.Calls)
		}
		for endpoint := range f.Calls {
			if strings.Contains(endpoint, "/repos/") {
				t.Errorf("liaison called GitHub (%s): the payload says everything this change needs", endpoint)
			}
		}
	}
}

// TestRunReal_BackpressureAppliesEveryAcknowledged makes Liaison's workers
// fall behind (every Jira answer held back) past a small max_lag: it
// refuses webhooks with 503 and Retry-After, and applies every one it
// acknowledged, once.
func TestRunReal_BackpressureAppliesEveryAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	figs, err := loadtest.RunReal(context.Background(), loadtest.RealOptions{Dir: t.TempDir(), Rates: []int{200}, For: 2 * time.Second,
		Settle: 60 * time.Second, Launch: launchArgs, Sides: []string{"liaison"}, MaxLag: 300 * time.Millisecond, JiraDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := figs[0]
	t.Log(f)
	if f.Refused == 0 || f.Retry503 != f.Refused {
		t.Errorf("refused %d (with Retry-After %d); want refusals, each with Retry-After", f.Refused, f.Retry503)
	}
	if f.Acknowledged == 0 || f.Lost != 0 || f.Duplicated != 0 || f.Applied != f.Acknowledged {
		t.Errorf("acknowledged %d, applied %d, lost %d, duplicated %d; want every acknowledged one applied once", f.Acknowledged, f.Applied, f.Lost, f.Duplicated)
	}
}

// Package connectortest holds checks that every connector's tests run
// against the connector's fake.
package connectortest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// SlowWrite is one write of a connector that its fake holds until the
// client gave up (a slow success), and what the check needs to observe it.
type SlowWrite struct {
	// Apply makes the write, once the fake holds it.
	Apply func() error
	// Writes counts the write requests the fake received during Apply.
	Writes func() int
	// LookUp asks as the engine does whether the write took effect.
	LookUp func() (bool, error)
	// Effects counts what the write made at the fake.
	Effects func() int
	// Land lets the held write take effect; LookUpBefore says whether a
	// look-up comes first.
	Land         func()
	LookUpBefore bool
}

// CheckSlowSuccess checks the contract the engine's handling of uncertain
// writes rests on: the held write fails as uncertain, is sent once (not
// again in place), its look-up does not find it before it lands, and finds
// it once it has; in the end there is one effect.
func CheckSlowSuccess(t *testing.T, w SlowWrite) {
	t.Helper()
	if !w.LookUpBefore {
		w.Land()
	}
	if err := w.Apply(); !core.IsUncertain(err) {
		t.Fatalf("held write: %v; want an error of unknown outcome", err)
	}
	if n := w.Writes(); n != 1 {
		t.Fatalf("%d writes; want the one, not sent again in place", n)
	}
	if w.LookUpBefore {
		if found, err := w.LookUp(); err != nil || found {
			t.Fatalf("look-up before the write landed: found %v, %v; want not found", found, err)
		}
		w.Land()
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Effects() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the held write never landed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if found, err := w.LookUp(); err != nil || !found {
		t.Fatalf("look-up after the write landed: found %v, %v", found, err)
	}
	if n := w.Effects(); n != 1 {
		t.Fatalf("%d effects, want 1", n)
	}
}

// Races are the two ways a held write and the engine's look-up can meet.
var Races = []struct {
	Name         string
	LookUpBefore bool
}{{"lands as the client gives up", false}, {"lands after the first look-up", true}}

// Landing returns the channel a fake's HoldWrites waits on and the
// function that closes it, once; the test's cleanup closes it too, before
// the fake's server is closed (which waits for the held write).
func Landing(t *testing.T) (<-chan struct{}, func()) {
	land := make(chan struct{})
	once := sync.OnceFunc(func() { close(land) })
	t.Cleanup(once)
	return land, once
}

// Finder is a connector that can look its writes up.
type Finder interface {
	core.MarkerFinder
	core.AppliedChecker
}

// LookUp asks c as the engine does whether a's write took effect: a
// create by its marker, anything else with Applied.
func LookUp(c Finder, a core.Action) (bool, error) {
	ctx := context.Background()
	if a.Kind == core.Create {
		_, err := c.FindByMarker(ctx, a.Target.Kind, a.Marker())
		if errors.Is(err, core.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	_, done, err := c.Applied(ctx, a)
	return done, err
}

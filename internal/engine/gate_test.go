package engine

import (
	"testing"
	"time"
)

func TestActionGate(t *testing.T) {
	g := newActionGate()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	if !g.enter("k", t0) {
		t.Fatal("first worker refused")
	}
	if g.enter("k", t0) {
		t.Fatal("a second worker entered while the first applies")
	}
	g.leave("k", false, t0)
	if !g.enter("k", t0) {
		t.Fatal("a failed attempt keeps the key closed")
	}
	g.leave("k", true, t0)
	if g.enter("k", t0.Add(time.Minute)) {
		t.Fatal("an action recorded done was let in again at once")
	}
	if !g.enter("k", t0.Add(doneMemory)) {
		t.Fatal("a done key is never forgotten")
	}
	if !g.enter("other", t0) {
		t.Fatal("another key was refused")
	}
}

// TestActionGate_ForgetsOldKeys: done keys are forgotten once older than
// doneMemory, so the gate's memory is what a few minutes of writes need.
func TestActionGate_ForgetsOldKeys(t *testing.T) {
	g := newActionGate()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range 1000 {
		at := t0.Add(time.Duration(i) * time.Second)
		k := string(rune('a'+i%26)) + time.Duration(i).String()
		if !g.enter(k, at) {
			t.Fatalf("key %d refused", i)
		}
		g.leave(k, true, at)
	}
	// Keys of the last doneMemory are kept, older ones are gone.
	if n, want := len(g.done), int(doneMemory/time.Second)+1; n > want || len(g.order) > want {
		t.Fatalf("gate holds %d done keys (%d in order), want at most %d", n, len(g.order), want)
	}
	// A key done again later is remembered from its latest time.
	last := t0.Add(999 * time.Second)
	g.enter("again", last)
	g.leave("again", true, last)
	g.enter("again2", last.Add(doneMemory-time.Second))
	g.leave("again2", true, last.Add(doneMemory-time.Second))
	if g.enter("again2", last.Add(doneMemory)) {
		t.Fatal("a key done a second ago was let in")
	}
}

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

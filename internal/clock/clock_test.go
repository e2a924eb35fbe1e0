package clock

import (
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func TestManual(t *testing.T) {
	tests := []struct {
		name string
		move func(m *Manual)
		want time.Time
	}{
		{"still", func(*Manual) {}, t0},
		{"add", func(m *Manual) { m.Add(90 * time.Second) }, t0.Add(90 * time.Second)},
		{"add twice", func(m *Manual) { m.Add(time.Minute); m.Add(time.Hour) }, t0.Add(time.Hour + time.Minute)},
		{"backwards", func(m *Manual) { m.Add(-time.Hour) }, t0.Add(-time.Hour)},
		{"set", func(m *Manual) { m.Add(time.Hour); m.Set(t0.AddDate(1, 0, 0)) }, t0.AddDate(1, 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManual(t0)
			tc.move(m)
			if got := m.Now(); !got.Equal(tc.want) {
				t.Fatalf("Now() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestManualDoesNotMoveByItself(t *testing.T) {
	m := NewManual(t0)
	a := m.Now()
	time.Sleep(2 * time.Millisecond) // real time passes; the clock must not
	if b := m.Now(); !b.Equal(a) {
		t.Fatalf("clock moved from %s to %s without Add or Set", a, b)
	}
}

func TestManualZeroValue(t *testing.T) {
	var m Manual
	if !m.Now().IsZero() {
		t.Fatalf("zero Manual shows %s", m.Now())
	}
	m.Add(time.Second)
	if got := m.Now(); !got.Equal(time.Time{}.Add(time.Second)) {
		t.Fatalf("zero Manual after Add(1s) shows %s", got)
	}
}

// TestManualConcurrent is meant for -race: readers and writers at once, and
// every Add counted.
func TestManualConcurrent(t *testing.T) {
	m := NewManual(t0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 100 {
				m.Add(time.Millisecond)
			}
		}()
		go func() {
			defer wg.Done()
			for range 100 {
				_ = m.Now()
			}
		}()
	}
	wg.Wait()
	if got, want := m.Now(), t0.Add(800*time.Millisecond); !got.Equal(want) {
		t.Fatalf("after 800 concurrent Add(1ms): %s, want %s", got, want)
	}
}

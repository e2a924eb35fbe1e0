package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, dir string, o Options) (*Journal, []Record) {
	t.Helper()
	j, left, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, left
}

func appendAll(t *testing.T, j *Journal, data ...string) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, d := range data {
		seq, err := j.Append(context.Background(), []byte(d))
		if err != nil {
			t.Fatalf("append %q: %v", d, err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

func datas(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Data))
	}
	return out
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.journal"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOpen_SegmentsNotAppliedComeBackInOrder(t *testing.T) {
	dir := t.TempDir()
	j, left := open(t, dir, Options{})
	if len(left) != 0 {
		t.Fatalf("a new journal holds %q", datas(left))
	}
	seqs := appendAll(t, j, "a", "b", "c", "d")
	j.Applied(seqs[1])
	j.Applied(seqs[3])
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	// Which records of a segment were applied is not kept: the segment
	// comes back whole.
	j2, left := open(t, dir, Options{})
	if got, want := datas(left), []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("records back after a reopen: %q, want %q", got, want)
	}
	// The segment holding them goes once both are applied, and the one
	// opened for appends goes at Close, empty.
	for _, r := range left {
		j2.Applied(r.Seq)
	}
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	if files := segmentFiles(t, dir); len(files) != 0 {
		t.Errorf("segments left with everything applied: %q", files)
	}
	_, left = open(t, dir, Options{})
	if len(left) != 0 {
		t.Errorf("records back after all were applied: %q", datas(left))
	}
}

// A crash during a write leaves a record cut short, or garbage, at the end
// of the segment: the whole records before it come back, the rest does not.
func TestOpen_ATornTailEndsTheSegment(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(b []byte) []byte
	}{
		{"cut in the header", func(b []byte) []byte { return b[:len(b)-len("three")-frameHeader+3] }},
		{"cut in the data", func(b []byte) []byte { return b[:len(b)-2] }},
		{"a flipped bit", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"zeros after", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j, _ := open(t, dir, Options{})
			appendAll(t, j, "one", "two", "three")
			j.Close()
			files := segmentFiles(t, dir)
			if len(files) != 1 {
				t.Fatalf("segments: %q", files)
			}
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(files[0], tc.tear(b), 0o600); err != nil {
				t.Fatal(err)
			}
			want := []string{"one", "two"}
			if tc.name == "zeros after" {
				want = append(want, "three")
			}
			_, left := open(t, dir, Options{})
			if got := datas(left); !slices.Equal(got, want) {
				t.Errorf("records back: %q, want %q", got, want)
			}
		})
	}
}

// A segment is deleted once it is full and every record in it is applied,
// in whatever order they were.
func TestApplied_AFullSegmentGoesOnceAllItsRecordsAre(t *testing.T) {
	dir := t.TempDir()
	rec := string(bytes.Repeat([]byte("x"), 100))
	j, _ := open(t, dir, Options{SegmentBytes: 3 * (frameHeader + 100)})
	seqs := appendAll(t, j, rec, rec, rec, rec, rec, rec, rec)
	if n := len(segmentFiles(t, dir)); n != 3 {
		t.Fatalf("%d segments after 7 records of which 3 fill one; want 3", n)
	}
	for _, i := range []int{2, 0, 4, 3} {
		j.Applied(seqs[i])
	}
	// The first segment (records 0–2) still holds record 1.
	if n := len(segmentFiles(t, dir)); n != 3 {
		t.Errorf("%d segments with one record of the first unapplied; want 3", n)
	}
	j.Applied(seqs[1])
	if n := len(segmentFiles(t, dir)); n != 2 {
		t.Errorf("%d segments once the first is applied; want 2", n)
	}
	j.Applied(seqs[5])
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Errorf("%d segments once the second is applied; want 1", n)
	}
	if p := j.Pending(); p != 1 {
		t.Errorf("pending %d, want 1", p)
	}
	j.Close()
	_, left := open(t, dir, Options{})
	if len(left) != 1 {
		t.Errorf("%d records back, want the last one alone", len(left))
	}
}

// A store that falls behind slows the appends: past MaxPending an append
// waits for a record to be applied, and gives up with its context,
// unwritten.
func TestAppend_WaitsWhileTooManyAreUnapplied(t *testing.T) {
	dir := t.TempDir()
	j, _ := open(t, dir, Options{MaxPending: 2})
	seqs := appendAll(t, j, "a", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := j.Append(ctx, []byte("refused")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append past the bound: %v, want it to wait and give up", err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := j.Append(context.Background(), []byte("c"))
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("append past the bound returned at once (%v)", err)
	case <-time.After(20 * time.Millisecond):
	}
	j.Applied(seqs[0])
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	j.Close()
	_, left := open(t, dir, Options{})
	if got, want := datas(left), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("records back: %q, want %q (the refused one never written)", got, want)
	}
}

// Records read back at Open hold no slot: a journal that comes back with
// more than MaxPending still takes new appends.
func TestOpen_RecordsReadBackDoNotHoldSlots(t *testing.T) {
	dir := t.TempDir()
	j, _ := open(t, dir, Options{})
	appendAll(t, j, "a", "b", "c")
	j.Close()
	j2, left := open(t, dir, Options{MaxPending: 1})
	s := appendAll(t, j2, "d")
	for _, r := range left {
		j2.Applied(r.Seq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := j2.Append(ctx, []byte("e")); err == nil {
		t.Fatal("an append past the bound succeeded: the records read back freed slots they never held")
	}
	j2.Applied(s[0])
	appendAll(t, j2, "e")
}

// After a failed sync nothing more is acknowledged: the disk may have lost
// pages that a later sync would call clean.
func TestAppend_AFailedSyncFailsEveryLaterAppend(t *testing.T) {
	j, _ := open(t, t.TempDir(), Options{})
	appendAll(t, j, "before")
	fail := errors.New("EIO")
	j.syncFile = func(*os.File) error { return fail }
	if _, err := j.Append(context.Background(), []byte("lost")); !errors.Is(err, fail) {
		t.Fatalf("append with a failing sync: %v", err)
	}
	j.syncFile = (*os.File).Sync
	if _, err := j.Append(context.Background(), []byte("after")); !errors.Is(err, fail) {
		t.Fatalf("append after a failed sync: %v, want the failure again", err)
	}
}

func TestAppend_ConcurrentAppendsAllComeBack(t *testing.T) {
	dir := t.TempDir()
	j, _ := open(t, dir, Options{SegmentBytes: 1 << 10, MaxPending: 10_000})
	var syncs int
	var mu sync.Mutex
	j.syncFile = func(f *os.File) error {
		mu.Lock()
		syncs++
		mu.Unlock()
		return f.Sync()
	}
	const writers, each = 8, 50
	seen := make(chan uint64, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				seq, err := j.Append(context.Background(), fmt.Appendf(nil, "%d/%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				seen <- seq
			}
		})
	}
	wg.Wait()
	close(seen)
	var seqs []uint64
	for s := range seen {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	if len(slices.Compact(seqs)) != writers*each {
		t.Fatalf("%d distinct sequence numbers for %d appends", len(slices.Compact(seqs)), writers*each)
	}
	if syncs >= writers*each {
		t.Errorf("%d syncs for %d appends: appends waiting together should share one", syncs, writers*each)
	}
	j.Close()
	_, left := open(t, dir, Options{})
	got := datas(left)
	slices.Sort(got)
	var want []string
	for w := range writers {
		for i := range each {
			want = append(want, fmt.Sprintf("%d/%d", w, i))
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%d records back, want %d", len(got), len(want))
	}
}

func TestAppend_RefusesAnEmptyRecordAndAfterClose(t *testing.T) {
	j, _ := open(t, t.TempDir(), Options{})
	if _, err := j.Append(context.Background(), nil); err == nil {
		t.Error("an empty record was appended")
	}
	j.Close()
	if _, err := j.Append(context.Background(), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("append after close: %v, want ErrClosed", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, []byte("one")), []byte("two")))
	f.Add([]byte{3, 0, 0, 0, 1, 2, 3, 4, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, rest := Decode(b)
		// What Decode reads is exactly a prefix of its input, framed again.
		var again []byte
		for _, r := range recs {
			again = appendFrame(again, r)
		}
		if !bytes.Equal(append(again, rest...), b) {
			t.Fatalf("records and rest do not make up the input")
		}
	})
}

func TestOpen_OneProcessAtATime(t *testing.T) {
	dir := t.TempDir()
	j, _ := open(t, dir, Options{})
	if _, _, err := Open(dir, Options{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second open of a journal in use: %v, want ErrInUse", err)
	}
	j.Close()
	j2, _ := open(t, dir, Options{})
	appendAll(t, j2, "after the first closed")
}

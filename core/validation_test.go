package core

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestMerge_PathIsTheSameWhateverTheOrder: snapshots of one record folded
// in any order give one status path, a run of snapshots in one status is
// one step, and a repeated snapshot changes nothing.
func TestMerge_PathIsTheSameWhateverTheOrder(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC) }
	ref := Ref{System: "jira", Kind: DevTicket, ID: "KBOT-1"}
	snaps := []Item{
		{Ref: ref, Native: "Ready for QA", UpdatedAt: at(9)},
		{Ref: ref, Native: "QA Validated", UpdatedAt: at(10)},
		{Ref: ref, Native: "QA Validated", UpdatedAt: at(11), Version: 1},
		{Ref: ref, Native: "Preprod Validated", UpdatedAt: at(12)},
	}
	want := []StatusStep{{Native: "Ready for QA", At: at(9)}, {Native: "QA Validated", At: at(10)}, {Native: "Preprod Validated", At: at(12)}}
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2, 2, 3}} {
		var got *Item
		for _, i := range order {
			m := Merge(got, snaps[i])
			got = &m
		}
		if !slices.Equal(got.Path, want) {
			t.Errorf("order %v: path %v, want %v", order, got.Path, want)
		}
		if got.Native != "Preprod Validated" {
			t.Errorf("order %v: status %q", order, got.Native)
		}
	}
}

// TestItem_HistoryGap: a status known only as the one a change left (a
// webhook that overtook the one before it) leaves the path before it
// unknown, until the change into it arrives, whatever the order.
func TestItem_HistoryGap(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC) }
	ref := Ref{System: "jira", Kind: DevTicket, ID: "KBOT-1"}
	// A status change's snapshot: it left from for to at hour h.
	change := func(from, to string, h int) Item {
		return Item{Ref: ref, Native: to, UpdatedAt: at(h), Path: []StatusStep{
			{Native: from, At: at(h).Add(-time.Millisecond), Left: true}, {Native: to, At: at(h)}}}
	}
	ready, qa, pre, done := change("In Review", "Ready for QA", 9), change("Ready for QA", "QA Validated", 10),
		change("QA Validated", "Preprod Validated", 11), change("Preprod Validated", "Done", 12)
	for _, tc := range []struct {
		name  string
		snaps []Item
		want  bool
	}{
		{"every change, in order", []Item{ready, qa, pre, done}, false},
		{"every change, in reverse", []Item{done, pre, qa, ready}, false},
		{"one change alone: known from where it left", []Item{pre}, false},
		{"done overtook pre-production", []Item{ready, qa, done}, true},
		{"done overtook QA and pre-production", []Item{ready, done}, true},
		{"pre-production overtook QA, which came", []Item{ready, pre, qa}, false},
		{"pre-production seen in a snapshot without its change", []Item{ready, qa, {Ref: ref, Native: "Preprod Validated", UpdatedAt: at(11)}, done}, false},
		{"QA seen, pre-production only left", []Item{ready, {Ref: ref, Native: "QA Validated", UpdatedAt: at(10)}, done}, true},
	} {
		var got *Item
		for _, s := range tc.snaps {
			m := Merge(got, s)
			got = &m
		}
		if got.HistoryGap() != tc.want {
			t.Errorf("%s: HistoryGap = %v, want %v (path %v)", tc.name, got.HistoryGap(), tc.want, got.Path)
		}
	}
}

func TestKindMap_Validated(t *testing.T) {
	km := &KindMap{
		Statuses: map[string]Status{"to do": StatusOpen, "in progress": StatusInProgress, "ready for qa": StatusReadyForQA,
			"qa validated": StatusQAValidated, "preprod validated": StatusPreprodValidated, "done": StatusDone},
		Outcomes:   map[string]Outcome{"fixed": OutcomeFixed, "cannot reproduce": OutcomeCannotReproduce},
		Validation: []Status{StatusQAValidated, StatusPreprodValidated},
	}
	off := *km
	off.Validation = nil
	item := func(resolution string, path ...string) *Item {
		it := &Item{Native: path[len(path)-1], Fields: map[string]string{"resolution": resolution}}
		for i, n := range path {
			it.Path = append(it.Path, StatusStep{Native: n, At: time.Unix(int64(i), 0)})
		}
		return it
	}
	for _, tc := range []struct {
		name string
		km   *KindMap
		it   *Item
		want bool
	}{
		{"QA then pre-prod", km, item("", "Ready for QA", "QA Validated", "Preprod Validated"), true},
		{"pre-prod without QA", km, item("", "Ready for QA", "Preprod Validated"), false},
		{"a step not seen counts as skipped", km, item("", "Preprod Validated"), false},
		{"QA only", km, item("", "Ready for QA", "QA Validated"), false},
		{"done as fixed after the chain", km, item("Fixed", "QA Validated", "Preprod Validated", "Done"), true},
		{"done as fixed, chain skipped", km, item("Fixed", "In Progress", "Done"), false},
		{"done as Cannot Reproduce after the chain", km, item("Cannot Reproduce", "QA Validated", "Preprod Validated", "Done"), false},
		{"done with an unlisted resolution", km, item("Works for me", "QA Validated", "Preprod Validated", "Done"), false},
		{"reopened: the chain of the round before does not count", km,
			item("Fixed", "QA Validated", "Preprod Validated", "In Progress", "Ready for QA", "Done"), false},
		{"chain off: done as fixed", &off, item("Fixed", "In Progress", "Done"), true},
		{"chain off: done as Cannot Reproduce", &off, item("Cannot Reproduce", "In Progress", "Done"), false},
		{"chain off: pre-prod is not done", &off, item("", "Preprod Validated"), false},
	} {
		if got := tc.km.Validated(tc.it); got != tc.want {
			t.Errorf("%s: Validated = %v, want %v (cycle %v)", tc.name, got, tc.want, tc.km.Cycle(tc.it))
		}
	}
}

func TestMatchNamed(t *testing.T) {
	id := func(s string) string { return s }
	for _, tc := range []struct {
		name  string
		names []string
		want  []string
		amb   bool
	}{
		{"Steps to reproduce", []string{"Steps to Reproduce"}, []string{"Steps to Reproduce"}, false},
		{"Steps to Reproduce", []string{"Steps to reproduce", "Steps to Reproduce"}, []string{"Steps to Reproduce"}, false},
		{"steps to reproduce", []string{"Steps to reproduce", "Steps To Reproduce"}, nil, true},
		{"steps", []string{"Steps to reproduce"}, nil, false},
	} {
		got, err := MatchNamed(tc.name, tc.names, id)
		var amb *AmbiguousNameError
		if !slices.Equal(got, tc.want) || errors.As(err, &amb) != tc.amb {
			t.Errorf("MatchNamed(%q, %q) = %q, %v", tc.name, tc.names, got, err)
		}
		if tc.amb && !slices.Equal(amb.Candidates, []string{"Steps To Reproduce", "Steps to reproduce"}) {
			t.Errorf("candidates %q", amb.Candidates)
		}
	}
}

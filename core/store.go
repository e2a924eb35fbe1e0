package core

import (
	"context"
	"time"
)

// Store keeps everything the gateway knows, durably. internal/store
// implements it on SQLite and PostgreSQL; both pass the same contract suite
// (internal/store/storetest). Every method is safe for concurrent use.
type Store interface {
	// Ingest records a batch of events in one transaction (group commit):
	// each event goes to the inbox unless its (Source, DeliveryID) is
	// already there, its item snapshot is merged (core.Merge), its explicit
	// links and the discovered links are written, and the case of every
	// touched record is marked dirty. It returns, per event, whether it was
	// new. When Ingest returns nil, the events survive a crash.
	Ingest(ctx context.Context, batch []Ingest) ([]bool, error)

	// ClaimCases claims up to n dirty cases that are due at now, for lease.
	// A claimed case is not handed to another claimer (on any replica)
	// until it is released or its lease runs out. Marking a claimed case
	// dirty again does not hand it out twice; it stays due after release.
	ClaimCases(ctx context.Context, owner string, now time.Time, n int, lease time.Duration) ([]CaseID, error)
	// ReleaseCase ends owner's claim. If the case was marked dirty since it
	// was claimed, it is due again at once; otherwise, when retryAt is not
	// zero it becomes due then, and when it is zero the case leaves the queue.
	ReleaseCase(ctx context.Context, id CaseID, owner string, retryAt time.Time) error
	// ReleaseCases is ReleaseCase for several claims in one transaction.
	ReleaseCases(ctx context.Context, owner string, rel []Release) error
	// MarkDirty makes a case due at the given time (now for an admin's
	// request, later for a timer).
	MarkDirty(ctx context.Context, id CaseID, at time.Time) error
	// QueueDepth counts dirty cases and pending actions, for metrics.
	QueueDepth(ctx context.Context) (cases, actions int, err error)

	// CaseOf returns the case a record belongs to, or ErrNotFound.
	CaseOf(ctx context.Context, r Ref) (CaseID, error)
	// LoadCase returns the case's records (with comments), links, planned
	// action keys, mirrors and sync state. A case that no longer exists
	// (merged into another) loads empty without error.
	LoadCase(ctx context.Context, id CaseID) (*Case, error)
	// LoadCases loads several cases from one snapshot, in the order of ids.
	LoadCases(ctx context.Context, ids []CaseID) ([]*Case, error)
	// Item returns one record's snapshot, or ErrNotFound.
	Item(ctx context.Context, r Ref) (*Item, error)
	// Records returns known records (not placeholders) that sel selects,
	// updated at or after since, newest first, at most n: the candidates of
	// a duplicate search and the material of a digest. A record carrying
	// the gateway's marker and linked to nothing (an orphan of a create
	// whose outcome was lost) is left out.
	Records(ctx context.Context, sel Selector, since time.Time, n int) ([]Item, error)

	// Enqueue adds planned actions to the outbox. An action whose Key is
	// already there (in any state) is skipped; added[i] reports whether
	// actions[i] was new.
	Enqueue(ctx context.Context, actions []Action) (added []bool, err error)
	// Actions returns the outbox entries of a case in the given state (all
	// states when state is ""), oldest first.
	Actions(ctx context.Context, id CaseID, state ActionState) ([]Action, error)
	// Complete records that an action was applied: it marks it done and,
	// in the same transaction, links the created record to the subject
	// (joining cases), keeps the returned snapshot, records the mirror of a
	// comment, stores synced field values and appends the audit entry.
	Complete(ctx context.Context, a Action, res Result, audit AuditEntry) error
	// CompleteAll records several applied actions in one transaction, each
	// as Complete would; each is recorded or fails alone, and errs[i] is
	// the outcome of done[i].
	CompleteAll(ctx context.Context, done []Completion) (errs []error)
	// Fail records a failed attempt: the error, and either the next attempt
	// time or, when dead, the move to the dead-letter list.
	Fail(ctx context.Context, key string, errText string, next time.Time, dead bool) error
	// Sending records that a write of the action with key whose outcome
	// may stay unknown started at at, so that whoever tries it next waits
	// for it and looks it up before writing again (Action.Sent); at zero
	// records that none can be in flight (Action.Unsent). A done action is
	// left alone.
	Sending(ctx context.Context, key string, at time.Time) error
	// DeadLetters lists dead actions, oldest first.
	DeadLetters(ctx context.Context) ([]Action, error)
	// Replay moves dead actions back to pending (all when keys is empty),
	// resets their attempts, marks their cases dirty and returns how many.
	Replay(ctx context.Context, keys ...string) (int, error)

	// RecordConflict keeps a field conflict for the admin.
	RecordConflict(ctx context.Context, c Conflict) error
	// Conflicts lists recorded conflicts, newest first, at most n.
	Conflicts(ctx context.Context, n int) ([]Conflict, error)
	// Audit returns the audit entries about a record, newest first, at most n.
	Audit(ctx context.Context, r Ref, n int) ([]AuditEntry, error)
	// Events returns the inbox entries about a record (without raw
	// bodies), newest first, at most n.
	Events(ctx context.Context, r Ref, n int) ([]Event, error)

	// Lease takes or renews the named lease for owner until now+ttl and
	// reports whether owner holds it. One replica polls a source at a time;
	// when the holder dies its lease runs out and another takes over.
	Lease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error)

	// Cursor returns a poll source's stored cursor ("" when none), and
	// SetCursor stores one. Pollers call SetCursor only after the events
	// read up to that cursor were ingested.
	Cursor(ctx context.Context, source string) (string, error)
	SetCursor(ctx context.Context, source, cursor string) error

	// Prune drops raw bodies of processed events received before rawBefore
	// and audit entries before auditBefore, and returns how many rows changed.
	Prune(ctx context.Context, rawBefore, auditBefore time.Time) (int64, error)

	// Ping checks that the database answers, for /readyz.
	Ping(ctx context.Context) error
	Close() error
}

// Ingest is one event with the links the resolver discovered in it. The
// discovered links replace the record's earlier discovered links, so a key
// removed from a pull request's title removes its link. Nil Discovered
// means the event's text was not searched (a comment-only event) and the
// record's discovered links stay as they are; an empty, non-nil list means
// it was searched and found none.
type Ingest struct {
	Event      Event
	Discovered []Link
	// Encoded is Event's JSON when the caller has it already (the intake
	// journal wrote it), so that the store need not encode it again.
	Encoded []byte
	// Had is set by the store when it took the event in: it held this
	// version of the record, or a newer one, already (a webhook brought
	// what a poll then found). Only a poll that finds something new
	// counts as a missed webhook.
	Had bool
}

// Completion is one applied action to record (Store.CompleteAll).
type Completion struct {
	Action Action
	Result Result
	Audit  AuditEntry
}

// Release ends one claim (Store.ReleaseCases): RetryAt as in ReleaseCase.
// Seen, when not zero, is the Case.Marks the owner last planned from: the
// case stays due only if it was marked after that load, rather than after
// the claim, so the owner's own writes, already planned from, do not
// queue it once more.
type Release struct {
	Case    CaseID
	RetryAt time.Time
	Seen    int64
}

// PlannedCase is a case's plan made on the case as loaded (its Marks as
// Seen) with records read back from their trackers in place of their
// placeholders, for the store to enqueue with those records when the case
// is still what the plan saw.
type PlannedCase struct {
	Case    CaseID
	Seen    int64
	Actions []Action
	// OnRead is set when the plan saw records read back; a plan without
	// is enqueued as Store.Enqueue would.
	OnRead bool
}

// PlanOutcome is what became of a PlannedCase: Stood when its actions
// were enqueued (Added says which were new, as Store.Enqueue does), and
// Seen, the case's marks with the reads' own, for its release.
type PlanOutcome struct {
	Stood bool
	Added []bool
	Seen  int64
}

// Clock tells the time. Tests inject a fake one; nothing in the engine calls
// time.Now directly.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// maxErrorText bounds a stored error message; a connector's error could
// otherwise carry a whole response body into the database.
const maxErrorText = 2000

// caseOf returns the case record r is in now, or, for a record not stored,
// the case id given resolved through joins. Actions carry the case they
// were planned for, which a join may have retired since.
func (s *Store) caseOf(ctx context.Context, q querier, r core.Ref, given core.CaseID) (int64, error) {
	c, err := s.recordCase(ctx, q, r)
	if err != nil || c != 0 {
		return c, err
	}
	return resolveCase(ctx, q, int64(given))
}

// recordCase returns the case record r is in, 0 when it is not stored.
//
// On PostgreSQL the record's row is locked against change until the
// transaction ends (FOR SHARE), so a join or split that would move it
// waits, and then also moves what this transaction filed under the case.
// That is what lets Enqueue and Complete run beside Ingest rather than
// serialised with it.
func (s *Store) recordCase(ctx context.Context, q querier, r core.Ref) (int64, error) {
	var c int64
	err := q.queryRow(ctx, `SELECT case_id FROM items WHERE ref = $1`+s.be.forShare(), r.String()).Scan(&c)
	switch {
	case isNoRows(err):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("store: case of %q: %w", r.String(), err)
	}
	return c, nil
}

// resolveCase follows a joined case id to the case it went into.
func resolveCase(ctx context.Context, q querier, c int64) (int64, error) {
	var to int64
	err := q.queryRow(ctx, `SELECT new_id FROM case_merges WHERE old_id = $1`, c).Scan(&to)
	switch {
	case isNoRows(err):
		return c, nil
	case err != nil:
		return 0, fmt.Errorf("store: resolve case %d: %w", c, err)
	}
	return to, nil
}

// encodeAction stores an action without its outbox bookkeeping, which
// lives in columns.
func encodeAction(a core.Action) ([]byte, error) {
	a.Case, a.State, a.Attempts, a.NextAttempt, a.LastError, a.CreatedAt, a.Sent, a.Unsent = 0, "", 0, time.Time{}, "", time.Time{}, time.Time{}, false
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("store: encode action %q: %w", a.Key, err)
	}
	return b, nil
}

// Enqueue adds planned actions to the outbox, each under the case its
// subject is in now; an action whose Key is stored already is skipped.
func (s *Store) Enqueue(ctx context.Context, actions []core.Action) ([]bool, error) {
	if len(actions) == 0 {
		return nil, nil
	}
	e, err := newEnqueue(actions)
	if err != nil {
		return nil, err
	}
	if err := s.be.write(ctx, true, func(q querier) error { return s.enqueueIn(ctx, q, e) }); err != nil {
		return nil, err
	}
	return e.added, nil
}

// enqueue is a batch of actions to add to the outbox, encoded before the
// transaction; added says which were new.
type enqueue struct {
	actions  []core.Action
	enc      [][]byte
	subjects []core.Ref
	added    []bool
}

func newEnqueue(actions []core.Action) (*enqueue, error) {
	e := &enqueue{actions: actions, enc: make([][]byte, len(actions)), added: make([]bool, len(actions))}
	for i, a := range actions {
		if a.Key == "" {
			return nil, fmt.Errorf("store: enqueue action %d of %d (rule %q): empty key", i+1, len(actions), a.Rule)
		}
		b, err := encodeAction(a)
		if err != nil {
			return nil, err
		}
		e.enc[i] = b
	}
	// Subjects are looked up (and locked) in one order, so that two
	// Enqueues cannot each wait for a row the other holds.
	e.subjects = make([]core.Ref, 0, len(actions))
	for _, a := range actions {
		e.subjects = append(e.subjects, a.Subject)
	}
	slices.SortFunc(e.subjects, func(a, b core.Ref) int { return strings.Compare(a.String(), b.String()) })
	e.subjects = slices.Compact(e.subjects)
	return e, nil
}

// enqueueIn adds e's actions in the transaction of q.
func (s *Store) enqueueIn(ctx context.Context, q querier, e *enqueue) error {
	clear(e.added)
	now := s.now()
	cases := make(map[core.Ref]int64, len(e.subjects))
	for _, r := range e.subjects {
		c, err := s.recordCase(ctx, q, r)
		if err != nil {
			return err
		}
		if c != 0 {
			cases[r] = c
		}
	}
	for i, a := range e.actions {
		c, ok := cases[a.Subject]
		if !ok {
			var err error
			if c, err = resolveCase(ctx, q, int64(a.Case)); err != nil {
				return err
			}
		}
		n, err := q.exec(ctx, `INSERT INTO outbox (key, case_id, subject_ref, action, state, created_at, updated_at)
VALUES ($1, $2, $3, $4, 'pending', $5, $5) ON CONFLICT (key) DO NOTHING`,
			a.Key, c, a.Subject.String(), string(e.enc[i]), now)
		if err != nil {
			return fmt.Errorf("store: enqueue %q: %w", a.Key, err)
		}
		e.added[i] = n > 0
	}
	return nil
}

const actionColumns = `key, case_id, action, state, attempts, next_attempt, last_error, created_at, sent_at`

func scanAction(rs rows) (core.Action, error) {
	var (
		a                            core.Action
		key, state, lastErr          string
		body                         []byte
		c, attempts, next, createdAt int64
		sent                         int64
	)
	if err := rs.Scan(&key, &c, &body, &state, &attempts, &next, &lastErr, &createdAt, &sent); err != nil {
		return a, err
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("store: decode action %q: %w", key, err)
	}
	a.Key, a.Case, a.State, a.Attempts = key, core.CaseID(c), core.ActionState(state), int(attempts)
	a.NextAttempt, a.LastError, a.CreatedAt = fromUnixNano(next), lastErr, fromUnixNano(createdAt)
	if sent == sentNone {
		a.Unsent = true
	} else {
		a.Sent = fromUnixNano(sent)
	}
	return a, nil
}

func (s *Store) actions(ctx context.Context, what string, query string, args ...any) ([]core.Action, error) {
	var out []core.Action
	err := all(s.be.reader().query(ctx, query, args...)).each(func(rs rows) error {
		a, err := scanAction(rs)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// Actions returns the outbox entries of a case in state (all when ""),
// oldest first.
func (s *Store) Actions(ctx context.Context, id core.CaseID, state core.ActionState) ([]core.Action, error) {
	if state == "" {
		return s.actions(ctx, fmt.Sprintf("actions of case %d", id),
			`SELECT `+actionColumns+` FROM outbox WHERE case_id = $1 ORDER BY id`, int64(id))
	}
	return s.actions(ctx, fmt.Sprintf("%s actions of case %d", state, id),
		`SELECT `+actionColumns+` FROM outbox WHERE case_id = $1 AND state = $2 ORDER BY id`, int64(id), string(state))
}

// DeadLetters lists dead actions, oldest first.
func (s *Store) DeadLetters(ctx context.Context) ([]core.Action, error) {
	return s.actions(ctx, "dead letters", `SELECT `+actionColumns+` FROM outbox WHERE state = 'dead' ORDER BY id`)
}

// Complete records that an action was applied, in one transaction: the
// outbox row becomes done (it is added, done, if it was never enqueued);
// a created record is linked to the subject with the action's role and
// origin ours (a placeholder carrying the action's marker until its first
// event, joining cases if the record was already known elsewhere); the
// returned snapshot is merged; a mirrored comment's copy id is kept under
// core.MirrorKey(Subject, SourceComment, Target); for set_fields the values
// written are kept under core.SyncKey(Subject, Target, native field name);
// and the audit entry is appended, its empty fields filled from the action.
// When the case's records or links changed, the case is marked dirty, so
// the planner sees the write once.
func (s *Store) Complete(ctx context.Context, a core.Action, res core.Result, audit core.AuditEntry) error {
	return s.CompleteAll(ctx, []core.Completion{{Action: a, Result: res, Audit: audit}})[0]
}

// CompleteAll records several applied actions in one transaction, as
// Complete would each; one that cannot be recorded fails alone.
func (s *Store) CompleteAll(ctx context.Context, done []core.Completion) []error {
	errs, _ := s.completeAll(ctx, done, "", nil)
	return errs
}

// CompleteRelease is CompleteAll that also ends owner's claims of cases
// whose plans, made on them as the completions leave them, need nothing
// more: the engine's next look would load such a case only to find that
// out. A release stands, in the same transaction, only if every
// completion was recorded and the case changed since its load (Seen)
// only by them: no record or link added, no join, no other mark. A case
// not released stays claimed, for the engine to load and plan again.
// It returns the releases made, each with the case's marks it saw.
func (s *Store) CompleteRelease(ctx context.Context, owner string, done []core.Completion, rel []core.Release) ([]error, []core.Release) {
	errs, seen := s.completeAll(ctx, done, owner, rel)
	var made []core.Release
	for i, n := range seen {
		if n != 0 {
			r := rel[i]
			r.Seen = n
			made = append(made, r)
		}
	}
	return errs, made
}

// completeAll records the completions and makes the releases of rel that
// stand (CompleteRelease), returning for each the case's marks it saw (0:
// not released).
func (s *Store) completeAll(ctx context.Context, done []core.Completion, owner string, rel []core.Release) ([]error, []int64) {
	released := make([]int64, len(rel))
	errs := make([]error, len(done))
	bodies := make([][]byte, len(done))
	// Only a created record or a returned snapshot can change which case
	// a record is in; without them the completions run beside Ingest.
	serial := false
	todo := 0
	for i, d := range done {
		a := d.Action
		if a.Key == "" {
			errs[i] = fmt.Errorf("store: complete action of rule %q: empty key", a.Rule)
			continue
		}
		if bodies[i], errs[i] = encodeAction(a); errs[i] != nil {
			continue
		}
		todo++
		serial = serial || !d.Result.Created.IsZero() || d.Result.Item != nil || links(a)
	}
	if todo == 0 {
		return errs, released
	}
	if todo < len(done) || owner == "" {
		rel = nil
	}
	run := s.be.write
	if serial {
		run = s.be.serial
	}
	if l, ok := s.be.(lingerer); ok && s.opts.CompletionLinger > 0 {
		// Serial or not: a lingerer's writes all take its one writer.
		run = func(ctx context.Context, durable bool, fn func(querier) error) error {
			return l.lingerWrite(ctx, s.opts.CompletionLinger, durable, fn)
		}
	}
	failed := make([]error, len(done))
	err := run(ctx, true, func(q querier) error {
		now := s.now()
		clear(failed)
		clear(released)
		var g *graph
		together := func() (err error) {
			g, err = s.completeTogether(ctx, q, done, bodies, now, serial)
			return err
		}
		// The releases go in a savepoint of their own: one that fails
		// leaves its claims to the engine, not the completions unrecorded.
		release := func() error {
			if len(rel) == 0 {
				return nil
			}
			rerr, err := savepoint(ctx, q, func() error { return s.releaseIn(ctx, q, g, owner, rel, released) })
			if rerr != nil {
				clear(released)
			}
			return err
		}
		if todo == 1 {
			// Alone, a failure fails the write, which undoes it (and
			// lets PostgreSQL run it again after a deadlock).
			if err := together(); err != nil {
				return err
			}
			return release()
		}
		// Together first; if that fails, each alone, so that one
		// completion that cannot be recorded does not hold back the
		// others.
		terr, err := savepoint(ctx, q, together)
		if err != nil || terr == nil {
			if err == nil {
				err = release()
			}
			return err
		}
		for i := range done {
			if bodies[i] == nil {
				continue
			}
			one := func() error {
				_, err := s.completeTogether(ctx, q, done[i:i+1], bodies[i:i+1], now, serial)
				return err
			}
			if failed[i], err = savepoint(ctx, q, one); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range done {
		switch {
		case bodies[i] == nil:
		case err != nil:
			errs[i] = err
		default:
			errs[i] = failed[i]
		}
	}
	if err != nil {
		clear(released)
	}
	return errs, released
}

// releaseIn ends owner's claims of the cases of rel that the completions
// recorded in g left unchanged but for their own mark (unchangedBut), and
// notes in released the marks each saw.
func (s *Store) releaseIn(ctx context.Context, q querier, g *graph, owner string, rel []core.Release, released []int64) error {
	for i, r := range rel {
		gen, ok, err := s.unchangedBut(ctx, q, g, r.Case, r.Seen)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		r.Seen = gen
		if err := s.release(ctx, q, r, owner); err != nil {
			return err
		}
		released[i] = gen
	}
	return nil
}

// links reports whether a is a link the gateway makes between two records.
func links(a core.Action) bool {
	return a.Kind == core.AddLink && !a.Other.IsZero() && !a.Target.IsZero()
}

// savepoint runs fn in a savepoint, undoing its writes when it fails. It
// returns fn's error, and err when the savepoint itself failed, which
// loses the transaction.
func savepoint(ctx context.Context, q querier, fn func() error) (failed, err error) {
	if _, err := q.exec(ctx, `SAVEPOINT complete`); err != nil {
		return nil, fmt.Errorf("store: savepoint: %w", err)
	}
	if failed = fn(); failed != nil {
		if _, err := q.exec(ctx, `ROLLBACK TO complete`); err != nil {
			return failed, fmt.Errorf("store: roll back: %w (after %w)", err, failed)
		}
	}
	if _, err := q.exec(ctx, `RELEASE complete`); err != nil {
		return failed, fmt.Errorf("store: release savepoint: %w", err)
	}
	return failed, nil
}

// completeTogether records applied actions in one graph: the records they
// touch are loaded and written back once, the cases marked dirty in one
// statement, the audit entries appended in one. Any failure fails them all.
//
// Serial (links or snapshots among them), the subjects and created records
// are loaded up front and each subject's case read from the graph. Beside
// Ingest (PostgreSQL), nothing is loaded: each subject's case is read with
// its row locked (recordCase).
func (s *Store) completeTogether(ctx context.Context, q querier, done []core.Completion, bodies [][]byte, now int64, serial bool) (*graph, error) {
	g := newGraph(s, q, now)
	if serial {
		var refs []string
		for i, d := range done {
			if bodies[i] != nil {
				refs = append(refs, d.Action.Subject.String())
				if !d.Result.Created.IsZero() {
					refs = append(refs, d.Result.Created.String())
				}
			}
		}
		if err := s.bulk.loadItems(ctx, q, refs, g.items); err != nil {
			return nil, err
		}
	}
	audits := make([]core.AuditEntry, 0, len(done))
	var subjects []core.Ref
	for i, d := range done {
		if bodies[i] == nil {
			continue
		}
		audit, err := s.recordIn(ctx, q, g, d.Action, d.Result, d.Audit, bodies[i], now)
		if err != nil {
			return nil, err
		}
		audits = append(audits, audit)
		subjects = append(subjects, d.Action.Subject)
	}
	if err := g.finish(ctx); err != nil {
		return nil, err
	}
	// A link or a snapshot may have joined cases: each entry names the
	// case its subject is in now. Nothing touched, the cases stand.
	if len(g.touched) > 0 {
		for i, subj := range subjects {
			row, err := g.item(ctx, subj.String())
			if err != nil {
				return nil, err
			}
			if row != nil {
				audits[i].Case = core.CaseID(row.caseID)
				continue
			}
			id, err := s.caseOf(ctx, q, subj, audits[i].Case)
			if err != nil {
				return nil, err
			}
			audits[i].Case = core.CaseID(id)
		}
	}
	return g, s.bulk.insertAudit(ctx, q, audits, now)
}

// recordIn records one applied action in graph g, except for writing the
// graph back and appending the audit entry, which it returns completed.
// The subject's case is read from g when g holds its row (see
// completeTogether).
func (s *Store) recordIn(ctx context.Context, q querier, g *graph, a core.Action, res core.Result, audit core.AuditEntry, body []byte, now int64) (core.AuditEntry, error) {
	linking := links(a)
	var c int64
	var err error
	if row := g.items[a.Subject.String()]; row != nil {
		c = row.caseID
	} else if c, err = s.caseOf(ctx, q, a.Subject, a.Case); err != nil {
		return audit, err
	}
	if _, err := q.exec(ctx, `INSERT INTO outbox (key, case_id, subject_ref, action, state, attempts, created_at, updated_at)
VALUES ($1, $2, $3, $4, 'done', 1, $5, $5)
ON CONFLICT (key) DO UPDATE SET state = 'done', attempts = outbox.attempts + 1, last_error = '', updated_at = excluded.updated_at`,
		a.Key, c, a.Subject.String(), string(body), now); err != nil {
		return audit, fmt.Errorf("store: complete %q: %w", a.Key, err)
	}

	if !res.Created.IsZero() && !a.Subject.IsZero() {
		subj, err := g.item(ctx, a.Subject.String())
		if err != nil {
			return audit, err
		}
		if subj == nil {
			if subj, err = g.create(ctx, a.Subject, c, core.Item{}); err != nil {
				return audit, err
			}
		}
		made, err := g.item(ctx, res.Created.String())
		if err != nil {
			return audit, err
		}
		if made == nil {
			if _, err := g.create(ctx, res.Created, subj.caseID, core.Item{Marker: a.Marker()}); err != nil {
				return audit, err
			}
		}
		if err := g.link(ctx, core.Link{From: a.Subject, To: res.Created, Role: cmp.Or(a.Role, core.Mentions), Origin: core.Ours}, a.Subject.String()); err != nil {
			return audit, err
		}
	}

	// A link the gateway made (a duplicate found in another case, a
	// remote link) joins the two records here as well, so their cases
	// become one.
	if linking {
		// Only a link that does not exist yet is added: a link a pattern
		// discovered (a key in a pull request's title) must stay
		// discovered, so that removing the key removes it.
		var exists int
		err := q.queryRow(ctx, `SELECT count(*) FROM links WHERE (from_ref = $1 AND to_ref = $2) OR (from_ref = $2 AND to_ref = $1)`,
			a.Other.String(), a.Target.String()).Scan(&exists)
		if err != nil {
			return audit, fmt.Errorf("store: look up link of %q: %w", a.Key, err)
		}
		linking = exists == 0
	}
	if linking {
		for _, r := range []core.Ref{a.Other, a.Target} {
			known, err := g.item(ctx, r.String())
			if err != nil {
				return audit, err
			}
			if known == nil {
				if _, err := g.create(ctx, r, c, core.Item{}); err != nil {
					return audit, err
				}
			}
		}
		if err := g.link(ctx, core.Link{From: a.Other, To: a.Target, Role: cmp.Or(a.Role, core.Mentions), Origin: core.Ours}, a.Other.String()); err != nil {
			return audit, err
		}
	}

	if res.Item != nil {
		it := *res.Item
		if it.Ref.IsZero() {
			it.Ref = res.Created
			if it.Ref.IsZero() {
				it.Ref = a.Target
			}
		}
		if it.Ref.ID != "" {
			if _, err := g.merge(ctx, it); err != nil {
				return audit, err
			}
		}
	}

	if a.Kind == core.AddComment && a.SourceComment != "" {
		if _, err := q.exec(ctx, `INSERT INTO mirrors (key, src_ref, target_ref, mirror_id, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key) DO UPDATE SET mirror_id = excluded.mirror_id`,
			core.MirrorKey(a.Subject, a.SourceComment, a.Target), a.Subject.String(), a.Target.String(), res.CommentID, now); err != nil {
			return audit, fmt.Errorf("store: record mirror of comment %q: %w", a.SourceComment, err)
		}
	}

	switch {
	case a.SyncField != "":
		// A sync rule's write: the canonical value is what the
		// planner compares with next time.
		if err := putSynced(ctx, q, a.Subject, a.Target, a.SyncField, a.SyncValue, now); err != nil {
			return audit, err
		}
	case a.Kind == core.SetFields && !a.Subject.IsZero() && !a.Target.IsZero() && a.Subject != a.Target:
		for f, v := range a.Fields {
			if err := putSynced(ctx, q, a.Subject, a.Target, f, v, now); err != nil {
				return audit, err
			}
		}
	}

	if audit.Key == "" {
		audit.Key = a.Key
	}
	if audit.Rule == "" {
		audit.Rule = a.Rule
	}
	if audit.Kind == "" {
		audit.Kind = a.Kind
	}
	if audit.Target.IsZero() {
		audit.Target = a.Target
		if a.Kind == core.Create && !res.Created.IsZero() {
			audit.Target = res.Created
		}
	}
	if audit.Reason == "" {
		audit.Reason = a.Reason
	}
	if audit.Case == 0 {
		audit.Case = core.CaseID(c)
	}
	return audit, nil
}

func putSynced(ctx context.Context, q querier, x, y core.Ref, field, value string, now int64) error {
	a, b := x.String(), y.String()
	if b < a {
		a, b = b, a
	}
	if _, err := q.exec(ctx, `INSERT INTO synced (key, a_ref, b_ref, value, updated_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		core.SyncKey(x, y, field), a, b, value, now); err != nil {
		return fmt.Errorf("store: record synced %q: %w", field, err)
	}
	return nil
}

// Fail records a failed attempt of the action with key: one more attempt,
// the error (truncated), and either the next attempt time or, when dead,
// the dead-letter list. A done action stays done (a late failure report
// does not undo a success); an unknown key is core.ErrNotFound.
func (s *Store) Fail(ctx context.Context, key string, errText string, next time.Time, dead bool) error {
	state := core.Pending
	if dead {
		state = core.Dead
	}
	if len(errText) > maxErrorText {
		errText = strings.ToValidUTF8(errText[:maxErrorText], "") + "…"
	}
	return s.updatePending(ctx, "fail", key, `UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt = $3, state = $4, updated_at = $5
WHERE key = $1 AND state <> 'done'`, key, errText, unixNano(next), string(state), s.now())
}

// updatePending runs update, a statement on the outbox row of key that
// leaves a done row alone; a key not in the outbox is core.ErrNotFound.
func (s *Store) updatePending(ctx context.Context, what, key, update string, args ...any) error {
	n, err := s.be.writeOne(ctx, false, update, args...)
	if err != nil {
		return fmt.Errorf("store: %s %q: %w", what, key, err)
	}
	if n > 0 {
		return nil
	}
	var st string
	err = s.be.reader().queryRow(ctx, `SELECT state FROM outbox WHERE key = $1`, key).Scan(&st)
	if isNoRows(err) {
		return fmt.Errorf("store: %s outbox key %q: %w", what, key, core.ErrNotFound)
	}
	return err
}

// sentNone in outbox.sent_at says that no attempt can be in flight
// (Action.Unsent); 0, the default, that it is not known.
const sentNone = -1

// Sending records the start of a write of the action with key whose
// outcome may stay unknown, or, at zero, that none can be in flight. A
// done action is left alone; an unknown key is core.ErrNotFound.
func (s *Store) Sending(ctx context.Context, key string, at time.Time) error {
	sent := unixNano(at)
	if at.IsZero() {
		sent = sentNone
	}
	return s.updatePending(ctx, "record sending", key, `UPDATE outbox SET sent_at = $2, updated_at = $3 WHERE key = $1 AND state <> 'done'`,
		key, sent, s.now())
}

// Replay moves dead actions (all when keys is empty) back to pending with
// no attempts, marks their cases dirty and returns how many moved. Keys
// that are not dead are ignored.
func (s *Store) Replay(ctx context.Context, keys ...string) (int, error) {
	return s.replay(ctx, "", keys)
}

// ReplayByHand is Replay as a person asks for it in the console, of the
// keys named (none: nothing): each action that moves gets an audit entry
// naming who in the same transaction, so that no entry is written for an
// action that did not move (another replica replayed it first) and no
// replay happens without its entry.
func (s *Store) ReplayByHand(ctx context.Context, who string, keys ...string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	return s.replay(ctx, who, keys)
}

// replay is Replay, auditing each move as who's when who is not empty.
func (s *Store) replay(ctx context.Context, who string, keys []string) (int, error) {
	var n int
	err := s.be.write(ctx, true, func(q querier) error {
		n = 0
		now := s.now()
		type moved struct {
			c            int64
			key, subject string
		}
		var moves []moved
		collect := func(rs rows) error {
			var m moved
			if err := rs.Scan(&m.c, &m.key, &m.subject); err != nil {
				return err
			}
			moves = append(moves, m)
			return nil
		}
		// A dead action was tried, and every send after the first
		// recorded its start: unless one is known (sent_at > 0), none is
		// in flight, which its reset attempts would no longer say.
		const replay = `UPDATE outbox SET state = 'pending', attempts = 0, next_attempt = 0,
sent_at = CASE WHEN sent_at = 0 THEN -1 ELSE sent_at END, updated_at = $1 WHERE state = 'dead'`
		if len(keys) == 0 {
			if err := all(q.query(ctx, replay+` RETURNING case_id, key, subject_ref`, now)).each(collect); err != nil {
				return fmt.Errorf("store: replay dead letters: %w", err)
			}
		}
		for _, k := range keys {
			if err := all(q.query(ctx, replay+` AND key = $2 RETURNING case_id, key, subject_ref`, now, k)).each(collect); err != nil {
				return fmt.Errorf("store: replay %q: %w", k, err)
			}
		}
		n = len(moves)
		if n == 0 {
			return nil
		}
		ids := make([]int64, 0, n)
		for _, m := range moves {
			// A join may have retired the case since the row was read.
			c, err := resolveCase(ctx, q, m.c)
			if err != nil {
				return err
			}
			ids = append(ids, c)
			if who == "" {
				continue
			}
			r, err := parseRef(m.subject)
			if err != nil {
				return err
			}
			if err := s.insertAudit(ctx, q, adminEntry(now, c, r, "replay", fmt.Sprintf("%s replayed dead action %s", who, m.key))); err != nil {
				return err
			}
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		return s.bulk.markDirty(ctx, q, ids, now)
	})
	return n, err
}

// RecordConflict keeps a field conflict for the admin (At defaults to now).
func (s *Store) RecordConflict(ctx context.Context, c core.Conflict) error {
	at := unixNano(c.At)
	if at == 0 {
		at = s.now()
	}
	_, err := s.be.writeOne(ctx, true, `INSERT INTO conflicts (at, case_id, rule, field, a_ref, a_value, b_ref, b_value, last)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		at, int64(c.Case), c.Rule, c.Field, c.A.String(), c.AVal, c.B.String(), c.BVal, c.Last)
	if err != nil {
		return fmt.Errorf("store: record conflict on %q: %w", c.Field, err)
	}
	return nil
}

// Conflicts lists recorded conflicts, newest first, at most n (all when
// n <= 0).
func (s *Store) Conflicts(ctx context.Context, n int) ([]core.Conflict, error) {
	out, err := s.conflictsWhere(ctx, `ORDER BY id DESC LIMIT $1`, limit(n))
	if err != nil {
		return nil, fmt.Errorf("store: conflicts: %w", err)
	}
	return out, nil
}

// conflictsWhere reads the conflicts a query's tail (WHERE, ORDER BY,
// LIMIT) chooses.
func (s *Store) conflictsWhere(ctx context.Context, tail string, args ...any) ([]core.Conflict, error) {
	var out []core.Conflict
	err := all(s.be.reader().query(ctx, `SELECT at, case_id, rule, field, a_ref, a_value, b_ref, b_value, last
FROM conflicts `+tail, args...)).each(func(rs rows) error {
		var (
			c      core.Conflict
			at, id int64
			a, b   string
		)
		if err := rs.Scan(&at, &id, &c.Rule, &c.Field, &a, &c.AVal, &b, &c.BVal, &c.Last); err != nil {
			return err
		}
		var err error
		if c.A, err = parseRef(a); err != nil {
			return err
		}
		if c.B, err = parseRef(b); err != nil {
			return err
		}
		c.At, c.Case = fromUnixNano(at), core.CaseID(id)
		out = append(out, c)
		return nil
	})
	return out, err
}

// Audit returns the audit entries about record r, newest first, at most n
// (all when n <= 0).
func (s *Store) Audit(ctx context.Context, r core.Ref, n int) ([]core.AuditEntry, error) {
	var out []core.AuditEntry
	err := all(s.be.reader().query(ctx, `SELECT at, case_id, rule, kind, key, detail, reason
FROM audit WHERE target_ref = $1 ORDER BY id DESC LIMIT $2`, r.String(), limit(n))).each(func(rs rows) error {
		var (
			e     core.AuditEntry
			at, c int64
			kind  string
		)
		if err := rs.Scan(&at, &c, &e.Rule, &kind, &e.Key, &e.Detail, &e.Reason); err != nil {
			return err
		}
		e.At, e.Case, e.Target, e.Kind = fromUnixNano(at), core.CaseID(c), r, core.ActionKind(kind)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit of %q: %w", r.String(), err)
	}
	return out, nil
}

// limit turns "at most n, all when n <= 0" into a LIMIT both databases take.
func limit(n int) int64 {
	if n <= 0 {
		return 1<<31 - 1
	}
	return int64(n)
}

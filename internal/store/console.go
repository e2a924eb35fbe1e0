package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// ByAgent is the origin of a link a person made by hand in the console.
// It joins cases like a link the source states, and only a person removes
// it.
const ByAgent core.Origin = "agent"

// FindByID returns the records (placeholders too) whose id, the ref
// without its system and kind, is id, ignoring case: what a person types
// for a ticket number, an issue key, repo#n or a Message-ID. At most n.
func (s *Store) FindByID(ctx context.Context, id string, n int) ([]core.Ref, error) {
	s.searchable(ctx)
	refs, err := s.refsWhere(ctx, `SELECT ref FROM item_search WHERE rid = $1 LIMIT $2`, strings.ToLower(id), limit(n))
	if err != nil {
		return nil, fmt.Errorf("store: records with id %q: %w", id, err)
	}
	return refs, nil
}

// FindByPerson returns records whose reporter or assignee is who (an
// e-mail address or a login), ignoring case, at most n.
func (s *Store) FindByPerson(ctx context.Context, who string, n int) ([]core.Ref, error) {
	s.searchable(ctx)
	refs, err := s.refsWhere(ctx, `SELECT ref FROM item_search WHERE reporter = $1 OR assignee = $1 LIMIT $2`,
		strings.ToLower(who), limit(n))
	if err != nil {
		return nil, fmt.Errorf("store: records of %q: %w", who, err)
	}
	return refs, nil
}

// maxWords bounds the words of a title search.
const maxWords = 8

// FindByText returns records whose title holds every word of text (of
// three characters or more; the whole text when it has none), in any
// order, ignoring case, at most n. Words are looked up in a trigram index
// (SQLite's FTS5; PostgreSQL's pg_trgm where it is installed).
func (s *Store) FindByText(ctx context.Context, text string, n int) ([]core.Ref, error) {
	s.searchable(ctx)
	text = strings.ToLower(text)
	var words []string
	for _, w := range strings.Fields(text) {
		if len([]rune(w)) >= 3 && !slices.Contains(words, w) && len(words) < maxWords {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		words = []string{text}
	}
	column := "words"
	if s.be.name() == "sqlite" {
		column = "w.words"
	}
	var (
		conds []string
		args  []any
	)
	for i, w := range words {
		// The trigram index serves LIKE without ESCAPE only: a word that
		// needs one (it holds % or _) reads every title.
		cond := fmt.Sprintf("%s LIKE $%d", column, i+1)
		if strings.ContainsAny(w, `%_\`) {
			w = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(w)
			cond += ` ESCAPE '\'`
		}
		conds = append(conds, cond)
		args = append(args, "%"+w+"%")
	}
	args = append(args, limit(n))
	where := strings.Join(conds, " AND ") + fmt.Sprintf(" LIMIT $%d", len(args))
	var (
		refs []core.Ref
		err  error
	)
	if s.be.name() == "sqlite" {
		refs, err = refsIn(ctx, s.be.reader(), `SELECT s.ref FROM item_words w JOIN item_search s ON s.id = w.rowid WHERE `+where, args...)
	} else {
		// A prepared statement's generic plan knows neither the words
		// nor that a LIMIT rarely fills: it reads every title rather
		// than the trigram index. Each search is planned for its words.
		err = s.be.read(ctx, func(q querier) error {
			if _, err := q.exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
				return err
			}
			refs, err = refsIn(ctx, q, `SELECT ref FROM item_search WHERE `+where, args...)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("store: records naming %q: %w", text, err)
	}
	return refs, nil
}

// refsWhere runs a query for refs and returns them sorted. The queries
// leave ORDER BY out: a LIMIT over an ORDER BY ref tempts PostgreSQL, when
// its statistics are stale, to walk the primary key instead of the index
// that finds the few rows.
func (s *Store) refsWhere(ctx context.Context, query string, args ...any) ([]core.Ref, error) {
	return refsIn(ctx, s.be.reader(), query, args...)
}

func refsIn(ctx context.Context, q querier, query string, args ...any) ([]core.Ref, error) {
	var out []core.Ref
	err := all(q.query(ctx, query, args...)).each(func(rs rows) error {
		var ref string
		if err := rs.Scan(&ref); err != nil {
			return err
		}
		r, err := parseRef(ref)
		out = append(out, r)
		return err
	})
	slices.SortFunc(out, func(a, b core.Ref) int { return strings.Compare(a.String(), b.String()) })
	return out, err
}

// LinkOrigin is a link's stored origin with the record whose text stated
// it, for showing how a link was made.
type LinkOrigin struct {
	From, To core.Ref
	Origin   core.Origin
	Source   string
	Created  time.Time
}

// LinksOf returns how each link touching refs was made.
func (s *Store) LinksOf(ctx context.Context, refs []core.Ref) ([]LinkOrigin, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	in, args := refList(refs)
	var out []LinkOrigin
	err := all(s.be.reader().query(ctx, `SELECT from_ref, to_ref, origin, source_ref, created_at FROM links
WHERE from_ref IN (`+in+`) UNION SELECT from_ref, to_ref, origin, source_ref, created_at FROM links WHERE to_ref IN (`+in+`)`, args...)).each(func(rs rows) error {
		var (
			l        LinkOrigin
			from, to string
			origin   string
			at       int64
		)
		if err := rs.Scan(&from, &to, &origin, &l.Source, &at); err != nil {
			return err
		}
		var err error
		if l.From, err = parseRef(from); err != nil {
			return err
		}
		if l.To, err = parseRef(to); err != nil {
			return err
		}
		l.Origin, l.Created = core.Origin(origin), fromUnixNano(at)
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: links of %d records: %w", len(refs), err)
	}
	return out, nil
}

// refList is refs as the parameters of an IN list ($1, $2, …) and their
// values.
func refList(refs []core.Ref) (string, []any) {
	args := make([]any, len(refs))
	marks := make([]string, len(refs))
	for i, r := range refs {
		args[i] = r.String()
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	return strings.Join(marks, ", "), args
}

// ConflictsOf returns the newest conflicts of a field between refs and
// any record, at most n, newest first.
func (s *Store) ConflictsOf(ctx context.Context, refs []core.Ref, n int) ([]core.Conflict, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	in, args := refList(refs)
	out, err := s.conflictsWhere(ctx, fmt.Sprintf(`WHERE a_ref IN (%s) OR b_ref IN (%s) ORDER BY id DESC LIMIT $%d`, in, in, len(args)+1),
		append(args, limit(n))...)
	if err != nil {
		return nil, fmt.Errorf("store: conflicts of %d records: %w", len(refs), err)
	}
	return out, nil
}

// LinkByHand links two records as a person asked (origin ByAgent),
// joining their cases, and writes the audit entry naming who, in one
// transaction.
func (s *Store) LinkByHand(ctx context.Context, l core.Link, who string) error {
	l.Origin = ByAgent
	if l.Role == "" {
		l.Role = core.Mentions
	}
	return s.be.serial(ctx, true, func(q querier) error {
		now := s.now()
		g := newGraph(s, q, now)
		if err := g.preload(ctx, []string{l.From.String(), l.To.String()}); err != nil {
			return err
		}
		if err := g.link(ctx, l, "agent:"+who); err != nil {
			return err
		}
		if err := g.finish(ctx); err != nil {
			return err
		}
		c, err := s.caseOf(ctx, q, l.From, 0)
		if err != nil {
			return err
		}
		return s.insertAudit(ctx, q, adminEntry(now, c, l.From, "link_by_hand",
			fmt.Sprintf("%s linked %s —%s→ %s", who, l.From, l.Role, l.To)))
	})
}

// UnlinkByHand removes the link between two records, whichever way it
// points and however it was made, splits the case if that disconnected
// it, and writes the audit entry naming who. A link the source states is
// written again by its next event; it reports whether a link was there.
func (s *Store) UnlinkByHand(ctx context.Context, a, b core.Ref, who string) (bool, error) {
	var found bool
	err := s.be.serial(ctx, true, func(q querier) error {
		found = false
		now := s.now()
		c, err := s.caseOf(ctx, q, a, 0)
		if err != nil {
			return err
		}
		g := newGraph(s, q, now)
		for _, p := range [][2]string{{a.String(), b.String()}, {b.String(), a.String()}} {
			n, err := q.exec(ctx, `DELETE FROM links WHERE from_ref = $1 AND to_ref = $2`, p[0], p[1])
			if err != nil {
				return fmt.Errorf("store: unlink %q → %q: %w", p[0], p[1], err)
			}
			if n > 0 {
				found = true
				if err := g.split(ctx, p[0], p[1]); err != nil {
					return err
				}
			}
		}
		if !found {
			return nil
		}
		if err := g.finish(ctx); err != nil {
			return err
		}
		return s.insertAudit(ctx, q, adminEntry(now, c, a, "unlink_by_hand", fmt.Sprintf("%s unlinked %s and %s", who, a, b)))
	})
	return found, err
}

// Discard gives up dead actions for good: they are marked done, so the
// planner never plans them again, with who gave them up as their last
// error, and each gets an audit entry. It returns how many were dead.
func (s *Store) Discard(ctx context.Context, who string, keys ...string) (int, error) {
	var n int
	err := s.be.write(ctx, true, func(q querier) error {
		now := s.now()
		cases, err := s.actByHand(ctx, q, keys, func(k string) (string, []any, string) {
			return `UPDATE outbox SET state = 'done', last_error = $1, updated_at = $2
WHERE key = $3 AND state = 'dead' RETURNING case_id, subject_ref`, []any{"discarded by " + who, now, k}, fmt.Sprintf("%s discarded action %s", who, k)
		}, now, "discard")
		n = len(cases)
		return err
	})
	return n, err
}

// RetryNow makes pending actions due at once, as an admin asks after
// fixing what failed them, marks their cases dirty and writes an audit
// entry each naming who. A write whose outcome is unknown still waits out
// its grace (Action.Sent): the engine decides that when it tries. It
// returns how many were pending.
func (s *Store) RetryNow(ctx context.Context, who string, keys ...string) (int, error) {
	var n int
	err := s.be.write(ctx, true, func(q querier) error {
		now := s.now()
		cases, err := s.actByHand(ctx, q, keys, func(k string) (string, []any, string) {
			return `UPDATE outbox SET next_attempt = $1, updated_at = $1 WHERE key = $2 AND state = 'pending'
RETURNING case_id, subject_ref`, []any{now, k}, fmt.Sprintf("%s retried action %s now", who, k)
		}, now, "retry")
		if n = len(cases); err != nil || n == 0 {
			return err
		}
		slices.Sort(cases)
		return s.bulk.markDirty(ctx, q, slices.Compact(cases), now)
	})
	return n, err
}

// actByHand runs, for each key, the update stmt gives it (returning the
// action's case and subject, no row when the action is not in the state
// it changes) and audits each action it changed as kind with the detail
// stmt gives. It returns the (current) cases of the changed actions.
func (s *Store) actByHand(ctx context.Context, q querier, keys []string, stmt func(key string) (string, []any, string), now int64, kind string) ([]int64, error) {
	var cases []int64
	for _, k := range keys {
		var (
			c       int64
			subject string
		)
		query, args, detail := stmt(k)
		err := q.queryRow(ctx, query, args...).Scan(&c, &subject)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: %s %q: %w", kind, k, err)
		}
		r, err := parseRef(subject)
		if err != nil {
			return nil, err
		}
		if c, err = resolveCase(ctx, q, c); err != nil {
			return nil, err
		}
		cases = append(cases, c)
		if err := s.insertAudit(ctx, q, adminEntry(now, c, r, kind, detail)); err != nil {
			return nil, err
		}
	}
	return cases, nil
}

// adminEntry is the audit entry of a person's action in the console: its
// rule is "console" and its key unique to the moment and the detail, so
// that two actions of one transaction (a replay of every dead letter of
// a record) keep an entry each where entries are told apart by key.
func adminEntry(now, c int64, target core.Ref, kind, detail string) core.AuditEntry {
	sum := sha256.Sum256([]byte(detail))
	return core.AuditEntry{At: fromUnixNano(now), Case: core.CaseID(c), Target: target, Rule: "console",
		Kind: core.ActionKind(kind), Key: fmt.Sprintf("console:%s:%d:%x", kind, now, sum[:6]), Detail: detail}
}

func (s *Store) insertAudit(ctx context.Context, q querier, e core.AuditEntry) error {
	_, err := q.exec(ctx, `INSERT INTO audit (at, case_id, target_ref, rule, kind, key, detail, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		unixNano(e.At), int64(e.Case), e.Target.String(), e.Rule, string(e.Kind), e.Key, e.Detail, e.Reason)
	if err != nil {
		return fmt.Errorf("store: audit %s on %q: %w", e.Kind, e.Target.String(), err)
	}
	return nil
}

// SourceActivity is what the inbox says of one connector instance's
// events that came one way (webhook, poll, push, apply).
type SourceActivity struct {
	Source string
	Via    core.Via
	Events int
	Last   time.Time
}

// Activity counts the inbox's events by source and way in, received at
// or after since, with the newest's time, for the console's health page.
func (s *Store) Activity(ctx context.Context, since time.Time) ([]SourceActivity, error) {
	var out []SourceActivity
	err := all(s.be.reader().query(ctx, `SELECT source, via, COUNT(*), MAX(received_at) FROM inbox
WHERE received_at >= $1 GROUP BY source, via ORDER BY source, via`, unixNano(since))).each(func(rs rows) error {
		var (
			a    SourceActivity
			via  string
			n    int64
			last int64
		)
		if err := rs.Scan(&a.Source, &via, &n, &last); err != nil {
			return err
		}
		a.Via, a.Events, a.Last = core.Via(via), int(n), fromUnixNano(last)
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: inbox activity: %w", err)
	}
	return out, nil
}

// RuleActivity counts, per rule, the actions applied (audit entries) at
// or after since; people's actions in the console count under "console".
func (s *Store) RuleActivity(ctx context.Context, since time.Time) (map[string]int, error) {
	out := map[string]int{}
	err := all(s.be.reader().query(ctx, `SELECT rule, COUNT(*) FROM audit WHERE at >= $1 GROUP BY rule`, unixNano(since))).each(func(rs rows) error {
		var (
			rule string
			n    int64
		)
		if err := rs.Scan(&rule, &n); err != nil {
			return err
		}
		out[rule] = int(n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: rule activity: %w", err)
	}
	return out, nil
}

// Cursors returns every poll source's cursor with when it last moved.
func (s *Store) Cursors(ctx context.Context) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := all(s.be.reader().query(ctx, `SELECT source, updated_at FROM cursors`)).each(func(rs rows) error {
		var (
			src string
			at  int64
		)
		if err := rs.Scan(&src, &at); err != nil {
			return err
		}
		out[src] = fromUnixNano(at)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: cursors: %w", err)
	}
	return out, nil
}

// UnreadNotice is what the IMAP connector writes into the comment of a
// mail it could not read in full (over one of the parser's limits), as
// "[This mail could not be read in full (why). …]".
const UnreadNotice = "[This mail could not be read in full ("

// UnreadMail returns the mail threads, newest first and at most n, of
// which a mail was not read in full: one over the parser's limits (its
// comment carries UnreadNotice) or with attachments over the size limit
// (its attachments_over_limit field). The connector records both only in
// the snapshot, so the query walks the mail threads newest first by the
// kind index and reads each one's snapshot.
func (s *Store) UnreadMail(ctx context.Context, n int) ([]core.Item, error) {
	var out []core.Item
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	err := all(s.be.reader().query(ctx, `SELECT ref, snapshot FROM items WHERE kind = $1 AND known = 1
AND (snapshot LIKE $2 ESCAPE '\' OR snapshot LIKE $3 ESCAPE '\') ORDER BY kind, updated_at DESC LIMIT $4`,
		string(core.EmailThread), "%"+esc.Replace(UnreadNotice)+"%", `%"attachments\_over\_limit":%`, limit(n))).each(appendItem(&out))
	if err != nil {
		return nil, fmt.Errorf("store: mail not read in full: %w", err)
	}
	return out, nil
}

package digest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/notify"
)

// Mailer sends a mail; *notify.Notifier is one.
type Mailer interface {
	Mail(ctx context.Context, m notify.Mail) error
}

// Store is what the Scheduler needs of the store: the digest's material,
// a lease so that one replica sends, and the cursors that remember the
// last week sent.
type Store interface {
	Source
	Lease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error)
	Cursor(ctx context.Context, source string) (string, error)
	SetCursor(ctx context.Context, source, cursor string) error
}

// Scheduler sends each configured organisation its digest once a week,
// at the scheduled time in the organisation's time zone (its calendar's
// in the mappings, else Location). At every check it finds, per
// organisation, the latest scheduled moment that has passed and the week
// that moment reports (Reported); an organisation whose cursor
// ("digest:<org>") is behind that week gets the digest, and the cursor is
// moved only after the mail was accepted. So a restart resends nothing, a
// daemon that was down at the scheduled moment sends on its return (the
// latest week only, not every week it missed), and a failed mail is tried
// again at a later check; one the server took whole without answering
// counts as sent (it may be in the customer's mailbox), with a warning.
// A crash between the mail and the cursor can send one digest twice, with
// the same Message-ID. An organisation seen for the
// first time (no cursor) starts at the next scheduled moment. Replicas on
// one store send through a lease, which the replica holding it renews and
// under which it reads the organisation's cursor again before each mail,
// so each digest goes out once. Two cases can still send a digest twice,
// with the same Message-ID (receivers that de-duplicate by it show one):
// a crash between the SMTP server's acceptance and the cursor's write,
// and one mail that takes longer than the lease (leaseTTL) to be accepted.
type Scheduler struct {
	Store    Store
	Mailer   Mailer
	Template *Template
	Schedule Schedule
	Location *time.Location
	// To lists the recipients per organisation, as the org field names it.
	To map[string][]string
	// Mappings returns the mappings in force (nil: native statuses only).
	Mappings func() *core.Mappings
	Clock    core.Clock
	Log      *slog.Logger
	// Owner names this replica for the lease (default "digest").
	Owner string
	// Interval is how often Run checks the clock (default 1m); RetryAfter
	// how long a failed organisation waits before its next attempt
	// (default 15m).
	Interval, RetryAfter time.Duration

	mu    sync.Mutex
	retry map[string]time.Time // org → not before
}

// CursorKey is the store cursor that holds the last week sent to org.
func CursorKey(org string) string { return "digest:" + org }

const (
	leaseName = "digest"
	leaseTTL  = 10 * time.Minute
)

// Tick sends the digests that are due at the clock's now and returns how
// many were sent. Errors of single organisations are logged and joined;
// the others are still sent.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	s.defaults()
	now := s.Clock.Now()
	var m *core.Mappings
	if s.Mappings != nil {
		m = s.Mappings()
	}
	orgs := slices.Sorted(maps.Keys(s.To))
	due, err := s.due(ctx, orgs, now, m)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	// One replica sends; the others find the cursors moved afterwards.
	held, err := s.Store.Lease(ctx, leaseName, s.Owner, now, leaseTTL)
	if err != nil {
		return 0, fmt.Errorf("digest: %w", err)
	}
	if !held {
		return 0, nil
	}
	// Read again under the lease: a replica that held it before may have
	// sent since this one looked.
	if due, err = s.due(ctx, slices.Collect(maps.Keys(due)), now, m); err != nil {
		return 0, err
	}
	// Organisations in one time zone and week are built from one read.
	type batch struct {
		week Week
		loc  *time.Location
	}
	groups := map[batch][]string{}
	for _, org := range slices.Sorted(maps.Keys(due)) {
		b := batch{due[org], s.zone(m, org)}
		groups[b] = append(groups[b], org)
	}
	sent := 0
	var errs []error
	for _, b := range slices.SortedFunc(maps.Keys(groups), func(x, y batch) int { return strings.Compare(groups[x][0], groups[y][0]) }) {
		reports, err := Build(ctx, s.Store, b.week, groups[b], Options{Mappings: m, Location: b.loc, Now: now})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range reports {
			ok, err := s.stillMine(ctx, r)
			if err != nil {
				errs = append(errs, err)
			}
			if !ok {
				continue
			}
			if err := s.send(ctx, r); err != nil {
				s.mu.Lock()
				s.retry[r.Org] = now.Add(s.RetryAfter)
				s.mu.Unlock()
				s.Log.Error("weekly digest not sent; will try again", "org", r.Org, "week", r.Week.String(),
					"retry_in", core.FormatDuration(s.RetryAfter), "err", err)
				errs = append(errs, err)
				continue
			}
			sent++
		}
	}
	return sent, errors.Join(errs...)
}

// stillMine renews the lease just before r is sent and reads r's cursor
// again: a batch of slow mails can outlast one lease, and another replica
// that took it over meanwhile may have sent r already. Renewed before
// every mail, the lease only lapses when one mail takes longer than
// leaseTTL.
func (s *Scheduler) stillMine(ctx context.Context, r *Report) (bool, error) {
	held, err := s.Store.Lease(ctx, leaseName, s.Owner, s.Clock.Now(), leaseTTL)
	if err != nil || !held {
		return false, err
	}
	last, err := s.Store.Cursor(ctx, CursorKey(r.Org))
	if err != nil {
		return false, fmt.Errorf("digest: %w", err)
	}
	if w, err := ParseWeek(last); err == nil && !w.Before(r.Week) {
		return false, nil
	}
	return true, nil
}

// due returns, among orgs, those whose digest is due at now, with the
// week it reports: the latest scheduled moment that has passed in the
// organisation's time zone, when its cursor is behind that week. An
// organisation without a cursor gets one, and its first digest at the
// next scheduled moment.
func (s *Scheduler) due(ctx context.Context, orgs []string, now time.Time, m *core.Mappings) (map[string]Week, error) {
	out := map[string]Week{}
	for _, org := range orgs {
		loc := s.zone(m, org)
		week := Reported(s.Schedule.Last(now, loc))
		last, err := s.Store.Cursor(ctx, CursorKey(org))
		if err != nil {
			return nil, fmt.Errorf("digest: %w", err)
		}
		if last == "" {
			// A newly configured organisation starts with the next
			// scheduled digest, rather than getting last week's at once
			// whenever the daemon happens to start.
			if err := s.Store.SetCursor(ctx, CursorKey(org), week.String()); err != nil {
				return nil, fmt.Errorf("digest: %w", err)
			}
			s.Log.Info("weekly digest configured for a new organisation; the first goes out at the next scheduled time",
				"org", org, "next", s.Schedule.Next(now, loc).Format(time.RFC3339))
			continue
		}
		if w, err := ParseWeek(last); err != nil {
			s.Log.Warn("digest cursor unreadable; sending the digest due now", "org", org, "cursor", last)
		} else if !w.Before(week) {
			continue
		}
		s.mu.Lock()
		wait := s.retry[org]
		s.mu.Unlock()
		if now.Before(wait) {
			continue
		}
		out[org] = week
	}
	return out, nil
}

// zone is the time zone org's digest is sent and its week counted in: the
// time zone of the organisation's own calendar in the mappings
// (calendars:), else the scheduler's Location.
func (s *Scheduler) zone(m *core.Mappings, org string) *time.Location {
	if m != nil {
		for _, sla := range m.SLAs {
			for name, c := range sla.Calendars {
				if SameOrg(name, org) && c.Location != nil {
					return c.Location
				}
			}
		}
	}
	return s.Location
}

func (s *Scheduler) send(ctx context.Context, r *Report) error {
	subject, body, err := s.Template.Render(r)
	if err != nil {
		return fmt.Errorf("digest for %q: %w", r.Org, err)
	}
	html, err := s.Template.RenderHTML(r)
	if err != nil {
		return fmt.Errorf("digest for %q: %w", r.Org, err)
	}
	to := make([]mail.Address, 0, len(s.To[r.Org]))
	for _, a := range s.To[r.Org] {
		rcpt, err := core.ParseRecipient(a)
		if err != nil {
			return fmt.Errorf("digest for %q: to: %w", r.Org, err)
		}
		to = append(to, rcpt)
	}
	m := notify.Mail{To: to, Subject: subject, Body: body, HTML: html, ID: CursorKey(r.Org) + "@" + r.Week.String(),
		Headers: map[string]string{"X-Liaison-Digest": r.Week.String()}}
	// A mail the server took whole without answering may be in the
	// customer's mailbox: it counts as sent, so that none gets it twice.
	merr := s.Mailer.Mail(ctx, m)
	if merr != nil && !core.IsUncertain(merr) {
		return fmt.Errorf("digest for %q: %w", r.Org, merr)
	}
	if err := s.Store.SetCursor(ctx, CursorKey(r.Org), r.Week.String()); err != nil {
		return fmt.Errorf("digest for %q sent, but its cursor was not stored (it may be sent again): %w", r.Org, err)
	}
	if merr != nil {
		s.Log.Warn("weekly digest may have been sent (the mail server took it and its answer was lost); it is not sent again",
			"org", r.Org, "week", r.Week.String(), "message_id", m.ID, "err", merr)
		return nil
	}
	s.Log.Info("weekly digest sent", "org", r.Org, "week", r.Week.String(), "to", len(m.To),
		"raised", len(r.Raised), "done", len(r.Done), "scheduled", len(r.Scheduled))
	return nil
}

// Run checks every Interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	s.defaults()
	s.Log.Info("weekly digest scheduled", "schedule", s.Schedule.String(), "timezone", s.Location.String(),
		"organisations", len(s.To), "next", s.Schedule.Next(s.Clock.Now(), s.Location).Format(time.RFC3339))
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.Log.Debug("digest check", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Scheduler) defaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retry == nil {
		s.retry = map[string]time.Time{}
	}
	if s.Location == nil {
		s.Location = time.UTC
	}
	if s.Template == nil {
		s.Template = DefaultTemplate()
	}
	if s.Clock == nil {
		s.Clock = core.SystemClock{}
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Owner == "" {
		s.Owner = "digest"
	}
	if s.Interval <= 0 {
		s.Interval = time.Minute
	}
	if s.RetryAfter <= 0 {
		s.RetryAfter = 15 * time.Minute
	}
}

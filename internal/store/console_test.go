package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store/storetest"
)

func TestFind_ByEveryNameOfARecord(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, _ *testClock) {
		storetest.Story(t, s, workloadEpoch)
		ctx := context.Background()
		for _, c := range []struct{ id, want string }{
			{"4521", "zendesk/customer_ticket/4521"},
			{"KBOT-88", "jira/dev_ticket/KBOT-88"},
			{"kbot-88", "jira/dev_ticket/KBOT-88"},
			{"acme/app#12", "github/pull_request/acme/app#12"},
			{"reset-500@customer.example", "imap/email_thread/reset-500@customer.example"},
			{"452", ""},
			{"%", ""},
		} {
			refs, err := s.FindByID(ctx, c.id, 10)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if len(refs) == 1 {
				got = refs[0].String()
			}
			if len(refs) > 1 || got != c.want {
				t.Errorf("FindByID(%q) = %v, want %q", c.id, refs, c.want)
			}
		}
		for _, c := range []struct {
			text string
			want []string
		}{
			{"password reset", []string{"imap/email_thread/reset-500@customer.example", "zendesk/customer_ticket/4521"}},
			{"INVOICE", []string{"zendesk/customer_ticket/4600"}},
			{"reset password", []string{"imap/email_thread/reset-500@customer.example", "zendesk/customer_ticket/4521"}},
			{"reset password invoice", nil},
			{"to", []string{"github/pull_request/acme/app#12", "jira/dev_ticket/KBOT-88"}}, // short: the whole text, within words
			{"50%", nil},
			{"pdf_", nil},
			{"kbot-88", []string{"github/pull_request/acme/app#12"}},
			{"nothing like it", nil},
		} {
			refs, err := s.FindByText(ctx, c.text, 10)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range refs {
				got = append(got, r.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("FindByText(%q) = %v, want %v", c.text, got, c.want)
			}
		}
	})
}

func TestFindByPerson_ReporterOrAssigneeIgnoringCase(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, _ *testClock) {
		storetest.Story(t, s, workloadEpoch)
		for who, want := range map[string]int{"ada@customer.example": 2, "ADA@customer.example": 2, "ada@customer": 0, "nobody@x.example": 0} {
			refs, err := s.FindByPerson(context.Background(), who, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != want {
				t.Errorf("FindByPerson(%q) = %v, want %d records", who, refs, want)
			}
		}
	})
}

func TestFindByPerson_APlaceholderGetsItsPeopleWhenSeen(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, _ *testClock) {
		ctx := context.Background()
		change := core.Ref{System: "jira", Kind: core.ChangeTicket, ID: "DO-7"}
		at := workloadEpoch
		link := core.Ingest{Event: core.Event{Source: "jira", DeliveryID: "1", Via: core.ViaWebhook, Type: core.Created, At: at,
			Item:  core.Item{Ref: storetest.StoryIssue, Title: "Reset tokens expire at once", UpdatedAt: at},
			Links: []core.Link{{From: change, To: storetest.StoryIssue, Role: core.ChangeFor, Origin: core.Explicit}}}}
		seen := core.Ingest{Event: core.Event{Source: "jira", DeliveryID: "2", Via: core.ViaPoll, Type: core.Created, At: at,
			Item: core.Item{Ref: change, Title: "Rotate the token signing key", Reporter: "Ops@Example.com", UpdatedAt: at}}}
		for _, in := range []core.Ingest{link, seen} {
			if _, err := s.Ingest(ctx, []core.Ingest{in}); err != nil {
				t.Fatal(err)
			}
		}
		if refs, _ := s.FindByPerson(ctx, "ops@example.com", 5); len(refs) != 1 || refs[0] != change {
			t.Errorf("FindByPerson after the placeholder was seen = %v, want %s", refs, change)
		}
		if refs, _ := s.FindByText(ctx, "signing key", 5); len(refs) != 1 || refs[0] != change {
			t.Errorf("FindByText after the placeholder was seen = %v, want %s", refs, change)
		}
	})
}

func TestFind_FollowsATitleChange(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, _ *testClock) {
		storetest.Story(t, s, workloadEpoch)
		ctx := context.Background()
		stray := storetest.Stray
		it := core.Item{Ref: stray, Title: "Exported invoices are blank", UpdatedAt: workloadEpoch.Add(time.Minute)}
		if _, err := s.Ingest(ctx, []core.Ingest{{Event: core.Event{Source: "zendesk", DeliveryID: "6", Via: core.ViaPoll, Type: core.Updated, Item: it, At: it.UpdatedAt}}}); err != nil {
			t.Fatal(err)
		}
		if refs, _ := s.FindByText(ctx, "pdf is empty", 10); len(refs) != 0 {
			t.Errorf("the old title still matches: %v", refs)
		}
		if refs, _ := s.FindByText(ctx, "blank", 10); len(refs) != 1 || refs[0] != stray {
			t.Errorf("the new title does not match: %v", refs)
		}
	})
}

func TestLinkByHand_JoinsAndUnlinkSplitsWithAudit(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, _ *testClock) {
		storetest.Story(t, s, workloadEpoch)
		ctx := context.Background()
		ticket, stray, issue := storetest.StoryTicket, storetest.Stray, storetest.StoryIssue
		if err := s.LinkByHand(ctx, core.Link{From: stray, To: issue, Role: core.DuplicateOf}, "grace"); err != nil {
			t.Fatal(err)
		}
		a, _ := s.CaseOf(ctx, stray)
		b, _ := s.CaseOf(ctx, ticket)
		if a != b {
			t.Fatalf("linked by hand, the stray ticket is in case %d and the story in %d", a, b)
		}
		ls, err := s.LinksOf(ctx, []core.Ref{stray})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 1 || ls[0].Origin != ByAgent || ls[0].Source != "agent:grace" {
			t.Errorf("links of the stray ticket = %+v, want one by agent grace", ls)
		}
		found, err := s.UnlinkByHand(ctx, issue, stray, "grace")
		if err != nil || !found {
			t.Fatalf("unlink = %v, %v", found, err)
		}
		a, _ = s.CaseOf(ctx, stray)
		b, _ = s.CaseOf(ctx, ticket)
		if a == b {
			t.Errorf("unlinked, the stray ticket is still in the story's case %d", a)
		}
		if found, _ := s.UnlinkByHand(ctx, issue, stray, "grace"); found {
			t.Error("a second unlink found a link")
		}
		var kinds []string
		for _, r := range []core.Ref{stray, issue} {
			es, err := s.Audit(ctx, r, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				kinds = append(kinds, string(e.Kind)+" "+e.Detail)
			}
		}
		slices.Sort(kinds)
		want := []string{"link_by_hand grace linked zendesk/customer_ticket/4600 —duplicate_of→ jira/dev_ticket/KBOT-88",
			"unlink_by_hand grace unlinked jira/dev_ticket/KBOT-88 and zendesk/customer_ticket/4600"}
		if !slices.Equal(kinds, want) {
			t.Errorf("audit = %q, want %q", kinds, want)
		}
	})
}

func TestDiscard_OnlyDeadActionsAndAudited(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, _ *testClock) {
		storetest.Story(t, s, workloadEpoch)
		ctx := context.Background()
		issue := storetest.StoryIssue
		c, _ := s.CaseOf(ctx, issue)
		acts := []core.Action{
			{Key: "dead-one", Case: c, Rule: "qa-comment", Kind: core.AddComment, Target: issue, Subject: issue},
			{Key: "pending-one", Case: c, Rule: "qa-comment", Kind: core.AddComment, Target: issue, Subject: issue},
		}
		if _, err := s.Enqueue(ctx, acts); err != nil {
			t.Fatal(err)
		}
		if err := s.Fail(ctx, "dead-one", "403 forbidden", time.Time{}, true); err != nil {
			t.Fatal(err)
		}
		n, err := s.Discard(ctx, "grace", "dead-one", "pending-one", "unknown")
		if err != nil || n != 1 {
			t.Fatalf("Discard = %d, %v; want 1 (the dead one only)", n, err)
		}
		if dead, _ := s.DeadLetters(ctx); len(dead) != 0 {
			t.Errorf("dead letters after discard: %v", dead)
		}
		left, _ := s.Actions(ctx, c, core.Pending)
		if len(left) != 1 || left[0].Key != "pending-one" {
			t.Errorf("pending after discard: %v", left)
		}
		es, _ := s.Audit(ctx, issue, 5)
		if len(es) != 1 || es[0].Detail != "grace discarded action dead-one" || es[0].Rule != "console" {
			t.Errorf("audit = %+v", es)
		}
	})
}

func TestRetryNow_MakesAPendingActionDueAndItsCaseDirty(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, clock *testClock) {
		storetest.Story(t, s, workloadEpoch)
		ctx := context.Background()
		issue := storetest.StoryIssue
		c, _ := s.CaseOf(ctx, issue)
		if _, err := s.Enqueue(ctx, []core.Action{{Key: "later", Case: c, Rule: "qa-comment", Kind: core.AddComment, Target: issue, Subject: issue}}); err != nil {
			t.Fatal(err)
		}
		// Drain the queue, then fail the action with its next try an hour on.
		if _, err := s.ClaimCases(ctx, "w", clock.now, 100, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Fail(ctx, "later", "503 Service Unavailable", clock.now.Add(time.Hour), false); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseCase(ctx, c, "w", time.Time{}); err != nil {
			t.Fatal(err)
		}
		n, err := s.RetryNow(ctx, "grace", "later", "unknown")
		if err != nil || n != 1 {
			t.Fatalf("RetryNow = %d, %v; want 1", n, err)
		}
		acts, _ := s.Actions(ctx, c, core.Pending)
		if len(acts) != 1 || acts[0].NextAttempt.After(clock.now) {
			t.Errorf("after RetryNow the action is due at %v, want by %v", acts[0].NextAttempt, clock.now)
		}
		claimed, err := s.ClaimCases(ctx, "w", clock.now, 100, time.Minute)
		if err != nil || !slices.Contains(claimed, c) {
			t.Errorf("after RetryNow the case is not due: claimed %v, %v", claimed, err)
		}
		es, _ := s.Audit(ctx, issue, 1)
		if len(es) != 1 || es[0].Detail != "grace retried action later now" {
			t.Errorf("audit = %+v", es)
		}
	})
}

func TestRuleActivity_CountsAppliedActionsSince(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, clock *testClock) {
		storetest.Story(t, s, workloadEpoch)
		ctx := context.Background()
		if err := s.LinkByHand(ctx, core.Link{From: storetest.Stray, To: storetest.StoryIssue, Role: core.DuplicateOf}, "grace"); err != nil {
			t.Fatal(err)
		}
		clock.now = clock.now.Add(2 * time.Hour)
		if _, err := s.UnlinkByHand(ctx, storetest.Stray, storetest.StoryIssue, "grace"); err != nil {
			t.Fatal(err)
		}
		for since, want := range map[time.Duration]int{3 * time.Hour: 2, time.Hour: 1} {
			got, err := s.RuleActivity(ctx, clock.now.Add(-since))
			if err != nil {
				t.Fatal(err)
			}
			if got["console"] != want || len(got) != 1 {
				t.Errorf("RuleActivity over %s = %v, want console: %d", since, got, want)
			}
		}
	})
}

func TestAdminActions_AuditEachMovedActionOnceWithWho(t *testing.T) {
	cases := []struct {
		name   string
		act    func(s *Store, keys ...string) (int, error)
		detail string // what the entry of "dead-a" says
	}{
		{"replay", func(s *Store, keys ...string) (int, error) {
			return s.ReplayByHand(context.Background(), "grace", keys...)
		}, "grace replayed dead action dead-a"},
		{"discard", func(s *Store, keys ...string) (int, error) { return s.Discard(context.Background(), "grace", keys...) }, "grace discarded action dead-a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backends(t, func(t *testing.T, s *Store, _ *testClock) {
				storetest.Story(t, s, workloadEpoch)
				ctx := context.Background()
				issue := storetest.StoryIssue
				c, _ := s.CaseOf(ctx, issue)
				var acts []core.Action
				for _, k := range []string{"dead-a", "dead-b", "dead-c"} {
					acts = append(acts, core.Action{Key: k, Case: c, Rule: "qa-comment", Kind: core.AddComment, Target: issue, Subject: issue})
				}
				if _, err := s.Enqueue(ctx, acts); err != nil {
					t.Fatal(err)
				}
				for _, a := range acts {
					if err := s.Fail(ctx, a.Key, "403 forbidden", time.Time{}, true); err != nil {
						t.Fatal(err)
					}
				}
				// Another replica replays dead-c first: this person's action finds it gone.
				if n, err := s.Replay(ctx, "dead-c"); err != nil || n != 1 {
					t.Fatalf("Replay(dead-c) = %d, %v", n, err)
				}
				// The test clock stands still: both entries are written at the same instant.
				n, err := tc.act(s, "dead-a", "dead-b", "dead-c")
				if err != nil || n != 2 {
					t.Fatalf("%s = %d, %v; want 2", tc.name, n, err)
				}
				if n, err := tc.act(s, "dead-a", "dead-b"); err != nil || n != 0 {
					t.Errorf("%s again = %d, %v; want 0", tc.name, n, err)
				}
				es, err := s.Audit(ctx, issue, 10)
				if err != nil {
					t.Fatal(err)
				}
				keys := map[string]bool{}
				var details []string
				for _, e := range es {
					keys[e.Key] = true
					details = append(details, e.Detail)
				}
				slices.Sort(details)
				if len(es) != 2 || len(keys) != 2 || details[0] != tc.detail || es[0].Rule != "console" {
					t.Errorf("audit after %s: %d entries with %d keys, details %q; want 2 distinct, first %q", tc.name, len(es), len(keys), details, tc.detail)
				}
			})
		})
	}
}

func TestConflictsOf_TheRecordsEitherSideNewestFirst(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, clock *testClock) {
		storetest.Story(t, s, workloadEpoch)
		ctx := context.Background()
		c, _ := s.CaseOf(ctx, storetest.StoryIssue)
		other := core.Ref{System: "jira", Kind: core.DevTicket, ID: "KBOT-7"}
		for i, pair := range [][2]core.Ref{
			{storetest.StoryTicket, storetest.StoryIssue},
			{storetest.Stray, other},
			{other, storetest.StoryPR},
		} {
			cf := core.Conflict{At: workloadEpoch.Add(time.Duration(i) * time.Minute), Case: c, Rule: "sync-priority", Field: "priority",
				A: pair[0], AVal: "high", B: pair[1], BVal: "low"}
			if err := s.RecordConflict(ctx, cf); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			refs []core.Ref
			n    int
			want []core.Ref // the A side of each, newest first
		}{
			{[]core.Ref{storetest.StoryIssue, storetest.StoryPR}, 10, []core.Ref{other, storetest.StoryTicket}},
			{[]core.Ref{storetest.StoryIssue, storetest.StoryPR}, 1, []core.Ref{other}},
			{[]core.Ref{storetest.Stray}, 10, []core.Ref{storetest.Stray}},
			{[]core.Ref{storetest.StoryMail}, 10, nil},
			{nil, 10, nil},
		} {
			got, err := s.ConflictsOf(ctx, tc.refs, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			var as []core.Ref
			for _, cf := range got {
				as = append(as, cf.A)
			}
			if !slices.Equal(as, tc.want) {
				t.Errorf("ConflictsOf(%v, %d) sides %v, want %v", tc.refs, tc.n, as, tc.want)
			}
		}
	})
}

func TestUnreadMail_ThreadsWithAMailNotReadInFull(t *testing.T) {
	backends(t, func(t *testing.T, s *Store, _ *testClock) {
		ctx := context.Background()
		thread := func(id string, at time.Duration, body string, fields map[string]string) core.Ingest {
			ref := core.Ref{System: "imap", Kind: core.EmailThread, ID: id}
			it := core.Item{Ref: ref, Title: "mail " + id, Reporter: "ada@customer.example", Fields: fields, UpdatedAt: workloadEpoch.Add(at),
				Comments: []core.Comment{{ID: id, Author: "ada@customer.example", Body: body, Public: true, CreatedAt: workloadEpoch.Add(at)}}}
			return core.Ingest{Event: core.Event{Source: "imap", DeliveryID: id, Via: core.ViaPoll, Type: core.Created, Item: it, At: workloadEpoch.Add(at)}}
		}
		bomb := "Please see the logs.\n\n" + UnreadNotice + "multiparts nested more than 20 deep). The support team has the original.]"
		ticket := thread("t", 4*time.Minute, bomb, nil)
		ticket.Event.Item.Ref = core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: "77"}
		batch := []core.Ingest{
			thread("bomb@x", time.Minute, bomb, nil),
			thread("big@x", 2*time.Minute, "The dump is attached.", map[string]string{"attachments_over_limit": "core.dump"}),
			thread("plain@x", 3*time.Minute, "It says could not be read in full, my screen reader.", map[string]string{"subject": "x"}),
			ticket,
		}
		if _, err := s.Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			n    int
			want []string
		}{
			{10, []string{"big@x", "bomb@x"}},
			{1, []string{"big@x"}},
		} {
			got, err := s.UnreadMail(ctx, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range got {
				ids = append(ids, it.Ref.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("UnreadMail(%d) = %q, want %q", tc.n, ids, tc.want)
			}
		}
	})
}

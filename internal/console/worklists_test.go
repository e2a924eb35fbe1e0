package console

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

// wed15 is a Wednesday afternoon in the default calendar (UTC, Mon–Fri
// 09:00–17:00), when the targets page is read.
var wed15 = time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)

func ticketEvent(id, priority, native string, created time.Time, path []core.StatusStep, comments ...core.Comment) core.Ingest {
	ref := core.Ref{System: "zendesk", Kind: core.CustomerTicket, ID: id}
	it := core.Item{Ref: ref, Title: "ticket " + id, Reporter: "ada@customer.example", Priority: priority, Native: native,
		CreatedAt: created, UpdatedAt: created.Add(time.Minute), Path: path, Comments: comments}
	return core.Ingest{Event: core.Event{Source: "zendesk", DeliveryID: "t" + id, Via: core.ViaWebhook, Type: core.Created, Item: it, At: it.UpdatedAt}}
}

func TestTargets_ListsMissedAndAtRiskMostOverdueFirst(t *testing.T) {
	s := openSite(t, nil)
	s.clock.mu.Lock()
	s.clock.now = wed15
	s.clock.mu.Unlock()
	wed := func(h, m int) time.Time { return time.Date(2026, 12, 2, h, m, 0, 0, time.UTC) }
	agentReply := core.Comment{ID: "c1", Author: "grace@support.example", Body: "Looking into it.", Public: true, CreatedAt: wed(9, 30)}
	batch := []core.Ingest{
		ticketEvent("9001", "urgent", "open", wed(9, 0), nil),                                                                                        // 2 working hours: due 11:00, missed
		ticketEvent("9002", "urgent", "open", wed(13, 30), nil),                                                                                      // due 15:30: at risk
		ticketEvent("9003", "urgent", "open", wed(9, 0), nil, agentReply),                                                                            // answered: met
		ticketEvent("9004", "urgent", "pending", wed(9, 0), []core.StatusStep{{Native: "open", At: wed(9, 0)}, {Native: "pending", At: wed(9, 10)}}), // waits on the customer
		ticketEvent("9005", "normal", "open", wed(9, 0).AddDate(0, 0, -1), nil),                                                                      // 1 working day: due Wed 09:00, missed
		ticketEvent("9006", "low", "open", wed(14, 0), nil),                                                                                          // 2 working days: far off
	}
	if _, err := s.store.Ingest(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		account Account
	}{{"viewer", viewerAccount}, {"admin", adminAccount}}
	row := regexp.MustCompile(`<tr class="target( breached)?" data-ref="([^"]+)" data-sla="([^"]+)">`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := signedIn(t, s, c.account)
			got := b.get("/targets")
			if got.status != http.StatusOK {
				t.Fatalf("targets page: %d", got.status)
			}
			var rows []string
			for _, m := range row.FindAllStringSubmatch(got.body, -1) {
				state := "at risk"
				if m[1] != "" {
					state = "missed"
				}
				rows = append(rows, m[2]+" "+m[3]+" "+state)
			}
			want := []string{
				"zendesk/customer_ticket/9005 first-response missed",
				"zendesk/customer_ticket/9001 first-response missed",
				"zendesk/customer_ticket/9002 first-response at risk",
			}
			if !slices.Equal(rows, want) {
				t.Errorf("targets page rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
			}
			if !strings.Contains(got.body, "2026-12-02 11:00:00") || !strings.Contains(got.body, "2 working hours") {
				t.Error("the page does not show 9001's deadline and target")
			}
		})
	}
	s.clock.advance(30 * 24 * time.Hour) // a month on, every open ticket has missed its targets
	got := signedIn(t, s, viewerAccount).get("/targets")
	if n := strings.Count(got.body, `class="target breached"`); n != 9 {
		t.Errorf("a month on: %d missed targets, want 9 (first response and resolution of 9001, 9002, 9005, 9006; resolution of 9003)", n)
	}
}

func TestUnread_ListsMailNotReadInFullWithWhy(t *testing.T) {
	s := openSite(t, nil)
	mail := func(id, body string, fields map[string]string) core.Ingest {
		ref := core.Ref{System: "imap", Kind: core.EmailThread, ID: id}
		it := core.Item{Ref: ref, Title: "Logs of the outage <script>", Reporter: "ada@customer.example", Fields: fields, UpdatedAt: wed15,
			Comments: []core.Comment{{ID: id, Author: "ada@customer.example", Body: body, Public: true, CreatedAt: wed15}}}
		return core.Ingest{Event: core.Event{Source: "imap", DeliveryID: id, Via: core.ViaPoll, Type: core.Created, Item: it, At: wed15}}
	}
	// The notice as the IMAP connector writes it (connectors/imap/intake.go, unreadNotice).
	bomb := "See below.\n\n" + store.UnreadNotice + "more than 100 parts). The support team has the original.]"
	if _, err := s.store.Ingest(context.Background(), []core.Ingest{
		mail("bomb@customer.example", bomb, nil),
		mail("dump@customer.example", "The dump.", map[string]string{"attachments_over_limit": "core.dump,heap.bin"}),
	}); err != nil {
		t.Fatal(err)
	}
	b := signedIn(t, s, viewerAccount)
	got := b.get("/unread")
	if got.status != http.StatusOK {
		t.Fatalf("unread page: %d", got.status)
	}
	for _, want := range []string{
		`data-ref="imap/email_thread/bomb@customer.example"`, "more than 100 parts",
		`data-ref="imap/email_thread/dump@customer.example"`, "attachments over the size limit: core.dump,heap.bin",
	} {
		if !strings.Contains(got.body, want) {
			t.Errorf("unread page lacks %q", want)
		}
	}
	if strings.Contains(got.body, "<script>") || strings.Contains(got.body, storyMailID) {
		t.Error("the unread page shows a raw <script> or the story's mail, which was read in full")
	}
	if got := s.browser(t).get("/unread"); got.status != http.StatusSeeOther {
		t.Errorf("unread page without a session: %d, want 303 to sign in", got.status)
	}
}

const storyMailID = "reset-500@customer.example"

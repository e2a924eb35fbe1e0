package imap

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/mail"
	"github.com/liaisonhq/liaison/core"
)

// seedThread takes a real customer mail in through the intake, so that the
// connector knows its thread as it would after Run read it.
func (f *fixture) seedThread(t *testing.T, raw []byte) core.Ref {
	t.Helper()
	st := newState(f.sink, f.c.name)
	v, err := f.c.intake(context.Background(), st, raw, inbox)
	if err != nil || len(v.events) != 1 {
		t.Fatalf("intake: %v %v", v, err)
	}
	if err := f.sink.Ingest(context.Background(), v.events); err != nil {
		t.Fatal(err)
	}
	if err := st.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.c.mu.Lock()
	f.c.sink = f.sink
	f.c.mu.Unlock()
	return v.events[0].Item.Ref
}

func TestApply_CommentIsAThreadedReply(t *testing.T) {
	f := newFixture(t, nil)
	thread := f.seedThread(t, eml(t, "qp-utf8-long-encoded-header.eml"))
	a := core.Action{Key: "mirror|zendesk/customer_ticket/4521#900|" + thread.String(), Kind: core.AddComment, Target: thread,
		Body: "We found the cause: the printer driver. A fix ships on Friday.", Public: true, Fields: map[string]string{"ticket": "4521"}}
	res, err := f.c.Apply(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := f.smtp.Wait(ctxT(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.Parse(sent[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	wantID := ownMessageID(a.Key, thread.ID, "example.com")
	if res.CommentID != wantID || m.MessageID != wantID {
		t.Errorf("Message-ID %q, result %q, want %q", m.MessageID, res.CommentID, wantID)
	}
	if sent[0].From != "support@example.com" {
		t.Errorf("envelope sender %q, want the gateway's address", sent[0].From)
	}
	if m.Subject != "Re: MIME UTF8 Test ¢ More Text [#4521]" {
		t.Errorf("subject %q", m.Subject)
	}
	if len(m.InReplyTo) != 1 || m.InReplyTo[0] != thread.ID || len(m.References) == 0 || m.References[0] != thread.ID {
		t.Errorf("In-Reply-To %v References %v, want the thread root %s", m.InReplyTo, m.References, thread.ID)
	}
	if m.Header("Auto-Submitted") != "" || m.Auto != mail.Person {
		t.Errorf("a person's reply marked automatic: %q %q", m.Header("Auto-Submitted"), m.Auto)
	}
	if m.To[0].Addr != "jamehi03@jamehi03lx.noa.com" {
		t.Errorf("to %v, want the requester", m.To)
	}
	if m.Text != a.Body {
		t.Errorf("body %q", m.Text)
	}
	if m.Header("X-Liaison-Marker") != a.Marker() {
		t.Errorf("marker %q, want %q", m.Header("X-Liaison-Marker"), a.Marker())
	}
	// A retry of the same action sends the same Message-ID, so the
	// recipient's client shows one mail.
	if _, err := f.c.Apply(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	sent, _ = f.smtp.Wait(ctxT(t), 2)
	if m2, _ := mail.Parse(sent[1].Data); m2.MessageID != wantID {
		t.Errorf("retry Message-ID %q, want %q", m2.MessageID, wantID)
	}
}

// TestApply_OwnMailComingBackIsIgnored: the copy of our reply (a Bcc to the
// support box) is not taken in, and the customer's answer to it, which
// names only our Message-ID, lands on the thread.
func TestApply_OwnMailComingBackIsIgnored(t *testing.T) {
	f := newFixture(t, nil)
	thread := f.seedThread(t, eml(t, "pdf-attachment.eml"))
	a := core.Action{Key: "reply|" + thread.String(), Kind: core.AddComment, Target: thread, Body: "Could you send the PDF again?"}
	if _, err := f.c.Apply(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	sent, _ := f.smtp.Wait(ctxT(t), 1)
	st := newState(f.sink, f.c.name)
	if v := mustIntake(t, f.c, st, sent[0].Data); v.outcome != outOwn || len(v.events) != 0 {
		t.Errorf("own mail: outcome %s, want own", v.outcome)
	}
	// The customer's answer: a real reply whose In-Reply-To names our mail
	// only (reply-yahoo.eml carries In-Reply-To and no References).
	ours := ownMessageID(a.Key, thread.ID, "example.com")
	answer := strings.Replace(string(eml(t, "reply-yahoo.eml")), "1333374262.7063.15.camel@mg5", ours, 1)
	v := mustIntake(t, f.c, st, withHeader(t, []byte(answer), "From", "Test Tester <xxxx@xxxx.com>"))
	if v.outcome != outReply || v.events[0].Item.Ref != thread || v.events[0].Item.Fields["threaded"] != "in_reply_to" {
		t.Errorf("answer: outcome %s on %v", v.outcome, refs(v.events))
	}
}

// TestApply_AcknowledgementIsAutomaticOnceAndLimited: an acknowledgement
// is an RFC 3834 automatic reply carrying the ticket token; a thread is
// acknowledged once, and a sender's fourth new thread within the hour is
// not (ack_per_sender_per_hour 3).
func TestApply_AcknowledgementIsAutomaticOnceAndLimited(t *testing.T) {
	f := newFixture(t, nil)
	raw := eml(t, "korean-ks_c_5601-1987.eml")
	ack := func(thread core.Ref, ticket string) core.Result {
		t.Helper()
		res, err := f.c.Apply(context.Background(), core.Action{Key: "ack|" + thread.String(), Kind: core.Notify, Target: thread, Fields: map[string]string{"ticket": ticket}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// Four threads from one sender: the real mail under four Message-IDs.
	var threads []core.Ref
	for i := range 4 {
		threads = append(threads, f.seedThread(t, withHeader(t, raw, "Message-ID", fmt.Sprintf("<korea-%d@company.com>", i))))
	}
	for i := range 3 {
		if res := ack(threads[i], fmt.Sprint(77+i)); res.CommentID == "" {
			t.Fatalf("ack %d not sent: %s", i, res.Note)
		}
	}
	if res := ack(threads[0], "77"); !strings.Contains(res.Note, "sent before") {
		t.Errorf("second ack of one thread: %+v, want it not sent again", res)
	}
	sent, _ := f.smtp.Wait(ctxT(t), 3)
	m, _ := mail.Parse(sent[0].Data)
	if sent[0].From != "" || !slices.Equal(sent[0].To, []string{"name@company.com"}) {
		t.Errorf("envelope %q → %v, want the null reverse path to the requester only", sent[0].From, sent[0].To)
	}
	if m.Header("Auto-Submitted") != "auto-replied" || m.Header("X-Auto-Response-Suppress") != "All" ||
		m.Header("In-Reply-To") != "<korea-0@company.com>" || m.Header("References") != "<korea-0@company.com>" {
		t.Errorf("headers Auto-Submitted %q X-Auto-Response-Suppress %q In-Reply-To %q References %q", m.Header("Auto-Submitted"),
			m.Header("X-Auto-Response-Suppress"), m.Header("In-Reply-To"), m.Header("References"))
	}
	if m.Text != "Thank you, we opened ticket #77 for [Korea] Name." || m.Subject != "Re: [Korea] Name [#77]" {
		t.Errorf("ack %q / %q", m.Subject, m.Text)
	}
	if res := ack(threads[3], "80"); res.CommentID != "" || !strings.Contains(res.Note, "hourly limit") {
		t.Errorf("fourth ack: %+v", res)
	}
	if n := len(f.smtp.Messages()); n != 3 {
		t.Errorf("%d mails sent, want 3", n)
	}
}

// TestApply_AcknowledgementTheServerMayHaveTakenIsNotSentAgain: the SMTP
// server takes the whole acknowledgement and answers only after the
// gateway stopped waiting. The attempt is of unknown outcome (the engine
// then waits before it retries), and the retry does not send it again:
// the requester may have it.
func TestApply_AcknowledgementTheServerMayHaveTakenIsNotSentAgain(t *testing.T) {
	f := newFixture(t, nil)
	thread := f.seedThread(t, eml(t, "korean-ks_c_5601-1987.eml"))
	ack := core.Action{Key: "ack|" + thread.String(), Kind: core.Notify, Target: thread, Fields: map[string]string{"ticket": "77"}}
	f.smtp.AnswerLate(1, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := f.c.Apply(ctx, ack); !core.IsUncertain(err) {
		t.Fatalf("first attempt: %v; want an error of unknown outcome", err)
	}
	res, err := f.c.Apply(context.Background(), ack)
	if err != nil || res.CommentID != "" || !strings.Contains(res.Note, "not sent again") {
		t.Fatalf("retry: %+v, %v; want it not sent again", res, err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("the server took %d acknowledgements; want 1", n)
	}
}

// TestApply_NoAcknowledgementWhenAskedNot: X-Auto-Response-Suppress on a
// person's mail opens a thread but no automatic answer goes out.
func TestApply_NoAcknowledgementWhenAskedNot(t *testing.T) {
	f := newFixture(t, nil)
	// A real mail with the header Outlook adds.
	raw := append([]byte("X-Auto-Response-Suppress: All\r\n"), eml(t, "outlook2000-windows1252-qp.eml")...)
	st := newState(f.sink, f.c.name)
	v := mustIntake(t, f.c, st, raw)
	if v.outcome != outNewThread || v.events[0].Item.Fields["no_autoreply"] != "true" {
		t.Fatalf("outcome %s fields %v: want a new thread marked no_autoreply", v.outcome, v.events[0].Item.Fields)
	}
	thread := f.seedThread(t, raw)
	res, err := f.c.Apply(context.Background(), core.Action{Key: "ack|" + thread.String(), Kind: core.Notify, Target: thread})
	if err != nil || res.CommentID != "" || !strings.Contains(res.Note, "no automatic answer") {
		t.Errorf("ack: %+v %v", res, err)
	}
	// A person's reply still goes out.
	if _, err := f.c.Apply(context.Background(), core.Action{Key: "reply|" + thread.String(), Kind: core.AddComment, Target: thread, Body: "Hello Doug"}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("%d mails sent, want only the person's reply", n)
	}
}

func TestApply_LoopBreakerStopsAutomaticMail(t *testing.T) {
	f := newFixture(t, nil) // loop_threshold 5
	raw := eml(t, "pdf-attachment.eml")
	st := newState(f.sink, f.c.name)
	var last verdict
	for i := 0; i < 6; i++ {
		// Six different mails from the same sender within the window.
		last = mustIntake(t, f.c, st, append([]byte("X-Seq: "+string(rune('0'+i))+"\r\n"), raw...))
	}
	if last.events[0].Item.Fields["loop"] != "tripped" {
		t.Fatalf("sixth mail fields %v, want loop tripped", last.events[0].Item.Fields)
	}
	if !strings.Contains(f.logs.String(), "loop breaker tripped") {
		t.Error("trip not reported")
	}
	res, err := f.c.Apply(context.Background(), core.Action{Key: "ack|x", Kind: core.Notify, Target: last.events[0].Item.Ref, To: "xxxx@xxxx.com"})
	if err != nil || res.CommentID != "" {
		t.Errorf("ack to a looping sender: %+v %v", res, err)
	}
}

func TestApply_SMTPFailuresAreClassified(t *testing.T) {
	f := newFixture(t, nil)
	thread := f.seedThread(t, eml(t, "pdf-attachment.eml"))
	a := core.Action{Key: "reply|" + thread.String(), Kind: core.AddComment, Target: thread, Body: "Hello"}
	f.smtp.FailNext(1, 451)
	_, err := f.c.Apply(context.Background(), a)
	if perm, _ := core.Classify(err); err == nil || perm {
		t.Errorf("451: %v, want a temporary error", err)
	}
	f.smtp.FailNext(1, 550)
	_, err = f.c.Apply(context.Background(), a)
	if perm, _ := core.Classify(err); err == nil || !perm {
		t.Errorf("550: %v, want a permanent error", err)
	}
	// Unsupported kinds are permanent.
	_, err = f.c.Apply(context.Background(), core.Action{Kind: core.Transition, Target: thread})
	if perm, _ := core.Classify(err); !perm {
		t.Errorf("transition: %v, want permanent", err)
	}
	f.smtp.Close()
	_, err = f.c.Apply(context.Background(), a)
	if perm, _ := core.Classify(err); err == nil || perm {
		t.Errorf("server down: %v, want temporary", err)
	}
}

// TestSecrets_NeverInLogsOrErrors fails logins on both servers and checks
// that neither password shows in the logs or the errors.
func TestSecrets_NeverInLogsOrErrors(t *testing.T) {
	f := newFixture(t, nil)
	// Wrong passwords: the servers refuse.
	f.c.cfg.password = core.Secret("wrong-imap-5e8d21")
	f.c.cfg.smtpPass = core.Secret("wrong-smtp-93af0c")
	var errs []error
	if _, err := f.c.dial(make(chan struct{}, 1)); err != nil {
		errs = append(errs, err)
	}
	thread := core.Ref{System: "imap", Kind: core.EmailThread, ID: "x@example.com"}
	f.c.sink = f.sink // thread state from the store, so Apply goes straight to SMTP
	if _, err := f.c.Apply(context.Background(), core.Action{Key: "k", Kind: core.AddComment, Target: thread, To: "ada@example.com", Body: "hi"}); err != nil {
		errs = append(errs, err)
	}
	if len(errs) != 2 {
		t.Fatalf("want both logins to fail, got %v", errs)
	}
	// The runner logs its failed session.
	stop := f.run(t)
	eventually(t, "a logged failure", func() bool { return strings.Contains(f.logs.String(), "reconnecting") })
	stop()
	text := f.logs.String()
	for _, e := range errs {
		text += "\n" + e.Error()
	}
	for _, secret := range []string{"wrong-imap-5e8d21", "wrong-smtp-93af0c", testSMTPPassword} {
		if strings.Contains(text, secret) {
			t.Errorf("secret %q leaked:\n%s", secret, text)
		}
	}
	if !strings.Contains(text, "log in to") || !strings.Contains(text, "smtp login") {
		t.Errorf("failures not reported:\n%s", text)
	}
	if s := (core.Secret("x")).String(); s != "<secret>" {
		t.Error(s)
	}
}

// TestApply_OnAnotherReplica: the replica that applies an action may not
// be the one reading the mailbox; it rebuilds the thread from the
// processed mailbox.
func TestApply_OnAnotherReplica(t *testing.T) {
	f := newFixture(t, nil)
	first := eml(t, "pdf-attachment.eml")
	second := []byte(strings.Replace(string(eml(t, "reply-yahoo.eml")), "<1333374262.7063.15.camel@mg5>", "<xxxx@xxxx.com>", 1))
	stop := f.run(t)
	f.append(t, inbox, first)
	f.sink.waitEvents(t, 1)
	f.append(t, inbox, second)
	evs := f.sink.waitEvents(t, 2)
	eventually(t, "processed", func() bool { return f.count(t, processed) == 2 })
	stop()

	other := build(t, *f.c.cfg.Config.withPort(f.c.cfg.Port), f.clock, f.logs) // no Run, no sink
	other.cfg.SMTP = f.c.cfg.SMTP
	other.cfg.smtpAddr, other.cfg.smtpPass = f.c.cfg.smtpAddr, f.c.cfg.smtpPass
	thread := evs[0].Item.Ref
	if _, err := other.Apply(context.Background(), core.Action{Key: "reply|" + thread.String(), Kind: core.AddComment, Target: thread, Body: "Fixed."}); err != nil {
		t.Fatal(err)
	}
	sent, _ := f.smtp.Wait(ctxT(t), 1)
	m, _ := mail.Parse(sent[0].Data)
	if m.To[0].Addr != "xxxx@xxxx.com" || m.Subject != "Re: Another PDF with 🎉 Unicode chars in it 🍿" {
		t.Errorf("to %v subject %q", m.To, m.Subject)
	}
	var cc []string
	for _, a := range m.Cc {
		cc = append(cc, a.Addr)
	}
	if !strings.Contains(strings.Join(cc, ","), "xxx@yahoo.com") {
		t.Errorf("cc %v, want the participant who replied", cc)
	}
	if len(m.References) != 2 || m.References[0] != thread.ID {
		t.Errorf("references %v", m.References)
	}
}

// TestWindow: the loop breaker's and the acknowledgement limiter's count
// of recent events per key.
func TestWindow(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		events []time.Duration // after t0, for key "a"
		at     time.Duration   // when recent is asked
		want   int
	}{
		{"none", nil, 0, 0},
		{"all recent", []time.Duration{0, time.Minute, 2 * time.Minute}, 30 * time.Minute, 3},
		{"oldest out", []time.Duration{0, time.Minute, 2 * time.Minute}, time.Hour + time.Minute, 1},
		{"exactly span old is out", []time.Duration{0}, time.Hour, 0},
		{"all out", []time.Duration{0, time.Minute}, 3 * time.Hour, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWindow(time.Hour)
			for i, d := range tc.events {
				if n := w.add("a", t0.Add(d)); n != i+1 {
					t.Fatalf("add %d counted %d", i, n)
				}
			}
			w.add("b", t0)
			if got := len(w.recent("a", t0.Add(tc.at))); got != tc.want {
				t.Fatalf("recent = %d, want %d", got, tc.want)
			}
			if tc.want == 0 {
				if _, kept := w.at["a"]; kept {
					t.Fatal("a key with no recent events is still kept")
				}
			}
			if len(w.recent("b", t0)) != 1 {
				t.Fatal("another key's events were touched")
			}
		})
	}
}

// TestApply_AcknowledgementLimitHoldsForActionsSideBySide: the engine
// applies actions of different cases at once; the per-sender limit still
// lets only ack_per_sender_per_hour (3) acknowledgements out.
func TestApply_AcknowledgementLimitHoldsForActionsSideBySide(t *testing.T) {
	f := newFixture(t, nil)
	raw := eml(t, "korean-ks_c_5601-1987.eml")
	var threads []core.Ref
	for i := range 5 { // new_threads_per_sender_per_hour
		threads = append(threads, f.seedThread(t, withHeader(t, raw, "Message-ID", fmt.Sprintf("<korea-%d@company.com>", i))))
	}
	var wg sync.WaitGroup
	for i, th := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.c.Apply(context.Background(), core.Action{Key: "ack|" + th.String(), Kind: core.Notify, Target: th, Fields: map[string]string{"ticket": fmt.Sprint(100 + i)}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(f.smtp.Messages()); n != 3 {
		t.Errorf("acknowledgements sent: %d; want 3", n)
	}
}

// TestApply_SentMailIsFiledCreatingTheMailboxOnce: every mail sent is
// filed, \Seen, in the sent mailbox; the mailbox is created when the
// first copy finds it missing, and the hierarchy delimiter asked for once,
// not before every mail.
func TestApply_SentMailIsFiledCreatingTheMailboxOnce(t *testing.T) {
	f := newFixture(t, nil)
	thread := f.seedThread(t, eml(t, "qp-utf8-long-encoded-header.eml"))
	for _, key := range []string{"mirror|first|" + thread.String(), "mirror|second|" + thread.String()} {
		a := core.Action{Key: key, Kind: core.AddComment, Target: thread, Body: "We found the cause.", Public: true}
		if _, err := f.c.Apply(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := f.srv.Messages("Sent")
	if err != nil || len(msgs) != 2 || !msgs[0].Seen() || !msgs[1].Seen() {
		t.Fatalf("sent mailbox: %d mails (%v); want both, seen", len(msgs), err)
	}
	for _, cmd := range []string{"CREATE", "LIST"} {
		if n := len(regexp.MustCompile(`(?m)^[^*\s]+ `+cmd+` `).FindAllString(f.proto.String(), -1)); n != 1 {
			t.Errorf("%s sent %d times for two mails; want once", cmd, n)
		}
	}
}

package imap

import (
	"context"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// withSubject derives a test mail from a real one by replacing its
// Subject line (and, with newID, its Message-ID).
func withSubject(t *testing.T, file, subject, newID string) []byte {
	t.Helper()
	var out []string
	for _, l := range strings.SplitAfter(string(eml(t, file)), "\n") {
		switch {
		case strings.HasPrefix(l, "Subject:"):
			l = "Subject: " + subject + "\r\n"
		case newID != "" && strings.HasPrefix(strings.ToLower(l), "message-id:"):
			l = "Message-ID: <" + newID + ">\r\n"
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, ""))
}

// TestToken_ThreadsOnlyParticipants: the mailbox learns a ticket's token
// when the gateway opened the ticket (the acknowledgement action carries
// it). A mail that names the token but no message joins that thread when
// its sender takes part in it, and starts a flagged thread of its own
// otherwise; a token nobody taught links nothing.
func TestToken_ThreadsOnlyParticipants(t *testing.T) {
	c, _ := offlineConnector(t)
	sink := newMemSink()
	c.sink = sink
	st := newState(sink, c.name)
	ctx := context.Background()
	first := mustIntake(t, c, st, withSubject(t, "pdf-attachment.eml", "Printer on fire", ""))
	if err := st.flush(ctx); err != nil {
		t.Fatal(err)
	}
	root := first.events[0].Item.Ref
	res, err := c.Apply(ctx, core.Action{Key: "ack|" + root.String(), Kind: core.Notify, Target: root, Fields: map[string]string{"ticket": "4521"}})
	if err != nil || res.CommentID != "" || !strings.Contains(res.Note, "acknowledgements are off") {
		t.Fatalf("acknowledgement without smtp: %+v %v; want the token learned and nothing sent", res, err)
	}

	// The same customer writes a new mail (no In-Reply-To) about the ticket.
	again := mustIntake(t, c, st, withSubject(t, "pdf-attachment.eml", "Still burning [#4521]", "second@xxxx.com"))
	if again.outcome != outReply || again.events[0].Item.Ref != root || again.events[0].Item.Fields["threaded"] != "token" ||
		again.events[0].Item.Fields["token"] != "4521" {
		t.Errorf("participant: outcome %s on %v fields %v, want a reply on %s with token 4521", again.outcome, refs(again.events), again.events[0].Item.Fields, root)
	}

	// Someone else quotes the token.
	other := mustIntake(t, c, st, withSubject(t, "korean-ks_c_5601-1987.eml", "Re: [#4521] we have this too", ""))
	ev := other.events[0]
	if other.outcome != outNewThread || ev.Item.Ref == root {
		t.Fatalf("stranger: outcome %s on %s, want a thread of its own", other.outcome, ev.Item.Ref)
	}
	if ev.Item.Fields["follow_up_of"] != root.String() || ev.Item.Fields["follow_up_token"] != "4521" || ev.Item.Fields["token"] != "" {
		t.Errorf("stranger fields %v: want follow_up_of %s and no token", ev.Item.Fields, root)
	}
	if ev.Type != core.Mailed {
		t.Errorf("type %s", ev.Type)
	}

	// A token the mailbox was never taught (a stranger's guess) links
	// nothing: a new thread without a token.
	guess := mustIntake(t, c, st, withSubject(t, "reply-thunderbird.eml", "About [#4388]", "guess@example.net"))
	if g := guess.events[0]; guess.outcome != outNewThread || g.Item.Fields["token"] != "" || g.Item.Fields["follow_up_of"] != "" {
		t.Errorf("unknown token: outcome %s fields %v, want a plain new thread", guess.outcome, g.Item.Fields)
	}
}

// TestReferences_StrangerStartsOwnThread: a mail whose In-Reply-To or
// References name a thread's message joins it only from a participant
// (requester, someone the thread's mails went to, an agent); anyone else's
// starts a thread of its own that names the one it referred to, and its
// Cc'd people do not become the first thread's participants.
func TestReferences_StrangerStartsOwnThread(t *testing.T) {
	c, _ := offlineConnector(t)
	c.cfg.agents = []string{"support-team.example"}
	sink := newMemSink()
	st := newState(sink, c.name)
	first := eml(t, "outlook2000-windows1252-qp.eml") // from doug@example.com
	root := mustIntake(t, c, st, first).events[0].Item.Ref
	// reply-yahoo.eml, from xxx@yahoo.com, its In-Reply-To pointed at the
	// first mail; then the same with References only.
	reply := withHeader(t, eml(t, "reply-yahoo.eml"), "In-Reply-To", "<"+root.ID+">")
	byRefs := withHeader(t, withHeader(t, reply, "In-Reply-To", ""), "References", "<"+root.ID+">")
	byRefs = withHeader(t, byRefs, "Message-ID", "<refs-only@yahoo.example>")
	for _, tc := range []struct {
		name string
		raw  []byte
	}{{"in-reply-to", reply}, {"references", byRefs}} {
		t.Run(tc.name, func(t *testing.T) {
			v := mustIntake(t, c, st, withHeader(t, tc.raw, "Cc", "accomplice@yahoo.com"))
			ev := v.events[0]
			if v.outcome != outNewThread || ev.Item.Ref == root || ev.Item.Fields["follow_up_of"] != root.String() {
				t.Fatalf("stranger's reply: outcome %s on %s follow_up_of %q, want a thread of its own naming %s", v.outcome, ev.Item.Ref, ev.Item.Fields["follow_up_of"], root)
			}
			th, _ := st.thread(context.Background(), root.ID)
			if th.isParticipant("accomplice@yahoo.com") || th.isParticipant("xxx@yahoo.com") || th.Count != 1 {
				t.Errorf("the first thread changed: participants %v, %d mails", th.Participants, th.Count)
			}
		})
	}
	// An agent's reply (participants.agents names their domain) joins.
	agent := withHeader(t, withHeader(t, reply, "From", "Alex Q <alex@support-team.example>"), "Message-ID", "<agent@support-team.example>")
	if v := mustIntake(t, c, st, agent); v.outcome != outReply || v.events[0].Item.Ref != root {
		t.Errorf("agent's reply: outcome %s on %v, want a reply on %s", v.outcome, refs(v.events), root)
	}
}

// TestReply_ReadsItsThreadOnce: the store read that admits a reply's
// sender to its thread is the one the intake then updates; the thread is
// not read a second time.
func TestReply_ReadsItsThreadOnce(t *testing.T) {
	c, _ := offlineConnector(t)
	sink := newMemSink()
	st := newState(sink, c.name)
	root := mustIntake(t, c, st, eml(t, "outlook2000-windows1252-qp.eml")).events[0].Item.Ref // from doug@example.com
	if err := st.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	reply := withHeader(t, eml(t, "reply-yahoo.eml"), "In-Reply-To", "<"+root.ID+">")
	reply = withHeader(t, reply, "From", "Doug Sauder <doug@example.com>")
	clear(sink.reads)
	if v := mustIntake(t, c, st, reply); v.outcome != outReply || v.events[0].Item.Ref != root {
		t.Fatalf("reply: outcome %s on %v, want a reply on %s", v.outcome, refs(v.events), root)
	}
	if n := sink.reads[st.key("thread", hashKey(root.ID))]; n != 1 {
		t.Errorf("the thread was read %d times for one reply; want once", n)
	}
}

package imap

import (
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

// TestToken_ThreadsOnlyParticipants: a mail that names a known ticket
// token but no message joins that thread when its sender takes part in it,
// and starts a flagged follow-up thread otherwise.
func TestToken_ThreadsOnlyParticipants(t *testing.T) {
	c, _ := offlineConnector(t)
	st := newState(newMemSink(), c.name)
	first := mustIntake(t, c, st, withSubject(t, "pdf-attachment.eml", "Printer on fire [#4521]", ""))
	root := first.events[0].Item.Ref
	if first.events[0].Item.Fields["token"] != "4521" {
		t.Fatalf("first mail fields %v, want token 4521", first.events[0].Item.Fields)
	}

	// The same customer writes a new mail (no In-Reply-To) about the ticket.
	again := mustIntake(t, c, st, withSubject(t, "pdf-attachment.eml", "Still burning [#4521]", "second@xxxx.com"))
	if again.outcome != outReply || again.events[0].Item.Ref != root || again.events[0].Item.Fields["threaded"] != "token" {
		t.Errorf("participant: outcome %s on %v threaded %q, want a reply on %s", again.outcome, refs(again.events), again.events[0].Item.Fields["threaded"], root)
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
}

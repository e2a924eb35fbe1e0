package imap

import (
	"bytes"
	"context"
	"net/mail"
	"regexp"
	"slices"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// A customer whose From is "victim@corp.example,x"@attacker.example gets
// replies at that one address: the reply to the reporter and a notify
// rule's To (the reporter, rendered unquoted) each reach that one address,
// never victim@corp.example.
func TestApply_QuotedCommaSenderIsOneRecipient(t *testing.T) {
	const reporter = "victim@corp.example,x@attacker.example" // as the connector keeps it
	raw := regexp.MustCompile(`(?m)^From: .*$`).ReplaceAll(eml(t, "qp-utf8-long-encoded-header.eml"),
		[]byte(`From: "victim@corp.example,x"@attacker.example`))
	f := newFixture(t, nil)
	thread := f.seedThread(t, raw)
	rcpt, err := core.ParseRecipient(reporter)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range []core.Action{
		{Key: "reply", Kind: core.AddComment, Target: thread, Body: "We are on it."},
		{Key: "notify", Kind: core.Notify, Target: thread, Body: "Noted.", To: reporter, Recipients: []mail.Address{rcpt}},
		{Key: "stored", Kind: core.Notify, Target: thread, Body: "Noted again.", To: reporter},
	} {
		if _, err := f.c.Apply(context.Background(), a); err != nil {
			t.Fatalf("%s: %v", a.Key, err)
		}
		sent, err := f.smtp.Wait(ctxT(t), i+1)
		if err != nil {
			t.Fatalf("%s: %v", a.Key, err)
		}
		// A person's reply also copies the thread's other participant.
		want := []string{reporter}
		if a.Kind == core.AddComment {
			want = append(want, "marczak@inbucket.com")
		}
		if got := sent[i].To; !slices.Equal(got, want) {
			t.Errorf("%s: envelope recipients %q; want %q", a.Key, got, want)
		}
		if bytes.Contains(sent[i].Data, []byte("<victim@corp.example>")) {
			t.Errorf("%s: the mail names victim@corp.example as an address:\n%s", a.Key, sent[i].Data)
		}
	}
}

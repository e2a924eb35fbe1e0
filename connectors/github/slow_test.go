package github

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// TestSlowSuccess_CommentMadeOnce: GitHub posts a comment after the
// connector stopped waiting for the answer. The write fails as uncertain
// and is not sent again in place; once it landed, the engine's resend
// finds it among the pull request's comments by its hidden marker and
// posts nothing (the engine resends only once the first attempt can no
// longer land: see the engine's tests).
func TestSlowSuccess_CommentMadeOnce(t *testing.T) {
	h, ref := applyHarness(t)
	ro := fastRetries
	ro.Timeout = 200 * time.Millisecond // the fake holds the answer until the client gives up
	c, err := newConnector(setup("github", "base_url: "+h.api.URL+"\ntoken_env: GH_TOKEN\nwebhook_secret_env: GH_SECRET\nrepos: [acme/kbot]\n", h.clock, h.logs), ro)
	if err != nil {
		t.Fatal(err)
	}
	h.gh.HoldWrites(1, regexp.MustCompile(`/comments$`), nil)
	a := core.Action{Key: "rule|corrected", Kind: core.AddComment, Target: ref, Body: "Fixed in KBOT-88.", Public: true}
	if _, err := c.Apply(context.Background(), a); !core.IsUncertain(err) {
		t.Fatalf("held comment: %v; want an error of unknown outcome", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(h.pr("acme/kbot", 1).Comments) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the held comment never landed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// (The fake records a call once it is served: after the landing.)
	posts := 0
	for _, call := range h.gh.Calls() {
		if strings.HasPrefix(call.String(), "POST ") {
			posts++
		}
	}
	if posts != 1 {
		t.Fatalf("%d posts; want the one, not sent again in place", posts)
	}
	res, err := c.Apply(context.Background(), a)
	if err != nil || res.Note != "comment already present" {
		t.Fatalf("resend: %+v, %v; want the comment found", res, err)
	}
	if n := len(h.pr("acme/kbot", 1).Comments); n != 1 {
		t.Fatalf("%d comments, want 1", n)
	}
}

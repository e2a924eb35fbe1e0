package notify

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// Format is the shape of a webhook notification's body.
type Format string

// Webhook body formats. A Notify action names one in its fields (format:
// slack); otherwise the URL's host decides: Slack's incoming webhooks
// (hooks.slack.com) get Slack's, Microsoft Teams' (*.webhook.office.com)
// an Adaptive Card, any other the generic Payload.
const (
	FormatJSON  Format = "json"
	FormatSlack Format = "slack"
	FormatTeams Format = "teams"
)

// FormatFor decides the body format of a webhook to u; field is the
// action's format field ("" when none). An unknown field is an error.
func FormatFor(u *url.URL, field string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(field))); f {
	case FormatJSON, FormatSlack, FormatTeams:
		return f, nil
	case "":
	default:
		return "", fmt.Errorf("format %q: want json, slack or teams", field)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "hooks.slack.com":
		return FormatSlack, nil
	case strings.HasSuffix(host, ".webhook.office.com"):
		return FormatTeams, nil
	}
	return FormatJSON, nil
}

// Slack's limits on a header block and a section's text.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
)

// slackMessage is an incoming-webhook message: "text" for the
// notification itself (mrkdwn, so the rule's text is escaped: customer
// words are never markup), blocks for the message shown. The blocks hold
// the text as plain_text, which Slack shows as written.
func slackMessage(p Payload) map[string]any {
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": core.Clip(p.Title, slackHeaderMax)}},
	}
	if strings.TrimSpace(p.Text) != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "plain_text", "text": core.Clip(p.Text, slackSectionMax)}})
	}
	context := slackEscape(p.Subject)
	if link := linkable(p.URL); link != "" {
		context = "<" + link + "|" + slackEscape(p.Subject) + ">"
	}
	if p.Rule != "" {
		context += " · rule " + slackEscape(p.Rule)
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{{"type": "mrkdwn", "text": context}}})
	return map[string]any{"text": slackEscape(p.Title), "blocks": blocks}
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// to (links, mentions, entities).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// teamsMessage is an incoming-webhook message carrying an Adaptive Card.
// The text is a RichTextBlock of TextRuns, which Teams shows as written
// (a TextBlock would read the customer's words as markdown).
func teamsMessage(p Payload) map[string]any {
	body := []map[string]any{
		{"type": "RichTextBlock", "inlines": []map[string]any{{"type": "TextRun", "text": p.Title, "weight": "Bolder", "size": "Medium"}}},
	}
	if strings.TrimSpace(p.Text) != "" {
		body = append(body, map[string]any{"type": "RichTextBlock", "inlines": []map[string]any{{"type": "TextRun", "text": p.Text}}})
	}
	facts := []map[string]string{{"title": "Record", "value": p.Subject}}
	if p.Rule != "" {
		facts = append(facts, map[string]string{"title": "Rule", "value": p.Rule})
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}
	if link := linkable(p.URL); link != "" {
		card["actions"] = []map[string]any{{"type": "Action.OpenUrl", "title": "Open " + p.Subject, "url": link}}
	}
	return map[string]any{"type": "message", "attachments": []map[string]any{{
		"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil, "content": card}}}
}

// linkable returns raw when it is an http(s) URL safe to put in a link,
// else "".
func linkable(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(raw, "<>| \n") {
		return ""
	}
	return raw
}

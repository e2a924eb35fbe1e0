package jira

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The wire types below decode what Jira sends: webhook bodies and REST v2
// answers (and tolerate v3's Atlassian Document Format). They are our own
// rather than go-jira's Issue because an issue's custom fields are resolved
// by name, its description may be ADF, and a comment's JSM visibility
// (jsdPublic, sd.public.comment) has no place in go-jira's types.

// wireIssue is an issue as the REST API and webhooks carry it.
type wireIssue struct {
	ID     string                     `json:"id"`
	Key    string                     `json:"key"`
	Self   string                     `json:"self"`
	Fields map[string]json.RawMessage `json:"fields"`
	// Changelog is present with expand=changelog.
	Changelog *wireChangelogPage `json:"changelog"`
	// Transitions is present with expand=transitions.
	Transitions []wireTransition `json:"transitions"`
}

type wireUser struct {
	AccountID    string `json:"accountId"`
	Name         string `json:"name"`
	Key          string `json:"key"`
	EmailAddress string `json:"emailAddress"`
	DisplayName  string `json:"displayName"`
	TimeZone     string `json:"timeZone"`
}

// identity is how the user is known in Jira's API: the account id on Cloud,
// the user name on Data Center.
func (u *wireUser) identity() string {
	if u == nil {
		return ""
	}
	for _, s := range []string{u.AccountID, u.Name, u.Key, u.EmailAddress} {
		if s != "" {
			return s
		}
	}
	return ""
}

type wireNamed struct {
	ID    string `json:"id"`
	Key   string `json:"key"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

type wireStatus struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	StatusCategory struct {
		Key string `json:"key"`
	} `json:"statusCategory"`
}

type wireTransition struct {
	ID   string     `json:"id"`
	Name string     `json:"name"`
	To   wireStatus `json:"to"`
}

type wireTransitions struct {
	Transitions []wireTransition `json:"transitions"`
}

type wireVisibility struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type wireProperty struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

type wireComment struct {
	ID           string          `json:"id"`
	Self         string          `json:"self"`
	Author       *wireUser       `json:"author"`
	Body         json.RawMessage `json:"body"` // a string (v2) or an ADF document (v3)
	Created      string          `json:"created"`
	Updated      string          `json:"updated"`
	Visibility   *wireVisibility `json:"visibility"`
	JSDPublic    *bool           `json:"jsdPublic"`
	Properties   []wireProperty  `json:"properties"`
	UpdateAuthor *wireUser       `json:"updateAuthor"`
}

type wireCommentPage struct {
	StartAt    int            `json:"startAt"`
	MaxResults int            `json:"maxResults"`
	Total      int            `json:"total"`
	Comments   []*wireComment `json:"comments"`
}

type wireChangeItem struct {
	Field      string `json:"field"`
	FieldType  string `json:"fieldtype"`
	FieldID    string `json:"fieldId"`
	From       string `json:"from"`
	FromString string `json:"fromString"`
	To         string `json:"to"`
	ToString   string `json:"toString"`
}

type wireChangelog struct {
	ID    string           `json:"id"`
	Items []wireChangeItem `json:"items"`
}

type wireHistory struct {
	ID      string           `json:"id"`
	Author  *wireUser        `json:"author"`
	Created string           `json:"created"`
	Items   []wireChangeItem `json:"items"`
}

type wireChangelogPage struct {
	StartAt    int           `json:"startAt"`
	MaxResults int           `json:"maxResults"`
	Total      int           `json:"total"`
	Histories  []wireHistory `json:"histories"`
}

type wireIssueLink struct {
	ID   string `json:"id"`
	Type struct {
		Name    string `json:"name"`
		Inward  string `json:"inward"`
		Outward string `json:"outward"`
	} `json:"type"`
	InwardIssue  *struct{ Key string } `json:"inwardIssue"`
	OutwardIssue *struct{ Key string } `json:"outwardIssue"`
}

// wireWebhook is the body of a Jira webhook delivery.
type wireWebhook struct {
	Timestamp          int64          `json:"timestamp"`
	WebhookEvent       string         `json:"webhookEvent"`
	IssueEventTypeName string         `json:"issue_event_type_name"`
	User               *wireUser      `json:"user"`
	Issue              *wireIssue     `json:"issue"`
	Changelog          *wireChangelog `json:"changelog"`
	Comment            *wireComment   `json:"comment"`
}

// wireSearch is a search answer: Data Center's /search (startAt, total) or
// Cloud's enhanced /search/jql (nextPageToken, isLast).
type wireSearch struct {
	StartAt       int          `json:"startAt"`
	MaxResults    int          `json:"maxResults"`
	Total         int          `json:"total"`
	IsLast        *bool        `json:"isLast"`
	NextPageToken string       `json:"nextPageToken"`
	Issues        []*wireIssue `json:"issues"`
}

type wireCreated struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	Self string `json:"self"`
}

// The layouts Jira writes times in: REST and webhooks use
// 2019-02-15T19:14:22.002-0800; some custom fields carry RFC 3339.
var timeLayouts = []string{
	"2006-01-02T15:04:05.000-0700",
	"2006-01-02T15:04:05-0700",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.000Z0700",
}

// parseTime reads a Jira time; "" gives the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	// The value is not quoted: it may come from a webhook body.
	return time.Time{}, errors.New("a time not in Jira's format")
}

// formatJiraTime writes a time as Jira's date-time fields want it.
func formatJiraTime(t time.Time) string { return t.Format("2006-01-02T15:04:05.000-0700") }

// field decodes one of an issue's fields into v; a missing or null field
// leaves v as it is.
func (iss *wireIssue) field(name string, v any) error {
	raw, ok := iss.Fields[name]
	if !ok || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("issue field %q: %w", name, safeJSONError(err))
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// richText reads a text that is a string (REST v2, wiki markup) or an
// Atlassian Document Format document (REST v3), as plain text.
func richText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", safeJSONError(err)
		}
		return s, nil
	}
	var doc adfNode
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", safeJSONError(err)
	}
	var b strings.Builder
	doc.text(&b, 0)
	return strings.TrimRight(b.String(), "\n"), nil
}

// adfNode is a node of an Atlassian Document Format document.
type adfNode struct {
	Type    string    `json:"type"`
	Text    string    `json:"text"`
	Content []adfNode `json:"content"`
	Attrs   struct {
		Text string `json:"text"`
		URL  string `json:"url"`
	} `json:"attrs"`
}

// maxADFDepth bounds recursion over hostile documents.
const maxADFDepth = 64

func (n *adfNode) text(b *strings.Builder, depth int) {
	if depth > maxADFDepth {
		return
	}
	switch n.Type {
	case "text":
		b.WriteString(n.Text)
	case "hardBreak":
		b.WriteString("\n")
	case "mention", "emoji":
		b.WriteString(n.Attrs.Text)
	case "inlineCard", "blockCard":
		b.WriteString(n.Attrs.URL)
	}
	for i := range n.Content {
		n.Content[i].text(b, depth+1)
	}
	switch n.Type {
	case "paragraph", "heading", "codeBlock", "blockquote", "listItem", "rule":
		b.WriteString("\n")
	}
}

// fieldText renders a field's value as the text Item.Fields keeps: strings
// as they are, numbers in decimal, options by value, users by identity,
// named things by name or key, arrays joined by ", ". It returns false for
// values with no sensible text (objects Jira uses for its own bookkeeping).
func fieldText(raw json.RawMessage) (string, bool) { return fieldTextDepth(raw, 0) }

// maxFieldDepth bounds nesting: each level re-reads its part of the value,
// so a deeply nested one would cost quadratic time.
const maxFieldDepth = 3

func fieldTextDepth(raw json.RawMessage, depth int) (string, bool) {
	if depth > maxFieldDepth {
		return "", false
	}
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return "", false
		}
		var parts []string
		for _, it := range items {
			if s, ok := fieldTextDepth(it, depth+1); ok && s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", "), true
	case '{':
		var o struct {
			wireNamed
			AccountID string          `json:"accountId"`
			Type      string          `json:"type"`
			Content   json.RawMessage `json:"content"`
		}
		if json.Unmarshal(raw, &o) != nil {
			return "", false
		}
		switch {
		case o.Type == "doc" && o.Content != nil:
			s, err := richText(raw)
			return s, err == nil
		case o.Value != "":
			return o.Value, true
		case o.AccountID != "":
			return o.AccountID, true
		case o.Name != "":
			return o.Name, true
		case o.Key != "":
			return o.Key, true
		}
		return "", false
	case 't', 'f':
		var v bool
		if json.Unmarshal(raw, &v) != nil {
			return "", false
		}
		return strconv.FormatBool(v), true
	default:
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
}

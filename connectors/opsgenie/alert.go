package opsgenie

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Limits of the Alert API's create request.
const (
	maxMessage     = 130
	maxDescription = 15000
	maxNote        = 25000
	maxDetail      = 8000
)

// Priorities are OpsGenie's alert priorities, most urgent first.
var Priorities = []string{"P1", "P2", "P3", "P4", "P5"}

// defaultPriority is what OpsGenie itself assumes.
const defaultPriority = "P3"

// CreateAlert is the body of POST /v2/alerts.
type CreateAlert struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description,omitempty"`
	Responders  []Responder       `json:"responders,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
	User        string            `json:"user"`
}

// Responder names who is notified: a team by name here.
type Responder struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Note is the body of the close and acknowledge requests.
type Note struct {
	User   string `json:"user"`
	Source string `json:"source"`
	Note   string `json:"note"`
}

// Accepted is OpsGenie's answer to an asynchronous request (202).
type Accepted struct {
	Result    string  `json:"result"`
	Took      float64 `json:"took"`
	RequestID string  `json:"requestId"`
}

// Alert is what GET /v2/alerts/{alias}?identifierType=alias returns under
// "data" (the fields the gateway reads).
type Alert struct {
	ID           string    `json:"id"`
	TinyID       string    `json:"tinyId"`
	Alias        string    `json:"alias"`
	Message      string    `json:"message"`
	Status       string    `json:"status"`
	Acknowledged bool      `json:"acknowledged"`
	Priority     string    `json:"priority"`
	Tags         []string  `json:"tags"`
	Owner        string    `json:"owner"`
	Count        int       `json:"count"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// AlertFor builds the create request of a page action: the action's
// title as the message, its body as the description, its marker as the
// alias, the responder team of the action (field team) or the config,
// and the priority the rule gave (field priority).
func AlertFor(a core.Action, team string) (CreateAlert, error) {
	msg := strings.TrimSpace(a.Title)
	if msg == "" {
		return CreateAlert{}, errors.New("a page needs a title (the alert's message)")
	}
	prio, err := vendor.Priority(a.Fields["priority"], defaultPriority, Priorities)
	if err != nil {
		return CreateAlert{}, err
	}
	body := CreateAlert{
		Message:     core.Clip(msg, maxMessage),
		Alias:       a.Marker(),
		Description: core.Clip(a.Body, maxDescription),
		Tags:        []string{"liaison"},
		Details:     map[string]string{"subject": a.Subject.String(), "rule": a.Rule},
		Entity:      core.Clip(strings.TrimSpace(a.Fields["entity"]), 512),
		Source:      "liaison",
		Priority:    prio,
		User:        "Liaison",
	}
	if u := strings.TrimSpace(a.Fields["url"]); u != "" {
		body.Details["url"] = core.Clip(u, maxDetail)
	}
	if t := strings.TrimSpace(a.Fields["team"]); t != "" {
		team = t
	}
	if team != "" {
		body.Responders = []Responder{{Name: team, Type: "team"}}
	}
	return body, nil
}

// decodeAlert reads a GET answer; a parser of outside input, fuzzed.
func decodeAlert(b []byte) (*Alert, error) {
	var v struct {
		Data *Alert `json:"data"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	if v.Data == nil {
		return nil, errors.New("no data")
	}
	return v.Data, nil
}

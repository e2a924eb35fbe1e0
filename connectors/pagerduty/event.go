package pagerduty

import (
	"encoding/json"
	"errors"
)

// Limits of the Events API.
const (
	maxSummary = 1024
	maxDetails = 8000
)

// Event is the body of POST /v2/enqueue. RoutingKey is the credential: an
// Event is never logged nor put in an error.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload describes a triggered alert.
type Payload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

// Link is a link shown with the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Accepted is the Events API's answer to an accepted event (202).
type Accepted struct {
	Status   string `json:"status"`
	Message  string `json:"message"`
	DedupKey string `json:"dedup_key"`
}

// decodeAccepted reads the API's answer; a parser of outside input, fuzzed.
func decodeAccepted(b []byte) (Accepted, error) {
	var a Accepted
	if err := json.Unmarshal(b, &a); err != nil {
		return Accepted{}, err
	}
	if a.Status != "success" {
		return Accepted{}, errors.New("status is not success")
	}
	return a, nil
}

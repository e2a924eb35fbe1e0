package zendesk

import (
	"encoding/json"
	"testing"
)

// TestTriggerJSON_IsABodyTheWebhookReads: the trigger body `liaison setup`
// prints decodes as the webhook decodes trigger bodies, with every custom
// field keyed by its title.
func TestTriggerJSON_IsABodyTheWebhookReads(t *testing.T) {
	var tb triggerBody
	if err := json.Unmarshal([]byte(triggerJSON([]string{"Developer ticket", "Steps to reproduce"})), &tb); err != nil {
		t.Fatal(err)
	}
	if tb.Ticket == nil || tb.Ticket.LatestComment == nil || len(tb.Ticket.CustomFields) != 2 {
		t.Fatalf("trigger body lacks the ticket, its latest comment or its custom fields: %+v", tb.Ticket)
	}
	if _, ok := tb.Ticket.CustomFields["Steps to reproduce"]; !ok {
		t.Fatalf("custom fields not keyed by title: %v", tb.Ticket.CustomFields)
	}
}

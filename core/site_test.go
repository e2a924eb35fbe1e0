package core

import "testing"

// TestWebhookAt: a webhook reaches the gateway at its public URL (without
// regard to case or a trailing slash), or by its path when the public URL
// is not known; another instance's or gateway's does not.
func TestWebhookAt(t *testing.T) {
	for _, tc := range []struct {
		hook, public string
		want         bool
	}{
		{"https://gw.example.org/webhooks/jira/jira", "https://gw.example.org", true},
		{"https://GW.example.org/webhooks/jira/jira/", "https://gw.example.org/", true},
		{" https://gw.example.org/webhooks/jira/jira", "https://gw.example.org", true},
		{"https://old.example.org/webhooks/jira/jira", "https://gw.example.org", false},
		{"https://gw.example.org/webhooks/jira/jira-eu", "https://gw.example.org", false},
		{"https://gw.example.org/webhooks/zendesk/jira", "https://gw.example.org", false},
		{"http://10.0.0.5:8080/webhooks/jira/jira", "", true},
		{"http://10.0.0.5:8080/webhooks/jira/jira-eu", "", false},
		{"", "", false},
	} {
		if got := WebhookAt(tc.hook, tc.public, "jira", "jira"); got != tc.want {
			t.Errorf("WebhookAt(%q, %q) = %v, want %v", tc.hook, tc.public, got, tc.want)
		}
	}
}

package github

import (
	"strings"

	"github.com/liaisonhq/liaison/core"
)

func init() { core.RegisterSetupGuide("github", guide) }

// guide lists the access the connector needs and the webhook to register.
func guide(system string, _ *core.Mappings, publicURL string) []core.SetupStep {
	return []core.SetupStep{
		{
			Title: "Access",
			Where: "a GitHub App (Settings → Developer settings → GitHub Apps), or a fine-grained token",
			Items: []string{
				"repository permissions: Metadata read; Pull requests read and write; Issues read and write (comments, labels); Contents read (commits); Commit statuses read and write",
				"Webhooks read and write, so that failed deliveries are redelivered",
				"installed on (or scoped to) every repository in the config's repos",
			},
		},
		{
			Title: "Webhook",
			Where: "each repository (or the organisation) → Settings → Webhooks → Add webhook (or POST this to /repos/{owner}/{repo}/hooks or /orgs/{org}/hooks)",
			Items: []string{
				"payload URL: " + publicURL + core.WebhookPath("github", system),
				"content type: application/json",
				"secret: the one the config's webhook_secret_env (or webhook_secret_file) names; deliveries are signed X-Hub-Signature-256",
				"events: " + strings.Join(hookEvents, ", ") + " (Issue comments, Pull requests, Pull request reviews, Pushes)",
			},
			Code: core.SetupJSON(map[string]any{"name": "web", "active": true, "events": hookEvents,
				"config": map[string]string{"url": publicURL + core.WebhookPath("github", system), "content_type": "json", "insecure_ssl": "0", "secret": "<the webhook secret>"}}),
			Lang: "json",
		},
	}
}

package imap

import "github.com/liaisonhq/liaison/core"

func init() { core.RegisterSetupGuide("imap", guide) }

// guide lists the mailbox's folders and accounts: mail needs no webhook.
func guide(system string, _ *core.Mappings, _ string) []core.SetupStep {
	return []core.SetupStep{
		{
			Title: "Mailbox",
			Where: "the mail server's account for the support address",
			Items: []string{
				"IMAP access (port 993, TLS) for the support address; IDLE is used where the server offers it, polling otherwise",
				"folders Liaison/Processed and Liaison/Failed (or those the config's processed_mailbox and failed_mailbox name); the connector creates them when it may",
				"SMTP submission (port 587 STARTTLS or 465) with the same account, for replies to customers",
				"Gmail and Microsoft 365: an app password (or the provider's OAuth app password policy) for IMAP and SMTP; plain passwords are refused by both",
				"instance " + system + ": no webhook; new mail is read as it arrives",
			},
		},
	}
}

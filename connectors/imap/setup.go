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
				"Gmail: an app password (the Google account needs 2-Step Verification) for IMAP and SMTP, or for IMAP an OAuth 2.0 access token in xoauth2_token_env or xoauth2_token_file, which your token helper keeps fresh; the account's own password is refused",
				"Microsoft 365: Exchange Online refuses passwords for IMAP: give an OAuth 2.0 access token (xoauth2_token_env or xoauth2_token_file); SMTP AUTH must be turned on for the mailbox (Microsoft 365 admin center → the user → Mail → Manage email apps)",
				"instance " + system + ": no webhook; new mail is read as it arrives",
			},
		},
	}
}

// Package github is Liaison's connector for GitHub and GitHub Enterprise
// Server: it turns pull requests into records of kind pull_request, so that a
// pull request naming a developer ticket moves that ticket by itself, and it
// writes back what the mappings ask (a comment, labels, a commit status).
//
// It registers the connector kind "github". Every Ref it produces is
// <instance>/pull_request/<owner>/<repo>#<number>.
//
// # Configuration
//
//	base_url:            API root; default https://api.github.com/ (GHES: https://HOST/api/v3)
//	insecure_http:       true allows an http:// base_url off loopback (token in clear)
//	token_env:           env var holding a personal access token, or
//	token_file:          file holding it
//	app_id:              GitHub App id           } instead of a token: the App's
//	installation_id:     installation id         } installation token, refreshed
//	private_key_file:    the App's PEM key       } before it expires (ghinstallation)
//	webhook_secret_env:  env var holding the webhook secret, or
//	webhook_secret_file: file holding it (required unless webhooks: false)
//	webhooks:            false to run on polling alone (default true)
//	repos:               [owner/name, ...] polled, and the only ones whose webhooks are accepted
//	hook_id:             {owner/name: 123, org: 456} the webhook ids, by repository or
//	                     organization, whose failed deliveries are redelivered (optional)
//	poll_interval:       how often the engine should poll (default 5m; see PollInterval)
//	redeliver_interval:  how often failed deliveries are looked for (default 10m)
//	status_context:      context of commit statuses written (default "liaison")
//	trusted_authors:     author associations whose pull requests link what they
//	                     name (default [OWNER, MEMBER, COLLABORATOR])
//	trusted_authors_by_repo: {owner/name: [OWNER, ...]} the same, for one repository
//
// Secrets are read from the environment or a file, never inline, and are
// never logged or put in errors.
//
// # What is read
//
// Item: Title, Body, Native (open, draft, merged or closed), Reporter (the
// author's login), Assignee (the first assignee), Labels, URL, UpdatedAt, and
// Fields: branch (head ref), base (base ref), head_sha, repo (owner/name),
// org (owner), author_association (GitHub's: OWNER, MEMBER, NONE, ...),
// commits (the pull request's commit messages, oldest first, joined by
// "\n"). Untrusted is set when the author's association is not one the
// repository trusts: anyone may open a pull request on a public repository,
// so the keys in such a one's text are only mentions, which link nothing.
//
// A delivery is answered without a call to the API: its payload holds the
// title, body, branch and state. The commits come from the commits API
// (cached per head sha) only where a key could be in them and is nowhere
// else (a link pattern searches commits and none finds a key in the rest),
// and after the answer: the connector's Run reads them and hands the
// snapshot with them to the engine as a further event of the delivery
// (<delivery id>/commits). Until then the commits read at an older head
// stand in, because the store replaces a record's discovered links with
// those found in its newest snapshot. A read that keeps failing is logged
// and left to the poll. Polls and Fetch read the commits as before.
//
// Webhooks: pull_request opened → Opened, reopened → Reopened (Seen also
// holds Opened), closed → Merged or ClosedUnmerged, ready_for_review and
// converted_to_draft → StatusChange, synchronize → Pushed, edited and other
// actions (labeled, assigned, ...) → Updated; pull_request_review approved →
// Approved, changes_requested → ChangesRequested (other review states are
// ignored); issue_comment on a pull request → Commented, a comment-only
// snapshot holding just the Ref, UpdatedAt and the comment, which the store
// merges into what it knows (comments on plain issues are ignored); link
// discovery must therefore run on the merged snapshot, not on such an
// event's Item. GitHub comments are never seen by customers, so they are
// Public false. A comment carrying the hidden
// marker <!-- liaison-xxxxxxxxxxxx --> is ours and gets Comment.Marker.
//
// push: the connector keeps, in memory, the open pull requests it has seen by
// repository and head branch; a push to such a branch emits, after the
// answer (Run), a Pushed event for each of them with a fresh snapshot (pull
// request and commits, which include the pushed messages). A push to a branch whose pull request was not
// seen since start emits nothing: GitHub sends the pull request's
// synchronize delivery for the same push, which carries the same update.
// Tag pushes and branch deletions are ignored.
//
// ping is answered with no events. Any other event, and ignored actions, are
// acknowledged with no events and counted in
// liaison_github_webhooks_ignored_total{event}.
//
// GitHub signs no timestamp and does not retry failed deliveries. The
// delivery id (X-GitHub-Delivery, kept by GitHub on redelivery) is the
// event's DeliveryID, on which the store de-duplicates; when hook_id is set,
// Start lists the hook's deliveries of the last three days (on start and every
// redeliver_interval) and asks GitHub to redeliver those that failed with a
// transient answer (no answer, 429 or 5xx), at most five attempts each.
//
// Poll reads each repository's pull requests by updated time, newest first,
// down to the cursor, with a conditional request (If-None-Match) on the first
// page, so that an idle poll is answered 304 and costs no rate limit. The
// cursor is versioned JSON holding, per repository, the time reached and
// the first page's ETag. A polled event's DeliveryID is
// "<ref>@<updated_at>/<digest of the snapshot>", so that a pull request seen
// again unchanged is de-duplicated while two changes within one second
// (updated_at's resolution) are not. Poll does not read comments or reviews; those come
// by webhook (and redelivery). The remaining rate limit is the gauge
// liaison_github_rate_limit_remaining{instance}.
//
// # What is written
//
// Apply, on a pull request:
//
//   - AddComment: an issue comment with the action's marker as a hidden HTML
//     comment; written once (the comments are searched for the marker first).
//     Action.Public is ignored: GitHub comments are not customer-facing.
//   - AddLink: a comment "Linked to [ref](url)" (or Action.Body when set),
//     written once the same way.
//   - SetFields: Action.Labels and Fields["labels+"] (comma-separated) are
//     added, Fields["labels-"] removed (only what differs is written; a
//     label in both is removed);
//     Fields["commit_status"] (success, pending, failure or error) sets a
//     commit status on the head commit, with the optional
//     Fields["commit_status_description"], ["commit_status_url"] and
//     ["commit_status_context"] (default: status_context). Any other key is a
//     permanent error.
//   - Transition: Native "open" or "closed" reopens or closes the pull
//     request (no write when it is already so; a draft counts as open, since
//     the REST API cannot mark it ready); "merged" and "draft" cannot be
//     written and are permanent errors. The result carries the new snapshot.
//   - Create and Notify are not supported (permanent errors): the gateway
//     never opens pull requests.
//
// Failures are classified once: 429 and 5xx are temporary with the server's
// wait, and so are GitHub's 403 rate-limit answers (secondary limits with
// Retry-After, primary limits with X-RateLimit-Remaining: 0); other 4xx are
// permanent.
package github

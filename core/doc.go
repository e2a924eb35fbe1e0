// Package core holds Liaison's domain: the records a support team keeps in
// its trackers (Ref, Item), what is observed about them (Event), how they
// belong together (Link, Case), what the gateway does about it (Action), and
// the level-triggered machinery that turns a case's current state and the
// admin's rules into the few writes that close the difference.
//
// core imports nothing else of Liaison's. It states the contracts it needs:
// the Store that keeps state durably, and the small optional capabilities a
// connector may offer (receive webhooks, poll, fetch, apply). Other packages
// fulfil them; cmd and internal wire them together.
package core

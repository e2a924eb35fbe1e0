package core

import (
	"fmt"
	"strings"
)

// Kind is the support-domain role of a record, independent of the tracker
// that holds it.
type Kind string

// The kinds of record Liaison links.
const (
	CustomerTicket Kind = "customer_ticket"
	DevTicket      Kind = "dev_ticket"
	ChangeTicket   Kind = "change_ticket"
	PullRequest    Kind = "pull_request"
	EmailThread    Kind = "email_thread"
	// Page is an on-call page (an OpsGenie alert, a PagerDuty incident):
	// made for a case that needs someone now, closed when it no longer does.
	Page Kind = "page"
)

// Kinds lists every kind, in the order a support problem usually meets them.
var Kinds = []Kind{EmailThread, CustomerTicket, DevTicket, PullRequest, ChangeTicket, Page}

// Known reports whether k is one of Kinds.
func (k Kind) Known() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Ref names one record: the connector instance that holds it (System), its
// kind and its id in that system, e.g. jira/dev_ticket/KBOT-88 or
// github/pull_request/acme/kbot#341. The id may contain slashes.
type Ref struct {
	System string
	Kind   Kind
	ID     string
}

// String returns system/kind/id, the form used in logs, the CLI and the store.
func (r Ref) String() string {
	return r.System + "/" + string(r.Kind) + "/" + r.ID
}

// IsZero reports whether r names nothing.
func (r Ref) IsZero() bool { return r == Ref{} }

// ParseRef parses the form printed by Ref.String.
func ParseRef(s string) (Ref, error) {
	sys, rest, ok := strings.Cut(s, "/")
	if !ok || sys == "" {
		return Ref{}, fmt.Errorf("ref %q: want system/kind/id, e.g. jira/dev_ticket/KBOT-1", s)
	}
	kind, id, ok := strings.Cut(rest, "/")
	if !ok || id == "" {
		return Ref{}, fmt.Errorf("ref %q: want system/kind/id, e.g. jira/dev_ticket/KBOT-1", s)
	}
	if !Kind(kind).Known() {
		return Ref{}, fmt.Errorf("ref %q: unknown kind %q (known: %s)", s, kind, joinKinds())
	}
	return Ref{System: sys, Kind: Kind(kind), ID: id}, nil
}

func joinKinds() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

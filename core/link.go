package core

// Role says how two linked records relate.
type Role string

// Link roles.
const (
	EscalatedTo Role = "escalated_to" // customer ticket → developer ticket
	Fixes       Role = "fixes"        // pull request → developer ticket
	ChangeFor   Role = "change_for"   // change ticket → customer or developer ticket
	ThreadOf    Role = "thread_of"    // mail thread → customer ticket
	DuplicateOf Role = "duplicate_of" // customer ticket → existing developer ticket
	Mentions    Role = "mentions"     // discovered, role not known better
)

// Origin says who asserted a link, which decides who may remove it.
type Origin string

// Link origins.
const (
	Explicit   Origin = "explicit"   // the source system states it
	Discovered Origin = "discovered" // a mapping pattern found a key in text
	Ours       Origin = "ours"       // the gateway made it (created a record for the case)
)

// Link joins two records. Links are undirected for case membership; From
// and To only orient the role.
type Link struct {
	From   Ref    `json:"from"`
	To     Ref    `json:"to"`
	Role   Role   `json:"role"`
	Origin Origin `json:"origin,omitempty"`
}

// Other returns the end of l that is not r.
func (l Link) Other(r Ref) Ref {
	if l.From == r {
		return l.To
	}
	return l.From
}

// Joins reports whether l makes its two records one case. A link that a
// pattern found with the role mentions does not: it records that one
// record names another (an outsider's pull request naming a developer
// ticket, any pull request naming a customer's ticket), shown to people,
// and never lets the naming record move or speak through the other's case.
func (l Link) Joins() bool { return l.Origin != Discovered || l.Role != Mentions }

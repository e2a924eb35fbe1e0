package console

// What the browser tests (package console_test, which may import the
// sandbox and through it the daemon) use of this package's test helpers.
var (
	NewTestIdP    = newIdP
	AdminAccount  = adminAccount
	ViewerAccount = viewerAccount
)

// The in-process provider's issuer URL, client and next person.
func (p *idp) Issuer() string                   { return p.srv.URL }
func (p *idp) Client() (id, secret string)      { return p.clientID, p.secret }
func (p *idp) SignInNext(claims map[string]any) { p.signInNext(claims) }

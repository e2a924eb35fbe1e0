package console

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"golang.org/x/crypto/bcrypt"
)

// Role is what a signed-in person may do: viewers (agents) read, admins
// also replay, discard, link and unlink.
type Role string

// The roles.
const (
	Viewer Role = "viewer"
	Admin  Role = "admin"
)

// Users are the local accounts, read from a YAML file:
//
//	users:
//	  - name: ada
//	    password_hash: $2y$10$...   # bcrypt, e.g. htpasswd -nbBC 10 ada 'secret'
//	    role: admin                 # or viewer
type Users struct {
	byName map[string]user

	decoyOnce sync.Once
	decoy     []byte
}

type user struct {
	Name string `yaml:"name"`
	Hash string `yaml:"password_hash"`
	Role Role   `yaml:"role"`
}

// LoadUsers reads a users file (see Users).
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("console users file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUsersFile+1))
	if err != nil {
		return nil, fmt.Errorf("console users file: %w", err)
	}
	return ParseUsers(path, b)
}

// maxUsersFile bounds the users file: thousands of accounts fit.
const maxUsersFile = 1 << 20

// maxCost bounds a hash's bcrypt cost: every sign-in by that name, and
// every guess at it, costs 2^cost rounds, and cost 31 would take hours.
const maxCost = 14

// ParseUsers reads a users file's content; name is the file's, for errors.
// A hash is never part of an error.
func ParseUsers(name string, b []byte) (u *Users, err error) {
	if len(b) > maxUsersFile {
		return nil, fmt.Errorf("console users file %s: larger than %d bytes", name, maxUsersFile)
	}
	var f struct {
		Users []user `yaml:"users"`
	}
	// The YAML decoder panics on some malformed tags (users: !00 0): a
	// bad file is an error, not a crash at start.
	defer func() {
		if p := recover(); p != nil {
			u, err = nil, fmt.Errorf("console users file %s: not a users file (malformed YAML)", name)
		}
	}()
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("console users file %s: %s", name, yaml.FormatError(err, false, false))
	}
	u = &Users{byName: map[string]user{}}
	var errs []error
	for i, x := range f.Users {
		switch {
		case x.Name == "":
			errs = append(errs, fmt.Errorf("console users file %s: user %d has no name", name, i+1))
		case x.Role != Viewer && x.Role != Admin:
			errs = append(errs, fmt.Errorf("console users file %s: user %q: role %q is neither viewer nor admin", name, x.Name, x.Role))
		case !strings.HasPrefix(x.Hash, "$2") || bcryptCost(x.Hash) < 0:
			errs = append(errs, fmt.Errorf("console users file %s: user %q: password_hash is not a bcrypt hash (want $2a$, $2b$ or $2y$…)", name, x.Name))
		case bcryptCost(x.Hash) > maxCost:
			errs = append(errs, fmt.Errorf("console users file %s: user %q: password_hash has bcrypt cost %d, more than %d", name, x.Name, bcryptCost(x.Hash), maxCost))
		default:
			if _, dup := u.byName[x.Name]; dup {
				errs = append(errs, fmt.Errorf("console users file %s: user %q appears twice", name, x.Name))
			}
			u.byName[x.Name] = x
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return u, nil
}

// bcryptCost is a hash's cost, or -1 when it is no bcrypt hash.
func bcryptCost(hash string) int {
	n, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return -1
	}
	return n
}

// decoyHash is compared against when the name is unknown, so that a
// wrong name takes as long as a wrong password: it costs what the
// costliest hash of the file costs (bcrypt's time doubles with each step).
func (u *Users) decoyHash() []byte {
	u.decoyOnce.Do(func() {
		cost := bcrypt.DefaultCost
		for _, x := range u.byName {
			cost = max(cost, bcryptCost(x.Hash))
		}
		u.decoy, _ = bcrypt.GenerateFromPassword([]byte("decoy"), cost)
	})
	return u.decoy
}

// Check returns the role of name if password is theirs.
func (u *Users) Check(name, password string) (Role, bool) {
	x, ok := u.byName[name]
	hash := []byte(x.Hash)
	if !ok {
		hash = u.decoyHash()
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !ok {
		return "", false
	}
	return x.Role, true
}

// role is the role of a local account; a nil Users has none.
func (u *Users) role(name string) (Role, bool) {
	if u == nil {
		return "", false
	}
	x, ok := u.byName[name]
	return x.Role, ok
}

// session is who is signed in, carried in a cookie signed with the
// console's key. Nonce makes each sign-in's CSRF token its own.
type session struct {
	Name    string `json:"n"`
	Role    Role   `json:"r"`
	Expires int64  `json:"e"`
	Nonce   string `json:"x"`
	Via     string `json:"v"` // "local" or "oidc"
}

const (
	sessionCookie = "liaison_session"
	loginCookie   = "liaison_login" // the nonce of a sign-in form or OIDC round trip
)

func (c *Console) mac(parts ...string) []byte {
	h := hmac.New(sha256.New, c.key)
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// seal signs v for a cookie: payload.signature, both base64url.
func (c *Console) seal(purpose string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(c.mac(purpose, p)), nil
}

// open checks a sealed value's signature and decodes it.
func (c *Console) open(purpose, s string, v any) bool {
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac(purpose, p)) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return false
	}
	return json.NewDecoder(bytes.NewReader(b)).Decode(v) == nil
}

func randomToken() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: c.o.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(ttl.Seconds())})
}

func (c *Console) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: c.o.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// signIn starts a session for name with role.
func (c *Console) signIn(w http.ResponseWriter, name string, role Role, via string) error {
	s := session{Name: name, Role: role, Expires: c.o.Clock.Now().Add(c.o.SessionTTL).Unix(), Nonce: randomToken(), Via: via}
	v, err := c.seal(sessionCookie, s)
	if err != nil {
		return err
	}
	c.setCookie(w, sessionCookie, v, c.o.SessionTTL)
	c.clearCookie(w, loginCookie)
	c.o.Log.Info("console: signed in", "user", name, "role", role, "via", via)
	return nil
}

// current returns the request's session, if it has a valid one.
func (c *Console) current(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	var s session
	if !c.open(sessionCookie, ck.Value, &s) || c.o.Clock.Now().Unix() >= s.Expires || (s.Role != Viewer && s.Role != Admin) {
		return nil, false
	}
	// Replicas share the session key and outlive a change of the users
	// file: a local account removed or given another role since the
	// sign-in loses its session with the restart that reads the file.
	if s.Via == "local" {
		if u, ok := c.o.Users.role(s.Name); !ok || u != s.Role {
			return nil, false
		}
	}
	return &s, true
}

// csrf is the token a session's forms carry: a MAC of its nonce, so that
// another site, which cannot read the page, cannot forge a form.
func (c *Console) csrf(s *session) string {
	return base64.RawURLEncoding.EncodeToString(c.mac("csrf", s.Nonce))
}

func validToken(want, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// handlerFunc is a page's handler with the signed-in person.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *session)

// viewer requires a session (any role); admin requires an admin's. Every
// POST through either must carry the session's CSRF token.
func (c *Console) viewer(h handlerFunc) http.Handler { return c.require(Viewer, h) }
func (c *Console) admin(h handlerFunc) http.Handler  { return c.require(Admin, h) }

func (c *Console) require(role Role, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.current(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, http.StatusUnauthorized, "Your session has ended: sign in again.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if !validToken(c.csrf(s), r.PostFormValue("csrf")) {
				c.fail(w, r, s, http.StatusForbidden, "This form has expired or did not come from the console: reload the page and try again.")
				return
			}
		}
		if role == Admin && s.Role != Admin {
			c.o.Log.Warn("console: admin action refused", "user", s.Name, "path", r.URL.Path)
			c.fail(w, r, s, http.StatusForbidden, "Only admins may do this.")
			return
		}
		h(w, r, s)
	})
}

// localPath keeps a redirect target on the console: a path, never
// another host. Browsers read a backslash as a slash and drop tabs and
// newlines from a Location, so "/\evil.example" and "/\t/evil.example"
// are another host too: any such character refuses the target.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

type loginData struct {
	CSRF, Next, Error string
	Local, OIDC       bool
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce := randomToken()
	c.setCookie(w, loginCookie, nonce, 15*time.Minute)
	c.render(w, r, status, "login", nil, loginData{CSRF: base64.RawURLEncoding.EncodeToString(c.mac("login", nonce)),
		Next: localPath(r.FormValue("next")), Error: msg, Local: c.o.Users != nil, OIDC: c.o.OIDC != nil})
}

// loginLocal signs in with a local account. The form carries a token
// bound to the nonce cookie the form page set, so that another site
// cannot sign a browser in to an account of its choosing.
func (c *Console) loginLocal(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !validToken(base64.RawURLEncoding.EncodeToString(c.mac("login", ck.Value)), r.PostFormValue("csrf")) {
		c.showLogin(w, r, http.StatusForbidden, "The sign-in form expired: try again.")
		return
	}
	if c.o.Users == nil {
		c.showLogin(w, r, http.StatusForbidden, "Local accounts are not enabled.")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	addr, now := addrOf(r.RemoteAddr), c.o.Clock.Now()
	if !c.limit.allowed(now, name, addr) {
		c.o.Log.Warn("console: sign-in refused: too many tries", "remote", r.RemoteAddr)
		c.showLogin(w, r, http.StatusTooManyRequests, "Too many refused sign-ins: wait a quarter of an hour and try again.")
		return
	}
	role, ok := c.o.Users.Check(name, r.PostFormValue("password"))
	if !ok {
		// The name typed is not logged: it may be a password typed in
		// the wrong box.
		c.limit.refuse(now, name, addr)
		c.o.Log.Warn("console: sign-in refused", "remote", r.RemoteAddr)
		c.showLogin(w, r, http.StatusUnauthorized, "Wrong name or password.")
		return
	}
	c.limit.forget(name)
	if err := c.signIn(w, name, role, "local"); err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "Could not start a session.")
		return
	}
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

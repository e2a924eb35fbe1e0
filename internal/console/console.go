// Package console is the web console for agents and admins: sign in (a
// local users file with bcrypt hashes, or the team's OpenID Connect
// provider), find a record by any of its names, see its case (records,
// links and how each was made, the timeline of events and actions,
// pending and dead actions, conflicts), the health of each connector, the
// dead letters and conflicts to work through, and the mapping rules in
// force. Admins replay and discard dead actions and link or unlink
// records by hand; each such action lands in the audit log with who did it.
//
// Pages are server-rendered html/template from files embedded in the
// binary, with one stylesheet and a few lines of script of its own: no
// request from a page leaves the daemon. It serves on a listener of its
// own (console.listen), loopback by default.
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Records is what the console reads and changes through the store;
// *store.Store implements it on SQLite and PostgreSQL.
type Records interface {
	FindByID(ctx context.Context, id string, n int) ([]core.Ref, error)
	FindByText(ctx context.Context, text string, n int) ([]core.Ref, error)
	FindByPerson(ctx context.Context, who string, n int) ([]core.Ref, error)
	Item(ctx context.Context, r core.Ref) (*core.Item, error)
	CaseOf(ctx context.Context, r core.Ref) (core.CaseID, error)
	LoadCase(ctx context.Context, id core.CaseID) (*core.Case, error)
	LinksOf(ctx context.Context, refs []core.Ref) ([]store.LinkOrigin, error)
	Actions(ctx context.Context, id core.CaseID, state core.ActionState) ([]core.Action, error)
	Audit(ctx context.Context, r core.Ref, n int) ([]core.AuditEntry, error)
	Events(ctx context.Context, r core.Ref, n int) ([]core.Event, error)
	Conflicts(ctx context.Context, n int) ([]core.Conflict, error)
	Records(ctx context.Context, sel core.Selector, since time.Time, n int) ([]core.Item, error)
	UnreadMail(ctx context.Context, n int) ([]core.Item, error)
	ConflictsOf(ctx context.Context, refs []core.Ref, n int) ([]core.Conflict, error)
	DeadLetters(ctx context.Context) ([]core.Action, error)
	ReplayByHand(ctx context.Context, who string, keys ...string) (int, error)
	Discard(ctx context.Context, who string, keys ...string) (int, error)
	RetryNow(ctx context.Context, who string, keys ...string) (int, error)
	LinkByHand(ctx context.Context, l core.Link, who string) error
	UnlinkByHand(ctx context.Context, a, b core.Ref, who string) (bool, error)
	Pause(ctx context.Context, p store.Pause) (bool, error)
	Resume(ctx context.Context, r core.Ref, whole bool, who string) (bool, error)
	Paused(ctx context.Context, ids ...core.CaseID) ([]store.Pause, error)
	Activity(ctx context.Context, since time.Time) ([]store.SourceActivity, error)
	Cursors(ctx context.Context) (map[string]time.Time, error)
	RuleActivity(ctx context.Context, since time.Time) (map[string]int, error)
	QueueDepth(ctx context.Context) (cases, actions int, err error)
}

var _ Records = (*store.Store)(nil)

// Options configure a console.
type Options struct {
	Records Records
	// Users are the local accounts (LoadUsers); nil with OIDC only.
	Users *Users
	// OIDC signs people in with the team's provider; nil for local
	// accounts only.
	OIDC *OIDC
	// SessionKey signs session cookies; replicas behind one load
	// balancer share it. Empty: a random key, so sessions end with the
	// process.
	SessionKey []byte
	// SecureCookies marks cookies Secure (sent over HTTPS only): set it
	// whenever people reach the console over TLS, directly or through a
	// proxy.
	SecureCookies bool
	// SessionTTL is how long a sign-in lasts (default 12h).
	SessionTTL time.Duration
	// Mappings returns the rules in force; MappingsCheck checks a changed
	// mapping file against the running folder (nil: the page shows rules
	// only).
	Mappings      func() *core.Mappings
	MappingsCheck func(name string, content []byte) []string
	// Metrics is the daemon's registry, read by the health page for what
	// only this process counts (changes polls found that no webhook
	// brought, refused webhooks, rate-limit budgets); nil leaves them out.
	Metrics prometheus.Gatherer
	Clock   core.Clock
	Log     *slog.Logger
}

// Console serves the console's pages.
type Console struct {
	o     Options
	pages map[string]*template.Template
	mux   *http.ServeMux
	key   []byte
	limit *signInLimit
}

// New builds a console. It needs the store and at least one way to sign in.
func New(o Options) (*Console, error) {
	if o.Records == nil {
		return nil, errors.New("console: no store")
	}
	if o.Users == nil && o.OIDC == nil {
		return nil, errors.New("console: no way to sign in: set console.users_file or console.oidc")
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	key := o.SessionKey
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("console: session key: %w", err)
		}
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{o: o, pages: pages, key: key, limit: newSignInLimit()}
	c.routes()
	return c, nil
}

// Handler returns the console's HTTP handler.
func (c *Console) Handler() http.Handler { return secureHeaders(c.mux) }

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.loginLocal)
	m.HandleFunc("GET /auth/oidc", c.oidcStart)
	m.HandleFunc("GET /auth/callback", c.oidcCallback)
	m.Handle("POST /logout", c.viewer(c.logout))

	m.Handle("GET /{$}", c.viewer(c.home))
	m.Handle("GET /search", c.viewer(c.search))
	m.Handle("GET /case", c.viewer(c.casePage))
	m.Handle("GET /dead", c.viewer(c.deadPage))
	m.Handle("GET /conflicts", c.viewer(c.conflictsPage))
	m.Handle("GET /health", c.viewer(c.healthPage))
	m.Handle("GET /targets", c.viewer(c.targetsPage))
	m.Handle("GET /unread", c.viewer(c.unreadPage))
	m.Handle("GET /mappings", c.viewer(c.mappingsPage))
	m.Handle("POST /mappings/check", c.viewer(c.mappingsCheck))

	m.Handle("POST /actions/replay", c.admin(c.onDead("replayed", c.o.Records.ReplayByHand)))
	m.Handle("POST /actions/discard", c.admin(c.onDead("discarded", c.o.Records.Discard)))
	m.Handle("POST /actions/retry", c.admin(c.retry))
	m.Handle("POST /mappings/simulate", c.admin(c.mappingsSimulate))
	m.Handle("POST /case/link", c.admin(c.link))
	m.Handle("POST /case/unlink", c.admin(c.unlink))
	m.Handle("POST /case/pause", c.admin(c.pause))
	c.mux = m
}

// secureHeaders keeps the pages to their own origin: scripts, styles,
// images and forms only from the console itself, and no framing.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/liaisonhq/liaison/core"
)

// OIDCConfig names the team's OpenID Connect provider and the console's
// client there.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret core.Secret
	// RedirectURL is the console's /auth/callback as people's browsers
	// reach it, registered with the provider.
	RedirectURL string
	// GroupsClaim is the ID token's claim listing the person's groups
	// (default "groups").
	GroupsClaim string
	// AdminGroups are admins; ViewerGroups are viewers, and when empty
	// every person the provider signs in is one.
	AdminGroups, ViewerGroups []string
	// Scopes are asked for beside openid (default profile, email and
	// groups; a provider that refuses an unknown scope needs fewer).
	Scopes []string
	// HTTPClient reaches the provider (default http.DefaultClient).
	HTTPClient *http.Client
}

// OIDC signs people in with an OpenID Connect provider (authorization
// code flow with PKCE, state and nonce). The provider is discovered on
// first use and again after a failure, so that a provider down when the
// daemon starts does not keep the console from starting.
type OIDC struct {
	cfg OIDCConfig

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
}

// NewOIDC checks the configuration; discovery waits for the first sign-in.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("console.oidc.issuer is empty")
	case cfg.ClientID == "":
		return nil, errors.New("console.oidc.client_id is empty")
	case cfg.RedirectURL == "":
		return nil, errors.New("console.oidc.redirect_url is empty")
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"profile", "email", "groups"}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	return &OIDC{cfg: cfg}, nil
}

func (o *OIDC) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

// discover returns the provider's endpoints and the token verifier.
func (o *OIDC) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.oauth != nil {
		return o.oauth, o.verifier, nil
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(o.ctx(dctx), o.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("console: discover OIDC provider %q: %w", o.cfg.Issuer, err)
	}
	o.oauth = &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: string(o.cfg.ClientSecret), RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, slices.DeleteFunc(slices.Clone(o.cfg.Scopes), func(s string) bool { return s == oidc.ScopeOpenID })...)}
	// The provider's keys are fetched with the client given, and
	// refetched when it rotates them.
	o.verifier = p.VerifierContext(o.ctx(context.Background()), &oidc.Config{ClientID: o.cfg.ClientID})
	return o.oauth, o.verifier, nil
}

// role decides a person's role from their groups, or refuses them.
func (o *OIDC) role(groups []string) (Role, bool) {
	in := func(want []string) bool {
		return slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(want, g) })
	}
	switch {
	case in(o.cfg.AdminGroups):
		return Admin, true
	case len(o.cfg.ViewerGroups) == 0 || in(o.cfg.ViewerGroups):
		return Viewer, true
	}
	return "", false
}

// oidcRound is what the console remembers, in a signed cookie, between
// sending a browser to the provider and its coming back.
type oidcRound struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"`
}

const oidcPurpose = "oidc"

func (c *Console) oidcStart(w http.ResponseWriter, r *http.Request) {
	if c.o.OIDC == nil {
		http.NotFound(w, r)
		return
	}
	oc, _, err := c.o.OIDC.discover(r.Context())
	if err != nil {
		c.o.Log.Error("console: OIDC provider unreachable", "err", err)
		c.showLogin(w, r, http.StatusBadGateway, "The sign-in provider cannot be reached; try again shortly.")
		return
	}
	round := oidcRound{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(),
		Next: localPath(r.FormValue("next")), Expires: c.o.Clock.Now().Add(10 * time.Minute).Unix()}
	v, err := c.seal(oidcPurpose, round)
	if err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "Could not start the sign-in.")
		return
	}
	c.setCookie(w, loginCookie, v, 10*time.Minute)
	http.Redirect(w, r, oc.AuthCodeURL(round.State, oidc.Nonce(round.Nonce), oauth2.S256ChallengeOption(round.Verifier)), http.StatusFound)
}

func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if c.o.OIDC == nil {
		http.NotFound(w, r)
		return
	}
	refuse := func(status int, msg string, err error) {
		c.o.Log.Warn("console: OIDC sign-in refused", "why", msg, "err", err)
		c.showLogin(w, r, status, msg)
	}
	var round oidcRound
	ck, err := r.Cookie(loginCookie)
	if err != nil || !c.open(oidcPurpose, ck.Value, &round) || c.o.Clock.Now().Unix() >= round.Expires ||
		!validToken(round.State, r.FormValue("state")) {
		refuse(http.StatusForbidden, "The sign-in expired or did not start here: try again.", nil)
		return
	}
	if r.FormValue("error") != "" {
		refuse(http.StatusForbidden, "The sign-in provider refused the sign-in.", nil)
		return
	}
	oc, verifier, err := c.o.OIDC.discover(r.Context())
	if err != nil {
		refuse(http.StatusBadGateway, "The sign-in provider cannot be reached; try again shortly.", err)
		return
	}
	ctx := c.o.OIDC.ctx(r.Context())
	tok, err := oc.Exchange(ctx, r.FormValue("code"), oauth2.VerifierOption(round.Verifier))
	if err != nil {
		refuse(http.StatusBadGateway, "The sign-in provider did not confirm the sign-in.", tokenError(err))
		return
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		refuse(http.StatusBadGateway, "The sign-in provider sent no ID token.", nil)
		return
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		refuse(http.StatusForbidden, "The sign-in provider's token is not valid.", err)
		return
	}
	if !validToken(round.Nonce, idt.Nonce) {
		refuse(http.StatusForbidden, "The sign-in provider's token is not for this sign-in.", nil)
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		refuse(http.StatusBadGateway, "The sign-in provider's token is unreadable.", err)
		return
	}
	// The name is what the audit log says did an admin action: an e-mail
	// address only when the provider vouches for it, since many let a
	// person type any address into their profile.
	name := firstString(claims, "preferred_username", "sub")
	if verified, _ := claims["email_verified"].(bool); verified {
		name = firstString(claims, "email", "preferred_username", "sub")
	}
	role, ok := c.o.OIDC.role(stringsOf(claims[c.o.OIDC.cfg.GroupsClaim]))
	if !ok {
		refuse(http.StatusForbidden, "Your account is not in a group allowed to use the console.", fmt.Errorf("user %q", name))
		return
	}
	if err := c.signIn(w, name, role, "oidc"); err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "Could not start a session.")
		return
	}
	http.Redirect(w, r, localPath(round.Next), http.StatusSeeOther)
}

func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// stringsOf reads a claim that providers send as a list or a lone string.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// tokenError is a failed code exchange as the log may hold it: a
// provider's answer is left out but for its status and error code, since
// some echo the request, client secret included, in their error body.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	status := ""
	if re.Response != nil {
		status = re.Response.Status
	}
	return fmt.Errorf("oauth2: token endpoint answered %s, error %q", status, re.ErrorCode)
}

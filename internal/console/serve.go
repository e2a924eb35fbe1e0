package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/config"
)

// FromConfig builds the console the console section describes, on the
// given options (store, mappings, clock, log): its users file, its OIDC
// provider, its session key and cookie policy.
func FromConfig(cc config.Console, o Options) (*Console, error) {
	if cc.UsersFile != "" {
		u, err := LoadUsers(cc.UsersFile)
		if err != nil {
			return nil, err
		}
		o.Users = u
	}
	if cc.OIDC.Issuer != "" {
		var secret core.Secret
		if cc.OIDC.ClientSecretEnv != "" {
			v := os.Getenv(cc.OIDC.ClientSecretEnv)
			if v == "" {
				return nil, fmt.Errorf("console.oidc.client_secret_env: environment variable %q is empty", cc.OIDC.ClientSecretEnv)
			}
			secret = core.Secret(v)
		}
		oc, err := NewOIDC(OIDCConfig{Issuer: cc.OIDC.Issuer, ClientID: cc.OIDC.ClientID, ClientSecret: secret,
			RedirectURL: cc.OIDC.RedirectURL, GroupsClaim: cc.OIDC.GroupsClaim, AdminGroups: cc.OIDC.AdminGroups, ViewerGroups: cc.OIDC.ViewerGroups,
			Scopes: cc.OIDC.Scopes})
		if err != nil {
			return nil, err
		}
		o.OIDC = oc
	}
	if cc.SessionKeyEnv != "" {
		v := os.Getenv(cc.SessionKeyEnv)
		if len(v) < 32 {
			return nil, fmt.Errorf("console.session_key_env: environment variable %q must hold at least 32 characters", cc.SessionKeyEnv)
		}
		o.SessionKey = []byte(v)
	} else if !loopback(cc.Listen) && o.Log != nil {
		// Reached over a network, the console is likely one of several
		// replicas behind a balancer, where a key of each process's own
		// signs people out whenever the balancer switches.
		o.Log.Warn("console: console.session_key_env is not set: sessions are signed with a key of this process's own, not valid on other replicas and lost at restart")
	}
	o.SecureCookies = !loopback(cc.Listen)
	if cc.SecureCookies != nil {
		o.SecureCookies = *cc.SecureCookies
	}
	o.SessionTTL = cc.SessionTTL
	return New(o)
}

// loopback says whether addr's host is a loopback address, where a
// browser talks plain HTTP to the console without crossing a network.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve serves the console on ln until ctx ends, then shuts down,
// letting requests in flight finish for up to 10 seconds.
func (c *Console) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("console: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("console: shutdown: %w", err)
	}
	return nil
}

// NewUsers returns local accounts made here rather than read from a file
// (the sandbox's generated login, tests).
func NewUsers(accounts ...Account) (*Users, error) {
	u := &Users{byName: map[string]user{}}
	for _, a := range accounts {
		h, err := bcrypt.GenerateFromPassword([]byte(a.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("console: hash the password of %q: %w", a.Name, err)
		}
		u.byName[a.Name] = user{Name: a.Name, Hash: string(h), Role: a.Role}
	}
	return u, nil
}

// Account is one local account with its password in clear, for NewUsers.
type Account struct {
	Name     string
	Password string
	Role     Role
}

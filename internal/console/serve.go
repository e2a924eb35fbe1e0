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
		secret, err := clientSecret(cc)
		if err != nil {
			return nil, err
		}
		oc, err := NewOIDC(OIDCConfig{Issuer: cc.OIDC.Issuer, ClientID: cc.OIDC.ClientID, ClientSecret: secret,
			RedirectURL: cc.OIDC.RedirectURL, GroupsClaim: cc.OIDC.GroupsClaim, AdminGroups: cc.OIDC.AdminGroups, ViewerGroups: cc.OIDC.ViewerGroups,
			Scopes: cc.OIDC.Scopes})
		if err != nil {
			return nil, err
		}
		o.OIDC = oc
	}
	key, err := sessionKey(cc)
	if err != nil {
		return nil, err
	}
	if key != nil {
		o.SessionKey = key
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

// CheckConfig reports every problem of the console section that does not
// need its identity provider: the users file and the secrets' variables
// (liaison check --config), so that serve does not refuse what check passed.
func CheckConfig(cc config.Console) error {
	var errs []error
	if cc.UsersFile != "" {
		_, err := LoadUsers(cc.UsersFile)
		errs = append(errs, err)
	}
	if cc.OIDC.Issuer != "" {
		_, err := clientSecret(cc)
		errs = append(errs, err)
	}
	_, err := sessionKey(cc)
	return errors.Join(append(errs, err)...)
}

// clientSecret is the OIDC client secret from the variable the config
// names; none when it names none (a public client).
func clientSecret(cc config.Console) (core.Secret, error) {
	if cc.OIDC.ClientSecretEnv == "" {
		return "", nil
	}
	v := os.Getenv(cc.OIDC.ClientSecretEnv)
	if v == "" {
		return "", fmt.Errorf("console.oidc.client_secret_env: environment variable %q is empty", cc.OIDC.ClientSecretEnv)
	}
	return core.Secret(v), nil
}

// sessionKey is the shared session key from the variable the config
// names; nil when it names none (a key of the process's own).
func sessionKey(cc config.Console) ([]byte, error) {
	if cc.SessionKeyEnv == "" {
		return nil, nil
	}
	v := os.Getenv(cc.SessionKeyEnv)
	if len(v) < 32 {
		return nil, fmt.Errorf("console.session_key_env: environment variable %q must hold at least 32 characters", cc.SessionKeyEnv)
	}
	return []byte(v), nil
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

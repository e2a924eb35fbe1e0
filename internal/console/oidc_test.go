package console

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/internal/logtest"
)

// oidcSite is a console whose people sign in with the in-process provider.
func oidcSite(t *testing.T, cfg OIDCConfig) (*site, *idp) {
	t.Helper()
	p := newIdP(t, time.Now)
	var oc *OIDC
	s := openSite(t, func(o *Options) {
		cfg.Issuer, cfg.ClientID, cfg.ClientSecret, cfg.RedirectURL = p.srv.URL, p.clientID, "client-secret", "set below"
		var err error
		if oc, err = NewOIDC(cfg); err != nil {
			t.Fatal(err)
		}
		o.OIDC, o.Users = oc, nil
	})
	oc.cfg.RedirectURL = s.url + "/auth/callback"
	return s, p
}

// follow goes through the sign-in's redirects (console → provider →
// console) as a browser would, and returns the last answer.
func (b *browser) follow(path string) (answer, []string) {
	b.t.Helper()
	var visited []string
	next := b.site.url + path
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		got := b.do(req)
		visited = append(visited, next)
		if got.status/100 != 3 {
			return got, visited
		}
		u, _ := url.Parse(next)
		loc, _ := u.Parse(got.location)
		next = loc.String()
	}
	b.t.Fatalf("more than 10 redirects: %v", visited)
	return answer{}, nil
}

func TestOIDC_SignsInWithTheRoleOfTheGroups(t *testing.T) {
	cfg := OIDCConfig{AdminGroups: []string{"support-admins"}, ViewerGroups: []string{"support"}}
	cases := []struct {
		name   string
		claims map[string]any
		want   string // the who line, or "" when refused
	}{
		{"admin", map[string]any{"email": "grace@example.com", "email_verified": true, "groups": []string{"support", "support-admins"}}, "grace@example.com (admin)"},
		{"viewer", map[string]any{"email": "ada@example.com", "email_verified": true, "groups": []string{"support"}}, "ada@example.com (viewer)"},
		{"lone group as a string", map[string]any{"preferred_username": "lin", "groups": "support"}, "lin (viewer)"},
		{"unverified e-mail is not the name", map[string]any{"email": "grace@example.com", "preferred_username": "mallory", "groups": "support"}, "mallory (viewer)"},
		{"only a subject", map[string]any{"email": "grace@example.com", "email_verified": false, "groups": "support"}, "user-1 (viewer)"},
		{"in no allowed group", map[string]any{"email": "eve@example.com", "email_verified": true, "groups": []string{"sales"}}, ""},
	}
	s, p := oidcSite(t, cfg)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p.signInNext(c.claims)
			b := s.browser(t)
			got, visited := b.follow("/auth/oidc?next=%2Fhealth")
			if !strings.HasPrefix(visited[1], p.srv.URL+"/authorize?") {
				t.Fatalf("the sign-in did not go to the provider: %v", visited)
			}
			if c.want == "" {
				if got.status != http.StatusForbidden || !strings.Contains(got.body, "not in a group allowed") {
					t.Errorf("refused person: %d, want 403 saying why", got.status)
				}
				if home := b.get("/"); home.status != http.StatusSeeOther {
					t.Errorf("a refused person reaches home: %d", home.status)
				}
				return
			}
			if got.status != http.StatusOK || !strings.HasSuffix(visited[len(visited)-1], "/health") {
				t.Fatalf("after sign-in: %d at %v", got.status, visited)
			}
			if !strings.Contains(got.body, `id="who">`+c.want) {
				t.Errorf("signed in, the page does not show %q", c.want)
			}
		})
	}
}

func TestOIDC_RefusesAForgedOrReplayedCallback(t *testing.T) {
	s, p := oidcSite(t, OIDCConfig{})
	p.signInNext(map[string]any{"email": "grace@example.com"})
	t.Run("state from another sign-in", func(t *testing.T) {
		b := s.browser(t)
		b.get("/auth/oidc") // sets this browser's round cookie
		got := b.get("/auth/callback?code=x&state=forged")
		if got.status != http.StatusForbidden {
			t.Errorf("callback with a forged state: %d, want 403", got.status)
		}
	})
	t.Run("no round cookie", func(t *testing.T) {
		got := s.browser(t).get("/auth/callback?code=x&state=y")
		if got.status != http.StatusForbidden {
			t.Errorf("callback out of the blue: %d, want 403", got.status)
		}
	})
	t.Run("token for another nonce", func(t *testing.T) {
		p.mu.Lock()
		p.wrongNonce = true
		p.mu.Unlock()
		defer func() { p.mu.Lock(); p.wrongNonce = false; p.mu.Unlock() }()
		b := s.browser(t)
		got, _ := b.follow("/auth/oidc")
		if got.status != http.StatusForbidden || !strings.Contains(got.body, "not for this sign-in") {
			t.Errorf("token with another nonce: %d, want 403", got.status)
		}
	})
	for _, c := range []struct {
		name   string
		claims map[string]any
	}{
		{"another issuer", map[string]any{"iss": "https://evil.example"}},
		{"another client's token", map[string]any{"aud": "another-client"}},
		{"expired token", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p.signInNext(c.claims)
			b := s.browser(t)
			got, _ := b.follow("/auth/oidc")
			if got.status != http.StatusForbidden || !strings.Contains(got.body, "token is not valid") {
				t.Errorf("%s: %d, want 403 (token is not valid)", c.name, got.status)
			}
			if home := b.get("/"); home.status != http.StatusSeeOther {
				t.Errorf("%s: signed in anyway (home %d)", c.name, home.status)
			}
		})
	}
	p.signInNext(map[string]any{"email": "grace@example.com"})
	t.Run("provider refuses", func(t *testing.T) {
		b := s.browser(t)
		start := b.get("/auth/oidc")
		u, _ := url.Parse(start.location)
		got := b.get("/auth/callback?error=access_denied&state=" + url.QueryEscape(u.Query().Get("state")))
		if got.status != http.StatusForbidden || !strings.Contains(got.body, "refused the sign-in") {
			t.Errorf("provider's refusal: %d", got.status)
		}
	})
}

func TestOIDC_ProviderDownDoesNotStopTheConsole(t *testing.T) {
	oc, err := NewOIDC(OIDCConfig{Issuer: "http://127.0.0.1:1", ClientID: "c", RedirectURL: "http://127.0.0.1/auth/callback"})
	if err != nil {
		t.Fatal(err)
	}
	s := openSite(t, func(o *Options) { o.OIDC = oc })
	got := s.browser(t).get("/auth/oidc")
	if got.status != http.StatusBadGateway || !strings.Contains(got.body, "cannot be reached") {
		t.Errorf("sign-in with the provider down: %d", got.status)
	}
}

func TestOIDC_TheClientSecretNeverReachesTheLog(t *testing.T) {
	var logs logtest.Buffer
	p := newIdP(t, time.Now)
	p.secret = "the provider's own secret" // the console's is refused, and echoed back
	var oc *OIDC
	s := openSite(t, func(o *Options) {
		var err error
		if oc, err = NewOIDC(OIDCConfig{Issuer: p.srv.URL, ClientID: p.clientID, ClientSecret: "s3cr3t-of-the-console", RedirectURL: "set below"}); err != nil {
			t.Fatal(err)
		}
		o.OIDC, o.Users, o.Log = oc, nil, slog.New(slog.NewTextHandler(&logs, nil))
	})
	oc.cfg.RedirectURL = s.url + "/auth/callback"
	p.signInNext(map[string]any{"email": "grace@example.com", "email_verified": true})
	got, _ := s.browser(t).follow("/auth/oidc")
	if got.status != http.StatusBadGateway || strings.Contains(got.body, "s3cr3t") {
		t.Errorf("sign-in with a refused client secret: %d", got.status)
	}
	out := logs.String()
	if !strings.Contains(out, "invalid_client") {
		t.Errorf("the log does not say why the provider refused:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("the log holds the client secret:\n%s", out)
	}
}

func TestOIDC_AsksForTheScopesConfigured(t *testing.T) {
	for _, c := range []struct {
		name   string
		scopes []string
		want   string
	}{
		{"default", nil, "openid profile email groups"},
		{"a provider without a groups scope", []string{"email"}, "openid email"},
		{"openid named too", []string{"openid", "profile"}, "openid profile"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, p := oidcSite(t, OIDCConfig{Scopes: c.scopes})
			p.signInNext(map[string]any{"preferred_username": "lin"})
			if got, _ := s.browser(t).follow("/auth/oidc"); got.status != http.StatusOK {
				t.Fatalf("sign-in: %d", got.status)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.scope != c.want {
				t.Errorf("scope asked for: %q, want %q", p.scope, c.want)
			}
		})
	}
}

package console

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestSignIn_TooManyRefusalsWaitTheWindowOut(t *testing.T) {
	wrong := func(name string) Account { return Account{Name: name, Password: "not the password"} }
	cases := []struct {
		name     string
		guesses  []Account // refused sign-ins first
		then     Account   // the right password, refused with 429
		other    Account   // still signs in at once
		loosened time.Duration
	}{
		{"one name guessed", repeat(wrong(adminAccount.Name), 10), adminAccount, viewerAccount, 15 * time.Minute},
		{"many names from one address", guessesOfNames(30), viewerAccount, Account{}, 15 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openSite(t, nil)
			b := s.browser(t)
			for i, g := range c.guesses {
				if got := b.signIn(g); got.status != http.StatusUnauthorized {
					t.Fatalf("guess %d: %d, want 401", i+1, got.status)
				}
			}
			got := b.signIn(c.then)
			if got.status != http.StatusTooManyRequests {
				t.Fatalf("right password after %d refusals: %d, want 429", len(c.guesses), got.status)
			}
			if home := b.get("/"); home.status != http.StatusSeeOther {
				t.Errorf("signed in despite the limit: home %d", home.status)
			}
			if c.other.Name != "" {
				signedIn(t, s, c.other)
			}
			s.clock.advance(c.loosened - time.Second)
			if got := b.signIn(c.then); got.status != http.StatusTooManyRequests {
				t.Errorf("a second before the window ends: %d, want 429", got.status)
			}
			s.clock.advance(time.Second)
			signedIn(t, s, c.then)
		})
	}
}

func TestSignIn_ASuccessForgetsTheNamesRefusals(t *testing.T) {
	s := openSite(t, nil)
	b := s.browser(t)
	for range 9 {
		b.signIn(Account{Name: adminAccount.Name, Password: "nope"})
	}
	signedIn(t, s, adminAccount)
	for i := range 9 {
		if got := b.signIn(Account{Name: adminAccount.Name, Password: "nope"}); got.status != http.StatusUnauthorized {
			t.Fatalf("refusal %d after a success: %d, want 401 (the count starts over)", i+1, got.status)
		}
	}
	signedIn(t, s, adminAccount)
}

func TestSignInLimit_StaysBounded(t *testing.T) {
	l := newSignInLimit()
	l.maxTracked = 100
	now := time.Unix(1e9, 0)
	for i := range 1000 {
		l.refuse(now, fmt.Sprintf("user%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		if len(l.refused) > l.maxTracked+2 {
			t.Fatalf("after %d refusals the limit tracks %d keys, want ≤ %d", i+1, len(l.refused), l.maxTracked+2)
		}
	}
}

func repeat(a Account, n int) []Account {
	out := make([]Account, n)
	for i := range out {
		out[i] = a
	}
	return out
}

func guessesOfNames(n int) []Account {
	out := make([]Account, n)
	for i := range out {
		out[i] = Account{Name: fmt.Sprintf("guess%d", i), Password: "x"}
	}
	return out
}

func TestUsers_AnUnknownNameCostsWhatTheCostliestHashCosts(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, 12} {
		h, err := bcrypt.GenerateFromPassword([]byte("a password"), cost)
		if err != nil {
			t.Fatal(err)
		}
		u, err := ParseUsers("users.yaml", []byte("users:\n  - {name: ada, password_hash: \""+realHash+"\", role: viewer}\n  - {name: grace, password_hash: \""+string(h)+"\", role: admin}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := u.Check("mallory", "a password"); ok {
			t.Fatal("an unknown name signed in")
		}
		if got, want := bcryptCost(string(u.decoyHash())), max(cost, bcrypt.DefaultCost); got != want {
			t.Errorf("with a hash of cost %d in the file, an unknown name is checked at cost %d, want %d", cost, got, want)
		}
	}
}

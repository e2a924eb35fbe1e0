package console

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
)

// Demo is a console serving a sandbox: its address and the logins made
// for this run, printed once and kept nowhere.
type Demo struct {
	Addr   string
	Admin  Account
	Viewer Account
	done   chan error
	cancel context.CancelFunc
}

// StartDemo serves a console for the sandbox on listen (a free loopback
// port when that one is busy), with an admin and a viewer whose passwords
// are made up now. o needs Records and may carry Mappings; its accounts
// are replaced.
func StartDemo(ctx context.Context, listen string, o Options) (*Demo, error) {
	d := &Demo{Admin: Account{Name: "admin", Password: demoPassword(), Role: Admin},
		Viewer: Account{Name: "agent", Password: demoPassword(), Role: Viewer}, done: make(chan error, 1)}
	users, err := NewUsers(d.Admin, d.Viewer)
	if err != nil {
		return nil, err
	}
	o.Users, o.OIDC = users, nil
	c, err := New(o)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("console: listen: %w", err)
		}
	}
	d.Addr = ln.Addr().String()
	sctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	go func() { d.done <- c.Serve(sctx, ln) }()
	return d, nil
}

// Stop shuts the console down.
func (d *Demo) Stop() error {
	d.cancel()
	return <-d.done
}

func demoPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

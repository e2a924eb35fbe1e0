package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// CheckSystems has every connector check its system, all at once: the
// names the mappings use (statuses, fields, projects…) and what the
// system must hold (permissions, workflow paths, webhooks at publicURL).
// The error lists every problem of every system, grouped by system, each
// system's findings together: its problems, then what its account could
// not read and an admin checks by hand. The notes are those of the
// systems without problems, which serve logs and runs with.
func CheckSystems(ctx context.Context, conns []core.Connector, m *core.Mappings, publicURL string) (notes []string, err error) {
	errs := make([][]error, len(conns))
	unsure := make([][]string, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if mc, ok := c.(core.MappingChecker); ok {
				err := mc.CheckMappings(cctx, m)
				if busy(err) {
					errs[i] = append(errs[i], &systemBusy{Connector: c.Name(), Err: err})
					return
				}
				if why := unreadable(err); why != "" {
					// One line says it all: every other request would fail alike.
					errs[i] = append(errs[i], fmt.Errorf("connector %q: cannot read the system (%s): %w", c.Name(), why, err))
					return
				}
				if err != nil {
					errs[i] = append(errs[i], fmt.Errorf("connector %q: the mappings name what it cannot find: %w", c.Name(), err))
				}
			}
			sc, ok := c.(core.SiteChecker)
			if !ok {
				return
			}
			r := sc.CheckSite(cctx, m, publicURL)
			if busy(r.Err) {
				errs[i] = append(errs[i], &systemBusy{Connector: c.Name(), Err: r.Err})
				return
			}
			if why := unreadable(r.Err); why != "" {
				errs[i] = append(errs[i], fmt.Errorf("connector %q: cannot read the system (%s): %w", c.Name(), why, r.Err))
			} else if r.Err != nil {
				errs[i] = append(errs[i], fmt.Errorf("connector %q: checking the site: %w", c.Name(), r.Err))
			}
			if len(r.Missing) > 0 {
				errs[i] = append(errs[i], fmt.Errorf("connector %q: to create before the gateway can run there:\n  - %s", c.Name(), strings.Join(r.Missing, "\n  - ")))
			}
			for _, u := range r.Unsure {
				unsure[i] = append(unsure[i], fmt.Sprintf("connector %q: check by hand: %s", c.Name(), u))
			}
		})
	}
	wg.Wait()
	var all []error
	for i := range conns {
		if len(errs[i]) == 0 {
			notes = append(notes, unsure[i]...)
			continue
		}
		all = append(all, errs[i]...)
		if len(unsure[i]) > 0 {
			all = append(all, errors.New(strings.Join(unsure[i], "\n")))
		}
	}
	return notes, errors.Join(all...)
}

// systemBusy is a check its system kept from being made: it answered as a
// service that is down or limiting requests does (a 5xx or a 429, after
// the client's retries). That says nothing of the configuration.
type systemBusy struct {
	Connector string
	Err       error
}

func (e *systemBusy) Error() string {
	return fmt.Sprintf("connector %q: could not be checked now, the system may be down or limiting requests: %v", e.Connector, e.Err)
}

func (e *systemBusy) Unwrap() error { return e.Err }

// busy reports whether a check's error is the system's answer of a
// service down or over its rate limit: a status worth retrying.
func busy(err error) bool {
	var se *retryhttp.StatusError
	return errors.As(err, &se) && retryhttp.Retryable(se.Status)
}

// startDespiteBusy logs, as warnings, the checks a busy system kept from
// being made, and returns the other problems of err (from CheckSystems).
// A tracker that is down while the gateway restarts must not keep the
// gateway down too, and with it every other system's intake: its writes
// wait in the outbox, and are tried again, like any others.
func startDespiteBusy(err error, log *slog.Logger) error {
	var all []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		all = j.Unwrap()
	} else if err != nil {
		all = []error{err}
	}
	var rest []error
	for _, e := range all {
		var b *systemBusy
		if errors.As(e, &b) {
			log.Warn(b.Error() + "; starting all the same, and its writes wait until it answers")
			continue
		}
		rest = append(rest, e)
	}
	return errors.Join(rest...)
}

// unreadable says why a check's error means the system could not be read
// at all: the credentials refused, or the system unreachable; "" for any
// other error.
func unreadable(err error) string {
	var se *retryhttp.StatusError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se) && se.Status == http.StatusUnauthorized:
		return "the credentials are refused: check the connector's token (and email) in the config and the variable or file it names"
	case errors.As(err, &ne):
		return "unreachable: check base_url and that this host may reach it"
	}
	return ""
}

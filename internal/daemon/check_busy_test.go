package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/logtest"
	"github.com/liaisonhq/liaison/internal/retryhttp"
)

// checkedSystem is a connector whose mapping check fails with err.
type checkedSystem struct {
	name string
	err  error
}

func (c checkedSystem) Name() string                                        { return c.name }
func (c checkedSystem) CheckMappings(context.Context, *core.Mappings) error { return c.err }

// A system that answers its check as a service down or over its rate
// limit does (after the client's retries) does not keep the gateway from
// starting: serve warns and starts. A problem of the configuration, or
// refused credentials, still stops it.
func TestCheckSystems_ABusySystemDoesNotStopTheStart(t *testing.T) {
	busyJira := checkedSystem{"jira", &retryhttp.StatusError{Method: "GET", Path: "/rest/api/2/field", Status: http.StatusServiceUnavailable}}
	limitedZendesk := checkedSystem{"zendesk", &retryhttp.StatusError{Method: "GET", Path: "/api/v2/ticket_fields.json", Status: http.StatusTooManyRequests}}
	tests := []struct {
		name      string
		conns     []core.Connector
		stops     []string // what the error that stops serve says
		warnsOf   []string // the connectors serve warns of
		notSaying string
	}{
		{name: "down and rate-limited", conns: []core.Connector{busyJira, limitedZendesk}, warnsOf: []string{`"jira"`, `"zendesk"`},
			notSaying: "the mappings name what it cannot find"},
		{name: "down beside a wrong status name", conns: []core.Connector{busyJira, checkedSystem{"zendesk", errors.New(`status "awaiting approval" is not one of this account's`)}},
			stops: []string{`connector "zendesk": the mappings name what it cannot find`}, warnsOf: []string{`"jira"`}},
		{name: "credentials refused", conns: []core.Connector{checkedSystem{"jira", &retryhttp.StatusError{Method: "GET", Path: "/rest/api/2/myself", Status: http.StatusUnauthorized}}},
			stops: []string{"the credentials are refused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckSystems(context.Background(), tc.conns, &core.Mappings{}, "")
			if err == nil {
				t.Fatal("CheckSystems found nothing")
			}
			var log logtest.Buffer
			rest := startDespiteBusy(err, slog.New(slog.NewTextHandler(&log, nil)))
			if len(tc.stops) == 0 && rest != nil {
				t.Errorf("serve would stop: %v", rest)
			}
			for _, w := range tc.stops {
				if rest == nil || !strings.Contains(rest.Error(), w) {
					t.Errorf("the error that stops serve does not say %q: %v", w, rest)
				}
			}
			for _, c := range tc.warnsOf {
				if !strings.Contains(log.String(), "connector "+strings.ReplaceAll(c, `"`, `\"`)) || !strings.Contains(log.String(), "starting all the same") {
					t.Errorf("serve does not warn of %s:\n%s", c, log.String())
				}
			}
			if tc.notSaying != "" && strings.Contains(err.Error(), tc.notSaying) {
				t.Errorf("the check says %q of a busy system: %v", tc.notSaying, err)
			}
		})
	}
}

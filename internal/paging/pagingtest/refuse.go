package pagingtest

import (
	"context"
	"strings"
	"testing"

	"github.com/liaisonhq/liaison/core"
)

// Refusal is a change to a planned page that the vendor would refuse.
type Refusal struct {
	Name   string
	Change func(*core.Action)
	Want   string // in the error
}

// Refuses checks that each refusal of system's planned create is refused
// before any request, permanently, with Want in the error. open builds
// the connector against a fresh fake and counts the fake's requests.
func Refuses(t *testing.T, system string, open func(*testing.T) (core.Applier, func() int), refusals []Refusal) {
	for _, r := range refusals {
		t.Run(r.Name, func(t *testing.T) {
			c, requests := open(t)
			a := Create(t, system)
			r.Change(&a)
			_, err := c.Apply(context.Background(), a)
			if err == nil || !strings.Contains(err.Error(), r.Want) || !Permanent(err) {
				t.Fatalf("err %v, want permanent %q", err, r.Want)
			}
			if n := requests(); n != 0 {
				t.Errorf("%d requests made", n)
			}
		})
	}
}

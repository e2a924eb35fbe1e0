package github

import (
	"errors"

	gojson "github.com/goccy/go-json"

	"github.com/liaisonhq/liaison/core"
)

// decodePR decodes a pull_request or pull_request_review delivery. It
// uses goccy/go-json rather than encoding/json: the delivery is 28 KB, of
// which prDelivery reads a few hundred bytes, and encoding/json scans the
// whole body twice (once to check it, once to decode it), which was a
// tenth of a webhook's CPU; goccy's decoder skips what it does not read
// in one pass, about ten times faster here. FuzzDecodePR holds it to
// encoding/json's answers on these types: the same values, and an error
// where encoding/json has one.
func decodePR(body []byte, e *prDelivery) error {
	return gojson.Unmarshal(body, e)
}

// badPRJSON is badJSON for a decodePR error, or nil when err is neither
// invalid JSON nor a field of the wrong type. It does not quote err's
// message, which may quote the body.
func badPRJSON(event string, err error) error {
	var se *gojson.SyntaxError
	var te *gojson.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return core.Malformed("%s delivery: invalid JSON at byte %d", event, se.Offset)
	case errors.As(err, &te) && te.Field != "":
		return core.Malformed("%s delivery: field %q has the wrong type", event, te.Field)
	case errors.As(err, &te):
		return core.Malformed("%s delivery: a field has the wrong type", event)
	}
	return nil
}

package core

import "log/slog"

// Secret holds a credential. It prints, logs and marshals as <secret>, so
// that a token can never reach a log line or an error message by accident;
// Reveal is the one way to read it.
type Secret string

const redacted = "<secret>"

// Reveal returns the secret's value, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler, for JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so config can hold one.
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

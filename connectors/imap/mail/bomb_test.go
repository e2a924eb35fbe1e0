package mail

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/liaisonhq/liaison/connectors/imap/imaptest"
)

var (
	nestedBomb = imaptest.NestedMultiparts
	manyParts  = imaptest.ManyParts
)

// steppingClock returns a clock that moves step forward each time it is read.
func steppingClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}

func TestParse_LimitsStopAMessageBuiltToBeExpensive(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		p    Parser
		want string // in the error
		from string
	}{
		{"10,000 nested multiparts", nestedBomb(10000), Parser{}, "nested more than 16 deep", "mallory@attacker.example"},
		{"nesting one over a small limit", nestedBomb(4), Parser{Limits: Limits{MaxDepth: 4}}, "nested more than 4 deep", "mallory@attacker.example"},
		{"2,000 parts", manyParts(2000), Parser{}, "more than 1000 parts", "mallory@attacker.example"},
		{"decoded content", read(t, "png-image-attachment-84k.eml"), Parser{Limits: Limits{MaxDecoded: 10 << 10}}, "decoded content over 10240 bytes", ""},
		{"time", read(t, "png-image-attachment-84k.eml"), Parser{Limits: Limits{Now: steppingClock(time.Minute)}}, "took longer than 10s", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.p.Parse(tc.raw)
			if !errors.Is(err, ErrOverLimit) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrOverLimit saying %q", err, tc.want)
			}
			if m == nil || m.From.Addr == "" || m.Subject == "" || m.MessageID == "" {
				t.Fatalf("message %+v: want its header read all the same", m)
			}
			if tc.from != "" && m.From.Addr != tc.from {
				t.Errorf("from %q, want %q", m.From.Addr, tc.from)
			}
		})
	}
}

func TestParse_UnderTheLimitsEverythingIsRead(t *testing.T) {
	m, err := Parser{Limits: Limits{MaxDepth: 5}}.Parse(nestedBomb(4))
	if err != nil || m.Text != "hello from the bottom" {
		t.Fatalf("text %q, error %v; want the text at the bottom of 5 levels", m.Text, err)
	}
	m, err = Parser{Limits: Limits{MaxParts: 1001}}.Parse(manyParts(1000))
	if err != nil || !strings.Contains(m.Text, "part 999") {
		t.Fatalf("error %v; want all 1000 parts read", err)
	}
	m, err = Parser{Limits: Limits{MaxDecoded: 100 << 10, Now: steppingClock(time.Millisecond)}}.Parse(read(t, "png-image-attachment-84k.eml"))
	if err != nil || len(m.Attachments) != 1 || m.Attachments[0].Size != 60168 {
		t.Fatalf("error %v, attachments %+v; want the 60168-byte PNG", err, m.Attachments)
	}
}

// BenchmarkParseNestedBomb is the time to refuse the 10,000-level bomb.
func BenchmarkParseNestedBomb(b *testing.B) {
	raw := nestedBomb(10000)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Parse(raw); !errors.Is(err, ErrOverLimit) {
			b.Fatal(err)
		}
	}
}

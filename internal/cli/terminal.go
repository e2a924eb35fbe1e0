package cli

import (
	"io"
	"strings"
	"unicode/utf8"
)

// plainWriter passes text through without the characters that act on a
// terminal rather than show: what the inspection commands print is
// customer text (a mail's subject, a ticket's title), and an escape
// sequence in it would otherwise reach the admin's terminal (retitle it,
// rewrite what is shown, ring the bell). Newlines and tabs stay.
type plainWriter struct{ w io.Writer }

func (p plainWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, plain(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// plain drops C0 and C1 control characters (ESC, BEL, CR, the 8-bit CSI,
// ...) but newline and tab, DEL, and the bidirectional overrides and
// isolates, which reorder what the terminal shows. Bytes that are not
// UTF-8 become U+FFFD, so that a lone 0x9b cannot act as CSI either.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == utf8.RuneError:
			return r
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return -1
		case (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			return -1
		}
		return r
	}, s)
}

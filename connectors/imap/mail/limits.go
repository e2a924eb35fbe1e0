package mail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"
	"time"
)

// Defaults of Limits. Real mail nests a handful of levels (a forward of a
// reply with a signed attachment is about six) and carries tens of parts;
// these leave ample room for that and none for a message built to be
// expensive.
const (
	DefaultMaxDepth   = 16
	DefaultMaxParts   = 1000
	DefaultMaxDecoded = MaxMessageSize
	DefaultMaxTime    = 10 * time.Second
)

// ErrOverLimit is wrapped by Parse's error for a message that was not read
// in full because it is over one of the parser's Limits. Parse then still
// returns the message with what its header says (sender, subject, thread),
// and what of its content was read before the limit, so that the mail can
// be answered for.
var ErrOverLimit = errors.New("mail not read in full")

// Limits bound what one message may cost to read. The MIME library's time
// grows with the nesting depth times the size (each level of nesting reads
// the bytes of all the levels below it again), so a 670 KiB mail of 10,000
// nested multiparts held one CPU for half a minute: depth and part count
// are measured by a linear scan before the library sees the message.
type Limits struct {
	// MaxDepth is the deepest nesting of multiparts; 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxParts is the number of parts; 0 means DefaultMaxParts.
	MaxParts int
	// MaxDecoded is the total of decoded part content (texts and files);
	// 0 means DefaultMaxDecoded.
	MaxDecoded int64
	// MaxTime is how long reading one message may take; 0 means
	// DefaultMaxTime. It is checked as the message is read, so it holds
	// whatever the message is made of.
	MaxTime time.Duration
	// Now tells the time for MaxTime; nil means time.Now. Tests inject it.
	Now func() time.Time
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	if l.MaxDecoded <= 0 {
		l.MaxDecoded = DefaultMaxDecoded
	}
	if l.MaxTime <= 0 {
		l.MaxTime = DefaultMaxTime
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return l
}

// overLimit is the error of a message over a limit; what names the limit.
func overLimit(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrOverLimit, fmt.Sprintf(format, args...))
}

// boundaryParam finds a boundary parameter in a Content-Type value that
// mime.ParseMediaType refuses. It reads more leniently than the MIME
// library does, so that the scan never sees fewer levels than the library.
var boundaryParam = regexp.MustCompile(`(?i)boundary\*?[0-9]*\*?\s*=\s*"?([^";\r\n]+)`)

// checkShape measures the multipart tree of body (a whole message) in one
// pass over its lines, without building it, and reports the first limit it
// is over. It counts every part whose header declares a boundary as a
// multipart and every line that begins with an open boundary as a
// delimiter, which is at least what the MIME library counts.
func checkShape(body []byte, lim Limits) error {
	var (
		open  [][]byte // "--" + boundary, outermost first
		parts = 1
		rest  = body
	)
	push := func(header []byte) error {
		b := declaredBoundary(header)
		if b == "" {
			return nil
		}
		open = append(open, []byte("--"+b))
		if len(open) > lim.MaxDepth {
			return overLimit("multiparts nested more than %d deep", lim.MaxDepth)
		}
		return nil
	}
	var header []byte
	header, rest = headerBlock(rest)
	if err := push(header); err != nil {
		return err
	}
	for len(rest) > 0 && len(open) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if !bytes.HasPrefix(line, []byte("--")) {
			continue
		}
		line = bytes.TrimRight(line, " \t\r")
		// The innermost open boundary that the line names.
		level := -1
		for i := len(open) - 1; i >= 0; i-- {
			if bytes.HasPrefix(line, open[i]) {
				level = i
				break
			}
		}
		if level < 0 {
			continue
		}
		if bytes.HasPrefix(line[len(open[level]):], []byte("--")) {
			open = open[:level] // the closing delimiter ends this multipart
			continue
		}
		open = open[:level+1]
		parts++
		if parts > lim.MaxParts {
			return overLimit("more than %d parts", lim.MaxParts)
		}
		header, rest = headerBlock(rest)
		if err := push(header); err != nil {
			return err
		}
	}
	return nil
}

// headerBlock splits b after the blank line that ends its header block.
func headerBlock(b []byte) (header, rest []byte) {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return b, nil
		}
		line := bytes.TrimRight(b[i:i+j], "\r")
		if len(line) == 0 {
			return b[:i], b[i+j+1:]
		}
		i += j + 1
	}
	return b, nil
}

// declaredBoundary returns the boundary a header block's Content-Type
// declares, or "".
func declaredBoundary(header []byte) string {
	var ct strings.Builder
	in := false
	for _, line := range bytes.Split(header, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		folded := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
		switch {
		case folded && in:
			ct.Write(line)
		case folded:
		default:
			in = len(line) > 13 && strings.EqualFold(string(line[:13]), "content-type:")
			if in {
				ct.Write(line[13:])
			}
		}
	}
	v := ct.String()
	if v == "" {
		return ""
	}
	if _, params, err := mime.ParseMediaType(v); err == nil && params["boundary"] != "" {
		return params["boundary"]
	}
	if m := boundaryParam.FindStringSubmatch(v); m != nil {
		return strings.TrimSpace(m[1])
	}
	return ""
}

// clockedReader fails reads once its deadline has passed. The MIME library
// pulls the message through it a buffer at a time, so however a message is
// made, the library gives up soon after the deadline.
type clockedReader struct {
	r        io.Reader
	now      func() time.Time
	deadline time.Time
	expired  bool
}

var errTimeUp = errors.New("time to read the message is up")

func (c *clockedReader) Read(p []byte) (int, error) {
	if c.expired || c.now().After(c.deadline) {
		c.expired = true
		return 0, errTimeUp
	}
	return c.r.Read(p)
}

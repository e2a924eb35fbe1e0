package mail

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/cention-sany/utf7"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// decodeTransfer undoes a Content-Transfer-Encoding. It is lenient the way
// mail readers are: characters outside the base64 alphabet are skipped, a
// truncated base64 tail is decoded as far as it goes, and a broken
// quoted-printable escape is kept literally. It reports a warning instead of
// failing, because a half-readable mail is still a customer's mail.
func decodeTransfer(cte string, body []byte) ([]byte, string) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return decodeBase64(body)
	case "quoted-printable":
		return decodeQP(body)
	case "x-uuencode", "uuencode", "x-uue":
		if out, ok := uudecode(body); ok {
			return out, ""
		}
		return body, "uuencoded part could not be decoded"
	}
	return body, ""
}

func decodeBase64(body []byte) ([]byte, string) {
	clean := make([]byte, 0, len(body))
	skipped := false
	for _, c := range body {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '=' || c == '\r' || c == '\n' || c == ' ' || c == '\t':
		default:
			skipped = true
		}
	}
	// Decode whole quanta; a dangling 1-character tail carries no byte.
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
		skipped = true
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	warn := ""
	if err != nil || skipped {
		warn = "malformed base64 content"
	}
	return out[:n], warn
}

func decodeQP(body []byte) ([]byte, string) {
	r := quotedprintable.NewReader(bytes.NewReader(body))
	out, err := io.ReadAll(r)
	if err == nil {
		return out, ""
	}
	// quotedprintable stops at the first bad escape; decode by hand, keeping
	// what cannot be decoded as it is.
	var b bytes.Buffer
	lines := bytes.SplitAfter(body, []byte("\n"))
	for _, line := range lines {
		trimmed := bytes.TrimRight(line, "\r\n")
		soft := bytes.HasSuffix(bytes.TrimRight(trimmed, " \t"), []byte("="))
		if soft {
			trimmed = bytes.TrimRight(trimmed, " \t")
			trimmed = trimmed[:len(trimmed)-1]
		}
		for i := 0; i < len(trimmed); i++ {
			c := trimmed[i]
			if c == '=' && i+2 < len(trimmed)+0 && isHex(trimmed[i+1]) && isHex(trimmed[i+2]) {
				b.WriteByte(unhex(trimmed[i+1])<<4 | unhex(trimmed[i+2]))
				i += 2
				continue
			}
			b.WriteByte(c)
		}
		if !soft && len(line) > len(bytes.TrimRight(line, "\r\n")) {
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), "malformed quoted-printable content"
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// uudecode reads the first "begin … end" block of a uuencoded body.
func uudecode(body []byte) ([]byte, bool) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var out []byte
	started := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if !started {
			if strings.HasPrefix(line, "begin ") {
				started = true
			}
			continue
		}
		if line == "end" {
			return out, true
		}
		if line == "" {
			continue
		}
		n := int((line[0] - ' ') & 0x3f)
		if n == 0 {
			continue
		}
		data := []byte(line[1:])
		var chunk []byte
		for i := 0; i+3 < len(data)+3 && len(chunk) < n; i += 4 {
			var q [4]byte
			for j := 0; j < 4; j++ {
				if i+j < len(data) {
					q[j] = (data[i+j] - ' ') & 0x3f
				}
			}
			chunk = append(chunk, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
		}
		if len(chunk) > n {
			chunk = chunk[:n]
		}
		out = append(out, chunk...)
	}
	return out, started && len(out) > 0
}

// charsetAliases names the legacy labels that mail clients send and the
// WHATWG/IANA indexes do not know, or know as something else.
var charsetAliases = map[string]encoding.Encoding{
	"ks_c_5601-1987": korean.EUCKR,
	"ks_c_5601":      korean.EUCKR,
	"ksc5601":        korean.EUCKR,
	"gb2312":         simplifiedchinese.GBK, // GB2312 mail is in practice GBK
	"x-gbk":          simplifiedchinese.GBK,
	"cp1252":         charmap.Windows1252,
	"cp1250":         charmap.Windows1250,
	"cp1251":         charmap.Windows1251,
	"x-mac-cyrillic": charmap.MacintoshCyrillic,
	"macintosh":      charmap.Macintosh,
	"latin1":         charmap.Windows1252,
	"us-ascii":       charmap.Windows1252, // 8-bit bytes in "ASCII" mail are almost always Windows-1252
	"ascii":          charmap.Windows1252,
	"ansi_x3.4-1968": charmap.Windows1252,
	"utf-16":         unicode.UTF16(unicode.BigEndian, unicode.UseBOM),
}

// lookupCharset finds a decoder for a MIME charset label, or nil.
func lookupCharset(label string) encoding.Encoding {
	l := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	if l == "" {
		return nil
	}
	if l == "utf-7" || l == "utf7" || l == "unicode-1-1-utf-7" {
		return utf7Encoding{}
	}
	if e, ok := charsetAliases[l]; ok {
		return e
	}
	if e, err := htmlindex.Get(l); err == nil && e != nil {
		return e
	}
	if e, err := ianaindex.MIME.Encoding(l); err == nil && e != nil {
		return e
	}
	// Some senders write charset=charset=utf-8 or similar.
	if i := strings.LastIndexByte(l, '='); i >= 0 {
		return lookupCharset(l[i+1:])
	}
	return nil
}

// utf7Encoding adapts the UTF-7 decoder to encoding.Encoding.
type utf7Encoding struct{ encoding.Encoding }

func (utf7Encoding) NewDecoder() *encoding.Decoder { return utf7.UTF7.NewDecoder() }

// toUTF8 converts text in the declared charset to valid UTF-8.
//
// Declarations lie often enough that two checks come first: bytes that are
// already valid UTF-8 with multi-byte sequences are taken as UTF-8 whatever
// the label says (legacy 8-bit and CJK text almost never forms valid UTF-8 by
// chance), and UTF-8 labels over invalid bytes fall back to Windows-1252 for
// those bytes, which is what such mail nearly always holds.
func toUTF8(charset string, b []byte) (string, string) {
	label := strings.ToLower(strings.TrimSpace(charset))
	ascii := isASCII(b)
	if ascii && !strings.Contains(label, "utf-7") && !strings.Contains(label, "2022") && !strings.Contains(label, "16") && !strings.Contains(label, "32") {
		return string(b), ""
	}
	if strings.HasPrefix(label, "utf-8") || label == "utf8" || label == "" {
		if utf8.Valid(b) {
			return string(b), ""
		}
		if label == "" {
			return fixInvalidUTF8(b), ""
		}
		return fixInvalidUTF8(b), "declared UTF-8 holds invalid bytes"
	}
	isWide := strings.Contains(label, "16") || strings.Contains(label, "32")
	if !isWide && !strings.Contains(label, "utf-7") && !strings.Contains(label, "2022") && utf8.Valid(b) {
		return string(b), fmt.Sprintf("declared charset %q but content is UTF-8", charset)
	}
	enc := lookupCharset(label)
	if enc == nil {
		return fixInvalidUTF8(b), fmt.Sprintf("unknown charset %q", charset)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return fixInvalidUTF8(b), fmt.Sprintf("charset %q: %v", charset, err)
	}
	s := string(out)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s, ""
}

// fixInvalidUTF8 keeps valid UTF-8 sequences and reads every other byte as
// Windows-1252.
func fixInvalidUTF8(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	dec := charmap.Windows1252
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			sb.WriteRune(dec.DecodeByte(b[0]))
			b = b[1:]
			continue
		}
		sb.Write(b[:size])
		b = b[size:]
	}
	return sb.String()
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// wordDecoder decodes RFC 2047 encoded words in headers with the same
// charset table as bodies.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(input)
	if err != nil {
		return nil, err
	}
	s, _ := toUTF8(charset, b)
	return strings.NewReader(s), nil
}}

// decodeHeader turns a raw header value into UTF-8 text: encoded words are
// decoded (also when senders put them where RFC 2047 forbids, such as inside
// quotes or glued to other text), and raw 8-bit bytes are read as UTF-8 or
// Windows-1252.
func decodeHeader(v string) string {
	return validUTF8(decodeHeaderRaw(v))
}

// validUTF8 repairs a decoded value: an encoded word may decode to bytes
// that are not valid in the charset it names.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return fixInvalidUTF8([]byte(s))
}

func decodeHeaderRaw(v string) string {
	if !utf8.ValidString(v) {
		v = fixInvalidUTF8([]byte(v))
	}
	if !strings.Contains(v, "=?") {
		return strings.TrimSpace(v)
	}
	if s, err := wordDecoder.DecodeHeader(v); err == nil && !strings.Contains(s, "=?") {
		return strings.TrimSpace(s)
	}
	// Decode each encoded word found anywhere in the value.
	var sb strings.Builder
	rest := v
	lastWasWord := false
	for {
		i := strings.Index(rest, "=?")
		if i < 0 {
			sb.WriteString(rest)
			break
		}
		j := encodedWordEnd(rest[i:])
		if j < 0 {
			sb.WriteString(rest)
			break
		}
		word := rest[i : i+j]
		dec, err := decodeWord(word)
		if err != nil {
			sb.WriteString(rest[:i+j])
			rest = rest[i+j:]
			lastWasWord = false
			continue
		}
		between := rest[:i]
		// Whitespace between two encoded words is not displayed (RFC 2047 §6.2).
		if !(lastWasWord && strings.TrimSpace(between) == "") {
			sb.WriteString(between)
		}
		sb.WriteString(dec)
		rest = rest[i+j:]
		lastWasWord = true
	}
	return strings.TrimSpace(sb.String())
}

// encodedWordEnd returns the length of the encoded word at the start of s
// ("=?charset?X?text?="), or -1.
func encodedWordEnd(s string) int {
	q := 0
	for i := 2; i < len(s)-1; i++ {
		if s[i] == '?' {
			q++
			if q == 3 && s[i+1] == '=' {
				return i + 2
			}
		}
		if s[i] == ' ' || s[i] == '\n' {
			return -1
		}
	}
	return -1
}

// decodeWord decodes one RFC 2047 encoded word leniently: base64 without
// padding or with stray characters, and unknown charsets read as UTF-8 or
// Windows-1252.
func decodeWord(word string) (string, error) {
	parts := strings.SplitN(strings.TrimSuffix(strings.TrimPrefix(word, "=?"), "?="), "?", 3)
	if len(parts) != 3 {
		return "", fmt.Errorf("encoded word %q: want =?charset?encoding?text?=", word)
	}
	charset, _, _ := strings.Cut(parts[0], "*") // RFC 2231 language suffix
	var b []byte
	switch strings.ToUpper(parts[1]) {
	case "B":
		b, _ = decodeBase64([]byte(parts[2]))
	case "Q":
		q := []byte(strings.ReplaceAll(parts[2], "_", " "))
		var out []byte
		for i := 0; i < len(q); i++ {
			if q[i] == '=' && i+2 < len(q) && isHex(q[i+1]) && isHex(q[i+2]) {
				out = append(out, unhex(q[i+1])<<4|unhex(q[i+2]))
				i += 2
				continue
			}
			out = append(out, q[i])
		}
		b = out
	default:
		return "", fmt.Errorf("encoded word: unknown encoding %q", parts[1])
	}
	s, _ := toUTF8(charset, b)
	return s, nil
}

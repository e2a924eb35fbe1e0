package mail

import (
	"regexp"
	"strings"

	"github.com/inbucket/html2text"
)

// htmlToText renders HTML as readable plain text: paragraphs and line
// breaks kept, links as "text <url>", blockquotes as "> " lines (which
// ExtractReply then recognises as quoted history), styles and scripts dropped.
func htmlToText(html string) string {
	s, err := html2text.FromString(html, html2text.Options{})
	if err != nil {
		// html2text only fails on reader errors; strip tags crudely instead.
		return tagPattern.ReplaceAllString(html, " ")
	}
	return s
}

var tagPattern = regexp.MustCompile(`<[^>]*>`)

// normalizeText turns CRLF into LF, drops trailing spaces and non-breaking
// spaces at line ends, and squeezes runs of more than two blank lines.
func normalizeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\u00a0")
		if l == "" {
			blank++
			if blank > 2 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.Trim(strings.Join(out, "\n"), "\n")
}

var (
	// A line (or two joined lines) that introduces quoted history: "On
	// Mon, Apr 2, 2012 at 6:26 PM, Megan <m@x> wrote:" in the languages
	// support mail arrives in.
	attribution = regexp.MustCompile(`(?i)(wrote|writes|написал[а]?|пишет|a écrit|schrieb|hat geschrieben|escribió|ha scritto|schreef|skrev|napisał[a]?|kirjoitti|escreveu|yazdı|írta|napsal[a]?|写道|のメッセージ|님이 작성)\s*:?\s*$`)
	// Separators after which everything is the earlier message.
	originalMessage = regexp.MustCompile(`(?i)^\s*-{2,}\s*(original message|ursprüngliche nachricht|originalnachricht|message d'origine|message original|mensaje original|messaggio originale|oorspronkelijk bericht|oryginalna wiadomość|исходное сообщение)\s*-{2,}`)
	wrappedStart    = regexp.MustCompile(`(\d{1,4}[./-]\d{1,2}[./-]\d{2,4}|\d{1,2}:\d{2}|<[^>]*$)`)
	underscoreRule  = regexp.MustCompile(`^\s*_{20,}\s*$`)
	headerFrom      = regexp.MustCompile(`(?i)^\s*\*?(from|de|von|van|da|od|från|fra|от|lähettäjä)\s*:\*?\s*\S`)
	headerSent      = regexp.MustCompile(`(?i)^\s*\*?(sent|date|envoyé|gesendet|datum|enviado|fecha|verzonden|inviato|wysłano|skickat|sendt|отправлено|дата|data|lähetetty)\s*:\*?\s*\S`)
	headerOther     = regexp.MustCompile(`(?i)^\s*\*?(to|an|à|para|a|aan|do|till|til|кому|subject|betreff|objet|asunto|oggetto|onderwerp|temat|ämne|emne|тема|cc)\s*:\*?`)
	// Signatures: the standard delimiter and the mobile clients' lines.
	sigDelimiter = regexp.MustCompile(`^-- ?$`)
	mobileSig    = regexp.MustCompile(`(?i)^\s*(sent from my (iphone|ipad|android|blackberry|mobile|samsung|galaxy|phone)|sent from (yahoo mail|outlook|mail for windows|my .*device)|sent with sparrow|get outlook for (ios|android)|envoyé de mon (iphone|ipad|téléphone|mobile)|von meinem (iphone|ipad|smartphone|handy) gesendet|enviado desde mi (iphone|ipad|móvil)|inviato da (iphone|ipad)|wysłane z (iphone|mojego)|отправлено с (iphone|моего))`)
)

// ExtractReply returns the new text of a reply: what its author wrote,
// without the quoted history and without the signature. It handles top
// posting (the new text above "On … wrote:" or an Outlook header block),
// bottom posting and interleaving ("> " quoted lines between the author's
// lines). When nothing would remain, it returns text unchanged, so that a
// reply is never emptied by a wrong guess.
func ExtractReply(text string) string {
	lines := strings.Split(normalizeText(text), "\n")
	lines = cutHistory(lines)
	lines = dropQuoted(lines)
	lines = cutSignature(lines)
	out := strings.TrimSpace(strings.Join(lines, "\n"))
	if out == "" {
		return strings.TrimSpace(text)
	}
	return normalizeText(out)
}

// cutHistory cuts at the first separator after which everything is the
// earlier message: an "Original Message" line, an Outlook header block
// (From: … Sent: …), or an attribution line not followed by quoted lines
// (the history was pasted unquoted, as HTML clients do).
func cutHistory(lines []string) []string {
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if originalMessage.MatchString(l) {
			return lines[:i]
		}
		if underscoreRule.MatchString(l) && headerBlockAt(lines, i+1) {
			return lines[:i]
		}
		if headerFrom.MatchString(l) && headerBlockAt(lines, i) && i > 0 {
			return lines[:i]
		}
		if j, ok := attributionAt(lines, i); ok {
			// Bottom posting: the attribution is followed by quoted lines
			// and then by the author's text; leave it to dropQuoted.
			if quotedFollows(lines, j+1) {
				lines = append(lines[:i:i], lines[j+1:]...)
				i--
				continue
			}
			if i > 0 {
				return lines[:i]
			}
		}
	}
	return lines
}

// attributionAt reports whether an attribution line starts at i, possibly
// wrapped over two lines, and returns the index of its last line.
func attributionAt(lines []string, i int) (int, bool) {
	isAttr := func(s string) bool {
		s = strings.TrimSpace(s)
		return len(s) < 300 && attribution.MatchString(s) && strings.ContainsAny(s, "0123456789@")
	}
	if strings.HasPrefix(strings.TrimSpace(lines[i]), ">") {
		return 0, false
	}
	if isAttr(lines[i]) {
		return i, true
	}
	// An attribution wrapped over two lines: the first holds the date or
	// an unclosed address, the second ends with "wrote:".
	if i+1 < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.HasPrefix(strings.TrimSpace(lines[i+1]), ">") &&
		isAttr(lines[i]+" "+lines[i+1]) && (!isAttr(lines[i+1]) || wrappedStart.MatchString(lines[i])) {
		return i + 1, true
	}
	return 0, false
}

// headerBlockAt reports whether an Outlook-style header block (From: then,
// within a few lines, Sent:/Date:) starts at or just after i.
func headerBlockAt(lines []string, i int) bool {
	for ; i < len(lines) && strings.TrimSpace(lines[i]) == ""; i++ {
	}
	if i >= len(lines) || !headerFrom.MatchString(lines[i]) {
		return false
	}
	for j := i + 1; j < len(lines) && j <= i+4; j++ {
		if headerSent.MatchString(lines[j]) {
			return true
		}
		if !headerOther.MatchString(lines[j]) && strings.TrimSpace(lines[j]) != "" {
			return false
		}
	}
	return false
}

func quotedFollows(lines []string, i int) bool {
	for ; i < len(lines); i++ {
		s := strings.TrimSpace(lines[i])
		if s == "" {
			continue
		}
		return strings.HasPrefix(s, ">")
	}
	return false
}

// dropQuoted removes "> " quoted lines and the blank lines around them.
func dropQuoted(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), ">") {
			// Also drop the blank line that separated the quote.
			for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
				out = out[:len(out)-1]
			}
			continue
		}
		if strings.TrimSpace(l) == "" && len(out) == 0 {
			continue
		}
		out = append(out, l)
	}
	return out
}

// cutSignature removes a signature: from the last "-- " delimiter when
// what follows is short, or a mobile client's "Sent from my …" line near
// the end.
func cutSignature(lines []string) []string {
	for i := len(lines) - 1; i > 0; i-- {
		if sigDelimiter.MatchString(lines[i]) && len(lines)-i <= 12 {
			lines = lines[:i]
			break
		}
	}
	// A mobile signature among the last three non-blank lines.
	seen := 0
	for i := len(lines) - 1; i > 0 && seen < 3; i-- {
		if strings.TrimSpace(lines[i]) == "" {
			continue
		}
		seen++
		if mobileSig.MatchString(lines[i]) {
			return lines[:i]
		}
	}
	return lines
}

// hasHistory reports whether text holds quoted history that ExtractReply
// would cut: an "Original Message" separator or an Outlook header block
// after some text of its own.
func hasHistory(text string) bool {
	lines := strings.Split(normalizeText(text), "\n")
	for i, l := range lines {
		if i == 0 {
			continue
		}
		if originalMessage.MatchString(l) || headerFrom.MatchString(l) && headerBlockAt(lines, i) {
			return true
		}
	}
	return false
}

package imaptest

import (
	"fmt"
	"strings"
)

// NestedMultiparts builds a mail of depth multiparts, each the only child
// of the one above, around one line of text. At depth 10,000 it is the
// 690 KB shape of mail (a MIME bomb) that once held the mailbox for half a
// minute of CPU; it is generated, not kept, so that no huge file sits in
// the repository.
func NestedMultiparts(depth int) []byte {
	var b strings.Builder
	b.WriteString("From: Mallory <mallory@attacker.example>\r\nTo: support@example.com\r\nSubject: nested\r\nMessage-ID: <nested@attacker.example>\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	for i := range depth {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i, i+1)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\nhello from the bottom\r\n", depth)
	for i := depth; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return []byte(b.String())
}

// ManyParts builds a mail of n sibling text parts.
func ManyParts(n int) []byte {
	var b strings.Builder
	b.WriteString("From: Mallory <mallory@attacker.example>\r\nSubject: many\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n")
	for i := range n {
		fmt.Fprintf(&b, "--=_b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i)
	}
	b.WriteString("--=_b--\r\n")
	return []byte(b.String())
}

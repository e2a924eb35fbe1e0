package core

import (
	"fmt"
	"net/mail"
	"strings"
)

// ParseRecipient reads one mail address: "ada@example.com", "Ada
// <ada@example.com>", or a bare address whose local part holds characters
// RFC 5322 would have quoted (connectors keep a sender's address unquoted,
// so `"victim@corp.example,x"@attacker.example` is kept as
// victim@corp.example,x@attacker.example). It never splits: a comma in the
// value is part of the one address, and the domain is what follows its
// last @.
func ParseRecipient(s string) (mail.Address, error) {
	s = strings.TrimSpace(s)
	if a, err := mail.ParseAddress(s); err == nil {
		return *a, nil
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || strings.ContainsAny(s, " \t\r\n<>\"\\") {
		return mail.Address{}, fmt.Errorf("%q is not one mail address", s)
	}
	if _, err := mail.ParseAddress("x" + s[at:]); err != nil {
		return mail.Address{}, fmt.Errorf("%q is not one mail address: bad domain", s)
	}
	return mail.Address{Address: s}, nil
}

// AddrSpec is a as it goes on the SMTP envelope (MAIL FROM, RCPT TO): the
// bare address, its local part quoted when it needs to be, so that a comma
// in it can never read as a second recipient.
func AddrSpec(a mail.Address) string {
	return strings.TrimSuffix(strings.TrimPrefix((&mail.Address{Address: a.Address}).String(), "<"), ">")
}

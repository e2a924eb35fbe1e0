package imap

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/liaisonhq/liaison/core"
)

// decodeYAML decodes strictly, as the engine's Setup.Decode does.
func decodeYAML(src string) func(any) error {
	return func(v any) error { return yaml.UnmarshalWithOptions([]byte(src), v, yaml.Strict()) }
}

func TestNew_ReadsTheDocumentedConfig(t *testing.T) {
	src := `
host: mail.example.com
tls: starttls
username: support@example.com
password_env: LIAISON_IMAP_PASSWORD
mailboxes: [INBOX, Escalations]
processed_mailbox: Done
failed_mailbox: Broken
idle: false
idle_renew: 20m
poll_interval: 45s
attachment_limit: 1048576
own_address: Support <support@example.com>
ticket_token: '\[#(\d+)\]'
smtp: {host: smtp.example.com, port: 587, tls: starttls, username: support@example.com, password_env: LIAISON_SMTP_PASSWORD}
ack: "We opened ticket #{{.Ticket}}."
ack_per_sender_per_hour: 2
loop_threshold: 10
loop_window: 30m
aliases: [Help <help@example.com>]
sent_mailbox: Sent Items
acknowledge: false
new_threads_per_sender_per_hour: 4
throttled_mailbox: Liaison/Throttled
participants: {same_domain: true, agents: [Example.com, lead@partner.example]}
`
	conn, err := New(core.Setup{Name: "support", Decode: decodeYAML(src), Env: func(k string) string { return "pw-" + k }})
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*Connector)
	s := c.cfg
	if c.Name() != "support" || s.addr != "mail.example.com:143" || s.idle || s.idleRenew != 20*time.Minute || s.poll != 45*time.Second ||
		s.own != "support@example.com" || s.ownDomain != "example.com" || s.smtpAddr != "smtp.example.com:587" || s.loopWindow != 30*time.Minute ||
		len(s.Mailboxes) != 2 || s.ProcessedMailbox != "Done" || s.AttachmentLimit != 1<<20 || s.password.Reveal() != "pw-LIAISON_IMAP_PASSWORD" {
		t.Errorf("settings %+v", s)
	}
	if s.acknowledge || !slices.Equal(s.aliases, []string{"help@example.com"}) || s.SentMailbox != "Sent Items" || s.NewThreadsPerHour != 4 ||
		s.ThrottledMailbox != "Liaison/Throttled" || !s.Participants.SameDomain || !slices.Equal(s.agents, []string{"example.com", "lead@partner.example"}) {
		t.Errorf("mail-intake settings %+v", s)
	}
}

func TestNew_Defaults(t *testing.T) {
	conn, err := New(core.Setup{Name: "imap", Decode: decodeYAML("host: imap.example.com\nusername: u\npassword_env: P\nown_address: help@example.com\n"), Env: func(string) string { return "x" }})
	if err != nil {
		t.Fatal(err)
	}
	s := conn.(*Connector).cfg
	if s.TLS != "imaps" || s.Port != 993 || !s.idle || s.idleRenew != 25*time.Minute || s.Mailboxes[0] != "INBOX" ||
		s.ProcessedMailbox != "Liaison/Processed" || s.FailedMailbox != "Liaison/Failed" || s.AttachmentLimit != 10<<20 || s.AckPerHour != 3 ||
		s.NewThreadsPerHour != 5 || s.SentMailbox != "Sent" || s.ack == nil || len(s.agents) != 0 {
		t.Errorf("defaults %+v", s)
	}
	// Without smtp, nothing to acknowledge with; with it, on.
	if s.acknowledge {
		t.Error("acknowledgements on without smtp")
	}
	conn, err = New(core.Setup{Name: "imap", Decode: decodeYAML("host: imap.example.com\nusername: u\npassword_env: P\nown_address: help@example.com\nsmtp: {host: smtp.example.com}\n"), Env: func(string) string { return "x" }})
	if err != nil || !conn.(*Connector).cfg.acknowledge {
		t.Errorf("acknowledgements with smtp: %v", err)
	}
}

func TestNew_RefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	base := "username: u\nown_address: help@example.com\n"
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "host: h\npassword_env: P\nhots: x\n" + base, "hots"},
		{"plain off loopback", "host: mail.example.com\ntls: plain\npassword_env: P\n" + base, `tls "plain" is only allowed for a loopback host`},
		{"no secret", "host: h\n" + base, "exactly one of password_env"},
		{"two secrets", "host: h\npassword_env: P\nxoauth2_token_env: T\n" + base, "exactly one of"},
		{"unset env", "host: h\npassword_env: UNSET\n" + base, `environment variable "UNSET" is empty or unset`},
		{"empty file", "host: h\npassword_file: " + empty + "\n" + base, "is empty"},
		{"idle too long", "host: h\npassword_env: P\nidle_renew: 30m\n" + base, "must be under 29m"},
		{"processed is read", "host: h\npassword_env: P\nmailboxes: [INBOX, Done]\nprocessed_mailbox: Done\n" + base, "also the processed"},
		{"token without group", "host: h\npassword_env: P\nticket_token: '#\\d+'\n" + base, "capture group"},
		{"acknowledge without smtp", "host: h\npassword_env: P\nacknowledge: true\n" + base, "acknowledge needs smtp"},
		{"sent is read", "host: h\npassword_env: P\nmailboxes: [INBOX, Sent]\n" + base, "sent_mailbox and throttled_mailbox must not be among the mailboxes read"},
		{"bad agent", "host: h\npassword_env: P\nparticipants: {agents: [a@b@c]}\n" + base, `participants.agents: "a@b@c" is neither`},
		{"bad alias", "host: h\npassword_env: P\naliases: [not an address]\n" + base, `aliases: "not an address"`},
		{"no own address", "host: h\npassword_env: P\nusername: u\n", "own_address is required"},
		{"bad duration", "host: h\npassword_env: P\npoll_interval: soon\n" + base, "soon"},
		{"smtp user without password", "host: h\npassword_env: P\nsmtp: {host: smtp.example.com, username: u}\n" + base, "smtp.username needs smtp.password_env or smtp.password_file"},
		{"smtp password unset", "host: h\npassword_env: P\nsmtp: {host: smtp.example.com, username: u, password_env: UNSET}\n" + base, `smtp.password_env: environment variable "UNSET" is empty or unset`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(core.Setup{Name: "imap", Decode: decodeYAML(tt.yaml), Env: func(k string) string {
				if k == "P" || k == "T" {
					return "s3cr3t-value"
				}
				return ""
			}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t-value") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

func TestOwnMessageID_CarriesTheThreadRoot(t *testing.T) {
	root := "CAEMnOreG=99=qx-ONib=g+32uBdSav5WP303BA@mail.gmail.com"
	id := ownMessageID("rule|case 7", root, "example.com")
	if id != ownMessageID("rule|case 7", root, "example.com") {
		t.Error("not deterministic")
	}
	got, err := parseOwnMessageID(id, "example.com")
	if err != nil || got != root {
		t.Errorf("parse %q = %q, %v", id, got, err)
	}
	if _, err := parseOwnMessageID(id, "other.example"); err == nil {
		t.Error("an id of another domain taken as ours")
	}
	if _, err := parseOwnMessageID("liaison.forged@example.com", "example.com"); err == nil {
		t.Error("a malformed id taken as ours")
	}
}

func TestTLSModes_Settle(t *testing.T) {
	tests := []struct {
		name      string
		t         tlsModes
		mode      string
		port      int
		host      string
		wantMode  string
		wantPort  int
		wantError string
	}{
		{"imap unset", imapTLS, "", 0, "mail.example.com", "imaps", 993, ""},
		{"imap starttls", imapTLS, "starttls", 0, "mail.example.com", "starttls", 143, ""},
		{"imap port kept", imapTLS, "imaps", 1993, "mail.example.com", "imaps", 1993, ""},
		{"imap plain on loopback", imapTLS, "plain", 0, "127.0.0.1", "plain", 143, ""},
		{"imap plain elsewhere", imapTLS, "plain", 0, "mail.example.com", "", 0, `tls "plain" is only allowed for a loopback host, not "mail.example.com": use imaps or starttls`},
		{"imap smtp's name", imapTLS, "tls", 0, "mail.example.com", "", 0, `tls "tls": want imaps, starttls or plain`},
		{"smtp unset", smtpTLS, "", 0, "smtp.example.com", "starttls", 587, ""},
		{"smtp tls", smtpTLS, "tls", 0, "smtp.example.com", "tls", 465, ""},
		{"smtp smtps is tls", smtpTLS, "smtps", 0, "smtp.example.com", "tls", 465, ""},
		{"smtp plain on localhost", smtpTLS, "plain", 2525, "localhost", "plain", 2525, ""},
		{"smtp plain elsewhere", smtpTLS, "plain", 0, "smtp.example.com", "", 0, `smtp.tls "plain" is only allowed for a loopback host, not "smtp.example.com": use tls or starttls`},
		{"smtp imap's name", smtpTLS, "imaps", 0, "smtp.example.com", "", 0, `smtp.tls "imaps": want tls, starttls or plain`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mode, port := tc.mode, tc.port
			err := tc.t.settle(&mode, &port, tc.host)
			if tc.wantError != "" {
				if err == nil || err.Error() != tc.wantError {
					t.Fatalf("err = %v; want %q", err, tc.wantError)
				}
				return
			}
			if err != nil || mode != tc.wantMode || port != tc.wantPort {
				t.Fatalf("settle = %q %d %v; want %q %d", mode, port, err, tc.wantMode, tc.wantPort)
			}
		})
	}
}

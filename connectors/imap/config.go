package imap

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/secret"
)

// Config is an imap instance's configuration section (snake_case keys,
// decoded strictly: an unknown key is an error).
//
//	imap:
//	  connector: imap
//	  host: mail.example.com
//	  port: 993                       # default 993 for imaps, 143 otherwise
//	  tls: imaps                      # imaps | starttls | plain (plain: loopback hosts only)
//	  username: support@example.com
//	  password_env: LIAISON_IMAP_PASSWORD   # or password_file, or xoauth2_token_env / xoauth2_token_file
//	  mailboxes: [INBOX]
//	  processed_mailbox: Liaison/Processed
//	  failed_mailbox: Liaison/Failed
//	  idle: true                      # use IDLE when the server offers it
//	  idle_renew: 25m                 # re-issue IDLE before servers' 29-minute cut
//	  poll_interval: 1m               # without IDLE
//	  attachment_limit: 10485760      # bytes; larger files are named, not carried
//	  own_address: support@example.com
//	  ticket_token: '\[#(\d+)\]'      # subject token; first group is the ticket id
//	  smtp: {host: smtp.example.com, port: 587, tls: starttls, username: support@example.com, password_env: LIAISON_SMTP_PASSWORD}
//	  ack: "We received your message and opened ticket #{{.Ticket}}."
//	  ack_per_sender_per_hour: 3
//	  loop_threshold: 20              # mails from one sender within loop_window that trip the breaker
//	  loop_window: 1h
type Config struct {
	Host             string   `yaml:"host" json:"host"`
	Port             int      `yaml:"port" json:"port"`
	TLS              string   `yaml:"tls" json:"tls"`
	Username         string   `yaml:"username" json:"username"`
	PasswordEnv      string   `yaml:"password_env" json:"password_env"`
	PasswordFile     string   `yaml:"password_file" json:"password_file"`
	XOAuth2TokenEnv  string   `yaml:"xoauth2_token_env" json:"xoauth2_token_env"`
	XOAuth2TokenFile string   `yaml:"xoauth2_token_file" json:"xoauth2_token_file"`
	Mailboxes        []string `yaml:"mailboxes" json:"mailboxes"`
	ProcessedMailbox string   `yaml:"processed_mailbox" json:"processed_mailbox"`
	FailedMailbox    string   `yaml:"failed_mailbox" json:"failed_mailbox"`
	IDLE             *bool    `yaml:"idle" json:"idle"`
	IdleRenew        Duration `yaml:"idle_renew" json:"idle_renew"`
	PollInterval     Duration `yaml:"poll_interval" json:"poll_interval"`
	AttachmentLimit  int64    `yaml:"attachment_limit" json:"attachment_limit"`
	OwnAddress       string   `yaml:"own_address" json:"own_address"`
	TicketToken      string   `yaml:"ticket_token" json:"ticket_token"`
	SMTP             SMTP     `yaml:"smtp" json:"smtp"`
	Ack              string   `yaml:"ack" json:"ack"`
	AckPerHour       int      `yaml:"ack_per_sender_per_hour" json:"ack_per_sender_per_hour"`
	LoopThreshold    int      `yaml:"loop_threshold" json:"loop_threshold"`
	LoopWindow       Duration `yaml:"loop_window" json:"loop_window"`
}

// SMTP is the outgoing mail server, for replies and acknowledgements.
type SMTP struct {
	Host         string `yaml:"host" json:"host"`
	Port         int    `yaml:"port" json:"port"`
	TLS          string `yaml:"tls" json:"tls"` // imaps-like "tls" (implicit, 465) | starttls | plain (loopback only)
	Username     string `yaml:"username" json:"username"`
	PasswordEnv  string `yaml:"password_env" json:"password_env"`
	PasswordFile string `yaml:"password_file" json:"password_file"`
}

// Duration reads "30s", "25m", "1h" from the config.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("duration %q: %w", string(b), err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Defaults.
const (
	defaultIdleRenew    = 25 * time.Minute
	maxIdleRenew        = 29 * time.Minute
	defaultPollInterval = time.Minute
	defaultAckPerHour   = 3
	defaultLoopLimit    = 20
	defaultLoopWindow   = time.Hour
	defaultTicketToken  = `\[#(\d+)\]`
)

// settings is the validated, compiled configuration.
type settings struct {
	Config
	addr       string
	password   core.Secret
	xoauth2    core.Secret
	idle       bool
	idleRenew  time.Duration
	poll       time.Duration
	own        string // lower-cased own address
	ownDomain  string
	token      *regexp.Regexp
	ack        *template.Template
	loopWindow time.Duration
	smtpAddr   string
	smtpPass   core.Secret
}

func compile(cfg Config, env func(string) string) (*settings, error) {
	s := &settings{Config: cfg}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if cfg.Host == "" {
		bad("host is required")
	}
	switch cfg.TLS {
	case "", "imaps":
		s.TLS = "imaps"
	case "starttls":
	case "plain":
		if !isLoopback(cfg.Host) {
			bad("tls %q is only allowed for a loopback host, not %q: use imaps or starttls", cfg.TLS, cfg.Host)
		}
	default:
		bad("tls %q: want imaps, starttls or plain", cfg.TLS)
	}
	if s.Port == 0 {
		s.Port = 143
		if s.TLS == "imaps" {
			s.Port = 993
		}
	}
	s.addr = net.JoinHostPort(cfg.Host, fmt.Sprint(s.Port))
	if cfg.Username == "" {
		bad("username is required")
	}
	nSecrets := 0
	for _, v := range []string{cfg.PasswordEnv, cfg.PasswordFile, cfg.XOAuth2TokenEnv, cfg.XOAuth2TokenFile} {
		if v != "" {
			nSecrets++
		}
	}
	if nSecrets != 1 {
		bad("exactly one of password_env, password_file, xoauth2_token_env, xoauth2_token_file is required (found %d)", nSecrets)
	} else {
		var err error
		switch {
		case cfg.PasswordEnv != "" || cfg.PasswordFile != "":
			s.password, err = secret.Read(env, "password", cfg.PasswordEnv, cfg.PasswordFile)
		default:
			s.xoauth2, err = secret.Read(env, "xoauth2_token", cfg.XOAuth2TokenEnv, cfg.XOAuth2TokenFile)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(s.Mailboxes) == 0 {
		s.Mailboxes = []string{"INBOX"}
	}
	if s.ProcessedMailbox == "" {
		s.ProcessedMailbox = "Liaison/Processed"
	}
	if s.FailedMailbox == "" {
		s.FailedMailbox = "Liaison/Failed"
	}
	for _, mb := range s.Mailboxes {
		if mb == s.ProcessedMailbox || mb == s.FailedMailbox {
			bad("mailbox %q is also the processed or failed mailbox: processed mail would be read again", mb)
		}
	}
	s.idle = cfg.IDLE == nil || *cfg.IDLE
	s.idleRenew = time.Duration(cfg.IdleRenew)
	if s.idleRenew == 0 {
		s.idleRenew = defaultIdleRenew
	}
	if s.idleRenew >= maxIdleRenew {
		bad("idle_renew %s must be under 29m: servers may drop an IDLE after 30 minutes (RFC 2177)", s.idleRenew)
	}
	s.poll = time.Duration(cfg.PollInterval)
	if s.poll == 0 {
		s.poll = defaultPollInterval
	}
	if s.poll < 0 || s.idleRenew < 0 {
		bad("poll_interval and idle_renew must be positive")
	}
	if s.AttachmentLimit == 0 {
		s.AttachmentLimit = 10 << 20
	}
	if cfg.OwnAddress == "" {
		bad("own_address is required: the gateway's own mail address, whose mail is never ingested")
	} else if a, err := mail.ParseAddress(cfg.OwnAddress); err != nil {
		bad("own_address %q: %v", cfg.OwnAddress, err)
	} else {
		s.own = strings.ToLower(a.Address)
		s.ownDomain = s.own[strings.LastIndexByte(s.own, '@')+1:]
	}
	tok := cfg.TicketToken
	if tok == "" {
		tok = defaultTicketToken
	}
	if re, err := regexp.Compile(tok); err != nil {
		bad("ticket_token %q: %v", tok, err)
	} else if re.NumSubexp() < 1 {
		bad("ticket_token %q needs a capture group for the ticket id", tok)
	} else {
		s.token = re
	}
	if cfg.Ack != "" {
		t, err := template.New("ack").Option("missingkey=error").Parse(cfg.Ack)
		if err != nil {
			bad("ack template: %v", err)
		}
		s.ack = t
	}
	if s.AckPerHour == 0 {
		s.AckPerHour = defaultAckPerHour
	}
	if s.LoopThreshold == 0 {
		s.LoopThreshold = defaultLoopLimit
	}
	s.loopWindow = time.Duration(cfg.LoopWindow)
	if s.loopWindow == 0 {
		s.loopWindow = defaultLoopWindow
	}
	if s.AckPerHour < 0 || s.LoopThreshold < 0 {
		bad("ack_per_sender_per_hour and loop_threshold must be positive")
	}
	if cfg.SMTP.Host != "" {
		sm := &s.SMTP
		switch sm.TLS {
		case "", "starttls":
			sm.TLS = "starttls"
		case "tls", "smtps":
			sm.TLS = "tls"
		case "plain":
			if !isLoopback(sm.Host) {
				bad("smtp.tls %q is only allowed for a loopback host, not %q", sm.TLS, sm.Host)
			}
		default:
			bad("smtp.tls %q: want tls, starttls or plain", sm.TLS)
		}
		if sm.Port == 0 {
			sm.Port = 587
			if sm.TLS == "tls" {
				sm.Port = 465
			}
		}
		s.smtpAddr = net.JoinHostPort(sm.Host, fmt.Sprint(sm.Port))
		if sm.Username != "" {
			p, err := secret.Read(env, "smtp.password", sm.PasswordEnv, sm.PasswordFile)
			switch {
			case err != nil:
				errs = append(errs, err)
			case p == "":
				bad("smtp.username needs smtp.password_env or smtp.password_file")
			}
			s.smtpPass = p
		}
	} else if cfg.Ack != "" {
		bad("ack needs smtp: acknowledgements are sent by mail")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

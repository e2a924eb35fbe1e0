package imap

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"regexp"
	"slices"
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
//	  poll_interval: 1m               # without IDLE; with it, how often to look again anyway
//	  attachment_limit: 10485760      # bytes; larger files are named, not carried
//	  own_address: support@example.com
//	  ticket_token: '\[#(\d+)\]'      # subject token; first group is the ticket id
//	  smtp: {host: smtp.example.com, port: 587, tls: starttls, username: support@example.com, password_env: LIAISON_SMTP_PASSWORD}
//	  aliases: [help@example.com]     # other addresses of this mailbox: never participants, never mailed
//	  sent_mailbox: Sent              # a copy of each mail sent is filed here, and looked for before a resend
//	  acknowledge: true               # acknowledge each new ticket to its requester (needs smtp)
//	  ack: "We received your message and opened ticket #{{.Ticket}}."
//	  ack_per_sender_per_hour: 3
//	  new_threads_per_sender_per_hour: 5  # over it, a sender's mail opens no ticket and gets no mail
//	  throttled_mailbox: ""           # where a throttled sender's mail is filed ("": on its latest ticket, as internal notes)
//	  participants:                   # who may join a thread (besides its requester and Cc'd people)
//	    same_domain: false            # anyone at the requester's domain
//	    agents: [example.com]         # addresses or domains of agents, who take part in every thread
//	  loop_threshold: 20              # mails from one sender within loop_window that trip the breaker
//	  loop_window: 1h
type Config struct {
	Host              string       `yaml:"host" json:"host"`
	Port              int          `yaml:"port" json:"port"`
	TLS               string       `yaml:"tls" json:"tls"`
	Username          string       `yaml:"username" json:"username"`
	PasswordEnv       string       `yaml:"password_env" json:"password_env"`
	PasswordFile      string       `yaml:"password_file" json:"password_file"`
	XOAuth2TokenEnv   string       `yaml:"xoauth2_token_env" json:"xoauth2_token_env"`
	XOAuth2TokenFile  string       `yaml:"xoauth2_token_file" json:"xoauth2_token_file"`
	Mailboxes         []string     `yaml:"mailboxes" json:"mailboxes"`
	ProcessedMailbox  string       `yaml:"processed_mailbox" json:"processed_mailbox"`
	FailedMailbox     string       `yaml:"failed_mailbox" json:"failed_mailbox"`
	IDLE              *bool        `yaml:"idle" json:"idle"`
	IdleRenew         Duration     `yaml:"idle_renew" json:"idle_renew"`
	PollInterval      Duration     `yaml:"poll_interval" json:"poll_interval"`
	AttachmentLimit   int64        `yaml:"attachment_limit" json:"attachment_limit"`
	OwnAddress        string       `yaml:"own_address" json:"own_address"`
	TicketToken       string       `yaml:"ticket_token" json:"ticket_token"`
	Aliases           []string     `yaml:"aliases" json:"aliases"`
	SentMailbox       string       `yaml:"sent_mailbox" json:"sent_mailbox"`
	SMTP              SMTP         `yaml:"smtp" json:"smtp"`
	Acknowledge       *bool        `yaml:"acknowledge" json:"acknowledge"`
	Ack               string       `yaml:"ack" json:"ack"`
	AckPerHour        int          `yaml:"ack_per_sender_per_hour" json:"ack_per_sender_per_hour"`
	NewThreadsPerHour int          `yaml:"new_threads_per_sender_per_hour" json:"new_threads_per_sender_per_hour"`
	ThrottledMailbox  string       `yaml:"throttled_mailbox" json:"throttled_mailbox"`
	Participants      Participants `yaml:"participants" json:"participants"`
	LoopThreshold     int          `yaml:"loop_threshold" json:"loop_threshold"`
	LoopWindow        Duration     `yaml:"loop_window" json:"loop_window"`
}

// Participants says who, besides a thread's requester and the people its
// mails were sent or copied to, may add to the thread by mail. Anyone else
// who replies to it, or names its ticket token, starts a ticket of their
// own.
type Participants struct {
	// SameDomain lets in anyone at the requester's domain.
	SameDomain bool `yaml:"same_domain" json:"same_domain"`
	// Agents are addresses ("lead@example.com") or domains
	// ("example.com") of the support team, who take part in every thread.
	Agents []string `yaml:"agents" json:"agents"`
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
	defaultNewThreads   = 5
	defaultAck          = `Hello{{with .SenderName}} {{.}}{{end}},

Thank you for your message. We have opened ticket #{{.Ticket}} for it and will answer you as soon as we can.
To add to it, reply to this mail.
`
	defaultLoopLimit   = 20
	defaultLoopWindow  = time.Hour
	defaultTicketToken = `\[#(\d+)\]`
)

// settings is the validated, compiled configuration.
type settings struct {
	Config
	addr        string
	password    core.Secret
	xoauth2     core.Secret
	idle        bool
	idleRenew   time.Duration
	poll        time.Duration
	own         string // lower-cased own address
	ownDomain   string
	token       *regexp.Regexp
	ack         *template.Template
	acknowledge bool
	aliases     []string // lower-cased
	agents      []string // lower-cased addresses and domains
	loopWindow  time.Duration
	smtpAddr    string
	smtpPass    core.Secret
}

func compile(cfg Config, env func(string) string) (*settings, error) {
	s := &settings{Config: cfg}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if cfg.Host == "" {
		bad("host is required")
	}
	if err := imapTLS.settle(&s.TLS, &s.Port, cfg.Host); err != nil {
		errs = append(errs, err)
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
	for _, a := range cfg.Aliases {
		if addr, err := mail.ParseAddress(a); err != nil {
			bad("aliases: %q: %v", a, err)
		} else {
			s.aliases = append(s.aliases, strings.ToLower(addr.Address))
		}
	}
	if s.SentMailbox == "" {
		s.SentMailbox = "Sent"
	}
	if slices.Contains(s.Mailboxes, s.SentMailbox) || slices.Contains(s.Mailboxes, s.ThrottledMailbox) {
		bad("sent_mailbox and throttled_mailbox must not be among the mailboxes read: their mail would be read again")
	}
	for _, a := range cfg.Participants.Agents {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" || strings.Count(a, "@") > 1 {
			bad("participants.agents: %q is neither an address nor a domain", a)
			continue
		}
		s.agents = append(s.agents, a)
	}
	ackText := cfg.Ack
	if ackText == "" {
		ackText = defaultAck
	}
	if t, err := template.New("ack").Option("missingkey=error").Parse(ackText); err != nil {
		bad("ack template: %v", err)
	} else {
		s.ack = t
	}
	if s.AckPerHour == 0 {
		s.AckPerHour = defaultAckPerHour
	}
	if s.NewThreadsPerHour == 0 {
		s.NewThreadsPerHour = defaultNewThreads
	}
	if s.NewThreadsPerHour < 0 {
		bad("new_threads_per_sender_per_hour must be positive")
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
		if err := smtpTLS.settle(&sm.TLS, &sm.Port, sm.Host); err != nil {
			errs = append(errs, err)
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
	} else if cfg.Acknowledge != nil && *cfg.Acknowledge {
		bad("acknowledge needs smtp: acknowledgements are sent by mail")
	}
	// On by default wherever mail can be sent.
	s.acknowledge = s.smtpAddr != "" && (cfg.Acknowledge == nil || *cfg.Acknowledge)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// tlsModes are the tls settings a mail server's config accepts.
type tlsModes struct {
	key   string            // the config key, for messages
	unset string            // the mode when none is given
	modes map[string]string // accepted name → mode
	want  string            // the accepted names, for messages
	safe  string            // the modes to use instead of plain, for messages
	ports map[string]int    // default port by mode
}

var (
	imapTLS = tlsModes{
		key: "tls", unset: "imaps",
		modes: map[string]string{"imaps": "imaps", "starttls": "starttls", "plain": "plain"},
		want:  "imaps, starttls or plain", safe: "imaps or starttls",
		ports: map[string]int{"imaps": 993, "starttls": 143, "plain": 143},
	}
	smtpTLS = tlsModes{
		key: "smtp.tls", unset: "starttls",
		modes: map[string]string{"tls": "tls", "smtps": "tls", "starttls": "starttls", "plain": "plain"},
		want:  "tls, starttls or plain", safe: "tls or starttls",
		ports: map[string]int{"tls": 465, "starttls": 587, "plain": 587},
	}
)

// settle checks *mode, the tls setting of the server at host, and replaces
// it by the mode it names (the default when unset), and a zero *port by
// the mode's default port. plain, which sends the password in clear, is
// only allowed to a loopback host.
func (t tlsModes) settle(mode *string, port *int, host string) error {
	given := *mode
	if given == "" {
		given = t.unset
	}
	m, ok := t.modes[given]
	switch {
	case !ok:
		return fmt.Errorf("%s %q: want %s", t.key, given, t.want)
	case m == "plain" && !isLoopback(host):
		return fmt.Errorf("%s %q is only allowed for a loopback host, not %q: use %s", t.key, given, host, t.safe)
	}
	*mode = m
	if *port == 0 {
		*port = t.ports[m]
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// RefusedError says that an outbound webhook would have reached an address
// the guard refuses: a private, loopback, link-local, unique-local, CGNAT,
// unspecified or otherwise non-public address not on the allowlist. It is
// permanent: retrying reaches the same address.
type RefusedError struct {
	Host   string     // the host name being dialled or redirected to ("" when only the address is known)
	Addr   netip.Addr // the resolved address (invalid when refused before resolution)
	Reason string     // "loopback", "private", ...
	Detail string     // anything else worth saying (a scheme downgrade)
}

func (e *RefusedError) Error() string {
	var what string
	switch {
	case e.Addr.IsValid() && e.Host != "" && e.Host != e.Addr.String():
		what = fmt.Sprintf("host %q resolves to %s", e.Host, e.Addr)
	case e.Addr.IsValid():
		what = "address " + e.Addr.String()
	default:
		what = fmt.Sprintf("host %q", e.Host)
	}
	if e.Detail != "" {
		return fmt.Sprintf("%s refused: %s", what, e.Detail)
	}
	return fmt.Sprintf("%s refused: it is a %s address (permit it with notify.allow)", what, e.Reason)
}

// blocked lists the address ranges an outbound webhook may not reach unless
// allowed, with the reason named in errors. IPv4-mapped IPv6 addresses are
// unmapped before the check, and NAT64, 6to4 and IPv4-compatible addresses
// checked by the IPv4 address they embed, so no other spelling slips past.
var blocked = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "CGNAT (shared address space)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved (IETF protocol assignments)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved (benchmarking)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	// The local-use translation prefix (RFC 8215) embeds IPv4 addresses
	// at a position each network chooses: a gateway into local IPv4.
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use IPv4/IPv6 translation"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
	// IPv4-compatible addresses (::a.b.c.d, RFC 4291 §2.5.5.1) are
	// deprecated; some stacks still reach the embedded IPv4 address.
	v4Compatible = netip.MustParsePrefix("::/96")
)

// v4CompatibleReason is why an IPv4-compatible address of a public IPv4
// address is refused.
const v4CompatibleReason = "IPv4-compatible (deprecated)"

// Guard decides which addresses outbound webhooks may reach. The zero
// Guard refuses every blocked range.
type Guard struct {
	nets  []netip.Prefix
	hosts []string // lower case; "*.example.com" matches subdomains
}

// ParseAllow reads an allowlist: CIDRs ("10.1.0.0/16"), single addresses
// ("192.168.1.10") and host names ("hooks.internal", "*.corp.example").
// An allowed CIDR lets a webhook reach addresses in it; an allowed host name
// lets a webhook reach that host whatever it resolves to.
func ParseAllow(entries []string) (*Guard, error) {
	g := &Guard{}
	var errs []error
	for _, e := range entries {
		s := strings.TrimSpace(e)
		switch {
		case s == "":
			errs = append(errs, errors.New("notify.allow: empty entry"))
		case strings.Contains(s, "/"):
			p, err := netip.ParsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("notify.allow: %q is not a CIDR (want e.g. 10.0.0.0/8)", s))
				continue
			}
			g.nets = append(g.nets, p.Masked())
		default:
			if a, err := netip.ParseAddr(s); err == nil {
				g.nets = append(g.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			h := strings.ToLower(strings.TrimSuffix(s, "."))
			if !validHostPattern(h) {
				errs = append(errs, fmt.Errorf("notify.allow: %q is neither a CIDR, an address nor a host name", s))
				continue
			}
			g.hosts = append(g.hosts, h)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return g, nil
}

func validHostPattern(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// HostAllowed reports whether host is on the allowlist by name.
func (g *Guard) HostAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range g.hosts {
		if h == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(h, "*"); ok && strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// Refused returns why a webhook may not reach a, or "" when it may.
func (g *Guard) Refused(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	for _, p := range g.nets {
		if p.Contains(a) {
			return ""
		}
	}
	check, compatible := a, false
	switch b := a.As16(); {
	case nat64.Contains(a):
		check = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	case sixTo4.Contains(a):
		check = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	case v4Compatible.Contains(a) && !a.IsLoopback() && !a.IsUnspecified():
		check, compatible = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	}
	reason := ""
	for _, b := range blocked {
		if b.prefix.Contains(check) {
			reason = b.reason
			break
		}
	}
	if reason == "" && compatible {
		reason = v4CompatibleReason
	}
	if reason != "" && check != a {
		// An allowlisted IPv4 range also covers its embedded forms.
		for _, p := range g.nets {
			if p.Contains(check) {
				return ""
			}
		}
	}
	return reason
}

// control runs after name resolution and before each connection attempt,
// so it sees the address actually dialled: a name that resolves (or
// re-resolves, DNS rebinding) to a refused address is stopped here.
func (g *Guard) control(host string) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Host: host, Reason: "unparsable", Detail: fmt.Sprintf("cannot read dialled address %q", address)}
		}
		if reason := g.Refused(ap.Addr()); reason != "" {
			return &RefusedError{Host: host, Addr: ap.Addr().Unmap().WithZone(""), Reason: reason}
		}
		return nil
	}
}

// dialContext dials addr ("host:port") through the guard: an allowlisted
// host name is dialled as is; any other is checked at every connection
// attempt, for every address it resolves to.
func (g *Guard) dialContext(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dial %q: %w", addr, err)
		}
		d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		if !g.HostAllowed(host) {
			d.Control = g.control(host)
		}
		return d.DialContext(ctx, network, addr)
	}
}

// maxRedirects bounds how many redirects a webhook POST follows.
const maxRedirects = 5

// checkRedirect refuses a redirect to another scheme than http(s), from
// https to http, past maxRedirects, or to an address literal the guard
// refuses (a host name is checked when it is dialled).
func (g *Guard) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return &RefusedError{Host: req.URL.Hostname(), Reason: "redirect", Detail: fmt.Sprintf("more than %d redirects", maxRedirects)}
	}
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return &RefusedError{Host: u.Hostname(), Reason: "redirect", Detail: fmt.Sprintf("redirect to scheme %q (only http and https)", u.Scheme)}
	}
	if via[0].URL.Scheme == "https" && u.Scheme == "http" {
		return &RefusedError{Host: u.Hostname(), Reason: "redirect", Detail: "redirect from https to plain http"}
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil && !g.HostAllowed(u.Hostname()) {
		if reason := g.Refused(a); reason != "" {
			return &RefusedError{Addr: a.Unmap().WithZone(""), Reason: reason}
		}
	}
	return nil
}

// Permits reports whether host was put on the allowlist: by name, or, for
// an address literal, by a listed address or CIDR. A caller that must only
// reach named vendor hosts lets anything else through only when Permits.
func (g *Guard) Permits(host string) bool {
	if g.HostAllowed(host) {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range g.nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client returns the HTTP client webhooks are posted with: no proxy (a
// proxy would be dialled instead of the target, defeating the guard),
// every connection checked, redirects checked.
func (g *Guard) client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: g.Transport(timeout), Timeout: timeout, CheckRedirect: g.checkRedirect}
}

// Transport is the round tripper under the guard's client, for a caller
// that wraps it in a retrying client of its own (the on-call connectors):
// no proxy, and every connection checked at dial time.
func (g *Guard) Transport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           g.dialContext(timeout),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
}

// Redact shows a URL as scheme://host, dropping user information, path,
// query and fragment: the path of a chat or incident webhook URL is its
// credential, so nothing else of it may reach a log, an error or the audit.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<unparsable URL>"
	}
	return u.Scheme + "://" + u.Host
}

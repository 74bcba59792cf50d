package sshfwd

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is the SSH port used when a target names none.
const DefaultPort = 22

// Target is an SSH server to log in to: ssh://user@host[:port].
type Target struct {
	// User is the login name; empty means the current user's.
	User string
	// Host is a host name or an IP address (without brackets).
	Host string
	// Port is the server's port; 0 means DefaultPort.
	Port uint16
}

// maxTargetLen bounds what ParseTarget reads: a DNS name is at most 253
// bytes, a login name far less.
const maxTargetLen = 512

// ParseTarget parses "ssh://user@host[:port]" (the form of --via), and also
// accepts "user@host[:port]" and "host" as ssh does. An IPv6 address goes in
// brackets: ssh://me@[2001:db8::1]:2222. Errors match ErrBadTarget.
func ParseTarget(s string) (Target, error) {
	bad := func(why string) (Target, error) {
		if len(s) > 64 {
			s = s[:64] + "…"
		}
		return Target{}, fmt.Errorf("%w %q: %s", ErrBadTarget, s, why)
	}
	if len(s) > maxTargetLen {
		return bad("too long")
	}
	rest := s
	if i := strings.Index(rest, "://"); i >= 0 {
		if !strings.EqualFold(rest[:i], "ssh") {
			return bad("scheme must be ssh://")
		}
		rest = rest[i+3:]
		rest = strings.TrimSuffix(rest, "/")
	}
	var t Target
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		t.User = rest[:i]
		rest = rest[i+1:]
		if t.User == "" {
			return bad("empty user name")
		}
		if strings.ContainsAny(t.User, ":/@") {
			return bad("user name may not contain ':', '/' or '@' (no passwords in targets)")
		}
	}
	if rest == "" {
		return bad("no host")
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return bad("missing ']'")
		}
		host = rest[1:end]
		after := rest[end+1:]
		switch {
		case after == "":
		case after[0] == ':':
			port = after[1:]
			if port == "" {
				return bad("empty port")
			}
		default:
			return bad("junk after ']'")
		}
		if net.ParseIP(host) == nil || !strings.Contains(host, ":") {
			return bad("brackets hold an IPv6 address only")
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i+1:]
		if strings.Contains(host, ":") {
			return bad("an IPv6 address needs brackets")
		}
		if port == "" {
			return bad("empty port")
		}
	}
	if host == "" {
		return bad("no host")
	}
	for _, r := range host {
		if !(r == '.' || r == '-' || r == '_' || r == ':' || r == '%' ||
			'0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return bad("host may hold letters, digits, '.', '-' and '_' only")
		}
	}
	if strings.HasPrefix(host, "-") {
		return bad("host may not start with '-'")
	}
	for _, r := range t.User {
		if r < 0x21 || r == 0x7f {
			return bad("user name may not contain spaces or control characters")
		}
	}
	t.Host = host
	if port != "" {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return bad("port must be 1-65535")
		}
		t.Port = uint16(p)
	}
	return t, nil
}

// Addr is host:port for dialing, with DefaultPort when Port is 0.
func (t Target) Addr() string {
	p := t.Port
	if p == 0 {
		p = DefaultPort
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(int(p)))
}

// String is the target as ssh://user@host[:port], the form ParseTarget reads.
func (t Target) String() string {
	var b strings.Builder
	b.WriteString("ssh://")
	if t.User != "" {
		b.WriteString(t.User + "@")
	}
	h := t.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	b.WriteString(h)
	if t.Port != 0 {
		b.WriteString(":" + strconv.Itoa(int(t.Port)))
	}
	return b.String()
}

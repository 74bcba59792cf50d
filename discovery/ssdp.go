package discovery

import (
	"bytes"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Search targets (ST values) for Internet gateways. A device that implements
// a newer version answers a search for an older one (UDA 1.1 §1.3.2), so the
// version-1 names find IGD:2 routers too.
const (
	TargetIGD1        = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	TargetIGD2        = "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
	TargetWANIPConn1  = "urn:schemas-upnp-org:service:WANIPConnection:1"
	TargetWANIPConn2  = "urn:schemas-upnp-org:service:WANIPConnection:2"
	TargetWANPPPConn1 = "urn:schemas-upnp-org:service:WANPPPConnection:1"
	TargetRootDevice  = "upnp:rootdevice"
	TargetAll         = "ssdp:all" // every device answers for everything: noisy
)

// Bounds on what is sent and accepted.
const (
	defaultSSDPPort      = 1900
	maxTargetLen         = 256  // an ST value we send
	maxHeaderLines       = 64   // header lines of an answer
	maxLocationLen       = 1024 // a LOCATION or description URL
	maxResponseFieldSize = 1024 // any answer header value
)

// defaultTargets are searched when Searcher.Targets is nil.
var defaultTargets = []string{TargetIGD1, TargetWANIPConn1}

// MaxDatagramSize is the largest SSDP response accepted, in bytes. Real
// answers are well under 1 KiB (miniupnpd's buffer is 1 KiB); anything that
// does not fit is dropped rather than truncated.
const MaxDatagramSize = 4096

// Response is one answer to an M-SEARCH.
type Response struct {
	// From is the address and port the answer came from. Any source port
	// is accepted: some routers answer from a port other than 1900.
	From netip.AddrPort
	// Location is the description URL with its host already set to From's
	// address (see the package documentation for the policy); the port,
	// path and query are the device's.
	Location *url.URL
	// OriginalLocation is the LOCATION header as the device sent it, for
	// diagnostics.
	OriginalLocation string
	// ST is the search target the device answered for (it may differ from
	// the one asked: some devices answer with the version they implement).
	ST string
	// USN is the unique service name (uuid:…::type).
	USN string
	// Server is the SERVER header (OS/version UPnP/x product/version).
	Server string
	// MaxAge is how long the advertisement is valid (CACHE-CONTROL max-age);
	// 0 if absent or unreadable.
	MaxAge time.Duration
}

// buildSearch renders one M-SEARCH request. host is the HOST header's value
// (the group or the unicast destination, with port).
func buildSearch(host, target string, mx int) []byte {
	var b bytes.Buffer
	b.Grow(128 + len(target))
	b.WriteString("M-SEARCH * HTTP/1.1\r\n")
	b.WriteString("HOST: " + host + "\r\n")
	// The quotes are required: strict devices drop an unquoted MAN.
	b.WriteString("MAN: \"ssdp:discover\"\r\n")
	b.WriteString("MX: " + strconv.Itoa(mx) + "\r\n")
	b.WriteString("ST: " + target + "\r\n")
	b.WriteString("\r\n")
	return b.Bytes()
}

// hostHeader formats a destination for the HOST header: 239.255.255.250:1900
// or [FF02::C]:1900 (without the zone, which means nothing to the device).
func hostHeader(ap netip.AddrPort) string {
	return net.JoinHostPort(ap.Addr().WithZone("").String(), strconv.Itoa(int(ap.Port())))
}

// validTarget reports whether an ST value is safe to put in a header: not
// empty, bounded, printable ASCII without spaces.
func validTarget(t string) bool {
	if t == "" || len(t) > maxTargetLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// ParseResponse parses one M-SEARCH answer received from the address from.
//
// It is strict: the status line must be HTTP/1.x 200, header lines must be
// well formed (CRLF or bare LF line ends, no folding, no control bytes),
// LOCATION and ST are required and may appear only once, and the datagram
// must fit in MaxDatagramSize. The LOCATION must be an absolute http URL; its
// host is replaced by from's address (see the package documentation), so the
// returned Location never points anywhere but the responder.
func ParseResponse(b []byte, from netip.AddrPort) (*Response, error) {
	if len(b) > MaxDatagramSize {
		return nil, ErrTooLarge
	}
	responder := from.Addr().Unmap()
	if !responderOK(responder) {
		return nil, malformed("responder address %v", from.Addr())
	}
	start, fields, err := splitHeader(b)
	if err != nil {
		return nil, err
	}
	if err := checkStatusLine(start); err != nil {
		return nil, err
	}
	r := &Response{From: netip.AddrPortFrom(responder, from.Port())}
	var haveLoc, haveST, haveUSN bool
	for _, f := range fields {
		switch f.name {
		case "LOCATION":
			if haveLoc {
				return nil, malformed("duplicate LOCATION")
			}
			haveLoc = true
			r.OriginalLocation = f.value
		case "ST":
			if haveST {
				return nil, malformed("duplicate ST")
			}
			haveST = true
			r.ST = f.value
		case "USN":
			if haveUSN {
				return nil, malformed("duplicate USN")
			}
			haveUSN = true
			r.USN = f.value
		case "SERVER":
			r.Server = f.value
		case "CACHE-CONTROL":
			r.MaxAge = parseMaxAge(f.value)
		}
	}
	if !haveLoc || r.OriginalLocation == "" {
		return nil, malformed("SSDP response without LOCATION")
	}
	if !haveST || r.ST == "" {
		return nil, malformed("SSDP response without ST")
	}
	loc, err := parseLocation(r.OriginalLocation)
	if err != nil {
		return nil, err
	}
	r.Location = pinHost(loc, responder)
	return r, nil
}

// checkStatusLine accepts "HTTP/1.1 200 OK" and "HTTP/1.0 200" with any
// reason phrase.
func checkStatusLine(s string) error {
	proto, rest, ok := strings.Cut(s, " ")
	if !ok || (proto != "HTTP/1.1" && proto != "HTTP/1.0") {
		return malformed("not an SSDP response")
	}
	code, _, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if code != "200" {
		return malformed("SSDP status %.8q", code)
	}
	return nil
}

// headerField is one header line: the name in upper case, the value
// trimmed.
type headerField struct{ name, value string }

// splitHeader splits an SSDP datagram (an answer or a NOTIFY) into its
// start line and header fields, strictly: CRLF or bare LF line ends, no
// folding, no control bytes, at most maxHeaderLines fields, each name a
// token and each value bounded. The body, if any, is ignored.
func splitHeader(b []byte) (start string, fields []headerField, err error) {
	head, _, found := bytes.Cut(b, []byte("\n\r\n"))
	if !found {
		head, _, found = bytes.Cut(b, []byte("\n\n"))
	}
	if !found {
		// A datagram carries the whole message; allow a missing final
		// blank line only if the text ends with a line end.
		if !bytes.HasSuffix(b, []byte("\n")) {
			return "", nil, malformed("SSDP message without end of header")
		}
		head = bytes.TrimSuffix(b, []byte("\n"))
	}
	lines := strings.Split(string(head), "\n")
	if len(lines) > maxHeaderLines+1 {
		return "", nil, malformed("too many SSDP header lines")
	}
	for _, line := range lines[1:] {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || !validToken(name) {
			return "", nil, malformed("bad SSDP header line")
		}
		value = strings.Trim(value, " \t")
		if !validFieldValue(value) {
			return "", nil, malformed("bad SSDP header value for %.32q", name)
		}
		fields = append(fields, headerField{strings.ToUpper(name), value})
	}
	return strings.TrimSuffix(lines[0], "\r"), fields, nil
}

// validToken: an HTTP header name (RFC 9110 token characters).
func validToken(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldValue: bounded, no control bytes other than tab, no DEL.
func validFieldValue(s string) bool {
	if len(s) > maxResponseFieldSize {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// parseMaxAge reads the max-age directive of a CACHE-CONTROL value
// ("max-age=1800", "max-age = 1800", "no-cache, max-age=60"). Unreadable or
// absurd values give 0.
func parseMaxAge(v string) time.Duration {
	for _, d := range strings.Split(v, ",") {
		name, val, ok := strings.Cut(d, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "max-age") {
			continue
		}
		n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(val), `"`), 10, 32)
		if err != nil || n > 365*24*3600 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	return 0
}

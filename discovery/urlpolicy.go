package discovery

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// The host policy (see the package documentation): every URL this package
// hands out or fetches has the responder's address as its host. A device
// chooses the port and path; it does not choose whom we talk to. That stops
// a LAN host from steering our HTTP requests to localhost services, to
// link-local metadata endpoints or to third parties (SSRF), and it also
// repairs real routers that advertise a wrong host (a TP-Link announcing
// http://[::1]:1900/). A VRRP pair answering from its static address is
// not repaired here: pinning points at the responder, and only the caller
// knows which gateway it searched (the front door moves such a LOCATION).

// responderOK reports whether a can be a device's address: a unicast address
// (not unspecified, multicast or broadcast). Loopback is allowed so that a device on this host (or a test) works; the
// policy still pins every URL to that exact address.
func responderOK(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// parseLocation parses an absolute http URL as a device gives it (LOCATION,
// URLBase): http only, a host present, no user information, a valid port.
func parseLocation(s string) (*url.URL, error) {
	if len(s) > maxLocationLen {
		return nil, malformed("URL too long")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, malformed("URL: %v", err)
	}
	if !strings.EqualFold(u.Scheme, "http") || u.Host == "" || u.Opaque != "" {
		return nil, malformed("not an absolute http URL: %.64q", s)
	}
	if u.User != nil {
		return nil, malformed("URL with user information")
	}
	if err := checkPort(u.Port()); err != nil {
		return nil, err
	}
	u.Scheme = "http"
	return u, nil
}

// checkPort accepts an empty port (80) or a decimal 1..65535.
func checkPort(p string) error {
	if p == "" {
		return nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return malformed("bad port %.8q", p)
	}
	return nil
}

// pinHost returns a copy of u whose host is responder, keeping u's port (an
// absent port stays absent, meaning 80). The fragment and any user
// information are dropped.
func pinHost(u *url.URL, responder netip.Addr) *url.URL {
	v := *u
	v.User = nil
	v.Fragment, v.RawFragment = "", ""
	host := responder.String() // carries the zone of a link-local address
	if responder.Is6() {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" {
		host = net.JoinHostPort(responder.String(), p)
	}
	v.Host = host
	return &v
}

// resolvePinned resolves ref (a controlURL, SCPDURL, eventSubURL or
// URLBase-relative value) against base and pins the result to responder. An
// empty or unusable reference gives nil.
func resolvePinned(base *url.URL, ref string, responder netip.Addr) *url.URL {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > maxLocationLen {
		return nil
	}
	r, err := url.Parse(ref)
	if err != nil || r.User != nil {
		return nil
	}
	u := base.ResolveReference(r)
	if !strings.EqualFold(u.Scheme, "http") || u.Host == "" || checkPort(u.Port()) != nil {
		return nil
	}
	u.Scheme = "http"
	return pinHost(u, responder)
}

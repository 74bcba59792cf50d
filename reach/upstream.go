package reach

import "net/netip"

// NAT says what lies between the router and the Internet, found by comparing
// the address a checker (or STUN server) saw with the router's external
// address.
type NAT int

const (
	// NATUnknown: the addresses cannot be compared (one missing, or of
	// different families).
	NATUnknown NAT = iota
	// NATNone: the checker saw the router's external address; nothing else
	// translates on the way.
	NATNone
	// NATUpstream: the router's external address looks public but is not the
	// one the Internet sees: another NAT sits upstream, and ports mapped on
	// this router are not reachable from the Internet.
	NATUpstream
	// NATPrivate: the router's external address itself is private, shared
	// (100.64.0.0/10, carrier-grade NAT) or otherwise not global: double NAT
	// that the router's own answer already shows.
	NATPrivate
)

// String gives the name used in reports and JSON: NONE, UPSTREAM_NAT,
// PRIVATE_EXTERNAL or UNKNOWN.
func (n NAT) String() string {
	switch n {
	case NATNone:
		return "NONE"
	case NATUpstream:
		return "UPSTREAM_NAT"
	case NATPrivate:
		return "PRIVATE_EXTERNAL"
	}
	return "UNKNOWN"
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598

// NotGlobal reports whether a is an address the Internet cannot route to
// this router: private, shared (CGNAT), loopback, link-local, unspecified or
// multicast.
func NotGlobal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() ||
		a.IsMulticast() || a.IsInterfaceLocalMulticast() || sharedSpace.Contains(a)
}

// CompareExternal compares the address the Internet saw (observed, from
// Check or STUN) with the external address the router reports.
func CompareExternal(observed, routerExternal netip.Addr) NAT {
	observed, routerExternal = observed.Unmap(), routerExternal.Unmap()
	switch {
	case !observed.IsValid() || !routerExternal.IsValid() || observed.Is4() != routerExternal.Is4():
		return NATUnknown
	case NotGlobal(routerExternal):
		return NATPrivate
	case observed == routerExternal:
		return NATNone
	}
	return NATUpstream
}

// MarshalText writes the name, so that JSON shows "UPSTREAM_NAT".
func (n NAT) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

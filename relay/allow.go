package relay

import (
	"net"
	"net/netip"
)

// normalizePrefix masks p and turns an IPv4-mapped IPv6 prefix
// (::ffff:10.0.0.0/104) into the IPv4 prefix it means (10.0.0.0/8), because
// clients are compared after Unmap.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// clientAddr is the address of a peer as the allow list sees it: unmapped
// and without zone (netip.Prefix.Contains never matches a zoned address).
func clientAddr(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), true
}

// allowed reports whether a client may use the relay. Clients without an IP
// address (a Unix-socket listener) pass only when there is no allow list.
func (c *config) allowed(a netip.AddrPort, ok bool) bool {
	if len(c.allow) == 0 {
		return true
	}
	if !ok {
		return false
	}
	for _, p := range c.allow {
		if p.Contains(a.Addr()) {
			return true
		}
	}
	return false
}

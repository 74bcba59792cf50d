package discovery

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
	"strconv"
)

// Gateway is a default route's next hop.
type Gateway struct {
	// Addr is the gateway's address. An IPv6 link-local gateway carries
	// its interface as the zone (fe80::1%eth0), so it can be dialled as is.
	Addr netip.Addr
	// Interface is the name of the interface the route goes out of ("" if
	// the OS did not say; then a zone, if any, is the numeric index).
	Interface string
	// Local is this host's address on the way to the gateway, as the
	// kernel would choose it (see LocalAddrFor); zero if it could not be
	// determined.
	Local netip.Addr
	// Metric is the route's metric (lower is preferred). Platforms without
	// metrics (the BSDs, macOS) report 0 for the primary route and 1 for
	// interface-scoped ones.
	Metric uint32
}

// DefaultGateways returns the next hops of the default routes in the OS's
// routing table, IPv4 first, then IPv6, each in order of preference (metric).
// It never guesses: when there is no default route, or the OS hides the
// gateway's address (Android), or the default route is a point-to-point link
// without one, it returns an error wrapping ErrNoDefaultRoute.
//
// Linux reads the kernel's table over rtnetlink (falling back to
// /proc/net/route and /proc/net/ipv6_route where netlink is not allowed) and
// prefers the main table; macOS and the BSDs use the routing socket sysctl
// (golang.org/x/net/route); Windows uses GetIpForwardTable2. It reads only
// local state and sends no packet.
func DefaultGateways() ([]Gateway, error) {
	gws, err := defaultGateways()
	if err != nil {
		return nil, err
	}
	gws = finishGateways(gws)
	if len(gws) == 0 {
		return nil, ErrNoDefaultRoute
	}
	for i := range gws {
		if l, err := LocalAddrFor(gws[i].Addr); err == nil {
			gws[i].Local = l
		}
	}
	return gws, nil
}

// LocalAddrFor returns the local address the kernel would use as the source
// of packets to gw: the address a router sees us as, which is what UPnP's
// NewInternalClient and PCP's client address must be.
//
// It "connects" a UDP socket to gw and reads the socket's local address.
// Connecting a UDP socket only performs a route lookup and binds the socket;
// no packet is sent (there is no handshake in UDP), and the socket is closed
// at once.
func LocalAddrFor(gw netip.Addr) (netip.Addr, error) {
	if !gw.IsValid() {
		return netip.Addr{}, ErrInvalidArgs
	}
	// Port 1900 is arbitrary: nothing is sent. A port is needed for the
	// sockaddr, and 0 is rejected by some systems for connect.
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw.Unmap(), 1900)))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	local := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	return local, nil
}

// finishGateways drops unusable and duplicate entries and sorts: IPv4 before
// IPv6, then by metric; the order of equal entries (the OS's) is kept.
func finishGateways(in []Gateway) []Gateway {
	out := make([]Gateway, 0, len(in))
	for _, g := range in {
		g.Addr = g.Addr.Unmap()
		if !usableGateway(g.Addr) {
			continue
		}
		dup := slices.ContainsFunc(out, func(o Gateway) bool {
			return o.Addr == g.Addr && o.Interface == g.Interface
		})
		if !dup {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out, func(a, b Gateway) int {
		if a.Addr.Is4() != b.Addr.Is4() {
			if a.Addr.Is4() {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Metric, b.Metric)
	})
	return out
}

// usableGateway reports whether a next hop can be a router we talk to: not
// zero (Android's hidden gateway), not unspecified, multicast or loopback.
func usableGateway(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback()
}

// ifaceName returns the name of interface index, or "" when unknown.
func ifaceName(index int) string {
	if index <= 0 {
		return ""
	}
	ifi, err := net.InterfaceByIndex(index)
	if err != nil {
		return ""
	}
	return ifi.Name
}

// zoned attaches the interface as zone to an IPv6 link-local address (name if
// known, else the numeric index, which Go's net package also accepts).
func zoned(a netip.Addr, name string, index int) netip.Addr {
	if !a.Is6() || a.Is4In6() || !(a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) || a.Zone() != "" {
		return a
	}
	switch {
	case name != "":
		return a.WithZone(name)
	case index > 0:
		return a.WithZone(strconv.Itoa(index))
	}
	return a
}

//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// The IPv6 side of a lab built with Options.IPv6. Every accessor returns
// the zero value for a lab without it, so a test cannot mistake an absent
// address for a reachable one.

// IPv6 reports whether the lab was built with Options.IPv6.
func (l *Lab) IPv6() bool { return l.opts.IPv6 }

// Addr6 is node's global IPv6 address: the WAN host's (2001:db8:1::1), the
// router's LAN address (2001:db8:77::1), or a LAN host's (2001:db8:77::10,
// ::11). A pinhole opens a LAN host's own address: there is no NAT66. The
// zero Addr without Options.IPv6. For the router's WAN address use
// ExternalAddr6.
func (l *Lab) Addr6(node Node) netip.Addr {
	if !l.opts.IPv6 {
		return netip.Addr{}
	}
	switch node {
	case WAN:
		return wanHost6
	case Router:
		return routerLAN6
	case LAN1:
		return lan1Addr6
	case LAN2:
		return lan2Addr6
	}
	return netip.Addr{}
}

// Gateway6 is the router's global LAN address, the LAN hosts' IPv6 default
// gateway: where PCP requests for pinholes go (from the LAN host's global
// address, which miniupnpd opens), and the host of DescURL6.
func (l *Lab) Gateway6() netip.Addr { return l.Addr6(Router) }

// ExternalAddr6 is the router's IPv6 address on the WAN link
// (2001:db8:1::4), the next hop of the LAN prefix for the WAN host.
func (l *Lab) ExternalAddr6() netip.Addr {
	if !l.opts.IPv6 {
		return netip.Addr{}
	}
	return routerWAN6
}

// LANPrefix6 is the LAN's IPv6 prefix, 2001:db8:77::/64.
func (l *Lab) LANPrefix6() netip.Prefix {
	if !l.opts.IPv6 {
		return netip.Prefix{}
	}
	return lanNet6
}

// WANPrefix6 is the WAN link's IPv6 prefix, 2001:db8:1::/64.
func (l *Lab) WANPrefix6() netip.Prefix {
	if !l.opts.IPv6 {
		return netip.Prefix{}
	}
	return wanNet6
}

// DescURL6 is the root description URL on the router's global IPv6
// address, as SSDP over IPv6 announces it. WANIPv6FirewallControl actions
// must go to this URL's control URLs: over the IPv4 URL miniupnpd sees
// no IPv6 sender and answers AddPinhole with 606. "" without Options.IPv6.
func (l *Lab) DescURL6() string {
	if !l.opts.IPv6 {
		return ""
	}
	return fmt.Sprintf("http://%s/rootDesc.xml", netip.AddrPortFrom(routerLAN6, l.HTTPPort()))
}

// LinkLocal is the link-local IPv6 address of node's interface toward the
// LAN (the router's br0, a host's eth0; the WAN host's eth0), without a
// zone: on a LAN host the zone of the router's address is "eth0". The
// kernel picks these addresses (from the random MAC addresses of the
// veths and the bridge), so they differ between labs. Without
// Options.IPv6 it fails.
func (l *Lab) LinkLocal(ctx context.Context, node Node) (netip.Addr, error) {
	if !l.opts.IPv6 {
		return netip.Addr{}, errors.New("netlab: LinkLocal: the lab has no IPv6 (Options.IPv6)")
	}
	ns, err := l.netns(node)
	if err != nil {
		return netip.Addr{}, err
	}
	dev := hostIf
	if node == Router {
		dev = routerLANIf
	}
	var links []struct {
		Addrs []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := runJSON(ctx, &links, "ip", "-n", ns, "-j", "-6", "address", "show", "dev", dev, "scope", "link"); err != nil {
		return netip.Addr{}, err
	}
	for _, lk := range links {
		for _, a := range lk.Addrs {
			if addr, err := netip.ParseAddr(a.Local); err == nil && addr.IsLinkLocalUnicast() {
				return addr, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("netlab: %s has no link-local address on %s", node, dev)
}

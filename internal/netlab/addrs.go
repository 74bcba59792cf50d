//go:build linux

package netlab

import "net/netip"

// Node names one machine of the lab; each is a network namespace.
type Node string

const (
	// WAN is "the Internet": one host with WANHost and STUNAltAddr on the
	// router's WAN link. It runs the STUN responder and plays the remote peer.
	// It has no route to the LAN, as on the real Internet.
	WAN Node = "wan"
	// Router runs miniupnpd, nftables (DNAT/forward rules, masquerade) and
	// forwards between its WAN link and the LAN bridge.
	Router Node = "rtr"
	// LAN1 and LAN2 are hosts on the router's LAN bridge, with default routes
	// through the router.
	LAN1 Node = "lan1"
	LAN2 Node = "lan2"
	// ISP exists only in a nested lab (Options.Nested): the ISP's router,
	// a second miniupnpd between WAN and Router. Its WAN link is the
	// lab's WAN link; its LAN (10.77.0.0/24) holds Router's WAN side.
	ISP Node = "isp"
)

// nodes in build order.
var nodes = [...]Node{WAN, Router, LAN1, LAN2}

// nestedNodes are a nested lab's nodes in build order: the ISP router
// before the home router, whose WAN link it creates.
var nestedNodes = [...]Node{WAN, ISP, Router, LAN1, LAN2}

// Addresses. The WAN side uses 1.2.3.0/24, a public-looking range, on purpose:
// miniupnpd 2.3.1 refuses to forward when its WAN address is in a reserved
// range (RFC 1918, 100.64/10, the RFC 5737 documentation nets, 198.18/15,
// ...), and it has no ext_allow_private_ipv4. Using someone's public range is
// safe only because the lab namespaces have no link to any other namespace
// (New verifies this): no packet to 1.2.3.x can leave the lab, and nothing
// outside can be reached from it.
var (
	wanNet     = netip.MustParsePrefix("1.2.3.0/24")
	wanHost    = netip.MustParseAddr("1.2.3.1") // WAN host, STUN primary address
	stunAlt    = netip.MustParseAddr("1.2.3.2") // WAN host, STUN alternate address
	defaultWAN = netip.MustParseAddr("1.2.3.4") // router's WAN address unless Options.WANAddr

	lanNet    = netip.MustParsePrefix("192.168.77.0/24")
	routerLAN = netip.MustParseAddr("192.168.77.1")
	lan1Addr  = netip.MustParseAddr("192.168.77.10")
	lan2Addr  = netip.MustParseAddr("192.168.77.11")

	// A nested lab's middle network, between the ISP router and the home
	// router. Private on purpose: the home router sees a reserved WAN
	// address, as behind an ISP box.
	ispNet    = netip.MustParsePrefix("10.77.0.0/24")
	ispLAN    = netip.MustParseAddr("10.77.0.1") // the ISP router's LAN address
	nestedWAN = netip.MustParseAddr("10.77.0.2") // the home router's WAN address

	// The middle network with ISPOptions.CGNAT: the shared address space
	// of RFC 6598, as an ISP's carrier-grade NAT hands out.
	cgnatNet  = netip.MustParsePrefix("100.64.77.0/24")
	cgnatISP  = netip.MustParseAddr("100.64.77.1")
	cgnatHome = netip.MustParseAddr("100.64.77.2")
)

// middleNet is a nested lab's network between the routers, with the ISP
// router's and the home router's addresses on it.
type middleNet struct {
	prefix    netip.Prefix
	isp, home netip.Addr
}

func newMiddleNet(cgnat bool) middleNet {
	if cgnat {
		return middleNet{cgnatNet, cgnatISP, cgnatHome}
	}
	return middleNet{ispNet, ispLAN, nestedWAN}
}

const (
	stunPort    = 3478 // the STUN default; miniupnpd's ext_stun_port points here
	stunAltPort = 3479

	// Interface names. They are per namespace, so they need no run prefix.
	routerWANIf = "wan0"
	routerLANIf = "br0"
	hostIf      = "eth0" // the one interface of the WAN and LAN hosts
	ispLANIf    = "lan0" // the ISP router's LAN veth (nested lab); its WAN is routerWANIf
)

// routerPort is the router-side veth of a LAN host.
func routerPort(n Node) string { return "veth-" + string(n) }

// IPv6 addresses (Options.IPv6), all from the documentation prefix
// 2001:db8::/32 (RFC 3849); like 1.2.3.0/24 they never leave the sealed lab.
// There is no NAT66: the WAN host reaches LAN hosts at their own global
// addresses, through the router, as with a delegated prefix. The router's
// forward policy drops new inbound IPv6, so only a pinhole lets it in.
var (
	wanNet6    = netip.MustParsePrefix("2001:db8:1::/64")
	wanHost6   = netip.MustParseAddr("2001:db8:1::1") // WAN host
	routerWAN6 = netip.MustParseAddr("2001:db8:1::4") // router's WAN address

	lanNet6    = netip.MustParsePrefix("2001:db8:77::/64") // the prefix routed to the router
	routerLAN6 = netip.MustParseAddr("2001:db8:77::1")
	lan1Addr6  = netip.MustParseAddr("2001:db8:77::10")
	lan2Addr6  = netip.MustParseAddr("2001:db8:77::11")
)

package libp2p

import (
	"net/netip"
	"strconv"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/internal/table"
)

// listenAddr is what a listen address worth mapping says.
type listenAddr struct {
	key  table.Key    // protocol, port, and family (IPv4 or IPv6)
	ip   netip.Addr   // the address listened on; unspecified for all
	rest ma.Multiaddr // what follows the port (/quic-v1, /ws …)
}

// parseListen reads a listen address worth mapping: IPv4 that is
// unspecified or not loopback, link-local or multicast (a private address is
// what a NAT maps); IPv6 that is unspecified or global unicast, not
// unique-local (a pinhole opens a global address; nothing translates a ULA);
// then TCP or UDP with a port.
func parseListen(a ma.Multiaddr) (listenAddr, bool) {
	ipc, rest := ma.SplitFirst(a)
	if ipc == nil {
		return listenAddr{}, false
	}
	var fam upnpmap.Family
	switch ipc.Protocol().Code {
	case ma.P_IP4:
		fam = upnpmap.IPv4
	case ma.P_IP6:
		fam = upnpmap.IPv6
	default:
		return listenAddr{}, false
	}
	ip, ok := netip.AddrFromSlice(ipc.RawValue())
	if !ok || ip.Is4In6() || (fam == upnpmap.IPv4) != ip.Is4() {
		return listenAddr{}, false
	}
	if !ip.IsUnspecified() && (!ip.IsGlobalUnicast() || (fam == upnpmap.IPv6 && ip.IsPrivate())) {
		return listenAddr{}, false
	}
	pc, rest := ma.SplitFirst(rest)
	if pc == nil {
		return listenAddr{}, false
	}
	var proto upnpmap.Protocol
	switch pc.Protocol().Code {
	case ma.P_TCP:
		proto = upnpmap.TCP
	case ma.P_UDP:
		proto = upnpmap.UDP
	default:
		return listenAddr{}, false
	}
	port, err := strconv.ParseUint(pc.Value(), 10, 16)
	if err != nil || port == 0 {
		return listenAddr{}, false
	}
	k := table.Key{Protocol: proto, Internal: uint16(port), Family: fam}
	return listenAddr{key: k, ip: ip, rest: rest}, true
}

// external is the multiaddr of a's mapping ext, followed by a's rest; false
// when ext does not serve a: another family, or (IPv6) a pinhole of another
// address than the one a listens on.
func (a listenAddr) external(ext netip.AddrPort) (ma.Multiaddr, bool) {
	ip := ext.Addr()
	var prefix string
	switch a.key.Family {
	case upnpmap.IPv4:
		if !ip.Is4() {
			return nil, false
		}
		prefix = "/ip4/"
	case upnpmap.IPv6:
		// The pinhole opens the host's stable address; a listener bound
		// to another one (a temporary address) is not reached through it.
		if !ip.Is6() || ip.Is4In6() || ip.Zone() != "" || (!a.ip.IsUnspecified() && a.ip != ip) {
			return nil, false
		}
		prefix = "/ip6/"
	default:
		return nil, false
	}
	out, err := ma.NewMultiaddr(prefix + ip.String() + "/" + string(a.key.Protocol) + "/" + strconv.Itoa(int(ext.Port())))
	if err != nil {
		return nil, false
	}
	return ma.Join(out, a.rest), true
}

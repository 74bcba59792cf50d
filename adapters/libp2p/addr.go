package libp2p

import (
	"net/netip"
	"strconv"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/internal/table"
)

// keyOf reads the protocol and port of a listen address worth mapping (IPv4,
// unspecified or not loopback, link-local or multicast; then TCP or UDP) and
// returns what follows the port.
func keyOf(a ma.Multiaddr) (table.Key, ma.Multiaddr, bool) {
	ipc, rest := ma.SplitFirst(a)
	if ipc == nil || ipc.Protocol().Code != ma.P_IP4 {
		return table.Key{}, nil, false
	}
	ip, ok := netip.AddrFromSlice(ipc.RawValue())
	if !ok || !(ip.IsUnspecified() || ip.IsGlobalUnicast()) {
		return table.Key{}, nil, false
	}
	pc, rest := ma.SplitFirst(rest)
	if pc == nil {
		return table.Key{}, nil, false
	}
	var proto upnpmap.Protocol
	switch pc.Protocol().Code {
	case ma.P_TCP:
		proto = upnpmap.TCP
	case ma.P_UDP:
		proto = upnpmap.UDP
	default:
		return table.Key{}, nil, false
	}
	port, err := strconv.ParseUint(pc.Value(), 10, 16)
	if err != nil || port == 0 {
		return table.Key{}, nil, false
	}
	return table.Key{Protocol: proto, Internal: uint16(port)}, rest, true
}

package gatewaytest

import (
	"net/netip"
)

// asIPv6Host rewrites a PCP request from ::1 as one from Config.IPv6Host:
// the source, and a client field of ::1, become IPv6Host (see
// Config.IPv6Host). Any other client field is left as sent, so that it
// meets ADDRESS_MISMATCH. The reply still goes to the real source.
func (g *Gateway) asIPv6Host(pkt []byte, from netip.AddrPort) ([]byte, netip.AddrPort) {
	if from.Addr() != netip.IPv6Loopback() {
		return pkt, from
	}
	from = netip.AddrPortFrom(g.cfg.IPv6Host, from.Port())
	if len(pkt) >= pcpHeaderLen && addr16(pkt[8:24]) == netip.IPv6Loopback() {
		pkt = append([]byte(nil), pkt...)
		a := g.cfg.IPv6Host.As16()
		copy(pkt[8:24], a[:])
	}
	return pkt, from
}

// pcp6Refusal is Config.PCPv6Unsupported: the result for a MAP or PEER
// from an IPv6 client, or 0.
func (g *Gateway) pcp6Refusal(r *pcpRequest) int {
	if g.cfg.PCPv6Unsupported && r.opcode != opAnnounce && !r.client.Is4() {
		return PCPUnsuppOption
	}
	return 0
}

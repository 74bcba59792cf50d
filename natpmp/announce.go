package natpmp

import (
	"fmt"
	"net/netip"
)

// ParseAnnouncement parses the 12-byte packet a gateway multicasts to
// 224.0.0.1:5350 when it starts or its external address changes (RFC 6886
// §3.2.1): a successful external address response. It checks nothing about
// where the packet came from; Client.CheckAnnouncement does.
func ParseAnnouncement(b []byte) (*ExternalAddressResponse, error) {
	r, err := ParseResponse(b)
	if err != nil {
		return nil, err
	}
	if r.Op != OpExternalAddress {
		return nil, fmt.Errorf("%w: announcement with opcode %d", ErrMalformed, r.Op+opReply)
	}
	if r.Result != Success {
		return nil, fmt.Errorf("%w: announcement with result %d", ErrMalformed, uint16(r.Result))
	}
	return &ExternalAddressResponse{Addr: r.ExternalAddr, Epoch: r.Epoch}, nil
}

// CheckAnnouncement validates an announcement received from from: it must come
// from the Client's gateway (§3.2.1; any source port) and parse. Its epoch goes
// through the same §3.6 check as responses, so GatewayReset tells whether the
// mappings must be created again.
func (c *Client) CheckAnnouncement(b []byte, from netip.AddrPort) (*ExternalAddressResponse, error) {
	gw, err := c.gateway()
	if err != nil {
		return nil, err
	}
	if from.Addr().Unmap().WithZone("") != gw.Addr() {
		return nil, fmt.Errorf("natpmp: announcement from %v, not from the gateway %v", from, gw.Addr())
	}
	a, err := ParseAnnouncement(b)
	if err != nil {
		return nil, err
	}
	c.observeEpoch(a.Epoch)
	a.GatewayReset = c.takeReset()
	return a, nil
}

package pcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// externalProbeLifetime is the lifetime ExternalAddress asks for. The
// mapping is deleted as soon as its answer is in; should the delete be lost,
// the mapping ends by itself (servers may grant more: miniupnpd's minimum is
// 120 s), and it points at a port nobody listens on.
const externalProbeLifetime = 10 * time.Second

// externalProbeDeleteBudget bounds the delete that follows, even when the
// caller's context is about to end: one transmission is nearly always
// enough on a LAN.
const externalProbeDeleteBudget = time.Second

// ExternalAddress learns the server's external address. PCP has no request
// for it (unlike NAT-PMP), so it does what RFC 6887 §11.6 suggests: a MAP
// request for a short-lived mapping, whose answer carries the assigned
// external address, then a delete of that mapping (same nonce, lifetime 0).
//
// The mapping is for UDP to a port this call holds open on the address that
// faces the server, for the length of the exchange: no other program can be
// reached through it, and the port is an ephemeral one, which router rules
// allow (miniupnpd stalls for about 45 s on a request for a port its rules
// deny, such as the discard port 9 the RFC's example uses). Two requests
// reach the server; nothing stays behind unless the delete is lost.
func (c *Client) ExternalAddress(ctx context.Context) (netip.Addr, error) {
	srv, err := c.server()
	if err != nil {
		return netip.Addr{}, err
	}
	hold, err := holdPortFacing(srv)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("pcp: external address: %w", err)
	}
	defer hold.Close()
	port := uint16(hold.LocalAddr().(*net.UDPAddr).Port)
	r, err := c.Map(ctx, MapRequest{Protocol: UDP, InternalPort: port, Lifetime: externalProbeLifetime})
	if err != nil {
		return netip.Addr{}, err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), externalProbeDeleteBudget)
	defer cancel()
	if err := c.Delete(dctx, r); err != nil && !errors.Is(err, ErrNoSuchEntry) {
		c.debug("could not delete the external-address mapping; it ends by itself", "lifetime", r.Lifetime, "err", err)
	}
	return r.External.Addr(), nil
}

// holdPortFacing binds a UDP socket on an ephemeral port of the local
// address that routes to srv. Finding that address connects a socket, which
// sends nothing.
func holdPortFacing(srv netip.AddrPort) (*net.UDPConn, error) {
	probe, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv))
	if err != nil {
		return nil, err
	}
	local := probe.LocalAddr().(*net.UDPAddr)
	probe.Close()
	return net.ListenUDP("udp", &net.UDPAddr{IP: local.IP, Zone: local.Zone})
}

package igd

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// GetExternalIPAddress returns the gateway's WAN address. An empty or
// unspecified (0.0.0.0, ::) answer, which routers give while the WAN link is
// down, is ErrNoExternalAddress. An IPv4-mapped IPv6 answer is unmapped.
//
// The address may be private or in 100.64.0.0/10 (CGNAT): mappings then
// succeed but are not reachable from the Internet. That is the caller's to
// report; this method returns the address as the router gave it.
func (c *Client) GetExternalIPAddress(ctx context.Context) (netip.Addr, error) {
	r, err := c.call(ctx, actionGetExternalIPAddress, nil)
	if err != nil {
		return netip.Addr{}, err
	}
	f := r.fields()
	s := f.str("NewExternalIPAddress", true)
	if f.err != nil {
		return netip.Addr{}, r.bad(f.err)
	}
	if s == "" {
		return netip.Addr{}, fmt.Errorf("igd: %s: %w (empty)", actionGetExternalIPAddress, ErrNoExternalAddress)
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, r.bad(fmt.Errorf("NewExternalIPAddress %q is not an IP address", truncate(s, 48)))
	}
	addr = addr.Unmap()
	if addr.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("igd: %s: %w (%s)", actionGetExternalIPAddress, ErrNoExternalAddress, addr)
	}
	return addr, nil
}

// StatusInfo is the reply of GetStatusInfo.
type StatusInfo struct {
	// ConnectionStatus: "Connected", "Disconnected", "Connecting",
	// "PendingDisconnect", "Disconnecting", "Unconfigured" …
	ConnectionStatus string
	// LastConnectionError, e.g. "ERROR_NONE"; "" when the router omits it.
	LastConnectionError string
	// Uptime of the WAN connection.
	Uptime time.Duration
}

// Connected reports whether ConnectionStatus says the WAN connection is up:
// "Connected", or "Up", which some routers answer instead (Tailscale's
// selectBestService accepts both), in any case.
func (s *StatusInfo) Connected() bool {
	st := strings.TrimSpace(s.ConnectionStatus)
	return strings.EqualFold(st, "Connected") || strings.EqualFold(st, "Up")
}

// GetStatusInfo returns the WAN connection's status. NewConnectionStatus and
// NewUptime are required in the reply; NewLastConnectionError is optional
// because some routers leave it out.
func (c *Client) GetStatusInfo(ctx context.Context) (*StatusInfo, error) {
	r, err := c.call(ctx, actionGetStatusInfo, nil)
	if err != nil {
		return nil, err
	}
	f := r.fields()
	s := &StatusInfo{
		ConnectionStatus:    f.str("NewConnectionStatus", true),
		LastConnectionError: f.str("NewLastConnectionError", false),
		Uptime:              f.seconds("NewUptime"),
	}
	if f.err != nil {
		return nil, r.bad(f.err)
	}
	return s, nil
}

// ConnectionTypeInfo is the reply of GetConnectionTypeInfo.
type ConnectionTypeInfo struct {
	ConnectionType          string // e.g. "IP_Routed"
	PossibleConnectionTypes string // comma-separated list as sent
}

// GetConnectionTypeInfo returns the connection's type ("IP_Routed" for a
// NAT router).
func (c *Client) GetConnectionTypeInfo(ctx context.Context) (*ConnectionTypeInfo, error) {
	r, err := c.call(ctx, actionGetConnectionTypeInfo, nil)
	if err != nil {
		return nil, err
	}
	f := r.fields()
	t := &ConnectionTypeInfo{
		ConnectionType:          f.str("NewConnectionType", true),
		PossibleConnectionTypes: f.str("NewPossibleConnectionTypes", true),
	}
	if f.err != nil {
		return nil, r.bad(f.err)
	}
	return t, nil
}

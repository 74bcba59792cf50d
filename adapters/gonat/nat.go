// Package gonat lets code written against github.com/libp2p/go-nat use
// upnpmap: NAT satisfies go-nat's NAT interface and DiscoverGateway has
// go-nat's shape, so switching is a change of import.
//
// What changes for the caller: discovery returns as soon as the gateway
// answers (go-nat waits about 5 s), PCP is spoken as well as NAT-PMP and UPnP,
// and AddPortMapping's mapping is renewed by upnpmap — before its lease ends,
// and re-created after a router reboot — until DeletePortMapping or Close.
// Calling AddPortMapping again for the same port, as go-nat users do to
// refresh, returns the mapping's current external port without asking the
// gateway again.
//
// IPv6: on a host with a stable global IPv6 address whose router opens
// pinholes (PCP, or UPnP's WANIPv6FirewallControl), AddPortMapping also opens
// the port's IPv6 pinhole for that address beside the IPv4 mapping
// (upnpmap.Request.Family zero), best effort: its failure does not fail the
// call, and the IPv4 mapping's does (the pinhole is then closed).
// DeletePortMapping and Close close it with the mapping. go-nat's
// interface has no place for it, so GetInternalAddress and
// GetExternalAddress stay IPv4.
package gonat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	nat "github.com/libp2p/go-nat"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/internal/table"
)

// queryTimeout bounds the go-nat methods that take no context
// (GetExternalAddress).
const queryTimeout = 5 * time.Second

// NAT is a gateway found by DiscoverGateway or Discover. It satisfies go-nat's
// NAT interface; its methods are safe for concurrent use. Close deletes every
// mapping it made.
type NAT struct {
	found *upnpmap.DiscoverResult
	table *table.Table
}

var _ nat.NAT = (*NAT)(nil)

// DiscoverGateway finds the default gateway, like go-nat's DiscoverGateway:
// it probes PCP, NAT-PMP and UPnP at once and returns when the gateway has
// answered (or ctx ends). When nothing answers, the error wraps both go-nat's
// ErrNoNATFound and upnpmap.ErrNoGateway.
func DiscoverGateway(ctx context.Context) (nat.NAT, error) {
	n, err := Discover(ctx, &upnpmap.Client{})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Discover is DiscoverGateway with a Client of the caller's (a known Gateway,
// a Logger, restricted Methods …). c must not be copied or changed afterwards.
func Discover(ctx context.Context, c *upnpmap.Client) (*NAT, error) {
	res, err := c.Discover(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", nat.ErrNoNATFound, err)
	}
	return &NAT{found: res, table: table.New(c)}, nil
}

// Type names the best method the gateway answered, e.g. "upnpmap (pcp)".
func (n *NAT) Type() string {
	if len(n.found.Methods) == 0 {
		return "upnpmap"
	}
	return fmt.Sprintf("upnpmap (%s)", n.found.Methods[0])
}

// GetDeviceAddress returns the gateway's address.
func (n *NAT) GetDeviceAddress() (net.IP, error) {
	return ipOf(n.found.Gateway)
}

// GetInternalAddress returns this machine's address on the gateway's link.
func (n *NAT) GetInternalAddress() (net.IP, error) {
	if !n.found.Local.IsValid() {
		return nil, nat.ErrNoInternalAddress
	}
	return ipOf(n.found.Local)
}

// GetExternalAddress asks the gateway for its external address
// (upnpmap.Client.ExternalAddr), within queryTimeout. When the gateway does
// not tell it (some PCP-only routers), the address one of our mappings was
// granted answers. With neither, the error wraps go-nat's
// ErrNoExternalAddress.
func (n *NAT) GetExternalAddress() (net.IP, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	a, err := n.table.Client().ExternalAddr(ctx)
	if err == nil && a.IsValid() && !a.IsUnspecified() {
		return ipOf(a)
	}
	if a, ok := n.table.Any(); ok {
		return ipOf(a)
	}
	if err == nil {
		err = errors.New("the gateway reported none")
	}
	return nil, fmt.Errorf("%w: %w", nat.ErrNoExternalAddress, err)
}

// AddPortMapping maps internalPort of this machine, asking for the same
// external port, for timeout (upnpmap's default lifetime when 0), and keeps
// the mapping renewed until DeletePortMapping or Close. It returns the
// external port the gateway granted. Called again for the same protocol and
// port it returns the live mapping's current port; while the gateway has lost
// the mapping (upnpmap is restoring it), the error wraps table.ErrLost.
// Errors wrap upnpmap's sentinels (ErrPortInUse, ErrNotAuthorized …).
func (n *NAT) AddPortMapping(ctx context.Context, protocol string, internalPort int, description string, timeout time.Duration) (int, error) {
	k, err := table.KeyOf(protocol, internalPort)
	if err != nil {
		return 0, err
	}
	ext, err := n.table.Add(ctx, k, k.Internal, description, timeout)
	if err != nil {
		return 0, err
	}
	return int(ext.Port()), nil
}

// DeletePortMapping deletes the mapping AddPortMapping made for protocol and
// internalPort and stops renewing it; nil if there is none.
func (n *NAT) DeletePortMapping(ctx context.Context, protocol string, internalPort int) error {
	k, err := table.KeyOf(protocol, internalPort)
	if err != nil {
		return err
	}
	return n.table.Remove(ctx, k)
}

// Close deletes every mapping this NAT made (go-nat's NAT has no Close; call
// it where the program would have stopped refreshing). An AddPortMapping
// under way in another goroutine is waited for, and what it made deleted
// too. Later AddPortMapping calls fail.
func (n *NAT) Close() error { return n.table.Close() }

// ipOf converts to the net.IP go-nat returns: 4 bytes for IPv4.
func ipOf(a netip.Addr) (net.IP, error) {
	if !a.IsValid() {
		return nil, errors.New("address unknown")
	}
	return net.IP(a.Unmap().AsSlice()), nil
}

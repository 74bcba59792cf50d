package igd

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ServiceWANIPv6Firewall1 is the IGD:2 service that opens IPv6 firewall
// pinholes. A gateway lists it beside WANIPConnection:2 (miniupnpd lists it
// even with IPv6 off, so its presence proves nothing: ask
// GetFirewallStatus); one built without IGD:2 lacks it and answers 401 to
// its actions.
const ServiceWANIPv6Firewall1 = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"

// FirewallServiceTypes lists the pinhole services this package speaks, for
// the description's Services: its absence means "no UPnP pinholes here",
// not an unusable gateway, so use Services rather than Usable for it.
// Treat the slice as read-only.
var FirewallServiceTypes = []string{ServiceWANIPv6Firewall1}

// Action names of WANIPv6FirewallControl:1.
const (
	actionGetFirewallStatus         = "GetFirewallStatus"
	actionGetOutboundPinholeTimeout = "GetOutboundPinholeTimeout"
	actionAddPinhole                = "AddPinhole"
	actionUpdatePinhole             = "UpdatePinhole"
	actionDeletePinhole             = "DeletePinhole"
	actionGetPinholePackets         = "GetPinholePackets"
	actionCheckPinholeWorking       = "CheckPinholeWorking"
)

// Lease limits of a pinhole: LeaseTime and NewLeaseTime are ui4 seconds in
// 1..86400 (the specification's allowed range, enforced by miniupnpd with a
// 402).
const (
	MinPinholeLease = time.Second
	MaxPinholeLease = 86400 * time.Second
)

// IANA protocol numbers, as the firewall service's Protocol argument (a ui2)
// carries them; 65535 is its wildcard.
const (
	protoNumTCP      = 6
	protoNumUDP      = 17
	protoNumWildcard = 65535
)

// Pinhole describes an inbound IPv6 firewall pinhole: traffic from
// RemoteHost:RemotePort to InternalClient:InternalPort over Protocol is let
// through. There is no translation: the outside reaches InternalClient's own
// address and port.
type Pinhole struct {
	// RemoteHost restricts the pinhole to one remote IPv6 address; the zero
	// value is the wildcard (any host), sent as "".
	RemoteHost netip.Addr
	// RemotePort restricts it to one remote port; 0 is the wildcard.
	RemotePort uint16
	// InternalClient is the LAN host's IPv6 address: a global address,
	// and the one the request comes from, because gateways that follow the
	// specification's recommended policy (miniupnpd) accept only a pinhole
	// to the caller itself (606 otherwise). The zero value means
	// Client.LocalAddr. Link-local, IPv4 and zoned addresses are refused
	// without sending: the outside cannot reach them.
	InternalClient netip.Addr
	// InternalPort on InternalClient. 0 (every port) is refused without
	// sending; miniupnpd also refuses ports below 1024 (606).
	InternalPort uint16
	// Protocol is "TCP" or "UDP", sent as its IANA number (6, 17).
	Protocol string
	// LeaseTime is the pinhole's lifetime, sent in whole seconds (rounded
	// up); it must lie in [MinPinholeLease, MaxPinholeLease]. There is no
	// permanent pinhole: renew with AddPinhole (same pinhole, same
	// UniqueID) or UpdatePinhole before it ends.
	LeaseTime time.Duration
}

// FirewallStatus is the reply of GetFirewallStatus.
type FirewallStatus struct {
	// Enabled: the gateway filters inbound IPv6. When false, pinholes are
	// neither needed nor possible (702).
	Enabled bool
	// InboundPinholeAllowed: the policy lets control points open pinholes.
	// When false, AddPinhole fails with ErrInboundPinholeNotAllowed (703).
	InboundPinholeAllowed bool
}

// CanOpenPinholes reports whether AddPinhole can succeed: the firewall is on
// and allows pinholes.
func (s FirewallStatus) CanOpenPinholes() bool { return s.Enabled && s.InboundPinholeAllowed }

// requireFirewall fails without sending when the Client's service is not
// WANIPv6FirewallControl: the firewall actions exist only there.
func (c *Client) requireFirewall(action string) error {
	if !strings.HasPrefix(c.ServiceType, "urn:schemas-upnp-org:service:WANIPv6FirewallControl:") {
		return fmt.Errorf("igd: %s: %w: needs the %s service, have %q", action, ErrUnsupported, ServiceWANIPv6Firewall1, c.ServiceType)
	}
	return nil
}

// GetFirewallStatus reports whether the gateway's IPv6 firewall is on and
// whether it lets control points open pinholes. Ask it first: a gateway
// that says no to either answers every AddPinhole with 702 or 703.
func (c *Client) GetFirewallStatus(ctx context.Context) (FirewallStatus, error) {
	if err := c.requireFirewall(actionGetFirewallStatus); err != nil {
		return FirewallStatus{}, err
	}
	r, err := c.call(ctx, actionGetFirewallStatus, nil)
	if err != nil {
		return FirewallStatus{}, err
	}
	s, err := firewallStatusFields(r.args)
	if err != nil {
		return FirewallStatus{}, r.bad(err)
	}
	return s, nil
}

// GetOutboundPinholeTimeout returns how long the firewall keeps an idle
// outbound flow open (the conntrack timeout) for the flow p describes. Here
// every field of p may be a wildcard: a zero address, port 0, or Protocol ""
// for any protocol; LeaseTime is ignored. miniupnpd does not implement it
// (501, ErrActionFailed).
func (c *Client) GetOutboundPinholeTimeout(ctx context.Context, p Pinhole) (time.Duration, error) {
	if err := c.requireFirewall(actionGetOutboundPinholeTimeout); err != nil {
		return 0, err
	}
	args, err := outboundArgs(&p)
	if err != nil {
		return 0, fmt.Errorf("igd: %s: %w", actionGetOutboundPinholeTimeout, err)
	}
	r, err := c.call(ctx, actionGetOutboundPinholeTimeout, args)
	if err != nil {
		return 0, err
	}
	d, err := outboundTimeoutField(r.args)
	if err != nil {
		return 0, r.bad(err)
	}
	return d, nil
}

// AddPinhole opens p and returns the gateway's UniqueID for it, which
// UpdatePinhole, DeletePinhole and the checks take. Sending the same pinhole
// again renews it and returns the same UniqueID (the specification requires
// it; miniupnpd does it), so a lost reply is harmless.
//
// Send it from p.InternalClient (Client.LocalAddr) over the gateway's IPv6
// control URL: miniupnpd compares InternalClient, as text, with the
// request's source and answers 606 (ErrNotAuthorized) when they differ,
// which is what a request over IPv4 gets. The address is sent in its
// canonical RFC 5952 form, the one inet_ntop prints, so the comparison
// holds.
//
// Errors to expect: ErrNotAuthorized (606: not from InternalClient, or
// InternalPort < 1024), ErrFirewallDisabled (702: nothing to open),
// ErrInboundPinholeNotAllowed (703), ErrPinholeSpaceExhausted (701),
// ErrInvalidArgs (402, for instance a lease over the gateway's maximum),
// ErrUnsupported (401: no IGD:2 on this gateway).
func (c *Client) AddPinhole(ctx context.Context, p Pinhole) (uniqueID uint16, err error) {
	if err := c.requireFirewall(actionAddPinhole); err != nil {
		return 0, err
	}
	args, err := c.pinholeArgs(&p)
	if err != nil {
		return 0, fmt.Errorf("igd: %s: %w", actionAddPinhole, err)
	}
	r, err := c.call(ctx, actionAddPinhole, args)
	if err != nil {
		return 0, err
	}
	id, err := uniqueIDField(r.args)
	if err != nil {
		return 0, r.bad(err)
	}
	return id, nil
}

// UpdatePinhole sets the lease of pinhole uniqueID to lease (in
// [MinPinholeLease, MaxPinholeLease]), counted from now. When the pinhole
// is gone (expired, or the gateway restarted), gateways answer 704 and
// miniupnpd 402; IsPinholeGone recognises both: add it again. Sending the
// same AddPinhole renews as well, and re-creates a lost pinhole in the same
// call.
func (c *Client) UpdatePinhole(ctx context.Context, uniqueID uint16, lease time.Duration) error {
	if err := c.requireFirewall(actionUpdatePinhole); err != nil {
		return err
	}
	secs, err := pinholeLease(lease)
	if err != nil {
		return fmt.Errorf("igd: %s: %w", actionUpdatePinhole, err)
	}
	_, err = c.call(ctx, actionUpdatePinhole, []arg{
		{"UniqueID", formatPort(uniqueID)},
		{"NewLeaseTime", secs},
	})
	return err
}

// DeletePinhole closes pinhole uniqueID. IsPinholeGone(err) means it was
// already gone. Some gateways answer 606 (ErrNotAuthorized) to a pinhole
// they accepted; RemovePinhole works around that.
func (c *Client) DeletePinhole(ctx context.Context, uniqueID uint16) error {
	if err := c.requireFirewall(actionDeletePinhole); err != nil {
		return err
	}
	_, err := c.call(ctx, actionDeletePinhole, []arg{{"UniqueID", formatPort(uniqueID)}})
	return err
}

// GetPinholePackets returns how many packets went through pinhole uniqueID.
// miniupnpd answers 0 whatever went through (its rules carry no counters),
// so 0 proves nothing; do not use it to verify a pinhole.
func (c *Client) GetPinholePackets(ctx context.Context, uniqueID uint16) (uint32, error) {
	if err := c.requireFirewall(actionGetPinholePackets); err != nil {
		return 0, err
	}
	r, err := c.call(ctx, actionGetPinholePackets, []arg{{"UniqueID", formatPort(uniqueID)}})
	if err != nil {
		return 0, err
	}
	n, err := pinholePacketsField(r.args)
	if err != nil {
		return 0, r.bad(err)
	}
	return n, nil
}

// CheckPinholeWorking asks the gateway whether traffic went through pinhole
// uniqueID. ErrNoTrafficReceived (709) means it cannot tell yet, which
// miniupnpd answers for every pinhole; only a true is informative. Verify
// reachability from outside instead.
func (c *Client) CheckPinholeWorking(ctx context.Context, uniqueID uint16) (bool, error) {
	if err := c.requireFirewall(actionCheckPinholeWorking); err != nil {
		return false, err
	}
	r, err := c.call(ctx, actionCheckPinholeWorking, []arg{{"UniqueID", formatPort(uniqueID)}})
	if err != nil {
		return false, err
	}
	ok, err := isWorkingField(r.args)
	if err != nil {
		return false, r.bad(err)
	}
	return ok, nil
}

// pinholeArgs returns AddPinhole's six in-arguments in SCPD order, checking
// what can be checked before sending.
func (c *Client) pinholeArgs(p *Pinhole) ([]arg, error) {
	remote, err := remoteHostArg(p.RemoteHost)
	if err != nil {
		return nil, err
	}
	client := p.InternalClient
	if !client.IsValid() {
		client = c.LocalAddr
	}
	if err := checkInternalClient(client); err != nil {
		return nil, err
	}
	if p.InternalPort == 0 {
		return nil, fmt.Errorf("%w: internal port 0 would open every port", ErrInvalidArgs)
	}
	proto, err := protocolNumber(p.Protocol)
	if err != nil {
		return nil, err
	}
	lease, err := pinholeLease(p.LeaseTime)
	if err != nil {
		return nil, err
	}
	return []arg{
		{"RemoteHost", remote},
		{"RemotePort", formatPort(p.RemotePort)},
		{"InternalClient", client.String()},
		{"InternalPort", formatPort(p.InternalPort)},
		{"Protocol", proto},
		{"LeaseTime", lease},
	}, nil
}

// outboundArgs returns GetOutboundPinholeTimeout's five in-arguments, where
// every field may be a wildcard.
func outboundArgs(p *Pinhole) ([]arg, error) {
	remote, err := remoteHostArg(p.RemoteHost)
	if err != nil {
		return nil, err
	}
	client := ""
	if p.InternalClient.IsValid() {
		if err := checkIPv6(p.InternalClient, "internal client"); err != nil {
			return nil, err
		}
		client = p.InternalClient.String()
	}
	proto := strconv.Itoa(protoNumWildcard)
	if strings.TrimSpace(p.Protocol) != "" {
		if proto, err = protocolNumber(p.Protocol); err != nil {
			return nil, err
		}
	}
	return []arg{
		{"RemoteHost", remote},
		{"RemotePort", formatPort(p.RemotePort)},
		{"InternalClient", client},
		{"InternalPort", formatPort(p.InternalPort)},
		{"Protocol", proto},
	}, nil
}

// remoteHostArg returns RemoteHost as sent: "" for the wildcard.
func remoteHostArg(a netip.Addr) (string, error) {
	if !a.IsValid() {
		return "", nil
	}
	if err := checkIPv6(a, "remote host"); err != nil {
		return "", err
	}
	return a.String(), nil
}

// checkIPv6 accepts a plain IPv6 unicast address: no IPv4 or IPv4-mapped
// form (a pinhole is IPv6 only), no zone, not unspecified or multicast.
func checkIPv6(a netip.Addr, what string) error {
	switch {
	case !a.Is6() || a.Is4In6():
		return fmt.Errorf("%w: %s %v is not an IPv6 address", ErrInvalidArgs, what, a)
	case a.Zone() != "":
		return fmt.Errorf("%w: %s %v carries a zone", ErrInvalidArgs, what, a)
	case a.IsUnspecified() || a.IsMulticast():
		return fmt.Errorf("%w: %s %v is not a unicast address", ErrInvalidArgs, what, a)
	}
	return nil
}

// checkInternalClient also refuses what the outside cannot reach: no
// address at all, a link-local or loopback address.
func checkInternalClient(a netip.Addr) error {
	if !a.IsValid() {
		return fmt.Errorf("%w: no internal client (set Pinhole.InternalClient or Client.LocalAddr)", ErrInvalidArgs)
	}
	if a.Is6() && !a.Is4In6() && (a.IsLinkLocalUnicast() || a.IsLoopback()) {
		return fmt.Errorf("%w: internal client %v cannot be reached from outside the link", ErrInvalidArgs, a.WithZone(""))
	}
	return checkIPv6(a, "internal client")
}

// protocolNumber maps "TCP"/"UDP" (any case) to its IANA number as text.
func protocolNumber(p string) (string, error) {
	proto, err := normalizeProtocol(p)
	if err != nil {
		return "", err
	}
	if proto == TCP {
		return strconv.Itoa(protoNumTCP), nil
	}
	return strconv.Itoa(protoNumUDP), nil
}

// pinholeLease converts d to LeaseTime's ui4 seconds, rounded up, within
// [MinPinholeLease, MaxPinholeLease].
func pinholeLease(d time.Duration) (string, error) {
	if d < MinPinholeLease || d > MaxPinholeLease {
		return "", fmt.Errorf("%w: pinhole lease %v outside %v..%v", ErrInvalidArgs, d, MinPinholeLease, MaxPinholeLease)
	}
	return leaseSeconds(d)
}

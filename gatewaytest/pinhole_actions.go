package gatewaytest

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The WANIPv6FirewallControl:1 service, served beside the connection service
// in the WANConnectionDevice of an IGD:2 router, at miniupnpd's URLs.
const (
	firewallService = "WANIPv6FirewallControl"
	firewallControl = "/ctl/IP6FCtl"
)

// firewallActions are the actions of WANIPv6FirewallControl:1.
var firewallActions = []string{
	"GetFirewallStatus", "GetOutboundPinholeTimeout", "AddPinhole", "UpdatePinhole",
	"DeletePinhole", "GetPinholePackets", "CheckPinholeWorking",
}

// Error codes of WANIPv6FirewallControl:1 (its service template, §2.4).
const (
	codePinholeSpaceExhausted     = 701
	codeFirewallDisabled          = 702
	codeInboundPinholeNotAllowed  = 703
	codeNoSuchEntry               = 704
	codeProtocolNotSupported      = 705
	codeInternalPortWildcard      = 706
	codeProtocolWildcard          = 707
	codeWildCardNotPermittedInSrc = 708
	codeNoTrafficReceived         = 709
	// Shared with every service (UDA 2.0).
	codeInvalidArgs         = 402
	codeActionNotAuthorized = 606
)

// Limits of the firewall's arguments.
const (
	maxPinholeLeaseSecs  = 86400 // LeaseTime's allowed range is 1..86400
	pinholeProtoWildcard = 65535 // Protocol's wildcard
	minStrictPinholePort = 1024  // PinholeStrict refuses ports below it
)

// firewallErrors names the firewall codes in faults. 703 and 704 mean other
// things under WANIPConnection, so these names are used only for the
// firewall service's answers.
var firewallErrors = map[int]string{
	codePinholeSpaceExhausted:     "PinholeSpaceExhausted",
	codeFirewallDisabled:          "FirewallDisabled",
	codeInboundPinholeNotAllowed:  "InboundPinholeNotAllowed",
	codeNoSuchEntry:               "NoSuchEntry",
	codeProtocolNotSupported:      "ProtocolNotSupported",
	codeInternalPortWildcard:      "InternalPortWildcardingNotAllowed",
	codeProtocolWildcard:          "ProtocolWildcardingNotAllowed",
	codeWildCardNotPermittedInSrc: "WildCardNotPermittedInSrcIP",
	codeNoTrafficReceived:         "NoTrafficReceived",
}

// firewallModel is the service entry of the model.
func firewallModel() service {
	return service{name: firewallService, version: 1, id: "urn:upnp-org:serviceId:WANIPv6Firewall1",
		control: firewallControl, scpd: "/WANIP6FC.xml", event: "/evt/IP6FCtl"}
}

// isFirewall reports whether s is the pinhole service.
func (s service) isFirewall() bool { return s.name == firewallService }

// pinholeArgs are AddPinhole's validated inputs.
type pinholeArgs struct {
	remote   netip.Addr // zero = any
	rport    uint16
	client   netip.Addr
	iport    uint16
	proto    string
	leaseSec uint32
}

// runFirewall answers one firewall action. The caller holds g.mu and has
// pruned the mapping table; c.caller is the HTTP peer, unmapped.
func (g *Gateway) runFirewall(c *call, action string) ([]arg, int) {
	g.prunePinholes(c.now)
	if action == "GetFirewallStatus" {
		return []arg{
			{"FirewallEnabled", boolArg(!g.cfg.FirewallDisabled)},
			{"InboundPinholeAllowed", boolArg(!g.cfg.InboundPinholesDisallowed)},
		}, 0
	}
	// miniupnpd checks the firewall's state before anything else.
	if g.cfg.FirewallDisabled {
		return nil, codeFirewallDisabled
	}
	if g.cfg.InboundPinholesDisallowed {
		return nil, codeInboundPinholeNotAllowed
	}
	switch action {
	case "GetOutboundPinholeTimeout":
		for _, n := range []string{"RemoteHost", "RemotePort", "InternalClient", "InternalPort", "Protocol"} {
			if _, ok := c.args[n]; !ok {
				return nil, codeInvalidArgs
			}
		}
		return []arg{{"OutboundPinholeTimeout", strconv.Itoa(int(OutboundPinholeTimeout / time.Second))}}, 0
	case "AddPinhole":
		return g.addPinhole(c)
	}
	id, ok := parsePort(c.args["UniqueID"])
	if !ok {
		return nil, codeInvalidArgs
	}
	p := g.st.fw.byID(id)
	if p == nil {
		if g.cfg.PinholeGoneAs402 {
			return nil, codeInvalidArgs
		}
		return nil, codeNoSuchEntry
	}
	if code := g.pinholeCaller(c.caller, p.InternalClient, p.InternalPort); code != 0 {
		return nil, code
	}
	switch action {
	case "UpdatePinhole":
		secs, ok := parsePinholeLease(c.args["NewLeaseTime"])
		if !ok {
			return nil, codeInvalidArgs
		}
		p.Lease = time.Duration(secs) * time.Second
		p.Expires = c.now.Add(p.Lease)
		g.changedPinhole(Renewed, UPnP, p)
		return nil, 0
	case "DeletePinhole":
		if g.cfg.DeletePinhole606 {
			return nil, codeActionNotAuthorized
		}
		g.removePinholes(func(o *Pinhole) bool { return o == p }, UPnP)
		return nil, 0
	case "GetPinholePackets":
		return []arg{{"PinholePackets", "0"}}, 0
	case "CheckPinholeWorking":
		// As miniupnpd: its rules carry no counters, so it can never tell.
		return nil, codeNoTrafficReceived
	}
	return nil, 401
}

// addPinhole opens a pinhole, or renews the one with the same five-tuple
// (same UniqueID, new lease).
func (g *Gateway) addPinhole(c *call) ([]arg, int) {
	a, code := c.parsePinholeArgs()
	if code != 0 {
		return nil, code
	}
	if code := g.pinholeCaller(c.caller, a.client, a.iport); code != 0 {
		return nil, code
	}
	lease := time.Duration(a.leaseSec) * time.Second
	fw := &g.st.fw
	for _, p := range fw.entries {
		if p.RemoteHost == a.remote && p.RemotePort == a.rport && p.InternalClient == a.client &&
			p.InternalPort == a.iport && p.Protocol == a.proto {
			p.Lease, p.Expires = lease, c.now.Add(lease)
			g.changedPinhole(Renewed, UPnP, p)
			return []arg{{"UniqueID", strconv.Itoa(int(p.UniqueID))}}, 0
		}
	}
	if g.pinholeCount() >= g.cfg.MaxPinholes {
		return nil, codePinholeSpaceExhausted
	}
	p := &Pinhole{
		Method: UPnP, UniqueID: fw.nextID(),
		RemoteHost: a.remote, RemotePort: a.rport, InternalClient: a.client, InternalPort: a.iport,
		Protocol: a.proto, Lease: lease, Expires: c.now.Add(lease),
	}
	fw.entries = append(fw.entries, p)
	g.changedPinhole(Added, UPnP, p)
	return []arg{{"UniqueID", strconv.Itoa(int(p.UniqueID))}}, 0
}

// pinholeCaller applies Config.PinholeStrict, miniupnpd's policy: a request
// over the IPv4 URL (miniupnpd then sees the source as ::), for another
// host than the caller, or for a port below 1024 is refused with 606. The
// caller ::1 stands for Config.IPv6Host.
func (g *Gateway) pinholeCaller(caller, client netip.Addr, iport uint16) int {
	if !g.cfg.PinholeStrict {
		return 0
	}
	if caller.Is4() || g.v6Host(caller) != client || iport < minStrictPinholePort {
		return codeActionNotAuthorized
	}
	return 0
}

// parsePinholeArgs validates AddPinhole's six arguments in miniupnpd's
// order: a missing or malformed one is 402, then the wildcards the service
// forbids (708, 706, 707) and protocols it does not filter (705).
func (c *call) parsePinholeArgs() (a pinholeArgs, code int) {
	for _, n := range []string{"RemoteHost", "RemotePort", "InternalClient", "InternalPort", "Protocol", "LeaseTime"} {
		if _, ok := c.args[n]; !ok {
			return a, codeInvalidArgs
		}
	}
	var ok bool
	if a.leaseSec, ok = parsePinholeLease(c.args["LeaseTime"]); !ok {
		return a, codeInvalidArgs
	}
	if a.remote, ok = parseV6OrWildcard(c.args["RemoteHost"]); !ok {
		return a, codeInvalidArgs
	}
	if a.rport, ok = parsePort(c.args["RemotePort"]); !ok {
		return a, codeInvalidArgs
	}
	client := strings.TrimSpace(c.args["InternalClient"])
	if client == "" || client == "*" {
		return a, codeWildCardNotPermittedInSrc
	}
	if a.client, ok = parseV6OrWildcard(client); !ok {
		return a, codeInvalidArgs
	}
	if a.iport, ok = parsePort(c.args["InternalPort"]); !ok {
		return a, codeInvalidArgs
	}
	if a.iport == 0 {
		return a, codeInternalPortWildcard
	}
	proto, ok := parsePort(c.args["Protocol"])
	switch {
	case !ok:
		return a, codeInvalidArgs
	case proto == pinholeProtoWildcard:
		return a, codeProtocolWildcard
	case proto == 6:
		a.proto = "TCP"
	case proto == 17:
		a.proto = "UDP"
	default:
		return a, codeProtocolNotSupported
	}
	return a, 0
}

// parsePinholeLease parses a LeaseTime in 1..86400.
func parsePinholeLease(s string) (uint32, bool) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	return uint32(v), err == nil && v >= 1 && v <= maxPinholeLeaseSecs
}

// parseV6OrWildcard parses an IPv6 address without zone; "" and "*" are the
// wildcard (the zero Addr).
func parseV6OrWildcard(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "*" {
		return netip.Addr{}, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, false
	}
	return a, true
}

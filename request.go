package upnpmap

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Protocol is the transport protocol of a mapping.
type Protocol string

// The protocols a mapping can carry.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// ianaNumber is the protocol number PCP carries (6 TCP, 17 UDP).
func (p Protocol) ianaNumber() uint8 {
	if p == UDP {
		return 17
	}
	return 6
}

// DefaultLifetime is the lifetime Map asks for when Request.Lifetime is zero:
// the 7200 s RFC 6886 recommends. The mapping is renewed long before it runs
// out.
const DefaultLifetime = 2 * time.Hour

// DefaultDescription is the UPnP description when Request.Description is
// empty.
const DefaultDescription = "upnpmap"

// Request describes a mapping to open.
type Request struct {
	// Protocol is TCP or UDP; empty means TCP.
	Protocol Protocol
	// InternalPort is the port on the internal host that traffic goes to.
	// Required.
	InternalPort uint16
	// ExternalPort is the port wished for on the gateway's external address;
	// 0 means the same as InternalPort. The gateway may grant another one
	// (read Mapping.External) unless ExactPort is set.
	ExternalPort uint16
	// ExactPort makes Map fail with ErrPortInUse rather than accept another
	// external port (PCP PREFER_FAILURE; NAT-PMP grants are checked; UPnP does
	// not try other ports).
	ExactPort bool
	// InternalAddr is the internal host. Zero means this machine (its address
	// on the gateway's link). Another host needs UPnP without secure mode or
	// PCP with the THIRD_PARTY option; NAT-PMP cannot do it.
	InternalAddr netip.Addr
	// Description is the UPnP port-mapping description; default
	// DefaultDescription.
	Description string
	// Lifetime is the lease asked for; default DefaultLifetime. The gateway
	// may grant less or more; the mapping is renewed according to the granted
	// lifetime until Close. UPnP gateways that support only permanent leases
	// get one (deleted on Close).
	Lifetime time.Duration
	// Family restricts the mapping to IPv4 or IPv6; the zero value,
	// BothFamilies, opens the IPv4 mapping and, when the host has a stable
	// global IPv6 address, an IPv6 pinhole beside it (see Mapping.Pinhole
	// and family.go).
	Family Family

	// routerOnly is set by the SSH fallback and the dual-stack pair when they
	// want the IPv4 mapping from the router alone: Map then skips its
	// dispatch, so the common path (a first mapping) stays one function
	// deep down to the probe.
	routerOnly bool
	// onGateway, when set, is the gateway Map uses instead of the Client's
	// (the upstream router of a double NAT, see chain.go); via is then the
	// address that router sees this machine as: the inner router's WAN
	// address, which InternalAddr also names.
	onGateway *gateway
	via       netip.Addr
}

// mapReq is a Request with defaults applied and the internal address fixed.
type mapReq struct {
	proto      Protocol
	internal   netip.AddrPort
	wish       uint16 // external port wished for, never 0
	exact      bool
	thirdParty bool // internal host is not this machine
	// via is the address the gateway sees this machine's requests come
	// from when another NAT lies between (the upstream leg of a chain, see
	// chain.go): internal names it, and it is no third party.
	via         netip.Addr
	description string
	lifetime    time.Duration
}

// normalize checks r and applies the defaults; local is this machine's
// address facing the gateway.
func (r Request) normalize(local netip.Addr) (*mapReq, error) {
	proto := Protocol(strings.ToLower(string(r.Protocol)))
	switch proto {
	case "":
		proto = TCP
	case TCP, UDP:
	default:
		return nil, fmt.Errorf("upnpmap: %w: unknown protocol %q", ErrInvalidArgs, r.Protocol)
	}
	if r.InternalPort == 0 {
		return nil, fmt.Errorf("upnpmap: %w: internal port 0", ErrInvalidArgs)
	}
	if r.Lifetime < 0 {
		return nil, fmt.Errorf("upnpmap: %w: negative lifetime", ErrInvalidArgs)
	}
	q := &mapReq{
		proto:       proto,
		wish:        r.ExternalPort,
		exact:       r.ExactPort,
		description: r.Description,
		lifetime:    r.Lifetime,
	}
	if q.wish == 0 {
		q.wish = r.InternalPort
	}
	if q.description == "" {
		q.description = DefaultDescription
	}
	if q.lifetime == 0 {
		q.lifetime = DefaultLifetime
	}
	host := r.InternalAddr.Unmap()
	if !host.IsValid() || host.IsUnspecified() {
		host = local
	}
	q.thirdParty = host != local
	if r.via.IsValid() {
		q.via, q.thirdParty = r.via, false
	}
	q.internal = netip.AddrPortFrom(host, r.InternalPort)
	return q, nil
}

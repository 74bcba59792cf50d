package pcp

import (
	"net/netip"
	"time"
)

// MapRequest asks for an inbound mapping (§11).
type MapRequest struct {
	Protocol     uint8  // TCP, UDP, another IANA number, or 0 for all (then InternalPort must be 0)
	InternalPort uint16 // on this host (or on ThirdParty); 0 = all ports
	// SuggestedExternal is a wish; the zero value means no preference. Its
	// address family chooses the external family (IPv4 through a NAT44,
	// IPv6 for a pinhole); without an address the client's family is used.
	SuggestedExternal netip.AddrPort
	// Lifetime is the lifetime asked for, sent in whole seconds rounded up;
	// the server picks the actual one. Zero deletes the mapping (and then
	// Nonce must be the mapping's).
	Lifetime time.Duration
	// Nonce identifies the mapping. Zero: Map picks a fresh random one. A
	// renewal or delete must pass the nonce of the mapping's response.
	Nonce Nonce
	// ThirdParty, if set, asks for a mapping to another host (THIRD_PARTY
	// option, §13.1). Servers commonly refuse it (UNSUPP_OPTION).
	ThirdParty netip.Addr
	// PreferFailure asks the server to fail with CANNOT_PROVIDE_EXTERNAL
	// rather than grant another port or address (§13.2). miniupnpd 2.3.1
	// ignores it when another host holds the port.
	PreferFailure bool
	// ClientAddr, if set, is the PCP client IP address the header carries
	// instead of the socket's local address: the address the server sees
	// the request come from when another NAT lies between (a request to the
	// upstream router of a double NAT leaves through the inner router's NAT,
	// so the server sees the inner router's WAN address and answers
	// ADDRESS_MISMATCH to anything else, §8.1). Zero: the local address.
	ClientAddr netip.Addr
	// Filters become FILTER options (§13.3): only these peers may send to
	// the mapping.
	Filters []Filter
}

// MapResponse is a granted mapping.
type MapResponse struct {
	Nonce        Nonce // keep it: renewals and Delete need it
	Protocol     uint8
	InternalPort uint16
	External     netip.AddrPort // what the server assigned; may differ from the suggestion
	Lifetime     time.Duration  // what the server granted; renew before it runs out (§11.2.1)
	Epoch        uint32
	// GatewayReset: the §8.5 epoch check says the server lost its state
	// since this Client last heard from it; re-create every mapping.
	GatewayReset bool
	// ThirdParty repeats the request's THIRD_PARTY address, which a delete
	// must carry again.
	ThirdParty netip.Addr
	// ClientAddr repeats the request's ClientAddr, which a delete must
	// carry again.
	ClientAddr netip.Addr
}

// PeerRequest creates or learns the mapping an outbound flow uses (§12).
type PeerRequest struct {
	Protocol          uint8
	InternalPort      uint16
	SuggestedExternal netip.AddrPort
	Remote            netip.AddrPort // the remote peer of the flow; required
	Lifetime          time.Duration
	Nonce             Nonce // zero = fresh random
	ThirdParty        netip.Addr
}

// PeerResponse is the server's answer to a PEER request.
type PeerResponse struct {
	Nonce        Nonce
	Protocol     uint8
	InternalPort uint16
	External     netip.AddrPort
	Remote       netip.AddrPort
	Lifetime     time.Duration
	Epoch        uint32
	GatewayReset bool
}

// AnnounceResponse is the answer to an ANNOUNCE request.
type AnnounceResponse struct {
	Epoch        uint32
	GatewayReset bool
}

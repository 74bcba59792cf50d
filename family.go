package upnpmap

import (
	"fmt"

	"github.com/upnpmap/upnpmap/igd"
)

// Family is an address family for Request.Family and Mapping.Family.
type Family int

// The families. The zero value asks for both where the host can have both.
const (
	// BothFamilies (the zero value): the IPv4 mapping, and an IPv6 pinhole
	// too when the host has a stable global IPv6 address and an IPv6 router
	// is known (see Client.Gateway6). A host without one maps IPv4 only,
	// exactly as with IPv4, and waits for nothing.
	BothFamilies Family = 0
	// IPv4: the IPv4 port mapping only.
	IPv4 Family = 4
	// IPv6: the IPv6 pinhole only.
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case BothFamilies:
		return "both"
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// ErrNoPinholeNeeded: the gateway's IPv6 firewall is off (UPnP
// GetFirewallStatus, or 702), so the port is reachable over IPv6 without a
// pinhole, and none was made. It is the IPv6 family's "error" of a Map that
// opened the IPv4 mapping (see Mapping.OtherFamilyErr).
var ErrNoPinholeNeeded = igd.ErrFirewallDisabled

// Family is IPv6 for a pinhole, IPv4 for a port mapping.
func (m *Mapping) Family() Family {
	if _, ok := m.mp.(pinholeMapper); ok {
		return IPv6
	}
	return IPv4
}

// Pinhole is the IPv6 pinhole that Map opened with this IPv4 mapping, or nil
// (IPv4 asked for, no stable global IPv6 address, or it failed: see
// OtherFamilyErr). It has its own Events and is renewed on its own; Close
// and Detach of this Mapping close or detach it too. Its External and
// Internal are the host's address (a pinhole translates nothing); its
// Gateway is the IPv4 gateway's address, whose Client state it shares.
func (m *Mapping) Pinhole() *Mapping { return m.pair }

// OtherFamilyErr is why the other family that Map was asked for is missing
// from its result: for an IPv4 mapping, the IPv6 pinhole's failure (for
// instance ErrNotAuthorized, or ErrNoPinholeNeeded); for an IPv6 pinhole
// returned alone, the IPv4 mapping's failure. Nil when every family asked
// for was opened, or only one was asked for.
func (m *Mapping) OtherFamilyErr() error { return cleanErr(m.pairErr) }

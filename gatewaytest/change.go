package gatewaytest

import "net/netip"

// ChangeKind says what happened to a table entry.
type ChangeKind string

// The kinds of Change.
const (
	Added   ChangeKind = "added"   // a new entry
	Renewed ChangeKind = "renewed" // an entry's lease (or, for UPnP, its other fields) rewritten in place
	Removed ChangeKind = "removed" // an entry deleted, expired or lost in a reboot
)

// What made a change, besides the protocol names NATPMP, PCP, UPnP and
// Manual (AddMapping): Change.By.
const (
	ByExpiry = "expiry" // the lease ran out (noticed when the table was next read)
	ByReboot = "reboot" // Reboot cleared the table
)

// Change is one change to the mapping table, as given to Config.OnChange.
type Change struct {
	Kind ChangeKind
	// By is what made the change: NATPMP, PCP or UPnP for a request of that
	// protocol, Manual for AddMapping, ByExpiry or ByReboot.
	By string
	// Mapping is a copy of the entry after the change (before it, for
	// Removed), with ExternalAddr filled in as Mappings does. A UPnP IPv6
	// pinhole is reported as a Mapping too: Method UPnP, the internal
	// address and port as external ones, RemoteHost its remote host.
	Mapping Mapping
	// PinholeID is the UniqueID of a UPnP pinhole (WANIPv6FirewallControl)
	// and 0 for every other change. See Gateway.Pinholes.
	PinholeID uint16
}

// emitter builds the table's change callback for cfg. The table calls it
// with Gateway.mu held, which is what makes the calls arrive in the order
// the changes were made.
func (g *Gateway) emitter() func(ChangeKind, string, *Mapping) {
	if g.cfg.OnChange == nil {
		return nil
	}
	return func(kind ChangeKind, by string, m *Mapping) {
		c := Change{Kind: kind, By: by, Mapping: *m}
		c.Mapping.Filters = append([]Filter(nil), m.Filters...)
		c.Mapping.ExternalAddr = externalOf(m, g.st.ext)
		g.cfg.OnChange(c)
	}
}

// externalOf is the external address an entry is reached on: the gateway's
// for IPv4, the host's own for an IPv6 pinhole.
func externalOf(m *Mapping, ext netip.Addr) netip.Addr {
	if !m.InternalAddr.Is4() {
		return m.InternalAddr
	}
	return ext
}

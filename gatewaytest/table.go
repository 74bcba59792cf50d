package gatewaytest

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Mapping is one entry of the gateway's table, which the three protocols
// share (as in miniupnpd): a NAT-PMP mapping shows up in
// GetGenericPortMappingEntry and blocks a UPnP AddPortMapping of the same
// external port by another host.
type Mapping struct {
	Method       string     // NATPMP, PCP, UPnP, or Manual
	Protocol     string     // "TCP" or "UDP"
	ExternalPort uint16     //
	ExternalAddr netip.Addr // filled in by Mappings: the current external address, or the internal address of an IPv6 PCP pinhole
	InternalAddr netip.Addr
	InternalPort uint16
	RemoteHost   string         // UPnP NewRemoteHost ("" = any)
	RemotePeer   netip.AddrPort // PCP PEER only: the remote peer
	Filters      []Filter       // PCP FILTER options (parsed and kept, not enforced, like miniupnpd)
	Description  string         // UPnP description; "NAT-PMP <port> <proto>" / "PCP MAP <nonce hex>" otherwise
	Enabled      bool           // UPnP NewEnabled; true for the other methods
	Lifetime     time.Duration  // as granted; 0 = permanent
	Expires      time.Time      // zero = permanent
	Nonce        [12]byte       // PCP only
}

// Filter is one PCP FILTER option: remote peers allowed to use a mapping.
type Filter struct {
	Remote netip.Prefix // the remote peer prefix (IPv4 prefixes unmapped)
	Port   uint16       // 0 = all ports
}

// isPeer reports whether m was created by a PCP PEER request.
func (m *Mapping) isPeer() bool { return m.RemotePeer.IsValid() }

// table is the mapping table. Entries live in a slice: tests hold a handful,
// and linear scans keep the rules easy to read. The caller holds Gateway.mu.
type table struct {
	max     int
	entries []*Mapping
	// emit, when set, is told of every change (see Config.OnChange).
	emit func(kind ChangeKind, by string, m *Mapping)
}

// changed reports one change to emit.
func (t *table) changed(kind ChangeKind, by string, m *Mapping) {
	if t.emit != nil {
		t.emit(kind, by, m)
	}
}

// space names the external port space an internal address draws from: every
// IPv4 host shares the gateway's external address; an IPv6 host's pinholes
// are its own.
func space(internal netip.Addr) string {
	if internal.Unmap().Is4() {
		return "v4"
	}
	return internal.String()
}

// prune drops entries that expired at or before now.
func (t *table) prune(now time.Time) {
	t.remove(func(m *Mapping) bool {
		return !m.Expires.IsZero() && !now.Before(m.Expires)
	}, ByExpiry)
}

// holder returns the entry that holds the external port in the space of
// internal, preferring one that is not a PCP PEER mapping.
func (t *table) holder(proto string, port uint16, internal netip.Addr) *Mapping {
	var found *Mapping
	sp := space(internal)
	for _, m := range t.entries {
		if m.Protocol == proto && m.ExternalPort == port && space(m.InternalAddr) == sp {
			if !m.isPeer() {
				return m
			}
			found = m
		}
	}
	return found
}

// conflicts reports whether the external port is held by an entry for a
// different internal endpoint.
func (t *table) conflicts(proto string, port uint16, internal netip.Addr, internalPort uint16) bool {
	sp := space(internal)
	for _, m := range t.entries {
		if m.Protocol == proto && m.ExternalPort == port && space(m.InternalAddr) == sp &&
			(m.InternalAddr != internal || m.InternalPort != internalPort) {
			return true
		}
	}
	return false
}

// conflictsHost is conflicts for UPnP, where the same host may re-point its
// own external port to another internal port: only another host conflicts.
func (t *table) conflictsHost(proto string, port uint16, internal netip.Addr) bool {
	sp := space(internal)
	for _, m := range t.entries {
		if m.Protocol == proto && m.ExternalPort == port && space(m.InternalAddr) == sp && m.InternalAddr != internal {
			return true
		}
	}
	return false
}

// allocate finds a free external port for the internal endpoint, trying want
// first and then walking upward (wrapping, skipping 0), as miniupnpd does.
// It returns false when every port is taken.
func (t *table) allocate(proto string, want uint16, internal netip.Addr, internalPort uint16) (uint16, bool) {
	if want == 0 {
		want = internalPort
	}
	taken := make(map[uint16]bool)
	sp := space(internal)
	for _, m := range t.entries {
		if m.Protocol == proto && space(m.InternalAddr) == sp &&
			(m.InternalAddr != internal || m.InternalPort != internalPort) {
			taken[m.ExternalPort] = true
		}
	}
	p := want
	for range 65535 {
		if p != 0 && !taken[p] {
			return p, true
		}
		p++
	}
	return 0, false
}

// full reports whether another entry would exceed the table's bound.
func (t *table) full() bool { return len(t.entries) >= t.max }

// add appends m, made by by.
func (t *table) add(m *Mapping, by string) {
	t.entries = append(t.entries, m)
	t.changed(Added, by, m)
}

// renew records that by rewrote m in place (its lease, or a UPnP entry's
// fields).
func (t *table) renew(m *Mapping, by string) { t.changed(Renewed, by, m) }

// remove deletes the entries for which drop returns true and reports how
// many it removed.
func (t *table) remove(drop func(*Mapping) bool, by string) int {
	n := len(t.entries)
	t.entries = slices.DeleteFunc(t.entries, func(m *Mapping) bool {
		if drop(m) {
			t.changed(Removed, by, m)
			return true
		}
		return false
	})
	return n - len(t.entries)
}

// find returns the first entry for which match returns true, or nil.
func (t *table) find(match func(*Mapping) bool) *Mapping {
	for _, m := range t.entries {
		if match(m) {
			return m
		}
	}
	return nil
}

// sorted returns copies of the entries ordered by protocol, external port,
// internal address and internal port: the order UPnP enumerates them in.
func (t *table) sorted() []Mapping {
	out := make([]Mapping, 0, len(t.entries))
	for _, m := range t.entries {
		c := *m
		c.Filters = slices.Clone(m.Filters)
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Mapping) int {
		return cmp.Or(
			cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.ExternalPort, b.ExternalPort),
			a.InternalAddr.Compare(b.InternalAddr),
			cmp.Compare(a.InternalPort, b.InternalPort),
		)
	})
	return out
}

// expiry returns the expiry time for a lifetime granted at now (zero for a
// permanent lease).
func expiry(now time.Time, lifetime time.Duration) time.Time {
	if lifetime <= 0 {
		return time.Time{}
	}
	return now.Add(lifetime)
}

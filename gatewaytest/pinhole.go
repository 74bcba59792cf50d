package gatewaytest

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// DefaultIPv6Host is Config.IPv6Host's default (RFC 3849 documentation
// space): the global address the test's own host plays on loopback.
var DefaultIPv6Host = netip.MustParseAddr("2001:db8:77::20")

// DefaultMaxPinholes is Config.MaxPinholes's default.
const DefaultMaxPinholes = 128

// OutboundPinholeTimeout is what GetOutboundPinholeTimeout answers for any
// flow: the idle timeout the fake's firewall claims for outbound flows.
const OutboundPinholeTimeout = 120 * time.Second

// Pinhole is one inbound IPv6 firewall pinhole: made by UPnP AddPinhole
// (WANIPv6FirewallControl:1) or by a PCP MAP for an IPv6 internal address.
// Traffic from RemoteHost:RemotePort to InternalClient:InternalPort is let
// in; nothing is translated.
type Pinhole struct {
	Method string // UPnP or PCP
	// UniqueID is the UPnP pinhole's identifier, 1..65535; 0 for PCP, which
	// names its mappings by Nonce.
	UniqueID       uint16
	RemoteHost     netip.Addr // zero = any host
	RemotePort     uint16     // 0 = any port
	InternalClient netip.Addr
	InternalPort   uint16
	Protocol       string        // "TCP" or "UDP"
	Lease          time.Duration // as granted (UPnP: the last AddPinhole or UpdatePinhole)
	Expires        time.Time     // by Config.Now; pinholes are never permanent
	Nonce          [12]byte      // PCP only
}

// firewall is the UPnP pinhole table. Entries live in a slice, as in table;
// the caller holds Gateway.mu.
type firewall struct {
	entries []*Pinhole
	lastID  uint16 // the last UniqueID handed out
}

// mappingOf is the Mapping a UPnP pinhole is reported as in a Change: its
// external address and port are the internal ones, as for a PCP pinhole.
func mappingOf(p *Pinhole) *Mapping {
	m := &Mapping{
		Method:       p.Method,
		Protocol:     p.Protocol,
		ExternalPort: p.InternalPort,
		InternalAddr: p.InternalClient,
		InternalPort: p.InternalPort,
		Description:  "pinhole",
		Enabled:      true,
		Lifetime:     p.Lease,
		Expires:      p.Expires,
	}
	if p.RemoteHost.IsValid() {
		m.RemoteHost = p.RemoteHost.String()
	}
	return m
}

// changedPinhole reports a change to a UPnP pinhole through the mapping
// table's callback (Config.OnChange), with Change.PinholeID set.
func (g *Gateway) changedPinhole(kind ChangeKind, by string, p *Pinhole) {
	if g.cfg.OnChange == nil {
		return
	}
	c := Change{Kind: kind, By: by, Mapping: *mappingOf(p), PinholeID: p.UniqueID}
	c.Mapping.ExternalAddr = p.InternalClient
	g.cfg.OnChange(c)
}

// prunePinholes drops the UPnP pinholes that expired at or before now.
// The caller holds g.mu.
func (g *Gateway) prunePinholes(now time.Time) {
	g.removePinholes(func(p *Pinhole) bool { return !now.Before(p.Expires) }, ByExpiry)
}

// removePinholes deletes the UPnP pinholes for which drop returns true.
// The caller holds g.mu.
func (g *Gateway) removePinholes(drop func(*Pinhole) bool, by string) {
	fw := &g.st.fw
	fw.entries = slices.DeleteFunc(fw.entries, func(p *Pinhole) bool {
		if drop(p) {
			g.changedPinhole(Removed, by, p)
			return true
		}
		return false
	})
}

// byID returns the live UPnP pinhole id, or nil.
func (fw *firewall) byID(id uint16) *Pinhole {
	for _, p := range fw.entries {
		if p.UniqueID == id {
			return p
		}
	}
	return nil
}

// nextID returns a free UniqueID after the last one handed out, skipping 0
// and those in use. The caller has checked that the table has room, so one
// exists.
func (fw *firewall) nextID() uint16 {
	for {
		fw.lastID++
		if fw.lastID != 0 && fw.byID(fw.lastID) == nil {
			return fw.lastID
		}
	}
}

// pinholeCount is how many pinholes of both kinds are open. The caller
// holds g.mu and has pruned both tables.
func (g *Gateway) pinholeCount() int {
	n := len(g.st.fw.entries)
	for _, m := range g.st.table.entries {
		if isPCPPinhole(m) {
			n++
		}
	}
	return n
}

// isPCPPinhole reports whether a table entry is an IPv6 PCP MAP.
func isPCPPinhole(m *Mapping) bool {
	return m.Method == PCP && !m.InternalAddr.Is4() && !m.isPeer()
}

// Pinholes returns a snapshot of the open IPv6 pinholes, UPnP and PCP
// (the latter are also in Mappings), sorted by method, UniqueID, internal
// client and port. Expired ones are gone.
func (g *Gateway) Pinholes() []Pinhole {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	g.st.table.prune(now)
	g.prunePinholes(now)
	out := make([]Pinhole, 0, len(g.st.fw.entries))
	for _, p := range g.st.fw.entries {
		out = append(out, *p)
	}
	for _, m := range g.st.table.entries {
		if isPCPPinhole(m) {
			out = append(out, Pinhole{
				Method:         PCP,
				InternalClient: m.InternalAddr,
				InternalPort:   m.InternalPort,
				Protocol:       m.Protocol,
				Lease:          m.Lifetime,
				Expires:        m.Expires,
				Nonce:          m.Nonce,
			})
		}
	}
	slices.SortStableFunc(out, func(a, b Pinhole) int {
		return cmp.Or(
			cmp.Compare(a.Method, b.Method),
			cmp.Compare(a.UniqueID, b.UniqueID),
			a.InternalClient.Compare(b.InternalClient),
			cmp.Compare(a.InternalPort, b.InternalPort),
		)
	})
	return out
}

// v6Host is the address a request from a is treated as coming from: on
// loopback every IPv6 request comes from ::1, which stands for
// Config.IPv6Host.
func (g *Gateway) v6Host(a netip.Addr) netip.Addr {
	if a == netip.IPv6Loopback() {
		return g.cfg.IPv6Host
	}
	return a
}

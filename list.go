package upnpmap

import (
	"context"
	"net/netip"
	"time"
)

// Entry is one mapping on the gateway, as List reports it.
type Entry struct {
	Method   Method   `json:"method"`
	Protocol Protocol `json:"protocol"`
	// External is the external address and port; the address is zero when
	// the gateway did not say (a UPnP entry for every remote host).
	External netip.AddrPort `json:"external"`
	Internal netip.AddrPort `json:"internal"`
	// Description is the UPnP description, as the router reports it but
	// capped and stripped of control and bidi characters (safetext).
	Description string `json:"description,omitempty"`
	// Lifetime is the remaining lease as the gateway reports it (UPnP) or
	// the granted lease (our PCP and NAT-PMP mappings); 0 means permanent.
	Lifetime time.Duration `json:"lifetime"`
	Enabled  bool          `json:"enabled"`
	// Ours marks the live mappings of this Client.
	Ours bool `json:"ours,omitempty"`
}

// List returns the gateway's port mappings: the whole UPnP table when the
// gateway speaks UPnP, plus this Client's own live PCP and NAT-PMP mappings
// (those protocols cannot list a table). UPnP entries that belong to this
// Client's live mappings are marked Ours. A router that lists PCP and
// NAT-PMP mappings in its UPnP table too (miniupnpd, under the labels
// "PCP MAP <nonce hex>" and "NAT-PMP <port> <proto>") shows each of this
// Client's mappings once: the table's entry, with the method that made it.
func (c *Client) List(ctx context.Context) (_ []Entry, err error) {
	defer func() { err = cleanErr(err) }() // router text in the message
	gw, err := c.gateway(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := gw.probed(ctx); err != nil {
		return nil, err
	}
	var out []Entry
	if up, reads := gw.mapper(UPnP).(tableReader); reads {
		ok, perr := gw.ready(ctx, gw.mapper(UPnP))
		if ok {
			err = gw.call(ctx, func(ctx context.Context) (err error) {
				out, err = up.list(ctx)
				return err
			})
		} else if perr != nil {
			gw.log.Debug("UPnP did not answer; listing this Client's mappings only", "err", errText(perr))
		}
	}
	for _, m := range gw.live() {
		g := m.grant()
		if _, pinhole := m.mp.(pinholeMapper); m.Method() == UPnP && !pinhole {
			for i := range out {
				e := &out[i]
				if e.Protocol == m.q.proto && e.External.Port() == g.external.Port() && e.Internal == g.internal {
					e.Ours = true
				}
			}
			continue
		}
		own := Entry{
			Method: m.Method(), Protocol: m.q.proto, External: g.external, Internal: g.internal,
			Lifetime: g.lifetime, Enabled: true, Ours: true,
		}
		if i := sameAsUPnPEntry(out, m, g); i >= 0 {
			// miniupnpd keeps one table for all three protocols and lists
			// this mapping in it under a label of its own: one row, ours,
			// with the router's label.
			own.Description = out[i].Description
			out[i] = own
			continue
		}
		out = append(out, own)
	}
	return out, err
}

// holds says whether a live mapping of method m has the PCP nonce.
func (gw *gateway) holds(m Method, nonce [12]byte) bool {
	for _, l := range gw.live() {
		if l.mp.method() == m && l.Nonce() == nonce {
			return true
		}
	}
	return false
}

// live returns the gateway's live mappings.
func (gw *gateway) live() []*Mapping {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	out := make([]*Mapping, 0, len(gw.mappings))
	for m := range gw.mappings {
		out = append(out, m)
	}
	return out
}

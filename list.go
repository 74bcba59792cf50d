package upnpmap

import (
	"context"
	"errors"
	"fmt"
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
	// Description is the UPnP description.
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
// Client's live mappings are marked Ours.
func (c *Client) List(ctx context.Context) ([]Entry, error) {
	gw, err := c.gateway(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := gw.probed(ctx); err != nil {
		return nil, err
	}
	var out []Entry
	if up := gw.mapper(UPnP); up != nil {
		ok, perr := gw.ready(ctx, up)
		if ok {
			err = gw.call(ctx, func(ctx context.Context) (err error) {
				out, err = up.list(ctx)
				return err
			})
		} else if perr != nil {
			gw.log.Debug("UPnP did not answer; listing this Client's mappings only", "err", perr)
		}
	}
	for _, m := range gw.live() {
		g := m.grant()
		if m.Method() == UPnP {
			for i := range out {
				e := &out[i]
				if e.Protocol == m.q.proto && e.External.Port() == g.external.Port() && e.Internal == g.internal {
					e.Ours = true
				}
			}
			continue
		}
		out = append(out, Entry{
			Method: m.Method(), Protocol: m.q.proto, External: g.external, Internal: g.internal,
			Lifetime: g.lifetime, Enabled: true, Ours: true,
		})
	}
	return out, err
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

// DeleteRequest names a mapping for Client.Delete, e.g. one that an earlier
// process left on the gateway (see Mapping.Detach and
// Mapping.DeleteRequest).
type DeleteRequest struct {
	// Method is the method that made the mapping; empty means UPnP, which
	// deletes by external port alone.
	Method Method `json:"method,omitempty"`
	// Protocol is TCP or UDP; empty means TCP.
	Protocol Protocol `json:"protocol"`
	// ExternalPort identifies a UPnP mapping.
	ExternalPort uint16 `json:"external_port"`
	// InternalPort identifies a NAT-PMP or PCP mapping (those protocols
	// delete by internal port).
	InternalPort uint16 `json:"internal_port,omitempty"`
	// InternalAddr is the internal host; zero means this machine. NAT-PMP
	// can only delete this machine's mappings.
	InternalAddr netip.Addr `json:"internal_addr,omitzero"`
	// Nonce is the PCP mapping nonce (Mapping.Nonce): PCP servers only
	// delete a mapping for the nonce that created it.
	Nonce [12]byte `json:"nonce,omitzero"`
}

// Delete removes a mapping from the gateway in one exchange. A live Mapping
// of this Client that matches is closed instead (stopping its renewal). A
// UPnP mapping that does not exist gives an error wrapping ErrNoSuchEntry;
// NAT-PMP and PCP report success for a missing mapping.
func (c *Client) Delete(ctx context.Context, d DeleteRequest) error {
	if d.Protocol == "" {
		d.Protocol = TCP
	}
	if d.Method == "" {
		d.Method = UPnP
	}
	if d.Protocol != TCP && d.Protocol != UDP {
		return fmt.Errorf("upnpmap: %w: unknown protocol %q", ErrInvalidArgs, d.Protocol)
	}
	gw, err := c.gateway(ctx)
	if err != nil {
		return err
	}
	for _, m := range gw.live() {
		g := m.grant()
		if m.Method() == d.Method && m.q.proto == d.Protocol && (d.ExternalPort != 0 || d.InternalPort != 0) &&
			(d.ExternalPort == 0 || g.external.Port() == d.ExternalPort) &&
			(d.InternalPort == 0 || g.internal.Port() == d.InternalPort) {
			return m.CloseContext(ctx)
		}
	}
	switch {
	case d.Method == UPnP && d.ExternalPort == 0:
		return fmt.Errorf("upnpmap: %w: UPnP delete needs the external port", ErrInvalidArgs)
	case d.Method != UPnP && d.InternalPort == 0:
		return fmt.Errorf("upnpmap: %w: %s deletes by internal port, which is missing", ErrInvalidArgs, d.Method)
	}
	mp := gw.mapper(d.Method)
	if mp == nil {
		return fmt.Errorf("upnpmap: %w: method %s is not enabled", ErrInvalidArgs, d.Method)
	}
	if !d.InternalAddr.IsValid() || d.InternalAddr.IsUnspecified() {
		d.InternalAddr = gw.local
	}
	return gw.call(ctx, func(ctx context.Context) error { return mp.remove(ctx, d) })
}

// ExternalAddr asks the gateway for its external address: by NAT-PMP or,
// failing that, UPnP (PCP has no such request). It does not hide a private
// or CGNAT answer (double NAT); see DiscoverResult.ExternalPrivate.
func (c *Client) ExternalAddr(ctx context.Context) (netip.Addr, error) {
	gw, err := c.gateway(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	answered, err := gw.probed(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	var failures []error
	for _, m := range []Method{NATPMP, UPnP} {
		mp := gw.mapper(m)
		if mp == nil {
			continue
		}
		if ok, err := gw.ready(ctx, mp); !ok {
			if err != nil {
				failures = append(failures, fmt.Errorf("%s: %w", m, err))
			}
			continue
		}
		var a netip.Addr
		err := gw.call(ctx, func(ctx context.Context) (err error) {
			a, err = mp.externalAddr(ctx)
			return err
		})
		if err == nil {
			return a, nil
		}
		failures = append(failures, fmt.Errorf("%s: %w", m, err))
	}
	if len(failures) == 0 {
		return netip.Addr{}, fmt.Errorf("upnpmap: %w: gateway %v speaks only %v, which does not report the external address", ErrUnsupported, gw.addr, answered)
	}
	return netip.Addr{}, fmt.Errorf("upnpmap: external address: %w", errors.Join(failures...))
}

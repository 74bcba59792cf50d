package upnpmap

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// DeleteRequest names a mapping for Client.Delete, e.g. one that an earlier
// process left on the gateway (see Mapping.Detach and
// Mapping.DeleteRequest).
type DeleteRequest struct {
	// Method is the method that made the mapping. Empty means every enabled
	// method that can delete it with what the request names, in the
	// Client's order, until one succeeds: PCP when Nonce is set, NAT-PMP
	// when InternalPort is set (this machine's mappings only), UPnP when
	// ExternalPort is set.
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
	// PinholeID is the UPnP UniqueID of an IPv6 pinhole (an InternalAddr
	// that is IPv6 names a pinhole; see Mapping.DeleteRequest). It is sent
	// to Client.Location6's firewall service; a PCP pinhole needs Nonce
	// and goes to the IPv6 router (Client.Gateway6).
	PinholeID uint16 `json:"pinhole_id,omitempty"`
	// Via is set for the upstream leg of a mapping chained through a double
	// NAT (see Leg.Delete): the address the upstream router sees this
	// machine as, the inner router's WAN address. InternalAddr defaults to
	// it; PCP names it as the client address and NAT-PMP may delete for it.
	// Zero for a mapping on the gateway.
	Via netip.Addr `json:"via,omitzero"`
}

// Delete removes a mapping from the gateway: one exchange per method tried
// (see DeleteRequest.Method), all within ctx — there is no per-method budget
// beyond Client.RequestTimeout, and a shorter ctx wins. A live Mapping of
// this Client that matches is closed instead (stopping its renewal).
//
// Whether the mapping existed is what the router says: Delete sends only the
// delete, without reading the entry first. A UPnP router that answers 714
// NoSuchEntryInArray gives an error wrapping ErrNoSuchEntry, but some answer
// success for any port (miniupnpd does), and NAT-PMP and PCP always report
// success for a missing mapping: a nil error means the mapping is not there
// now, not that it was. To know whether it was, look for it with List first.
func (c *Client) Delete(ctx context.Context, d DeleteRequest) (err error) {
	defer func() { err = cleanErr(err) }() // router text in the message
	if d.Protocol == "" {
		d.Protocol = TCP
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
		if (d.Method == "" || m.Method() == d.Method) && m.q.proto == d.Protocol && (d.ExternalPort != 0 || d.InternalPort != 0) &&
			(m.Family() == IPv6) == d.InternalAddr.Is6() &&
			(d.ExternalPort == 0 || g.external.Port() == d.ExternalPort) &&
			(d.InternalPort == 0 || g.internal.Port() == d.InternalPort) {
			return m.CloseContext(ctx)
		}
	}
	if d.InternalAddr.Is6() && !d.InternalAddr.Is4In6() {
		return gw.deletePinhole(ctx, d) // pinhole_delete.go
	}
	if !d.InternalAddr.IsValid() || d.InternalAddr.IsUnspecified() {
		d.InternalAddr = gw.local
		if d.Via.IsValid() {
			d.InternalAddr = d.Via // the upstream leg of a chain
		}
	}
	mps, err := gw.deleters(d)
	if err != nil {
		return err
	}
	var (
		parts []string
		errs  []error
	)
	for _, mp := range mps {
		err := gw.call(ctx, func(ctx context.Context) error { return mp.remove(ctx, d) })
		if err == nil {
			return nil
		}
		parts = append(parts, byMethod(mp.method(), err).Error())
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return &deleteError{msg: strings.Join(parts, "; "), errs: errs}
}

// asker says whether d's mapping is for the asking machine, as the router
// sees it: local, or, beyond another NAT, Via.
func (d DeleteRequest) asker(local netip.Addr) bool {
	return d.InternalAddr == local || (d.Via.IsValid() && d.InternalAddr == d.Via)
}

// deleters are the mappers Delete tries for d: d.Method's, or every enabled
// one that can delete with what d names.
func (gw *gateway) deleters(d DeleteRequest) ([]mapper, error) {
	if d.Method != "" {
		switch {
		case d.Method == UPnP && d.ExternalPort == 0:
			return nil, fmt.Errorf("upnpmap: %w: UPnP delete needs the external port", ErrInvalidArgs)
		case d.Method != UPnP && d.InternalPort == 0:
			return nil, fmt.Errorf("upnpmap: %w: %s deletes by internal port, which is missing", ErrInvalidArgs, d.Method)
		}
		mp := gw.mapper(d.Method)
		if mp == nil {
			return nil, fmt.Errorf("upnpmap: %w: method %s is not enabled", ErrInvalidArgs, d.Method)
		}
		return []mapper{mp}, nil
	}
	var out []mapper
	for _, mp := range gw.mappers {
		switch mp.method() {
		case PCP:
			if d.Nonce == ([12]byte{}) || d.InternalPort == 0 {
				continue
			}
		case NATPMP:
			if d.InternalPort == 0 || !d.asker(gw.local) {
				continue
			}
		case UPnP:
			if d.ExternalPort == 0 {
				continue
			}
		}
		out = append(out, mp)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("upnpmap: %w: no enabled method can delete it: UPnP needs the external port, NAT-PMP the internal port, PCP the nonce too", ErrInvalidArgs)
	}
	return out, nil
}

// deleteError is the error of a Delete that every method tried failed; its
// message names each, and it wraps them (the silences only when no method
// gave a definite answer, see definite).
type deleteError struct {
	msg  string
	errs []error
}

func (e *deleteError) Error() string   { return "upnpmap: delete: " + e.msg }
func (e *deleteError) Unwrap() []error { return definite(e.errs) }

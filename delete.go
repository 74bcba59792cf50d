package upnpmap

import (
	"context"
	"fmt"
	"net/netip"
)

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
func (c *Client) Delete(ctx context.Context, d DeleteRequest) (err error) {
	defer func() { err = cleanErr(err) }() // router text in the message
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

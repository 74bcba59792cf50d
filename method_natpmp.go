package upnpmap

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/upnpmap/upnpmap/natpmp"
)

// natpmpMapper adapts package natpmp. NAT-PMP maps only to the asking host,
// does not tell the external address in a mapping reply (so each mapping
// exchange asks for it too: a renewal then notices a new address), and
// cannot check a mapping; lost state shows in the epoch.
type natpmpMapper struct {
	gw *gateway
	cl *natpmp.Client
}

func newNATPMP(gw *gateway) *natpmpMapper {
	return &natpmpMapper{gw: gw, cl: &natpmp.Client{
		Gateway: netip.AddrPortFrom(gw.addr, natpmp.Port),
		Logger:  gw.c.Logger,
	}}
}

func (n *natpmpMapper) method() Method { return NATPMP }

func natpmpProto(p Protocol) natpmp.Protocol {
	if p == UDP {
		return natpmp.UDP
	}
	return natpmp.TCP
}

func (n *natpmpMapper) ipv4() error {
	if !n.gw.addr.Is4() {
		return fmt.Errorf("%w: NAT-PMP needs an IPv4 gateway", ErrUnsupported)
	}
	return nil
}

func (n *natpmpMapper) probe(ctx context.Context, _ func()) (*probeInfo, error) {
	if err := n.ipv4(); err != nil {
		return nil, err
	}
	r, err := n.cl.ExternalAddress(ctx)
	if err != nil {
		return nil, err
	}
	return &probeInfo{external: r.Addr, reset: r.GatewayReset}, nil
}

func (n *natpmpMapper) mapPort(ctx context.Context, q *mapReq, prev *grant) (*grant, error) {
	if err := n.ipv4(); err != nil {
		return nil, err
	}
	if q.thirdParty {
		return nil, fmt.Errorf("%w: NAT-PMP maps only to the asking host, not %v", ErrUnsupported, q.internal.Addr())
	}
	ext, err := n.cl.ExternalAddress(ctx)
	if err != nil {
		return nil, err
	}
	suggest := q.wish
	if prev != nil {
		suggest = prev.external.Port() // RFC 6886 §3.3: re-suggest what was granted
	}
	r, err := n.cl.Map(ctx, natpmpProto(q.proto), q.internal.Port(), suggest, q.lifetime)
	if err != nil {
		return nil, err
	}
	if r.Lifetime <= 0 || r.ExternalPort == 0 {
		return nil, fmt.Errorf("%w: NAT-PMP granted port %d for %v", ErrMalformed, r.ExternalPort, r.Lifetime)
	}
	if q.exact && r.ExternalPort != q.wish {
		// NAT-PMP has no "this port or nothing": give back what we got.
		if err := n.cl.Delete(ctx, natpmpProto(q.proto), q.internal.Port()); err != nil {
			n.gw.log.Debug("NAT-PMP delete of an unwanted port", "err", err)
		}
		return nil, fmt.Errorf("%w: NAT-PMP offered port %d instead of %d", ErrPortInUse, r.ExternalPort, q.wish)
	}
	return &grant{
		external: netip.AddrPortFrom(ext.Addr, r.ExternalPort),
		internal: q.internal,
		lifetime: r.Lifetime,
		reset:    ext.GatewayReset || r.GatewayReset,
	}, nil
}

func (n *natpmpMapper) unmap(ctx context.Context, q *mapReq, g *grant) error {
	return n.cl.Delete(ctx, natpmpProto(q.proto), q.internal.Port())
}

func (n *natpmpMapper) check(context.Context, *mapReq, *grant) (netip.Addr, error) {
	return netip.Addr{}, errNoCheck
}

func (n *natpmpMapper) externalAddr(ctx context.Context) (netip.Addr, error) {
	if err := n.ipv4(); err != nil {
		return netip.Addr{}, err
	}
	r, err := n.cl.ExternalAddress(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	if r.GatewayReset {
		n.gw.noteReset(nil, NATPMP)
	}
	return r.Addr, nil
}

func (n *natpmpMapper) list(context.Context) ([]Entry, error) { return nil, nil }

func (n *natpmpMapper) remove(ctx context.Context, d DeleteRequest) error {
	if d.InternalAddr != n.gw.local {
		return fmt.Errorf("%w: NAT-PMP deletes only this host's mappings", ErrUnsupported)
	}
	return n.cl.Delete(ctx, natpmpProto(d.Protocol), d.InternalPort)
}

func (n *natpmpMapper) announcement(b []byte, from netip.AddrPort) (announcement, bool) {
	r, err := n.cl.CheckAnnouncement(b, from)
	if err != nil {
		return announcement{}, false
	}
	return announcement{reset: r.GatewayReset, external: r.Addr, epoch: r.Epoch, hasEpoch: true}, true
}

package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/natpmp"
)

// natpmpMapper adapts package natpmp. NAT-PMP maps only to the asking host,
// does not tell the external address in a mapping reply (so a mapping needs
// an external address request too: a new mapping takes the probe's answer
// when it is fresh, a renewal asks again and so notices a new address), and
// cannot check a mapping; lost state shows in the epoch.
type natpmpMapper struct {
	gw *gateway
	cl *natpmp.Client
	// ann parses announcements: a client of its own, so that what a LAN
	// host can send never enters the epoch history cl judges replies by.
	ann *natpmp.Client

	mu     sync.Mutex
	ext    netip.Addr // the external address the last answer told
	extAt  time.Time  // when it came (monotonic wall time)
	extGot bool
}

// extFresh is how long an external address answer stands in for a new
// request when a mapping is made: long enough for the probe that Map made a
// moment before, short enough that an address change is not missed.
const extFresh = time.Second

func newNATPMP(gw *gateway) *natpmpMapper {
	server := netip.AddrPortFrom(gw.addr, natpmp.Port)
	return &natpmpMapper{gw: gw,
		cl:  &natpmp.Client{Gateway: server, Logger: gw.c.Logger},
		ann: &natpmp.Client{Gateway: server, Logger: gw.c.Logger},
	}
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
	n.remember(r.Addr)
	return &probeInfo{external: r.Addr, reset: r.GatewayReset}, nil
}

// probeMap is NAT-PMP's probe on Map's path when it is the first method
// (see mapProber): the external address request a mapping needs anyway, and
// the MAP right after it, without handing back to the collector in between.
// The two stay one after the other (RFC 6886 §3.1: one request at a time).
func (n *natpmpMapper) probeMap(ctx context.Context, q *mapReq, alive func()) (*grant, bool, error) {
	if err := n.ipv4(); err != nil {
		return nil, false, err
	}
	r, err := n.cl.ExternalAddress(ctx)
	var re *natpmp.ResultError
	switch {
	case errors.As(err, &re) && re.Code != natpmp.UnsupportedVersion:
		return nil, true, err // NAT-PMP is there, and cannot (e.g. uplink down)
	case err != nil:
		return nil, false, err
	}
	n.remember(r.Addr)
	alive()
	g, err := n.mapPort(ctx, q, nil)
	if g != nil && r.GatewayReset {
		g.reset = true
	}
	return g, true, err
}

// remember keeps an external address answer for the next new mapping.
func (n *natpmpMapper) remember(a netip.Addr) {
	n.mu.Lock()
	n.ext, n.extAt, n.extGot = a, time.Now(), true
	n.mu.Unlock()
}

// recent returns the last external address answer if it is fresh, and
// forgets it: it serves one mapping.
func (n *natpmpMapper) recent() (netip.Addr, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.ext, n.extGot && time.Since(n.extAt) < extFresh
	n.extGot = false
	return a, ok
}

// externalFor is the external address for a mapping exchange: the probe's
// fresh answer for a new mapping, otherwise a request of its own (whose
// epoch check then also counts). reset reports the epoch check's verdict.
func (n *natpmpMapper) externalFor(ctx context.Context, prev *grant) (ext netip.Addr, reset bool, err error) {
	if prev == nil {
		if a, ok := n.recent(); ok {
			return a, false, nil
		}
	}
	r, err := n.cl.ExternalAddress(ctx)
	if err != nil {
		return netip.Addr{}, false, err
	}
	return r.Addr, r.GatewayReset, nil
}

func (n *natpmpMapper) mapPort(ctx context.Context, q *mapReq, prev *grant) (*grant, error) {
	if err := n.ipv4(); err != nil {
		return nil, err
	}
	if q.thirdParty {
		return nil, fmt.Errorf("%w: NAT-PMP maps only to the asking host, not %v", ErrUnsupported, q.internal.Addr())
	}
	ext, extReset, err := n.externalFor(ctx, prev)
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
			n.gw.log.Debug("NAT-PMP delete of an unwanted port", "err", errText(err))
		}
		return nil, fmt.Errorf("%w: NAT-PMP offered port %d instead of %d", ErrPortInUse, r.ExternalPort, q.wish)
	}
	return &grant{
		external: netip.AddrPortFrom(ext, r.ExternalPort),
		internal: q.internal,
		lifetime: r.Lifetime,
		reset:    extReset || r.GatewayReset,
	}, nil
}

func (n *natpmpMapper) unmap(ctx context.Context, q *mapReq, g *grant) error {
	return n.cl.Delete(ctx, natpmpProto(q.proto), q.internal.Port())
}

func (n *natpmpMapper) externalAddr(ctx context.Context) (netip.Addr, bool, error) {
	if err := n.ipv4(); err != nil {
		return netip.Addr{}, false, err
	}
	r, err := n.cl.ExternalAddress(ctx)
	if err != nil {
		return netip.Addr{}, false, err
	}
	n.remember(r.Addr)
	return r.Addr, r.GatewayReset, nil
}

func (n *natpmpMapper) remove(ctx context.Context, d DeleteRequest) error {
	if !d.asker(n.gw.local) {
		return fmt.Errorf("%w: NAT-PMP deletes only this host's mappings", ErrUnsupported)
	}
	return n.cl.Delete(ctx, natpmpProto(d.Protocol), d.InternalPort)
}

func (n *natpmpMapper) announcement(b []byte, from netip.AddrPort) (announcement, bool) {
	r, err := n.ann.CheckAnnouncement(b, from)
	if err != nil {
		return announcement{}, false
	}
	return announcement{reset: r.GatewayReset, external: r.Addr, epoch: r.Epoch, hasEpoch: true}, true
}

// confirm is the external address request (see announcee).
func (n *natpmpMapper) confirm(ctx context.Context) (announcement, error) {
	ext, reset, err := n.externalAddr(ctx)
	if err != nil {
		return announcement{}, err
	}
	return announcement{reset: reset, external: ext}, nil
}

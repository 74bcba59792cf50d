package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/upnpmap/upnpmap/pcp"
)

// errSpeaksNATPMP is PCP's "this server speaks NAT-PMP": Map goes to NAT-PMP
// at once.
var errSpeaksNATPMP = pcp.ErrSpeaksNATPMP

// pcpMapper adapts package pcp. The nonce of each mapping is kept in its
// grant for renewal and deletion; lost state shows in the epoch.
type pcpMapper struct {
	gw *gateway
	cl *pcp.Client
	// ann parses unsolicited messages: a client of its own, so that what a
	// LAN host can send never enters the epoch history cl judges replies by.
	ann *pcp.Client
}

func newPCP(gw *gateway) *pcpMapper {
	server := netip.AddrPortFrom(gw.addr, pcp.Port)
	return &pcpMapper{gw: gw,
		cl:  &pcp.Client{Server: server, Logger: gw.c.Logger},
		ann: &pcp.Client{Server: server, Logger: gw.c.Logger},
	}
}

func (p *pcpMapper) method() Method { return PCP }

// externalAddr learns the external address the only way PCP can: a
// short-lived MAP, deleted as soon as its answer is in
// (pcp.Client.ExternalAddress). Client.ExternalAddr asks PCP last.
func (p *pcpMapper) externalAddr(ctx context.Context) (netip.Addr, bool, error) {
	a, err := p.cl.ExternalAddress(ctx)
	return a, false, err
}

func (p *pcpMapper) probe(ctx context.Context, _ func()) (*probeInfo, error) {
	r, err := p.cl.Announce(ctx)
	if err != nil {
		return nil, err
	}
	return &probeInfo{reset: r.GatewayReset}, nil
}

func (p *pcpMapper) request(q *mapReq, prev *grant) pcp.MapRequest {
	req := pcp.MapRequest{
		Protocol:          q.proto.ianaNumber(),
		InternalPort:      q.internal.Port(),
		SuggestedExternal: netip.AddrPortFrom(netip.Addr{}, q.wish),
		Lifetime:          q.lifetime,
		PreferFailure:     q.exact,
	}
	if q.thirdParty {
		req.ThirdParty = q.internal.Addr()
	}
	req.ClientAddr = q.via // zero unless beyond another NAT (chain.go)
	if prev != nil {
		// Renewal: the same nonce, suggesting what was granted (§11.2.1).
		req.Nonce, req.SuggestedExternal = prev.nonce, prev.external
	}
	return req
}

func (p *pcpMapper) mapPort(ctx context.Context, q *mapReq, prev *grant) (*grant, error) {
	r, err := p.cl.Map(ctx, p.request(q, prev))
	if err != nil {
		return nil, err
	}
	return p.granted(ctx, q, r)
}

// probeMap is PCP's probe on Map's path: the MAP request itself (see
// mapProber). The nonce is picked here so that a MAP left unanswered — the
// reply lost, or the probe cut short while the gateway was still at it —
// can be withdrawn: the gateway may hold it, and would refuse the next
// request for the port under another nonce.
func (p *pcpMapper) probeMap(ctx context.Context, q *mapReq, _ func()) (*grant, bool, error) {
	req := p.request(q, nil)
	req.Nonce = pcp.NewNonce()
	r, err := p.cl.Map(ctx, req)
	var re *pcp.ResultError
	switch {
	case err == nil:
		g, err := p.granted(ctx, q, r)
		return g, true, err
	case errors.Is(err, errSpeaksNATPMP):
		return nil, false, err // a NAT-PMP server: no PCP here
	case errors.As(err, &re):
		return nil, true, err // PCP is there and refused this mapping
	case errors.Is(err, ErrUnsupported):
		return nil, false, err // port closed (ICMP): nothing was made
	}
	p.forget(q, req.Nonce)
	return nil, false, err
}

// forget sends one delete for a MAP whose answer never came, without waiting
// for the reply: best effort, it costs one datagram.
func (p *pcpMapper) forget(q *mapReq, nonce pcp.Nonce) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.cl.Server))
	if err != nil {
		return
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	if q.via.IsValid() {
		local = q.via // what the server sees beyond another NAT (chain.go)
	}
	del := pcp.MapRequest{Protocol: q.proto.ianaNumber(), InternalPort: q.internal.Port(), Nonce: nonce}
	if q.thirdParty {
		del.ThirdParty = q.internal.Addr()
	}
	b, err := pcp.AppendMapRequest(nil, local, &del)
	if err == nil {
		_, err = conn.Write(b)
	}
	p.gw.log.Debug("PCP MAP unanswered; sent a delete for it", "nonce", nonce, "err", errText(err))
}

// granted checks a MAP response against the request and makes it a grant.
func (p *pcpMapper) granted(ctx context.Context, q *mapReq, r *pcp.MapResponse) (*grant, error) {
	if r.Lifetime <= 0 || r.External.Port() == 0 {
		return nil, fmt.Errorf("%w: PCP granted %v for %v", ErrMalformed, r.External, r.Lifetime)
	}
	if q.exact && r.External.Port() != q.wish {
		// A server that ignored PREFER_FAILURE (miniupnpd 2.3.1 does).
		if err := p.cl.Delete(ctx, r); err != nil {
			p.gw.log.Debug("PCP delete of an unwanted port", "err", errText(err))
		}
		return nil, fmt.Errorf("%w: PCP offered port %d instead of %d", ErrPortInUse, r.External.Port(), q.wish)
	}
	return &grant{
		external: r.External,
		internal: q.internal,
		lifetime: r.Lifetime,
		nonce:    r.Nonce,
		reset:    r.GatewayReset,
	}, nil
}

func (p *pcpMapper) unmap(ctx context.Context, q *mapReq, g *grant) error {
	r := p.response(q.proto, q.internal, q.thirdParty, g.nonce)
	r.ClientAddr = q.via
	err := p.cl.Delete(ctx, r)
	if errors.Is(err, ErrNoSuchEntry) {
		return nil // already gone (miniupnpd answers NO_RESOURCES)
	}
	return err
}

// response rebuilds what Delete needs to name a mapping.
func (p *pcpMapper) response(proto Protocol, internal netip.AddrPort, thirdParty bool, nonce [12]byte) *pcp.MapResponse {
	r := &pcp.MapResponse{Nonce: nonce, Protocol: proto.ianaNumber(), InternalPort: internal.Port()}
	if thirdParty {
		r.ThirdParty = internal.Addr()
	}
	return r
}

func (p *pcpMapper) remove(ctx context.Context, d DeleteRequest) error {
	if d.Nonce == ([12]byte{}) {
		return fmt.Errorf("%w: a PCP delete needs the mapping's nonce", ErrInvalidArgs)
	}
	internal := netip.AddrPortFrom(d.InternalAddr, d.InternalPort)
	return p.cl.Delete(ctx, p.response(d.Protocol, internal, d.InternalAddr != p.gw.local, d.Nonce))
}

// announcement accepts an unsolicited ANNOUNCE, or a MAP response (§14.2: a
// mapping changed), which names its mapping's nonce: the gateway accepts it
// only for one of its live mappings.
func (p *pcpMapper) announcement(b []byte, from netip.AddrPort) (announcement, bool) {
	r, err := p.ann.CheckUnsolicited(b, from)
	if err != nil || r.Result != 0 {
		return announcement{}, false
	}
	ann := announcement{reset: r.GatewayReset, epoch: r.Epoch, hasEpoch: true}
	switch r.Opcode {
	case pcp.OpAnnounce:
		return ann, true
	case pcp.OpMap:
		ann.forNonce, ann.nonce = true, r.Nonce
		return ann, true
	}
	return announcement{}, false
}

// confirm is an ANNOUNCE request (see announcee).
func (p *pcpMapper) confirm(ctx context.Context) (announcement, error) {
	r, err := p.cl.Announce(ctx)
	if err != nil {
		return announcement{}, err
	}
	return announcement{reset: r.GatewayReset, epoch: r.Epoch, hasEpoch: true}, nil
}

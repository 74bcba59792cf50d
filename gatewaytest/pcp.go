package gatewaytest

import (
	"fmt"
	"net/netip"
	"time"
)

// handlePCP answers one datagram whose version byte is not 0.
func (g *Gateway) handlePCP(pkt []byte, from netip.AddrPort) []byte {
	if len(pkt) < 2 || pkt[1]&0x80 != 0 {
		return nil // runts and responses are dropped (§8.3)
	}
	op := pkt[1] & 0x7f
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.requests[PCP]++
	if g.st.silent[PCP] || (g.st.mapQuiet[PCP] && op != opAnnounce) {
		return nil
	}
	now := g.cfg.Now()
	g.st.table.prune(now)
	epoch := g.st.epoch(now)

	if g.cfg.NATPMPOnly {
		return natpmpUnsupportedVersion(op, epoch)
	}
	req, code, drop := parsePCP(pkt)
	if drop {
		return nil
	}
	if code == 0 && req.client != from.Addr() {
		code = PCPAddressMismatch // §8.2: the client IP field must be the source
	}
	if code == 0 && req.opcode != opAnnounce {
		code = g.st.result[PCP]
	}
	if code == 0 {
		code = g.pcp6Refusal(&req)
	}
	if code != 0 {
		g.log.Debug("pcp error", "from", from, "opcode", op, "code", code)
		return pcpErrorReply(pkt, op, code, pcpErrorLifetime(code), epoch)
	}
	if req.opcode == opAnnounce {
		return pcpHeaderOnly(opAnnounce, PCPSuccess, 0, epoch)
	}
	code, ext, life := g.pcpMap(&req, from.Addr(), now)
	g.log.Debug("pcp map", "from", from, "opcode", op, "proto", req.proto, "internal", req.internalPort,
		"suggested", req.extPort, "lifetime", req.lifetime, "code", code, "external", ext)
	if code != 0 {
		return pcpErrorReply(pkt, op, code, pcpErrorLifetime(code), epoch)
	}
	return pcpMapReply(&req, life, epoch, ext)
}

// pcpMap creates, renews or deletes the mapping of a MAP or PEER request
// (§11, §12, §15). The caller holds g.mu.
func (g *Gateway) pcpMap(r *pcpRequest, sender netip.Addr, now time.Time) (code int, ext netip.AddrPort, lifetime uint32) {
	internal := sender
	if r.thirdParty.IsValid() {
		if !g.cfg.AllowThirdParty {
			return PCPUnsuppOption, ext, 0
		}
		if r.thirdParty == sender {
			return PCPMalformedRequest, ext, 0 // §13.1
		}
		internal = r.thirdParty
	}
	var proto string
	switch r.proto {
	case 6:
		proto = "TCP"
	case 17:
		proto = "UDP"
	default:
		// Protocol 0 ("all") is not offered, nor anything but TCP and UDP.
		return PCPUnsuppProtocol, ext, 0
	}
	if r.internalPort == 0 {
		return PCPMalformedRequest, ext, 0 // port 0 is only valid with protocol 0
	}
	isPeer := r.opcode == opPeer
	var peer netip.AddrPort
	if isPeer {
		if !r.peerAddr.IsValid() || r.peerAddr.IsUnspecified() || r.peerPort == 0 {
			return PCPMalformedRequest, ext, 0
		}
		peer = netip.AddrPortFrom(r.peerAddr, r.peerPort)
	}
	t := &g.st.table
	existing := t.find(func(m *Mapping) bool {
		return m.Method == PCP && m.Protocol == proto && m.InternalAddr == internal &&
			m.InternalPort == r.internalPort && m.RemotePeer == peer
	})
	// The nonce authorises renewals and deletes (§11.3): a request for an
	// existing mapping with another nonce is refused.
	if existing != nil && existing.Nonce != r.nonce {
		return PCPNotAuthorized, ext, 0
	}
	pinhole := !internal.Is4()
	extAddr := g.st.ext
	if pinhole {
		extAddr = internal // an IPv6 MAP opens a pinhole; nothing is translated
	}

	if r.lifetime == 0 {
		if existing == nil {
			// Deleting nothing succeeds (§15); miniupnpd answers NO_RESOURCES.
			if g.cfg.PCPDeleteMissingNoResources {
				return PCPNoResources, ext, 0
			}
			return PCPSuccess, netip.AddrPortFrom(r.extAddrOr(extAddr), r.extPort), 0
		}
		t.remove(func(m *Mapping) bool { return m == existing }, PCP)
		return PCPSuccess, netip.AddrPortFrom(extAddr, existing.ExternalPort), 0
	}
	if !pinhole && !g.st.hasExternal() {
		return PCPNetworkFailure, ext, 0
	}
	life := g.clampPCP(r.lifetime)
	secs := uint32(life / time.Second)
	if existing != nil && pinhole && g.cfg.PCPv6RenewNoResources {
		return PCPNoResources, ext, 0 // as OPNsense answers a renewal
	}
	if existing != nil {
		existing.Lifetime, existing.Expires = life, expiry(now, life)
		existing.Filters = r.filters
		t.renew(existing, PCP)
		return PCPSuccess, netip.AddrPortFrom(extAddr, existing.ExternalPort), secs
	}
	if t.full() || (pinhole && !isPeer && g.pinholeCount() >= g.cfg.MaxPinholes) {
		return PCPNoResources, ext, 0
	}

	want := r.extPort
	if pinhole {
		want = r.internalPort
	} else if isPeer {
		// A PEER for an endpoint that has a MAP uses the MAP's external port.
		if m := t.find(func(m *Mapping) bool {
			return m.Protocol == proto && m.InternalAddr == internal && m.InternalPort == r.internalPort && !m.isPeer()
		}); m != nil {
			want = m.ExternalPort
		}
	}
	if r.preferFailure {
		if want == 0 && (!r.extAddr.IsValid() || r.extAddr.IsUnspecified()) {
			return PCPMalformedOption, ext, 0 // nothing to prefer
		}
	}
	if r.preferFailure && !g.cfg.IgnorePreferFailure {
		addrOK := !r.extAddr.IsValid() || r.extAddr.IsUnspecified() || r.extAddr == extAddr
		if !addrOK || (want != 0 && t.conflicts(proto, want, internal, r.internalPort)) {
			return PCPCannotProvideExternal, ext, 0
		}
	}
	port, ok := t.allocate(proto, want, internal, r.internalPort)
	if !ok {
		return PCPNoResources, ext, 0
	}
	kind := "MAP"
	if isPeer {
		kind = "PEER"
	}
	t.add(&Mapping{
		Method:       PCP,
		Protocol:     proto,
		ExternalPort: port,
		InternalAddr: internal,
		InternalPort: r.internalPort,
		RemotePeer:   peer,
		Filters:      r.filters,
		Description:  fmt.Sprintf("PCP %s %x", kind, r.nonce),
		Enabled:      true,
		Lifetime:     life,
		Expires:      expiry(now, life),
		Nonce:        r.nonce,
	}, PCP)
	return PCPSuccess, netip.AddrPortFrom(extAddr, port), secs
}

// clampPCP applies the configured lifetime bounds to a non-zero request.
func (g *Gateway) clampPCP(secs uint32) time.Duration {
	life := time.Duration(secs) * time.Second
	return min(max(life, g.cfg.PCPMinLifetime), g.cfg.PCPMaxLifetime)
}

// extAddrOr returns the suggested external address, or def when the request
// suggested none.
func (r *pcpRequest) extAddrOr(def netip.Addr) netip.Addr {
	if !r.extAddr.IsValid() || r.extAddr.IsUnspecified() {
		return def
	}
	return r.extAddr
}

package reach

import (
	"net/netip"
	"time"
)

// stunPlainMax is the largest Binding answer sent to a request smaller than
// it: header and XOR-MAPPED-ADDRESS for IPv6. Every STUN client must get at
// least that from a 20-byte request, so this is the one place a UDP answer
// may exceed its request (by at most 24 bytes, under the rate limit); RFC 5780
// attributes only come when the request is padded (PADDING) to carry them.
const stunPlainMax = stunHeaderLen + 24

// serveSTUN answers one STUN Binding request that arrived on s.udp[i].
func (s *Server) serveSTUN(i int, pkt []byte, src netip.AddrPort) {
	if ok, _ := s.lim.allow(src.Addr(), time.Now()); !ok {
		s.stats.limited.Add(1)
		return
	}
	req, err := parseSTUNBinding(pkt)
	if err != nil {
		return // RFC 8489 §6.3: a malformed message is dropped
	}
	limit := max(len(pkt), stunPlainMax)
	unknown := req.unknown
	if !s.hasAlt {
		// Without a second address this server is no RFC 5780 server, and
		// says so the way RFC 5780 §6.1 asks: 420 for these attributes.
		if req.changeIP || req.changePort {
			unknown = append(unknown, attrChangeRequest)
		}
		if req.hasRespPort {
			unknown = append(unknown, attrResponsePort)
		}
	}
	in := s.udp[i]
	if len(unknown) > 0 {
		if b := appendSTUNError(nil, req.id, 420, "Unknown", unknown); len(b) <= limit {
			s.sendUDP(in, b, src)
		}
		return
	}
	j := i
	if req.changeIP {
		j ^= 1
	}
	if req.changePort {
		j ^= 2
	}
	from := s.udp[j]
	dst := src
	if req.hasRespPort {
		if req.responsePort == 0 {
			return
		}
		// Sent to another port than the request's: never larger than the
		// request, whatever STUN clients expect.
		dst = netip.AddrPortFrom(src.Addr(), req.responsePort)
		limit = len(pkt)
	}
	b := appendSTUNHeader(make([]byte, 0, 128), stunBindingSuccess, req.id)
	if req.id.rfc5389() {
		b = appendSTUNAddr(b, attrXORMapped, src, &req.id)
	} else {
		b = appendSTUNAddr(b, attrMappedAddress, src, nil)
	}
	if s.hasAlt && req.id.rfc5389() {
		other := s.udp[i^3].local
		if len(b)+stunAddrLen(from.local)+stunAddrLen(other) <= limit {
			b = appendSTUNAddr(b, attrResponseOrigin, from.local, nil)
			b = appendSTUNAddr(b, attrOtherAddress, other, nil)
		}
	}
	if len(b) > limit {
		return
	}
	b = finishSTUN(b, 0)
	s.stats.stun.Add(1)
	s.sendUDP(from, b, dst)
}

package gatewaytest

import (
	"encoding/binary"
	"net/netip"
)

// PCP (RFC 6887) result codes (§7.4).
const (
	PCPSuccess               = 0
	PCPUnsuppVersion         = 1
	PCPNotAuthorized         = 2
	PCPMalformedRequest      = 3
	PCPUnsuppOpcode          = 4
	PCPUnsuppOption          = 5
	PCPMalformedOption       = 6
	PCPNetworkFailure        = 7
	PCPNoResources           = 8
	PCPUnsuppProtocol        = 9
	PCPUserExQuota           = 10
	PCPCannotProvideExternal = 11
	PCPAddressMismatch       = 12
	PCPExcessiveRemotePeers  = 13
)

const (
	pcpUnsuppVersion = PCPUnsuppVersion

	pcpVersion   = 2
	pcpHeaderLen = 24
	pcpMaxLen    = 1100
	pcpMapLen    = 36
	pcpPeerLen   = 56

	opAnnounce = 0
	opMap      = 1
	opPeer     = 2

	optThirdParty    = 1
	optPreferFailure = 2
	optFilter        = 3
)

// pcpRequest is a parsed PCP request.
type pcpRequest struct {
	opcode   uint8
	lifetime uint32
	client   netip.Addr // the header's client IP, unmapped

	// MAP and PEER
	nonce        [12]byte
	proto        uint8
	internalPort uint16
	extPort      uint16
	extAddr      netip.Addr // unmapped; unspecified = no preference
	peerPort     uint16     // PEER
	peerAddr     netip.Addr // PEER, unmapped

	thirdParty    netip.Addr // zero if the option is absent
	preferFailure bool
	filters       []Filter
	echo          []byte // the known options, echoed in a success response
}

// parsePCP parses a request. drop means the gateway answers nothing
// (§8.3: fewer than 2 bytes, or the R bit set); otherwise a non-zero code is
// the error result to answer with. The order of checks follows §8.3.
func parsePCP(b []byte) (r pcpRequest, code int, drop bool) {
	if len(b) < 2 || b[1]&0x80 != 0 {
		return r, 0, true
	}
	r.opcode = b[1] & 0x7f
	if b[0] != pcpVersion {
		return r, PCPUnsuppVersion, false
	}
	if len(b) < pcpHeaderLen || len(b) > pcpMaxLen || len(b)%4 != 0 {
		return r, PCPMalformedRequest, false
	}
	r.lifetime = binary.BigEndian.Uint32(b[4:])
	r.client = addr16(b[8:24])

	var n int
	switch r.opcode {
	case opAnnounce:
	case opMap:
		n = pcpMapLen
	case opPeer:
		n = pcpPeerLen
	default:
		return r, PCPUnsuppOpcode, false
	}
	if len(b) < pcpHeaderLen+n {
		return r, PCPMalformedRequest, false
	}
	if n > 0 {
		p := b[pcpHeaderLen:]
		copy(r.nonce[:], p[:12])
		r.proto = p[12]
		r.internalPort = binary.BigEndian.Uint16(p[16:])
		r.extPort = binary.BigEndian.Uint16(p[18:])
		r.extAddr = addr16(p[20:36])
		if r.opcode == opPeer {
			r.peerPort = binary.BigEndian.Uint16(p[36:])
			r.peerAddr = addr16(p[40:56])
		}
	}
	return r, parsePCPOptions(&r, b[pcpHeaderLen+n:]), false
}

// parsePCPOptions walks the options (§7.3). Known options are checked for
// length, count and opcode; unknown mandatory ones (code < 128) are
// UNSUPP_OPTION, unknown optional ones are skipped.
func parsePCPOptions(r *pcpRequest, b []byte) int {
	for len(b) > 0 {
		if len(b) < 4 {
			return PCPMalformedOption
		}
		code := b[0]
		olen := int(binary.BigEndian.Uint16(b[2:]))
		padded := (olen + 3) &^ 3
		if 4+padded > len(b) {
			return PCPMalformedOption
		}
		data := b[4 : 4+olen]
		raw := b[:4+padded]
		b = b[4+padded:]
		switch code {
		case optThirdParty:
			if olen != 16 || r.thirdParty.IsValid() || r.opcode == opAnnounce {
				return PCPMalformedOption
			}
			r.thirdParty = addr16(data)
		case optPreferFailure:
			if olen != 0 || r.preferFailure || r.opcode != opMap {
				return PCPMalformedOption
			}
			r.preferFailure = true
		case optFilter:
			if olen != 20 || r.opcode != opMap {
				return PCPMalformedOption
			}
			f, ok := parseFilter(data)
			if !ok {
				return PCPMalformedOption
			}
			r.filters = append(r.filters, f)
		default:
			if code < 128 {
				return PCPUnsuppOption
			}
			continue
		}
		r.echo = append(r.echo, raw...)
	}
	return 0
}

// parseFilter decodes a FILTER option's data: reserved, prefix length, port,
// address (§13.3 with erratum 3891: IPv4 prefixes 97..128, IPv6 1..128, and 0
// meaning "remove all filters").
func parseFilter(d []byte) (Filter, bool) {
	plen := int(d[1])
	port := binary.BigEndian.Uint16(d[2:])
	raw := netip.AddrFrom16([16]byte(d[4:20]))
	if plen == 0 {
		return Filter{Port: port}, true
	}
	if raw.Is4In6() {
		if plen < 97 || plen > 128 {
			return Filter{}, false
		}
		p, err := raw.Unmap().Prefix(plen - 96)
		return Filter{Remote: p, Port: port}, err == nil
	}
	if plen > 128 {
		return Filter{}, false
	}
	p, err := raw.Prefix(plen)
	return Filter{Remote: p, Port: port}, err == nil
}

// addr16 decodes a 128-bit address field, unmapping IPv4-mapped addresses.
func addr16(b []byte) netip.Addr {
	return netip.AddrFrom16([16]byte(b[:16])).Unmap()
}

// put16 encodes a as a 128-bit address field (IPv4 as IPv4-mapped).
func put16(b []byte, a netip.Addr) {
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	x := a.As16() // IPv4 comes out IPv4-mapped
	copy(b, x[:])
}

// pcpHeader fills the 24-byte response header.
func pcpHeader(b []byte, opcode uint8, code int, lifetime, epoch uint32) {
	b[0] = pcpVersion
	b[1] = 0x80 | opcode
	b[2] = 0
	b[3] = byte(code)
	binary.BigEndian.PutUint32(b[4:], lifetime)
	binary.BigEndian.PutUint32(b[8:], epoch)
	clear(b[12:24])
}

// pcpHeaderOnly is a bare 24-byte response.
func pcpHeaderOnly(opcode uint8, code int, lifetime, epoch uint32) []byte {
	b := make([]byte, pcpHeaderLen)
	pcpHeader(b, opcode&0x7f, code, lifetime, epoch)
	return b
}

// pcpErrorReply answers a request with an error: the request is copied (up
// to 1100 bytes, whole 32-bit words, at least a header) so the client can
// match it, and the header is rewritten as a response (§8.3, §7.2).
func pcpErrorReply(req []byte, opcode uint8, code int, lifetime, epoch uint32) []byte {
	n := min(len(req), pcpMaxLen) &^ 3
	if code == PCPUnsuppVersion || n < pcpHeaderLen {
		n = pcpHeaderLen
	}
	b := make([]byte, n)
	copy(b, req[:min(len(req), n)])
	pcpHeader(b, opcode&0x7f, code, lifetime, epoch)
	return b
}

// pcpErrorLifetime is how long an error is expected to last: miniupnpd's
// 30 s for the short-lived errors, 0 otherwise.
func pcpErrorLifetime(code int) uint32 {
	switch code {
	case PCPNetworkFailure, PCPNoResources, PCPUserExQuota:
		return 30
	}
	return 0
}

// pcpMapReply builds a MAP or PEER success response.
func pcpMapReply(r *pcpRequest, lifetime, epoch uint32, ext netip.AddrPort) []byte {
	n := pcpMapLen
	if r.opcode == opPeer {
		n = pcpPeerLen
	}
	b := make([]byte, pcpHeaderLen+n, pcpHeaderLen+n+len(r.echo))
	pcpHeader(b, r.opcode, PCPSuccess, lifetime, epoch)
	p := b[pcpHeaderLen:]
	copy(p, r.nonce[:])
	p[12] = r.proto
	binary.BigEndian.PutUint16(p[16:], r.internalPort)
	binary.BigEndian.PutUint16(p[18:], ext.Port())
	put16(p[20:36], ext.Addr())
	if r.opcode == opPeer {
		binary.BigEndian.PutUint16(p[36:], r.peerPort)
		put16(p[40:56], r.peerAddr)
	}
	return append(b, r.echo...)
}

// pcpAnnounce is the unsolicited ANNOUNCE response (§14.1).
func pcpAnnounce(epoch uint32) []byte {
	return pcpHeaderOnly(opAnnounce, PCPSuccess, 0, epoch)
}

// pcpWrongNonce returns a copy of a MAP/PEER success reply with the nonce
// flipped and the decoy address and port, or nil for other replies.
func pcpWrongNonce(reply []byte) []byte {
	if len(reply) < pcpHeaderLen+pcpMapLen || reply[3] != PCPSuccess {
		return nil
	}
	if op := reply[1] & 0x7f; op != opMap && op != opPeer {
		return nil
	}
	b := pcpDecoy(append([]byte(nil), reply...))
	for i := pcpHeaderLen; i < pcpHeaderLen+12; i++ {
		b[i] ^= 0xff
	}
	return b
}

// pcpDecoy rewrites a MAP/PEER reply in place to report DecoyExternalAddr
// and DecoyPort; other replies are returned unchanged.
func pcpDecoy(b []byte) []byte {
	if len(b) >= pcpHeaderLen+pcpMapLen {
		if op := b[1] & 0x7f; op == opMap || op == opPeer {
			binary.BigEndian.PutUint16(b[pcpHeaderLen+18:], DecoyPort)
			put16(b[pcpHeaderLen+20:pcpHeaderLen+36], DecoyExternalAddr)
		}
	}
	return b
}

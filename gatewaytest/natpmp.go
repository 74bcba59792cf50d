package gatewaytest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// NAT-PMP (RFC 6886) result codes.
const (
	NATPMPSuccess            = 0
	NATPMPUnsupportedVersion = 1
	NATPMPNotAuthorized      = 2
	NATPMPNetworkFailure     = 3
	NATPMPOutOfResources     = 4
	NATPMPUnsupportedOpcode  = 5
)

// natpmpRequest is a parsed NAT-PMP request.
type natpmpRequest struct {
	op           uint8 // 0 external address, 1 UDP, 2 TCP
	internalPort uint16
	suggested    uint16
	lifetime     uint32
}

// parseNATPMP parses a version-0 request. ok is false for datagrams a
// gateway drops without answering: runts, responses (opcode ≥ 128), and map
// requests shorter than their 12 bytes (nothing to echo). Unknown opcodes
// parse; the caller answers them with result 5.
func parseNATPMP(b []byte) (r natpmpRequest, ok bool) {
	if len(b) < 2 || b[0] != 0 || b[1] >= 128 {
		return r, false
	}
	r.op = b[1]
	if r.op == 1 || r.op == 2 {
		if len(b) < 12 {
			return r, false
		}
		// b[2:4] is reserved; RFC 6886 says to ignore it.
		r.internalPort = binary.BigEndian.Uint16(b[4:])
		r.suggested = binary.BigEndian.Uint16(b[6:])
		r.lifetime = binary.BigEndian.Uint32(b[8:])
	}
	return r, true
}

// natpmpProto maps the opcode to the table's protocol name.
func natpmpProto(op uint8) string {
	if op == 1 {
		return "UDP"
	}
	return "TCP"
}

// handleNATPMP answers one version-0 datagram.
func (g *Gateway) handleNATPMP(pkt []byte, from netip.AddrPort) []byte {
	req, ok := parseNATPMP(pkt)
	if !ok {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.requests[NATPMP]++
	if g.st.silent[NATPMP] || (g.st.mapQuiet[NATPMP] && (req.op == 1 || req.op == 2)) {
		return nil
	}
	now := g.cfg.Now()
	g.st.table.prune(now)
	epoch := g.st.epoch(now)

	if g.cfg.DisableNATPMP {
		// A PCP-only server: UNSUPP_VERSION in PCP format. Its result byte
		// sits where a NAT-PMP client reads the low byte of its result.
		return pcpHeaderOnly(req.op, pcpUnsuppVersion, 0, epoch)
	}
	if !from.Addr().Is4() {
		return nil
	}
	if code := g.st.result[NATPMP]; code != 0 && (req.op == 1 || req.op == 2) {
		g.log.Debug("natpmp forced result", "op", req.op, "code", code)
		return natpmpReply(req, uint16(code), epoch, [4]byte{}, 0, 0)
	}
	switch req.op {
	case 0:
		code := uint16(NATPMPSuccess)
		if !g.st.hasExternal() {
			code = NATPMPNetworkFailure
		}
		return natpmpReply(req, code, epoch, g.st.ext4(), 0, 0)
	case 1, 2:
		code, port, life := g.natpmpMap(req, from.Addr(), now)
		g.log.Debug("natpmp map", "from", from, "op", req.op, "internal", req.internalPort,
			"suggested", req.suggested, "lifetime", req.lifetime, "code", code, "external", port)
		return natpmpReply(req, code, epoch, [4]byte{}, port, life)
	default:
		return natpmpReply(req, NATPMPUnsupportedOpcode, epoch, [4]byte{}, 0, 0)
	}
}

// natpmpMap creates, renews or deletes a mapping (RFC 6886 §3.3, §3.4).
// The caller holds g.mu.
func (g *Gateway) natpmpMap(req natpmpRequest, client netip.Addr, now time.Time) (code uint16, port uint16, lifetime uint32) {
	proto := natpmpProto(req.op)
	t := &g.st.table
	if req.lifetime == 0 {
		return g.natpmpDelete(req, client, proto), 0, 0
	}
	if req.internalPort == 0 {
		// Internal port 0 only means "all" on a delete.
		return NATPMPNotAuthorized, 0, 0
	}
	if !g.st.hasExternal() {
		return NATPMPNetworkFailure, 0, 0
	}
	life := time.Duration(req.lifetime) * time.Second
	// A mapping for the same internal endpoint is renewed in place, keeping
	// its external port whatever the request suggests (§3.3).
	if m := t.find(func(m *Mapping) bool {
		return m.Method == NATPMP && m.Protocol == proto && m.InternalAddr == client && m.InternalPort == req.internalPort
	}); m != nil {
		m.Lifetime, m.Expires = life, expiry(now, life)
		t.renew(m, NATPMP)
		return NATPMPSuccess, m.ExternalPort, req.lifetime
	}
	if t.full() {
		return NATPMPOutOfResources, 0, 0
	}
	ext, ok := t.allocate(proto, req.suggested, client, req.internalPort)
	if !ok {
		return NATPMPOutOfResources, 0, 0
	}
	t.add(&Mapping{
		Method:       NATPMP,
		Protocol:     proto,
		ExternalPort: ext,
		InternalAddr: client,
		InternalPort: req.internalPort,
		Description:  fmt.Sprintf("NAT-PMP %d %s", ext, lower(proto)),
		Enabled:      true,
		Lifetime:     life,
		Expires:      expiry(now, life),
	}, NATPMP)
	return NATPMPSuccess, ext, req.lifetime
}

// natpmpDelete removes the client's NAT-PMP mappings for the internal port,
// or all of them for this opcode when the port is 0. Deleting nothing
// succeeds; a manual entry for that port is refused (§3.4).
func (g *Gateway) natpmpDelete(req natpmpRequest, client netip.Addr, proto string) uint16 {
	t := &g.st.table
	if req.internalPort != 0 && t.find(func(m *Mapping) bool {
		return m.Method == Manual && m.Protocol == proto && m.InternalAddr == client && m.InternalPort == req.internalPort
	}) != nil {
		return NATPMPNotAuthorized
	}
	t.remove(func(m *Mapping) bool {
		return m.Method == NATPMP && m.Protocol == proto && m.InternalAddr == client &&
			(req.internalPort == 0 || m.InternalPort == req.internalPort)
	}, NATPMP)
	return NATPMPSuccess
}

// natpmpReply builds a reply of the size the opcode calls for: 12 bytes for
// opcode 0, 16 for a map, 8 for an unknown opcode or unsupported version.
func natpmpReply(req natpmpRequest, code uint16, epoch uint32, addr [4]byte, port uint16, lifetime uint32) []byte {
	n := 8
	switch {
	case code == NATPMPUnsupportedVersion || code == NATPMPUnsupportedOpcode:
	case req.op == 0:
		n = 12
	case req.op == 1 || req.op == 2:
		n = 16
	}
	b := make([]byte, n)
	b[1] = 128 + req.op
	binary.BigEndian.PutUint16(b[2:], code)
	binary.BigEndian.PutUint32(b[4:], epoch)
	switch n {
	case 12:
		copy(b[8:], addr[:])
	case 16:
		binary.BigEndian.PutUint16(b[8:], req.internalPort)
		binary.BigEndian.PutUint16(b[10:], port)
		binary.BigEndian.PutUint32(b[12:], lifetime)
	}
	return b
}

// natpmpUnsupportedVersion is the 8-byte reply a NAT-PMP-only gateway sends
// to a PCP request (RFC 6886 §3.5, RFC 6887 §9). Like miniupnpd it echoes
// 128+opcode.
func natpmpUnsupportedVersion(op uint8, epoch uint32) []byte {
	return natpmpReply(natpmpRequest{op: op & 0x7f}, NATPMPUnsupportedVersion, epoch, [4]byte{}, 0, 0)
}

// natpmpAnnouncement is the 12-byte unsolicited opcode-0 reply (§3.2.1).
func natpmpAnnouncement(epoch uint32, addr [4]byte) []byte {
	return natpmpReply(natpmpRequest{op: 0}, NATPMPSuccess, epoch, addr, 0, 0)
}

// natpmpDecoy rewrites a NAT-PMP reply to report DecoyExternalAddr or
// DecoyPort.
func natpmpDecoy(b []byte) []byte {
	switch len(b) {
	case 12:
		a := DecoyExternalAddr.As4()
		copy(b[8:], a[:])
	case 16:
		binary.BigEndian.PutUint16(b[10:], DecoyPort)
	}
	return b
}

func lower(proto string) string {
	if proto == "UDP" {
		return "udp"
	}
	return "tcp"
}

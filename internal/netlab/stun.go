//go:build linux

package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// STUN wire format, the subset a RFC 3489 / RFC 5389 Binding responder needs.
// miniupnpd's ext_perform_stun sends four Binding Requests, each carrying a
// CHANGE-REQUEST attribute (none, change port, change IP, change both), and
// adopts the mapped address only if all four come back with the same address and
// the request's own source port.

const (
	stunHeaderLen = 20
	// stunMaxMessage bounds what the responder reads and parses. A Binding
	// Request from miniupnpd is 28 bytes; 548 is RFC 3489's minimum MTU bound.
	stunMaxMessage = 548

	stunBindingRequest  = 0x0001
	stunBindingResponse = 0x0101

	stunMagicCookie = 0x2112A442

	attrMappedAddress    = 0x0001
	attrChangeRequest    = 0x0003
	attrSourceAddress    = 0x0004
	attrChangedAddress   = 0x0005
	attrXORMappedAddress = 0x0020

	changeIPFlag   = 0x4
	changePortFlag = 0x2
)

// errSTUN marks a packet the responder drops instead of answering.
var errSTUN = errors.New("netlab: not a STUN binding request")

// stunRequest is a parsed Binding Request.
type stunRequest struct {
	// id is the 16 bytes after type and length: the RFC 5389 magic cookie plus
	// the 96-bit transaction ID, or RFC 3489's 128-bit transaction ID. The
	// response echoes it unchanged.
	id         [16]byte
	changeIP   bool
	changePort bool
}

// rfc5389 reports whether the request carries the magic cookie, which makes the
// responder add XOR-MAPPED-ADDRESS.
func (r stunRequest) rfc5389() bool {
	return binary.BigEndian.Uint32(r.id[:4]) == stunMagicCookie
}

// parseSTUNRequest checks that b is one well-formed Binding Request and returns
// it. It rejects anything else (responses, indications, other methods, bad
// lengths, truncated or unknown comprehension-required attributes).
func parseSTUNRequest(b []byte) (stunRequest, error) {
	var req stunRequest
	if len(b) < stunHeaderLen || len(b) > stunMaxMessage {
		return req, fmt.Errorf("%w: length %d", errSTUN, len(b))
	}
	if t := binary.BigEndian.Uint16(b[0:2]); t != stunBindingRequest {
		return req, fmt.Errorf("%w: message type %#04x", errSTUN, t)
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n%4 != 0 || stunHeaderLen+n != len(b) {
		return req, fmt.Errorf("%w: length field %d for %d bytes", errSTUN, n, len(b))
	}
	copy(req.id[:], b[4:20])
	seenChange := false
	for rest := b[stunHeaderLen:]; len(rest) > 0; {
		if len(rest) < 4 {
			return req, fmt.Errorf("%w: truncated attribute header", errSTUN)
		}
		typ := binary.BigEndian.Uint16(rest[0:2])
		alen := int(binary.BigEndian.Uint16(rest[2:4]))
		padded := (alen + 3) &^ 3
		if 4+padded > len(rest) {
			return req, fmt.Errorf("%w: attribute %#04x overruns the message", errSTUN, typ)
		}
		val := rest[4 : 4+alen]
		switch {
		case typ == attrChangeRequest:
			if alen != 4 || seenChange {
				return req, fmt.Errorf("%w: bad CHANGE-REQUEST", errSTUN)
			}
			seenChange = true
			flags := binary.BigEndian.Uint32(val)
			req.changeIP = flags&changeIPFlag != 0
			req.changePort = flags&changePortFlag != 0
		case typ >= 0x8000:
			// Comprehension-optional (SOFTWARE, FINGERPRINT, ...): ignored.
		default:
			// RFC 5389 §7.3.1 would answer 420; a lab responder just drops.
			return req, fmt.Errorf("%w: unknown attribute %#04x", errSTUN, typ)
		}
		rest = rest[4+padded:]
	}
	return req, nil
}

// stunResponse is what the responder puts into a Binding Response.
type stunResponse struct {
	mapped  netip.AddrPort // where the request came from
	source  netip.AddrPort // the address the response is sent from (RFC 3489 SOURCE-ADDRESS)
	changed netip.AddrPort // the alternate IP and port (RFC 3489 CHANGED-ADDRESS)
}

// appendSTUNResponse appends the Binding Response to req to dst. Addresses that
// are not valid are left out; MAPPED-ADDRESS comes first, then
// XOR-MAPPED-ADDRESS when the request had the RFC 5389 magic cookie.
func appendSTUNResponse(dst []byte, req stunRequest, resp stunResponse) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, stunBindingResponse)
	dst = binary.BigEndian.AppendUint16(dst, 0) // patched below
	dst = append(dst, req.id[:]...)
	dst = appendAddrAttr(dst, attrMappedAddress, resp.mapped, nil)
	if req.rfc5389() {
		dst = appendAddrAttr(dst, attrXORMappedAddress, resp.mapped, req.id[:])
	}
	if resp.source.IsValid() {
		dst = appendAddrAttr(dst, attrSourceAddress, resp.source, nil)
	}
	if resp.changed.IsValid() {
		dst = appendAddrAttr(dst, attrChangedAddress, resp.changed, nil)
	}
	binary.BigEndian.PutUint16(dst[start+2:], uint16(len(dst)-start-stunHeaderLen))
	return dst
}

// appendAddrAttr appends an address attribute. With xorKey (cookie plus
// transaction ID) the port and address are XORed as RFC 5389 §15.2 says.
func appendAddrAttr(dst []byte, typ uint16, ap netip.AddrPort, xorKey []byte) []byte {
	if !ap.IsValid() {
		return dst
	}
	addr := ap.Addr().Unmap()
	family, alen := byte(1), 4
	if addr.Is6() {
		family, alen = 2, 16
	}
	dst = binary.BigEndian.AppendUint16(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, uint16(4+alen))
	port := ap.Port()
	raw := addr.AsSlice()
	if xorKey != nil {
		port ^= binary.BigEndian.Uint16(xorKey[0:2])
		for i := range raw {
			raw[i] ^= xorKey[i]
		}
	}
	dst = append(dst, 0, family)
	dst = binary.BigEndian.AppendUint16(dst, port)
	return append(dst, raw...)
}

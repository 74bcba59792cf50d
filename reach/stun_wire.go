package reach

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/upnpmap/upnpmap/internal/safetext"
)

// STUN wire facts (RFC 8489, RFC 5780, RFC 3489 for cookie-less clients).
const (
	stunHeaderLen = 20
	// stunMaxMessage bounds what is read and parsed: 548 bytes is the
	// smallest MTU-derived limit RFC 3489 states, and Binding messages are
	// far smaller.
	stunMaxMessage = 548
	stunCookie     = 0x2112A442

	stunBindingRequest  = 0x0001
	stunBindingSuccess  = 0x0101
	stunBindingError    = 0x0111
	attrMappedAddress   = 0x0001
	attrChangeRequest   = 0x0003
	attrErrorCode       = 0x0009
	attrUnknownAttrs    = 0x000A
	attrXORMapped       = 0x0020
	attrPadding         = 0x0026
	attrResponsePort    = 0x0027
	attrResponseOrigin  = 0x802B
	attrOtherAddress    = 0x802C
	changeIPFlag        = 0x4
	changePortFlag      = 0x2
	stunFamilyIPv4      = 1
	stunFamilyIPv6      = 2
	stunComprehensionOK = 0x8000 // attribute types at or above are optional
)

// stunTxID is the 16 bytes after type and length: the magic cookie and the
// 96-bit transaction ID, or RFC 3489's 128-bit ID.
type stunTxID [16]byte

func (id stunTxID) rfc5389() bool { return binary.BigEndian.Uint32(id[:4]) == stunCookie }

// isSTUN reports whether b looks like a STUN message (top two bits zero and a
// plausible length); it says nothing of its validity.
func isSTUN(b []byte) bool { return len(b) >= stunHeaderLen && b[0]&0xC0 == 0 }

// stunBinding is a parsed Binding Request.
type stunBinding struct {
	id           stunTxID
	changeIP     bool
	changePort   bool
	responsePort uint16 // 0: none
	hasRespPort  bool
	unknown      []uint16 // comprehension-required attributes we do not know
}

// stunAttrs walks the attributes of a message body, calling f for each. It
// fails on a truncated or overrunning attribute.
func stunAttrs(body []byte, f func(typ uint16, val []byte) error) error {
	for len(body) > 0 {
		if len(body) < 4 {
			return fmt.Errorf("truncated attribute header")
		}
		typ := binary.BigEndian.Uint16(body[0:2])
		n := int(binary.BigEndian.Uint16(body[2:4]))
		padded := (n + 3) &^ 3
		if 4+padded > len(body) {
			return fmt.Errorf("attribute %#04x overruns the message", typ)
		}
		if err := f(typ, body[4:4+n]); err != nil {
			return err
		}
		body = body[4+padded:]
	}
	return nil
}

// stunFrame checks the header common to every STUN message and returns the
// type, transaction ID and body.
func stunFrame(b []byte) (uint16, stunTxID, []byte, error) {
	var id stunTxID
	if len(b) < stunHeaderLen || len(b) > stunMaxMessage {
		return 0, id, nil, fmt.Errorf("length %d", len(b))
	}
	t := binary.BigEndian.Uint16(b[0:2])
	if t&0xC000 != 0 {
		return 0, id, nil, fmt.Errorf("not STUN: first bits set")
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n%4 != 0 || stunHeaderLen+n != len(b) {
		return 0, id, nil, fmt.Errorf("length field %d for %d bytes", n, len(b))
	}
	copy(id[:], b[4:20])
	return t, id, b[stunHeaderLen:], nil
}

// parseSTUNBinding checks that b is one well-formed Binding Request. Unknown
// comprehension-required attributes do not fail the parse: they are listed,
// for a 420 answer.
func parseSTUNBinding(b []byte) (stunBinding, error) {
	var r stunBinding
	t, id, body, err := stunFrame(b)
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if t != stunBindingRequest {
		return r, fmt.Errorf("%w: STUN message type %#04x", ErrBadRequest, t)
	}
	r.id = id
	seenChange := false
	err = stunAttrs(body, func(typ uint16, val []byte) error {
		switch {
		case typ == attrChangeRequest:
			if len(val) != 4 || seenChange {
				return fmt.Errorf("bad CHANGE-REQUEST")
			}
			seenChange = true
			flags := binary.BigEndian.Uint32(val)
			r.changeIP = flags&changeIPFlag != 0
			r.changePort = flags&changePortFlag != 0
		case typ == attrResponsePort:
			if len(val) != 4 || r.hasRespPort {
				return fmt.Errorf("bad RESPONSE-PORT")
			}
			r.hasRespPort = true
			r.responsePort = binary.BigEndian.Uint16(val)
		case typ == attrPadding:
			// RFC 5780 §7.6: a client pads to get bigger answers; the
			// server ignores the content.
		case typ >= stunComprehensionOK:
			// SOFTWARE, FINGERPRINT and friends: optional, ignored.
		default:
			if len(r.unknown) < 8 {
				r.unknown = append(r.unknown, typ)
			}
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return r, nil
}

// appendSTUNAddr appends an address attribute; with xor it is XOR-encoded with
// the transaction ID as RFC 8489 §14.2 says.
func appendSTUNAddr(dst []byte, typ uint16, ap netip.AddrPort, id *stunTxID) []byte {
	addr := ap.Addr().Unmap()
	family, raw := byte(stunFamilyIPv4), addr.AsSlice()
	if addr.Is6() {
		family = stunFamilyIPv6
	}
	port := ap.Port()
	if id != nil {
		port ^= uint16(stunCookie >> 16)
		for i := range raw {
			raw[i] ^= id[i]
		}
	}
	dst = binary.BigEndian.AppendUint16(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, uint16(4+len(raw)))
	dst = append(dst, 0, family)
	dst = binary.BigEndian.AppendUint16(dst, port)
	return append(dst, raw...)
}

// stunAddrLen is the encoded size of an address attribute for ap.
func stunAddrLen(ap netip.AddrPort) int {
	if ap.Addr().Unmap().Is4() {
		return 12
	}
	return 24
}

// parseSTUNAddr decodes an address attribute value; with id it undoes the
// XOR.
func parseSTUNAddr(val []byte, id *stunTxID) (netip.AddrPort, error) {
	if len(val) < 4 {
		return netip.AddrPort{}, fmt.Errorf("address attribute of %d bytes", len(val))
	}
	port := binary.BigEndian.Uint16(val[2:4])
	raw := append([]byte(nil), val[4:]...)
	switch {
	case val[1] == stunFamilyIPv4 && len(raw) == 4:
	case val[1] == stunFamilyIPv6 && len(raw) == 16:
	default:
		return netip.AddrPort{}, fmt.Errorf("address family %d with %d bytes", val[1], len(raw))
	}
	if id != nil {
		port ^= uint16(stunCookie >> 16)
		for i := range raw {
			raw[i] ^= id[i]
		}
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, port), nil
}

// stunReply is what a Binding success response carries.
type stunReply struct {
	mapped netip.AddrPort // XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS
	origin netip.AddrPort // RESPONSE-ORIGIN
	other  netip.AddrPort // OTHER-ADDRESS
}

// parseSTUNResponse checks that b answers the request with transaction ID id
// and returns its addresses; an error response becomes a *STUNError.
func parseSTUNResponse(b []byte, id stunTxID) (stunReply, error) {
	var r stunReply
	t, got, body, err := stunFrame(b)
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	if got != id {
		return r, fmt.Errorf("%w: transaction ID does not match", ErrBadAnswer)
	}
	var xor, plain netip.AddrPort
	var serr *STUNError
	err = stunAttrs(body, func(typ uint16, val []byte) error {
		var err error
		switch typ {
		case attrXORMapped:
			xor, err = parseSTUNAddr(val, &id)
		case attrMappedAddress:
			plain, err = parseSTUNAddr(val, nil)
		case attrResponseOrigin:
			r.origin, err = parseSTUNAddr(val, nil)
		case attrOtherAddress:
			r.other, err = parseSTUNAddr(val, nil)
		case attrErrorCode:
			if len(val) < 4 {
				return fmt.Errorf("ERROR-CODE of %d bytes", len(val))
			}
			code := int(val[2]&7)*100 + int(val[3])
			serr = &STUNError{Code: code, Reason: safetext.Clean(string(val[4:]), safetext.Short)}
		}
		return err
	})
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	switch t {
	case stunBindingSuccess:
	case stunBindingError:
		if serr == nil {
			return r, fmt.Errorf("%w: error response without ERROR-CODE", ErrBadAnswer)
		}
		return r, serr
	default:
		return r, fmt.Errorf("%w: STUN message type %#04x", ErrBadAnswer, t)
	}
	r.mapped = xor
	if !r.mapped.IsValid() {
		r.mapped = plain
	}
	if !r.mapped.IsValid() {
		return r, fmt.Errorf("%w: no mapped address", ErrBadAnswer)
	}
	return r, nil
}

// appendSTUNHeader starts a message; finishSTUN patches its length.
func appendSTUNHeader(dst []byte, typ uint16, id stunTxID) []byte {
	dst = binary.BigEndian.AppendUint16(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, 0)
	return append(dst, id[:]...)
}

func finishSTUN(b []byte, start int) []byte {
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start-stunHeaderLen))
	return b
}

// appendSTUNError appends an error response with code, reason and, for 420,
// the unknown attributes.
func appendSTUNError(dst []byte, id stunTxID, code int, reason string, unknown []uint16) []byte {
	start := len(dst)
	dst = appendSTUNHeader(dst, stunBindingError, id)
	n := 4 + len(reason)
	dst = binary.BigEndian.AppendUint16(dst, attrErrorCode)
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	dst = append(dst, 0, 0, byte(code/100), byte(code%100))
	dst = append(dst, reason...)
	for ; n%4 != 0; n++ {
		dst = append(dst, 0)
	}
	if len(unknown) > 0 {
		dst = binary.BigEndian.AppendUint16(dst, attrUnknownAttrs)
		dst = binary.BigEndian.AppendUint16(dst, uint16(2*len(unknown)))
		for _, u := range unknown {
			dst = binary.BigEndian.AppendUint16(dst, u)
		}
		if len(unknown)%2 == 1 {
			dst = append(dst, 0, 0)
		}
	}
	return finishSTUN(dst, start)
}

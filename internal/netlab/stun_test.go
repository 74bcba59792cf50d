//go:build linux

package netlab

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// miniupnpdRequest builds the request miniupnpd's fill_request sends: a
// Binding Request with the RFC 5389 cookie and one CHANGE-REQUEST attribute.
func miniupnpdRequest(id [12]byte, changeIP, changePort bool) []byte {
	b := []byte{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42}
	b = append(b, id[:]...)
	flags := byte(0)
	if changeIP {
		flags |= 4
	}
	if changePort {
		flags |= 2
	}
	return append(b, 0x00, 0x03, 0x00, 0x04, 0, 0, 0, flags)
}

// decodedResponse is a Binding Response taken apart by decodeResponse.
type decodedResponse struct {
	id                      [16]byte
	mapped, xorMapped       netip.AddrPort
	sourceAddr, changedAddr netip.AddrPort
}

// decodeResponse is the client side, written separately from the responder
// (it XORs the way RFC 5389 §15.2 says, as miniupnpd's parse_stun_response
// does), so that the tests check the encoding rather than echo it.
func decodeResponse(b []byte) (decodedResponse, error) {
	var r decodedResponse
	if len(b) < 20 || binary.BigEndian.Uint16(b) != 0x0101 {
		return r, errors.New("not a Binding Response")
	}
	if int(binary.BigEndian.Uint16(b[2:]))+20 != len(b) {
		return r, errors.New("length field mismatch")
	}
	copy(r.id[:], b[4:20])
	for p := b[20:]; len(p) >= 4; {
		typ, n := binary.BigEndian.Uint16(p), int(binary.BigEndian.Uint16(p[2:]))
		if 4+n > len(p) || n != 8 || p[5] != 1 {
			return r, fmt.Errorf("attribute %#04x: bad length %d or family", typ, n)
		}
		port := binary.BigEndian.Uint16(p[6:])
		ip := [4]byte(p[8:12])
		if typ == 0x0020 {
			port ^= 0x2112
			for i := range ip {
				ip[i] ^= b[4+i]
			}
		}
		ap := netip.AddrPortFrom(netip.AddrFrom4(ip), port)
		switch typ {
		case 0x0001:
			r.mapped = ap
		case 0x0020:
			r.xorMapped = ap
		case 0x0004:
			r.sourceAddr = ap
		case 0x0005:
			r.changedAddr = ap
		default:
			return r, fmt.Errorf("unexpected attribute %#04x", typ)
		}
		p = p[4+n:]
	}
	return r, nil
}

func TestParseSTUNRequestMiniupnpd(t *testing.T) {
	id := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	for i := range 4 {
		changeIP, changePort := i/2 == 1, i%2 == 1 // miniupnpd: fill_request(i/2, i%2)
		req, err := parseSTUNRequest(miniupnpdRequest(id, changeIP, changePort))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if req.changeIP != changeIP || req.changePort != changePort || !req.rfc5389() {
			t.Fatalf("request %d: got changeIP=%v changePort=%v rfc5389=%v", i, req.changeIP, req.changePort, req.rfc5389())
		}
		if !bytes.Equal(req.id[4:], id[:]) {
			t.Fatalf("request %d: transaction id %x", i, req.id)
		}
	}
}

func TestParseSTUNRequestRejects(t *testing.T) {
	good := miniupnpdRequest([12]byte{}, true, false)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string][]byte{
		"empty":              nil,
		"header only, short": good[:19],
		"response type":      mod(func(b []byte) []byte { b[1] = 0x01; b[0] = 0x01; return b }),
		"indication":         mod(func(b []byte) []byte { b[1] = 0x11; return b }),
		"length too long":    mod(func(b []byte) []byte { b[3] = 12; return b }),
		"length not x4":      mod(func(b []byte) []byte { b[3] = 6; return b[:26] }),
		"truncated attr":     mod(func(b []byte) []byte { b[23] = 8; return b }),
		"change-request len": mod(func(b []byte) []byte { b[23] = 0; b[3] = 4; return b[:24] }),
		"unknown required":   mod(func(b []byte) []byte { b[21] = 0x06; return b }), // USERNAME
		"two change-requests": mod(func(b []byte) []byte {
			b = append(b, b[20:28]...)
			b[3] = 16
			return b
		}),
		"oversize": append(mod(func(b []byte) []byte { b[2], b[3] = 0x02, 0x44; return b }), make([]byte, 572)...), // 600 bytes
	}
	for name, b := range cases {
		if _, err := parseSTUNRequest(b); !errors.Is(err, errSTUN) {
			t.Errorf("%s: err = %v, want errSTUN", name, err)
		}
	}
}

func TestParseSTUNRequestOptionalAttrs(t *testing.T) {
	// RFC 3489 style (no cookie), no CHANGE-REQUEST, plus a SOFTWARE attribute
	// whose value needs padding.
	b := []byte{0x00, 0x01, 0x00, 0x08}
	b = append(b, bytes.Repeat([]byte{0xAB}, 16)...)
	b = append(b, 0x80, 0x22, 0x00, 0x03, 'l', 'a', 'b', 0)
	req, err := parseSTUNRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if req.rfc5389() || req.changeIP || req.changePort {
		t.Fatalf("got %+v", req)
	}
	out := appendSTUNResponse(nil, req, stunResponse{mapped: netip.MustParseAddrPort("1.2.3.4:5")})
	r, err := decodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.xorMapped.IsValid() {
		t.Fatal("XOR-MAPPED-ADDRESS in the answer to an RFC 3489 request")
	}
	if r.mapped != netip.MustParseAddrPort("1.2.3.4:5") || r.id != req.id {
		t.Fatalf("got %+v", r)
	}
}

// TestXORMappedAddressRFC5769 checks the XOR encoding against the sample
// response of RFC 5769 §2.2 (192.0.2.1:32853 -> 0001 a147 e112a643).
func TestXORMappedAddressRFC5769(t *testing.T) {
	var req stunRequest
	copy(req.id[:], mustHex(t, "2112a442b7e7a701bc34d686fa87dfae"))
	out := appendSTUNResponse(nil, req, stunResponse{mapped: netip.MustParseAddrPort("192.0.2.1:32853")})
	want := mustHex(t, "002000080001a147e112a643")
	if !bytes.Contains(out, want) {
		t.Fatalf("response %x lacks XOR-MAPPED-ADDRESS %x", out, want)
	}
	r, err := decodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.mapped != r.xorMapped {
		t.Fatalf("MAPPED %v != XOR-MAPPED %v", r.mapped, r.xorMapped)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseSTUNRequest(f *testing.F) {
	f.Add(miniupnpdRequest([12]byte{}, false, false))
	f.Add(miniupnpdRequest([12]byte{9}, true, true))
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseSTUNRequest(b)
		if err != nil {
			return
		}
		mapped := netip.MustParseAddrPort("1.2.3.4:40000")
		out := appendSTUNResponse(nil, req, stunResponse{
			mapped:  mapped,
			source:  netip.MustParseAddrPort("1.2.3.1:3478"),
			changed: netip.MustParseAddrPort("1.2.3.2:3479"),
		})
		r, err := decodeResponse(out)
		if err != nil {
			t.Fatalf("response to %x does not decode: %v", b, err)
		}
		if r.mapped != mapped || r.id != req.id || (req.rfc5389() && r.xorMapped != mapped) {
			t.Fatalf("response to %x: %+v", b, r)
		}
	})
}

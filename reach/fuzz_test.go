package reach

import (
	"bytes"
	"testing"
)

// The fuzz targets check that no parser panics on any input, and that what
// a parser accepts survives a round trip through its encoder unchanged
// (except for fields the encoder does not carry). Seeds live in
// testdata/fuzz/<target>.

func FuzzParseRequest(f *testing.F) {
	f.Add(appendRequest(nil, request{proto: TCP, port: 80, nonce: Nonce{1, 2, 3}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		if out := appendRequest(nil, r); !bytes.Equal(out, b) {
			t.Fatalf("round trip: %x -> %x", b, out)
		}
	})
}

func FuzzParseAnswer(f *testing.F) {
	f.Add(appendAnswer(nil, answer{proto: UDP, code: CodeOpen, port: 9, nonce: Nonce{7}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAnswer(b)
		if err != nil {
			return
		}
		// An IPv4 address is read from its IPv4-mapped form and written
		// back in it, so any difference is a parser or encoder bug.
		if out := appendAnswer(nil, a); !bytes.Equal(out, b) {
			t.Fatalf("round trip: %x -> %x", b, out)
		}
	})
}

func FuzzParseProbe(f *testing.F) {
	f.Add(appendProbe(nil, probe{proto: TCP, port: 443, nonce: Nonce{9}}, typeProbe), true)
	f.Add(appendProbe(nil, probe{proto: UDP, port: 443, nonce: Nonce{9}}, typeEcho), false)
	f.Fuzz(func(t *testing.T, b []byte, isProbe bool) {
		typ := byte(typeEcho)
		if isProbe {
			typ = typeProbe
		}
		p, err := parseProbe(b, typ)
		if err != nil {
			return
		}
		if out := appendProbe(nil, p, typ); !bytes.Equal(out, b) {
			t.Fatalf("round trip: %x -> %x", b, out)
		}
	})
}

func FuzzParseSTUNBinding(f *testing.F) {
	req, _ := bindingRequest(1, attr(attrChangeRequest, []byte{0, 0, 0, 6}), attr(attrPadding, make([]byte, 8)))
	f.Add(req)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSTUNBinding(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.id[:], b[4:20]) {
			t.Fatal("transaction ID not the message's")
		}
	})
}

func FuzzParseSTUNResponse(f *testing.F) {
	var id stunTxID
	copy(id[:], "\x21\x12\xa4\x42fuzz-fuzz-f")
	ok := finishSTUN(appendSTUNAddr(appendSTUNHeader(nil, stunBindingSuccess, id), attrXORMapped,
		mustAP("203.0.113.7:4000"), &id), 0)
	f.Add(ok)
	f.Add(appendSTUNError(nil, id, 420, "Unknown", []uint16{3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSTUNResponse(b, id)
		if err != nil {
			return
		}
		if !r.mapped.IsValid() {
			t.Fatal("success without a mapped address")
		}
	})
}

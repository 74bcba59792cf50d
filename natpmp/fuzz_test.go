package natpmp

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzParseResponse: any input either fails with ErrMalformed or yields a
// response consistent with the bytes it came from.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 3, 232, 203, 0, 113, 7})
	f.Add([]byte{0, 130, 0, 0, 0, 0, 0, 9, 31, 144, 31, 145, 0, 0, 14, 16})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			if r != nil {
				t.Fatal("both a response and an error")
			}
			return
		}
		if len(b) < 8 || b[0] != 0 {
			t.Fatalf("accepted %x", b)
		}
		if r.Op >= 128 || r.Epoch != binary.BigEndian.Uint32(b[4:8]) {
			t.Fatalf("fields disagree with the bytes: %+v from %x", r, b)
		}
		if r.Result == Success && r.Op == OpExternalAddress {
			if !r.ExternalAddr.Is4() || !bytes.Equal(r.ExternalAddr.AsSlice(), b[8:12]) {
				t.Fatalf("address %v from %x", r.ExternalAddr, b)
			}
		}
		if (r.Err() == nil) != (r.Result == Success) {
			t.Fatalf("Err() = %v for result %d", r.Err(), r.Result)
		}
	})
}

// FuzzParseAnnouncement: only a complete, successful external address
// response is an announcement.
func FuzzParseAnnouncement(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 0, 42, 198, 51, 100, 9})
	f.Add([]byte{0, 128, 0, 3, 0, 0, 0, 42, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAnnouncement(b)
		if err != nil {
			return
		}
		if len(b) < 12 || b[0] != 0 || b[1] != 128 || b[2] != 0 || b[3] != 0 {
			t.Fatalf("accepted %x", b)
		}
		if a.GatewayReset || !a.Addr.Is4() {
			t.Fatalf("bad announcement %+v", a)
		}
	})
}

package pcp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// FuzzParseResponse: any input either fails cleanly or yields a response
// consistent with the bytes and the limits of §7 and §8.3; the option
// accessors never panic.
func FuzzParseResponse(f *testing.F) {
	req, _ := AppendMapRequest(nil, netip.MustParseAddr("192.0.2.10"), &MapRequest{
		Protocol: TCP, InternalPort: 80, Lifetime: time.Hour, Nonce: Nonce{1},
		ThirdParty: netip.MustParseAddr("192.0.2.11"), PreferFailure: true,
		Filters: []Filter{{PrefixLen: 24, Remote: netip.MustParseAddrPort("198.51.100.0:443")}},
	})
	f.Add(respond(req, Success, 3600, 77))
	f.Add(respond(AppendAnnounceRequest(nil, netip.IPv6Loopback()), Success, 0, 1))
	f.Add([]byte{0, 129, 0, 1, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			if r != nil {
				t.Fatal("both a response and an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSpeaksNATPMP) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(b) < headerSize || len(b) > MaxMessageSize || len(b)%4 != 0 || b[1]&0x80 == 0 {
			t.Fatalf("accepted a message §8.3 says to drop: %x", b)
		}
		if r.Version != Version && r.Result != UnsuppVersion {
			t.Fatalf("accepted version %d", r.Version)
		}
		if r.Epoch != binary.BigEndian.Uint32(b[8:12]) || r.Opcode != b[1]&0x7f {
			t.Fatalf("header fields disagree with %x: %+v", b, r)
		}
		if r.Result == Success && (r.Opcode == OpMap || r.Opcode == OpPeer) && !r.HasData {
			t.Fatalf("successful %s without data", opName(r.Opcode))
		}
		total := headerSize
		for _, o := range r.Options {
			total += optionHeaderSize + (len(o.Data)+3)&^3
		}
		if total > len(b) {
			t.Fatalf("options add up to %d of %d bytes", total, len(b))
		}
		r.ThirdParty()
		r.PreferFailure()
		for _, fl := range r.Filters() {
			if fl.Remote.Addr().Is4() && fl.PrefixLen > 32 || fl.PrefixLen > 128 {
				t.Fatalf("filter %+v", fl)
			}
		}
		if (r.Err() == nil) != (r.Result == Success) {
			t.Fatalf("Err() = %v for %v", r.Err(), r.Result)
		}
	})
}

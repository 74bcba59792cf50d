package pcp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func hex16(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestOptionEncoding(t *testing.T) {
	client := netip.MustParseAddr("192.0.2.10")
	nonce := Nonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	header := cat([]byte{2, 1, 0, 0, 0, 0, 0x0e, 0x10}, hex16("::ffff:192.0.2.10"))
	body := cat(nonce[:], []byte{6, 0, 0, 0, 0x1f, 0x90, 0, 0}, hex16("::ffff:0.0.0.0"))
	tests := []struct {
		name string
		req  MapRequest
		opts []byte
	}{
		{"none", MapRequest{}, nil},
		{"third party IPv4", MapRequest{ThirdParty: netip.MustParseAddr("192.0.2.5")},
			cat([]byte{1, 0, 0, 16}, hex16("::ffff:192.0.2.5"))},
		{"third party IPv6", MapRequest{ThirdParty: netip.MustParseAddr("2001:db8::5")},
			cat([]byte{1, 0, 0, 16}, hex16("2001:db8::5"))},
		{"prefer failure", MapRequest{PreferFailure: true}, []byte{2, 0, 0, 0}},
		{"filter IPv4 /24 port 443", MapRequest{Filters: []Filter{{PrefixLen: 24, Remote: netip.MustParseAddrPort("198.51.100.0:443")}}},
			cat([]byte{3, 0, 0, 20, 0, 96 + 24, 0x01, 0xbb}, hex16("::ffff:198.51.100.0"))},
		{"filter IPv6 /32 any port", MapRequest{Filters: []Filter{{PrefixLen: 32, Remote: netip.MustParseAddrPort("[2001:db8::]:0")}}},
			cat([]byte{3, 0, 0, 20, 0, 32, 0, 0}, hex16("2001:db8::"))},
		{"filter host", MapRequest{Filters: []Filter{{PrefixLen: 32, Remote: netip.MustParseAddrPort("198.51.100.7:0")}}},
			cat([]byte{3, 0, 0, 20, 0, 128, 0, 0}, hex16("::ffff:198.51.100.7"))},
		{"no filter", MapRequest{Filters: []Filter{{}}}, cat([]byte{3, 0, 0, 20, 0, 0, 0, 0}, make([]byte, 16))},
		{"all three, in order", MapRequest{
			ThirdParty:    netip.MustParseAddr("192.0.2.5"),
			PreferFailure: true,
			Filters:       []Filter{{PrefixLen: 32, Remote: netip.MustParseAddrPort("198.51.100.7:22")}, {PrefixLen: 0, Remote: netip.MustParseAddrPort("203.0.113.0:0")}},
		}, cat([]byte{1, 0, 0, 16}, hex16("::ffff:192.0.2.5"), []byte{2, 0, 0, 0},
			[]byte{3, 0, 0, 20, 0, 128, 0, 22}, hex16("::ffff:198.51.100.7"),
			[]byte{3, 0, 0, 20, 0, 96, 0, 0}, hex16("::ffff:203.0.113.0"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Protocol, req.InternalPort, req.Lifetime, req.Nonce = TCP, 8080, time.Hour, nonce
			got, err := AppendMapRequest(nil, client, &req)
			if err != nil {
				t.Fatal(err)
			}
			want := cat(header, body, tt.opts)
			if !bytes.Equal(got, want) {
				t.Errorf("\n got % x\nwant % x", got, want)
			}
			if len(got)%4 != 0 || len(got) > MaxMessageSize {
				t.Errorf("request of %d bytes", len(got))
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	client := netip.MustParseAddr("192.0.2.10")
	many := make([]Filter, 50) // 60 + 50·24 bytes > 1100
	for i := range many {
		many[i] = Filter{PrefixLen: 32, Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 0)}
	}
	for name, req := range map[string]MapRequest{
		"IPv4 prefix 33":          {Protocol: TCP, Filters: []Filter{{PrefixLen: 33, Remote: netip.MustParseAddrPort("198.51.100.1:0")}}},
		"IPv6 prefix 129":         {Protocol: TCP, Filters: []Filter{{PrefixLen: 129, Remote: netip.MustParseAddrPort("[2001:db8::1]:0")}}},
		"prefix without address":  {Protocol: TCP, Filters: []Filter{{PrefixLen: 8}}},
		"too many filters":        {Protocol: TCP, Filters: many},
		"all protocols, one port": {Protocol: 0, InternalPort: 80},
	} {
		if _, err := AppendMapRequest(nil, client, &req); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := AppendMapRequest(nil, netip.Addr{}, &MapRequest{Protocol: TCP}); err == nil {
		t.Error("no client address: no error")
	}
	if _, err := AppendPeerRequest(nil, client, &PeerRequest{Protocol: TCP, InternalPort: 1}); err == nil {
		t.Error("PEER without a remote peer: no error")
	}
	// 43 filters fit: 60 + 43·24 = 1092.
	if b, err := AppendMapRequest(nil, client, &MapRequest{Protocol: TCP, Filters: many[:43]}); err != nil || len(b) != 1092 {
		t.Errorf("43 filters: %d bytes, %v", len(b), err)
	}
}

func TestParseResponseOptions(t *testing.T) {
	req, err := AppendMapRequest(nil, netip.MustParseAddr("192.0.2.10"), &MapRequest{
		Protocol: UDP, InternalPort: 9, Lifetime: time.Minute, Nonce: NewNonce(),
		ThirdParty: netip.MustParseAddr("192.0.2.77"), PreferFailure: true,
		Filters: []Filter{{PrefixLen: 24, Remote: netip.MustParseAddrPort("198.51.100.0:443")}, {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// An optional option the client does not know, with padding.
	b := append(respond(req, Success, 60, 5), 200, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0)
	r, err := ParseResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Options) != 5 {
		t.Fatalf("%d options, want 5: %+v", len(r.Options), r.Options)
	}
	if last := r.Options[4]; last.Code != 200 || string(last.Data) != "hello" {
		t.Errorf("unknown option %+v", last)
	}
	if tp, ok := r.ThirdParty(); !ok || tp != netip.MustParseAddr("192.0.2.77") {
		t.Errorf("ThirdParty() = %v, %v", tp, ok)
	}
	if !r.PreferFailure() {
		t.Error("PreferFailure() = false")
	}
	want := []Filter{{PrefixLen: 24, Remote: netip.MustParseAddrPort("198.51.100.0:443")}, {}}
	if got := r.Filters(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Filters() = %+v, want %+v", got, want)
	}
	// Options are copies: the caller's buffer may be reused.
	clear(b)
	if tp, _ := r.ThirdParty(); tp != netip.MustParseAddr("192.0.2.77") {
		t.Error("options alias the input buffer")
	}
}

func TestParseResponseRejects(t *testing.T) {
	ok := respond(AppendAnnounceRequest(nil, netip.MustParseAddr("192.0.2.1")), Success, 0, 1)
	mapReq, _ := AppendMapRequest(nil, netip.MustParseAddr("192.0.2.1"), &MapRequest{Protocol: TCP, InternalPort: 1, Nonce: NewNonce()})
	mapOK := respond(mapReq, Success, 60, 1)
	if _, err := ParseResponse(ok); err != nil {
		t.Fatalf("good ANNOUNCE response: %v", err)
	}
	if _, err := ParseResponse(mapOK); err != nil {
		t.Fatalf("good MAP response: %v", err)
	}
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	for name, b := range map[string][]byte{
		"empty":                   nil,
		"20 bytes":                ok[:20],
		"not a multiple of 4":     append(mod(ok, func(b []byte) []byte { return b }), 0),
		"1104 bytes":              append(mod(ok, func(b []byte) []byte { return b }), make([]byte, 1080)...),
		"request":                 mod(ok, func(b []byte) []byte { b[1] = 0; return b }),
		"version 1":               mod(ok, func(b []byte) []byte { b[0] = 1; return b }),
		"unknown opcode":          mod(ok, func(b []byte) []byte { b[1] = 0x80 | 99; return b }),
		"MAP without its data":    mapOK[:48],
		"option claims 65535":     append(mod(mapOK, func(b []byte) []byte { return b }), 1, 0, 0xff, 0xff),
		"option longer than left": append(mod(mapOK, func(b []byte) []byte { return b }), 1, 0, 0, 16, 0, 0, 0, 0),
		"NAT-PMP announcement":    {0, 128, 0, 0, 0, 0, 0, 1, 192, 0, 2, 1},
	} {
		r, err := ParseResponse(b)
		if !errors.Is(err, ErrMalformed) || r != nil {
			t.Errorf("%s: %+v, %v; want ErrMalformed", name, r, err)
		}
	}
	if _, err := ParseResponse([]byte{0, 128, 0, 1, 0, 0, 0, 0}); !errors.Is(err, ErrSpeaksNATPMP) {
		t.Errorf("NAT-PMP unsupported version: %v", err)
	}
	// Errors may be shorter than a success or carry garbled options: the
	// result code still gets through.
	for name, b := range map[string][]byte{
		"header only":     respond(mapReq[:24], NotAuthorized, 0, 1),
		"garbled options": append(respond(mapReq, NotAuthorized, 0, 1), 9, 0, 1, 0),
		"unknown opcode":  mod(respond(mapReq[:24], UnsuppOpcode, 0, 1), func(b []byte) []byte { b[1] = 0x80 | 99; return b }),
	} {
		r, err := ParseResponse(b)
		if err != nil || r.Err() == nil {
			t.Errorf("%s: %+v, %v; want the error result", name, r, err)
		}
	}
}

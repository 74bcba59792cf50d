package gatewaytest

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

func TestPCPAnnounce(t *testing.T) {
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	clk.Advance(7 * time.Second)
	r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 0, client: c.local()}.bytes()))
	if r.version != 2 || r.opcode != 0 || r.result != PCPSuccess || r.lifetime != 0 || r.epoch != 7 || len(r.raw) != 24 {
		t.Fatalf("announce reply %+v", r)
	}
}

func TestPCPMapRenewDelete(t *testing.T) {
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	req := pcpReq{opcode: 1, lifetime: 3600, client: c.local(), nonce: nonce(1), proto: 6, internal: 8080, extPort: 80}

	r := parsePCPResp(t, c.roundTrip(req.bytes()))
	if r.result != PCPSuccess || r.nonce != req.nonce || r.proto != 6 || r.internal != 8080 ||
		r.extPort != 80 || r.extAddr != DefaultExternalAddr || r.lifetime != 3600 || len(r.raw) != 60 {
		t.Fatalf("map reply %+v", r)
	}
	m := only(t, g)
	if m.Method != PCP || m.Protocol != "TCP" || m.ExternalPort != 80 || m.InternalAddr != c.local() ||
		m.InternalPort != 8080 || m.Nonce != req.nonce || !m.Expires.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("table entry %+v", m)
	}

	// Renewal with the same nonce keeps the port, whatever it suggests.
	clk.Advance(time.Minute)
	ren := req
	ren.extPort = 0
	if r = parsePCPResp(t, c.roundTrip(ren.bytes())); r.result != PCPSuccess || r.extPort != 80 {
		t.Fatalf("renewal %+v", r)
	}
	// Another nonce may neither renew nor delete (§11.3).
	bad := req
	bad.nonce = nonce(99)
	if r = parsePCPResp(t, c.roundTrip(bad.bytes())); r.result != PCPNotAuthorized {
		t.Fatalf("renewal with another nonce: result %d", r.result)
	}
	bad.lifetime = 0
	if r = parsePCPResp(t, c.roundTrip(bad.bytes())); r.result != PCPNotAuthorized {
		t.Fatalf("delete with another nonce: result %d", r.result)
	}
	if len(g.Mappings()) != 1 {
		t.Fatal("mapping lost to a request with the wrong nonce")
	}
	del := req
	del.lifetime = 0
	if r = parsePCPResp(t, c.roundTrip(del.bytes())); r.result != PCPSuccess || r.lifetime != 0 || r.extPort != 80 {
		t.Fatalf("delete %+v", r)
	}
	if ms := g.Mappings(); len(ms) != 0 {
		t.Fatalf("table after delete: %+v", ms)
	}
}

func TestPCPLifetimeClamp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		ask     uint32
		granted uint32
	}{
		{"floor", Config{}, 10, 120},
		{"ceiling", Config{}, 10_000_000, 86400},
		{"in range", Config{}, 600, 600},
		{"no floor", Config{PCPMinLifetime: -1}, 2, 2},
		{"custom", Config{PCPMinLifetime: 30 * time.Second, PCPMaxLifetime: time.Hour}, 7200, 3600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(t, tc.cfg)
			c := dialFrom(t, netip.Addr{}, g.PCPAddr())
			req := pcpReq{opcode: 1, lifetime: tc.ask, client: c.local(), nonce: nonce(1), proto: 17, internal: 9000}
			r := parsePCPResp(t, c.roundTrip(req.bytes()))
			if r.result != 0 || r.lifetime != tc.granted {
				t.Fatalf("asked %d: result %d lifetime %d, want %d", tc.ask, r.result, r.lifetime, tc.granted)
			}
			if m := only(t, g); m.Lifetime != time.Duration(tc.granted)*time.Second {
				t.Fatalf("table lifetime %v", m.Lifetime)
			}
		})
	}
}

func TestPCPExpiry(t *testing.T) {
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	parsePCPResp(t, c.roundTrip(pcpReq{opcode: 1, lifetime: 120, client: c.local(), nonce: nonce(1), proto: 6, internal: 22}.bytes()))
	clk.Advance(119 * time.Second)
	only(t, g)
	clk.Advance(time.Second)
	if ms := g.Mappings(); len(ms) != 0 {
		t.Fatalf("mapping outlived its lifetime: %+v", ms)
	}
}

func TestPCPErrors(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	me := c.local()
	good := pcpReq{opcode: 1, lifetime: 600, client: me, nonce: nonce(1), proto: 6, internal: 1234}
	withOpts := func(opts ...[]byte) []byte {
		r := good
		r.options = bytes.Join(opts, nil)
		return r.bytes()
	}
	tooLong := append(good.bytes(), make([]byte, 1104-60)...)
	for _, tc := range []struct {
		name string
		pkt  []byte
		want byte
	}{
		{"version 3", pcpReq{version: 3, opcode: 1, client: me}.bytes(), PCPUnsuppVersion},
		{"version 1", pcpReq{version: 1, opcode: 0, client: me}.bytes(), PCPUnsuppVersion},
		{"short header", pcpReq{opcode: 0, client: me}.bytes()[:20], PCPMalformedRequest},
		{"not a multiple of 4", append(pcpReq{opcode: 0, client: me}.bytes(), 0, 0), PCPMalformedRequest},
		{"over 1100 bytes", tooLong, PCPMalformedRequest},
		{"short MAP", pcpReq{opcode: 1, client: me}.bytes()[:40], PCPMalformedRequest},
		{"unknown opcode", pcpReq{opcode: 3, client: me}.bytes(), PCPUnsuppOpcode},
		{"address mismatch", pcpReq{opcode: 1, lifetime: 60, client: netip.MustParseAddr("127.9.9.9"), proto: 6, internal: 1}.bytes(), PCPAddressMismatch},
		{"protocol 0", pcpReq{opcode: 1, lifetime: 60, client: me, proto: 0, internal: 0}.bytes(), PCPUnsuppProtocol},
		{"protocol ICMP", pcpReq{opcode: 1, lifetime: 60, client: me, proto: 1, internal: 5}.bytes(), PCPUnsuppProtocol},
		{"internal port 0", pcpReq{opcode: 1, lifetime: 60, client: me, proto: 6}.bytes(), PCPMalformedRequest},
		{"unknown mandatory option", withOpts(pcpOption(100, nil)), PCPUnsuppOption},
		{"third party refused", withOpts(pcpOption(1, ip16("127.0.0.99"))), PCPUnsuppOption},
		{"third party bad length", withOpts(pcpOption(1, make([]byte, 4))), PCPMalformedOption},
		{"prefer failure twice", withOpts(pcpOption(2, nil), pcpOption(2, nil)), PCPMalformedOption},
		{"prefer failure without preference", withOpts(pcpOption(2, nil)), PCPMalformedOption},
		{"filter bad length", withOpts(pcpOption(3, make([]byte, 16))), PCPMalformedOption},
		{"filter bad prefix", withOpts(pcpOption(3, filterData(50, 0, "192.0.2.1"))), PCPMalformedOption},
		{"option overruns packet", append(good.bytes(), 1, 0, 0, 16), PCPMalformedOption},
		{"PEER with FILTER", pcpReq{opcode: 2, lifetime: 60, client: me, proto: 6, internal: 1, peerPort: 1,
			peerAddr: netip.MustParseAddr("192.0.2.9"), options: pcpOption(3, filterData(128, 0, "192.0.2.1"))}.bytes(), PCPMalformedOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := c.roundTrip(tc.pkt)
			r := parsePCPResp(t, raw)
			if r.result != tc.want || r.version != 2 {
				t.Fatalf("result %d version %d, want result %d version 2 (% x)", r.result, r.version, tc.want, raw)
			}
			if want := tc.pkt[1] & 0x7f; r.opcode != want {
				t.Errorf("opcode %d, want %d", r.opcode, want)
			}
			if len(raw) > 1100 {
				t.Errorf("reply of %d bytes", len(raw))
			}
		})
	}
	if ms := g.Mappings(); len(ms) != 0 {
		t.Fatalf("failed requests left entries: %+v", ms)
	}
	// An optional option (code ≥ 128) is ignored.
	if r := parsePCPResp(t, c.roundTrip(withOpts(pcpOption(200, []byte{1, 2, 3})))); r.result != PCPSuccess {
		t.Fatalf("unknown optional option: result %d", r.result)
	}
	// Responses (R bit) and runts are dropped.
	resp := good.bytes()
	resp[1] |= 0x80
	c.send(resp)
	c.send([]byte{2})
	if r := c.recv(100 * time.Millisecond); r != nil {
		t.Fatalf("reply to a response or runt: % x", r)
	}
}

func TestPCPErrorReplyCopiesRequest(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	req := pcpReq{opcode: 1, lifetime: 60, client: c.local(), nonce: nonce(5), proto: 6, internal: 1, options: pcpOption(100, nil)}
	r := parsePCPResp(t, c.roundTrip(req.bytes()))
	if r.result != PCPUnsuppOption || r.nonce != req.nonce || r.internal != 1 {
		t.Fatalf("error reply does not carry the request's MAP fields: %+v", r)
	}
}

func TestPCPThirdPartyAllowed(t *testing.T) {
	g := New(t, Config{AllowThirdParty: true})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	req := pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 6, internal: 443,
		options: pcpOption(1, ip16("192.168.1.50"))}
	raw := c.roundTrip(req.bytes())
	if r := parsePCPResp(t, raw); r.result != PCPSuccess {
		t.Fatalf("third party: %+v", r)
	}
	if !bytes.Contains(raw[60:], pcpOption(1, ip16("192.168.1.50"))) {
		t.Errorf("THIRD_PARTY option not echoed: % x", raw[60:])
	}
	if m := only(t, g); m.InternalAddr != netip.MustParseAddr("192.168.1.50") {
		t.Fatalf("mapping for %v, want the third party", m.InternalAddr)
	}
	// Naming oneself as the third party is malformed (§13.1).
	req.options = pcpOption(1, ip16(c.local().String()))
	if r := parsePCPResp(t, c.roundTrip(req.bytes())); r.result != PCPMalformedRequest {
		t.Fatalf("self as third party: result %d", r.result)
	}
}

func TestPCPPreferFailure(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	g.AddMapping(Mapping{Protocol: "UDP", ExternalPort: 3478})
	req := pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 17, internal: 3478, extPort: 3478,
		options: pcpOption(2, nil)}
	if r := parsePCPResp(t, c.roundTrip(req.bytes())); r.result != PCPCannotProvideExternal {
		t.Fatalf("held port with PREFER_FAILURE: result %d", r.result)
	}
	req.options = nil
	if r := parsePCPResp(t, c.roundTrip(req.bytes())); r.result != PCPSuccess || r.extPort != 3479 {
		t.Fatalf("held port without PREFER_FAILURE: %+v, want 3479", r)
	}
	// Another external address is not available either.
	req.nonce, req.internal, req.extPort = nonce(2), 5000, 5000
	req.extAddr = netip.MustParseAddr("198.51.100.1")
	req.options = pcpOption(2, nil)
	if r := parsePCPResp(t, c.roundTrip(req.bytes())); r.result != PCPCannotProvideExternal {
		t.Fatalf("foreign address with PREFER_FAILURE: result %d", r.result)
	}
}

func TestPCPFilter(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	opt := pcpOption(3, filterData(96+24, 443, "198.51.100.0"))
	req := pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 6, internal: 8443, options: opt}
	raw := c.roundTrip(req.bytes())
	if r := parsePCPResp(t, raw); r.result != PCPSuccess {
		t.Fatalf("filter: %+v", r)
	}
	if !bytes.Equal(raw[60:], opt) {
		t.Errorf("FILTER not echoed: % x", raw[60:])
	}
	m := only(t, g)
	want := Filter{Remote: netip.MustParsePrefix("198.51.100.0/24"), Port: 443}
	if len(m.Filters) != 1 || m.Filters[0] != want {
		t.Fatalf("filters %+v, want %+v", m.Filters, want)
	}
}

func TestPCPPeer(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	mapReq := pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 17, internal: 4000, extPort: 4100}
	parsePCPResp(t, c.roundTrip(mapReq.bytes()))
	peer := pcpReq{opcode: 2, lifetime: 600, client: c.local(), nonce: nonce(2), proto: 17, internal: 4000,
		peerPort: 3478, peerAddr: netip.MustParseAddr("198.51.100.7")}
	raw := c.roundTrip(peer.bytes())
	r := parsePCPResp(t, raw)
	if len(raw) != 80 || r.result != PCPSuccess || r.opcode != 2 || r.extPort != 4100 || r.extAddr != DefaultExternalAddr {
		t.Fatalf("peer reply (%d bytes) %+v; want the MAP's external port 4100", len(raw), r)
	}
	if got := binary.BigEndian.Uint16(raw[60:]); got != 3478 {
		t.Errorf("remote peer port %d", got)
	}
	if got := netip.AddrFrom16([16]byte(raw[64:80])).Unmap(); got != peer.peerAddr {
		t.Errorf("remote peer %v", got)
	}
	var peers int
	for _, m := range g.Mappings() {
		if m.RemotePeer == netip.AddrPortFrom(peer.peerAddr, 3478) {
			peers++
		}
	}
	if peers != 1 {
		t.Fatalf("PEER mapping not in the table: %+v", g.Mappings())
	}
}

func TestPCPSharesTableWithNATPMP(t *testing.T) {
	g := New(t, Config{})
	a := dialFrom(t, netip.MustParseAddr("127.0.0.2"), g.PCPAddr())
	b := dialFrom(t, netip.MustParseAddr("127.0.0.3"), g.PCPAddr())
	parsePMPMap(t, a.roundTrip(pmpMap(2, 6000, 6000, 600)))
	r := parsePCPResp(t, b.roundTrip(pcpReq{opcode: 1, lifetime: 600, client: b.local(), nonce: nonce(1), proto: 6, internal: 6000}.bytes()))
	if r.result != PCPSuccess || r.extPort == 6000 {
		t.Fatalf("PCP took a port NAT-PMP gave another host: %+v", r)
	}
}

func TestPCPOnNATPMPOnlyGateway(t *testing.T) {
	for _, cfg := range []Config{{NATPMPOnly: true}, {DisablePCP: true}} {
		g := New(t, cfg)
		c := dialFrom(t, netip.Addr{}, g.PCPAddr())
		r := c.roundTrip(pcpReq{opcode: 1, lifetime: 60, client: c.local(), proto: 6, internal: 1}.bytes())
		if len(r) != 8 || r[0] != 0 || r[1] != 129 || binary.BigEndian.Uint16(r[2:]) != NATPMPUnsupportedVersion {
			t.Fatalf("%+v: reply % x, want the 8-byte NAT-PMP unsupported version", cfg, r)
		}
		if pr := parsePMPMap(t, c.roundTrip(pmpMap(2, 80, 0, 60))); pr.result != 0 {
			t.Fatalf("NAT-PMP on a NAT-PMP-only gateway: %+v", pr)
		}
	}
}

func TestPCPIPv6(t *testing.T) {
	g := New(t, Config{IPv6: true})
	a6 := g.PCPAddr6()
	if !a6.Addr().Is6() || a6.Port() == 0 {
		t.Fatalf("PCPAddr6 = %v", a6)
	}
	c := dialFrom(t, netip.Addr{}, a6)
	req := pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 6, internal: 8080}
	r := parsePCPResp(t, c.roundTrip(req.bytes()))
	// ::1 stands for Config.IPv6Host: the pinhole is the host's.
	if r.result != PCPSuccess || r.extAddr != DefaultIPv6Host || r.extPort != 8080 {
		t.Fatalf("IPv6 MAP (a pinhole) %+v", r)
	}
	m := only(t, g)
	if m.ExternalAddr != DefaultIPv6Host || m.InternalAddr != DefaultIPv6Host {
		t.Fatalf("pinhole entry %+v", m)
	}
	if a := (&Gateway{}).PCPAddr6(); a.IsValid() {
		t.Fatalf("PCPAddr6 without IPv6: %v", a)
	}
}

func TestPCPNetworkFailure(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	g.SetExternalAddr(netip.IPv4Unspecified())
	r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 6, internal: 1}.bytes()))
	if r.result != PCPNetworkFailure || r.lifetime != 30 {
		t.Fatalf("MAP without uplink: %+v, want NETWORK_FAILURE with lifetime 30", r)
	}
}

func ip16(s string) []byte {
	a := netip.MustParseAddr(s).As16()
	return a[:]
}

func filterData(plen byte, port uint16, addr string) []byte {
	d := make([]byte, 20)
	d[1] = plen // §13.3: the first byte is reserved
	binary.BigEndian.PutUint16(d[2:], port)
	copy(d[4:], ip16(addr))
	return d
}

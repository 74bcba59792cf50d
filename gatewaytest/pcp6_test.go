package gatewaytest

import (
	"net/netip"
	"testing"
	"time"
)

// mapReq6 is a MAP from the [::1] test client for a TCP pinhole.
func mapReq6(c *udpClient, n byte, port uint16, lifetime uint32) []byte {
	return pcpReq{opcode: 1, lifetime: lifetime, client: c.local(), nonce: nonce(n), proto: 6, internal: port}.bytes()
}

func TestPCP6PinholeLifecycle(t *testing.T) {
	clock := newFakeClock()
	var got []Change
	g := New(t, Config{IPv6: true, Now: clock.Now, OnChange: func(c Change) { got = append(got, c) }})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr6())
	r := parsePCPResp(t, c.roundTrip(mapReq6(c, 1, 8080, 600)))
	if r.result != PCPSuccess || r.extAddr != DefaultIPv6Host || r.extPort != 8080 || r.lifetime != 600 {
		t.Fatalf("MAP: %+v, want a pinhole for [%v]:8080", r, DefaultIPv6Host)
	}
	ps := g.Pinholes()
	if len(ps) != 1 || ps[0].Method != PCP || ps[0].UniqueID != 0 || ps[0].Nonce != nonce(1) ||
		ps[0].InternalClient != DefaultIPv6Host || ps[0].InternalPort != 8080 || ps[0].Protocol != "TCP" ||
		!ps[0].Expires.Equal(clock.Now().Add(600*time.Second)) {
		t.Fatalf("Pinholes = %+v", ps)
	}
	// Lifetime 0 with the same nonce deletes it.
	if r := parsePCPResp(t, c.roundTrip(mapReq6(c, 1, 8080, 0))); r.result != PCPSuccess {
		t.Fatalf("delete: %+v", r)
	}
	if ps := g.Pinholes(); len(ps) != 0 {
		t.Fatalf("after delete: %+v", ps)
	}
	if len(got) != 2 || got[0].Kind != Added || got[1].Kind != Removed || got[0].By != PCP ||
		got[0].Mapping.ExternalAddr != DefaultIPv6Host || got[0].PinholeID != 0 {
		t.Errorf("changes %+v", got)
	}
}

// A client field other than the source (::1 standing for IPv6Host) is
// ADDRESS_MISMATCH: the default IPv6Host when another is configured, or a
// link-local address.
func TestPCP6AddressMismatch(t *testing.T) {
	host := netip.MustParseAddr("2001:db8:77::5")
	g := New(t, Config{IPv6: true, IPv6Host: host})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr6())
	for _, client := range []netip.Addr{DefaultIPv6Host, netip.MustParseAddr("fe80::1")} {
		req := pcpReq{opcode: 1, lifetime: 600, client: client, nonce: nonce(1), proto: 6, internal: 8080}
		if r := parsePCPResp(t, c.roundTrip(req.bytes())); r.result != PCPAddressMismatch {
			t.Errorf("client field %v: result %d, want ADDRESS_MISMATCH", client, r.result)
		}
	}
	// The configured host's address in the client field is the host itself.
	req := pcpReq{opcode: 1, lifetime: 600, client: host, nonce: nonce(1), proto: 6, internal: 8080}
	if r := parsePCPResp(t, c.roundTrip(req.bytes())); r.result != PCPSuccess || r.extAddr != host {
		t.Errorf("client field %v: %+v", host, r)
	}
	if len(g.Pinholes()) != 1 {
		t.Errorf("Pinholes = %+v", g.Pinholes())
	}
}

func TestPCP6Unsupported(t *testing.T) {
	g := New(t, Config{IPv6: true, PCPv6Unsupported: true})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr6())
	if r := parsePCPResp(t, c.roundTrip(mapReq6(c, 1, 8080, 600))); r.result != PCPUnsuppOption {
		t.Errorf("IPv6 MAP: result %d, want 5", r.result)
	}
	if r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 0, client: c.local()}.bytes())); r.result != PCPSuccess {
		t.Errorf("ANNOUNCE over IPv6: result %d", r.result)
	}
	c4 := dialFrom(t, netip.Addr{}, g.PCPAddr())
	if r := parsePCPResp(t, c4.roundTrip(pcpReq{opcode: 1, lifetime: 600, client: c4.local(), nonce: nonce(2), proto: 6, internal: 8080}.bytes())); r.result != PCPSuccess {
		t.Errorf("IPv4 MAP: result %d", r.result)
	}
	if len(g.Pinholes()) != 0 {
		t.Errorf("Pinholes = %+v", g.Pinholes())
	}
}

func TestPCP6RenewNoResources(t *testing.T) {
	g := New(t, Config{IPv6: true, PCPv6RenewNoResources: true})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr6())
	if r := parsePCPResp(t, c.roundTrip(mapReq6(c, 1, 8080, 600))); r.result != PCPSuccess {
		t.Fatalf("MAP: %+v", r)
	}
	if r := parsePCPResp(t, c.roundTrip(mapReq6(c, 1, 8080, 600))); r.result != PCPNoResources {
		t.Errorf("renewal: result %d, want NO_RESOURCES", r.result)
	}
	if len(g.Pinholes()) != 1 {
		t.Errorf("the refused renewal dropped the pinhole: %+v", g.Pinholes())
	}
	// A delete still works.
	if r := parsePCPResp(t, c.roundTrip(mapReq6(c, 1, 8080, 0))); r.result != PCPSuccess || len(g.Pinholes()) != 0 {
		t.Errorf("delete: %+v, left %+v", r, g.Pinholes())
	}
}

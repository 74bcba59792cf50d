package gatewaytest

import (
	"net/netip"
	"testing"
)

// TestBehindNAT: with Config.BehindNAT the gateway takes every IPv4 request
// as coming from that address, as the upstream router of a double NAT sees
// them: NAT-PMP maps to it, a PCP client field must name it (the real
// source meets ADDRESS_MISMATCH), and UPnP secure mode accepts it (and
// only it) as NewInternalClient.
func TestBehindNAT(t *testing.T) {
	wan := netip.MustParseAddr("10.77.0.2")
	g := New(t, Config{BehindNAT: wan, SecureMode: true, AllowThirdParty: true})

	pmp := dialFrom(t, netip.Addr{}, g.PCPAddr())
	if r := parsePMPMap(t, pmp.roundTrip(pmpMap(2, 5000, 5000, 60))); r.result != 0 {
		t.Fatalf("NAT-PMP map: result %d", r.result)
	}
	if m, ok := find(g, "TCP", 5000); !ok || m.InternalAddr != wan {
		t.Fatalf("NAT-PMP entry %+v, want it to forward to %v", g.Mappings(), wan)
	}

	pc := dialFrom(t, netip.Addr{}, g.PCPAddr())
	mine := pcpReq{opcode: 1, lifetime: 60, client: pc.local(), nonce: nonce(1), proto: 17, internal: 5001}
	if r := parsePCPResp(t, pc.roundTrip(mine.bytes())); int(r.result) != PCPAddressMismatch {
		t.Fatalf("PCP naming the real source: result %d, want ADDRESS_MISMATCH", r.result)
	}
	seen := mine
	seen.client = wan
	if r := parsePCPResp(t, pc.roundTrip(seen.bytes())); int(r.result) != PCPSuccess {
		t.Fatalf("PCP naming the NAT's address: result %d", r.result)
	}
	if m, ok := find(g, "UDP", 5001); !ok || m.InternalAddr != wan {
		t.Fatalf("PCP entry %+v", g.Mappings())
	}

	mustOK(t, "UPnP for the NAT's address", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(5002, "TCP", 5002, wan.String(), "x", 60)}.do(t, g))
	mustFault(t, "UPnP for the real source", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(5003, "TCP", 5003, "127.0.0.1", "x", 60)}.do(t, g), 606)
}

// find returns the entry for proto and external port.
func find(g *Gateway, proto string, port uint16) (Mapping, bool) {
	for _, m := range g.Mappings() {
		if m.Protocol == proto && m.ExternalPort == port {
			return m, true
		}
	}
	return Mapping{}, false
}

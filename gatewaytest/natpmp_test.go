package gatewaytest

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"syscall"
	"testing"
	"time"
)

func TestNATPMPExternalAddress(t *testing.T) {
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	clk.Advance(42 * time.Second)

	r := c.roundTrip(pmpExternal())
	if len(r) != 12 {
		t.Fatalf("reply is %d bytes, want 12: % x", len(r), r)
	}
	if r[0] != 0 || r[1] != 128 || binary.BigEndian.Uint16(r[2:]) != 0 {
		t.Fatalf("header % x, want version 0, op 128, result 0", r[:4])
	}
	if e := binary.BigEndian.Uint32(r[4:]); e != 42 {
		t.Errorf("epoch %d, want 42", e)
	}
	if a := netip.AddrFrom4([4]byte(r[8:12])); a != DefaultExternalAddr {
		t.Errorf("external address %v, want %v", a, DefaultExternalAddr)
	}
}

func TestNATPMPMapRenewDelete(t *testing.T) {
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())

	r := parsePMPMap(t, c.roundTrip(pmpMap(1, 5000, 6000, 3600)))
	if r.op != 129 || r.result != 0 || r.internal != 5000 || r.external != 6000 || r.lifetime != 3600 {
		t.Fatalf("map reply %+v", r)
	}
	m := only(t, g)
	want := Mapping{Method: NATPMP, Protocol: "UDP", ExternalPort: 6000, ExternalAddr: DefaultExternalAddr,
		InternalAddr: c.local(), InternalPort: 5000, Lifetime: time.Hour, Expires: clk.Now().Add(time.Hour), Enabled: true,
		Description: "NAT-PMP 6000 udp"}
	if !mappingEqual(m, want) {
		t.Fatalf("table entry\n got %+v\nwant %+v", m, want)
	}

	// Renewal suggesting another port keeps the assigned one (§3.3).
	clk.Advance(30 * time.Minute)
	r = parsePMPMap(t, c.roundTrip(pmpMap(1, 5000, 7000, 7200)))
	if r.result != 0 || r.external != 6000 || r.lifetime != 7200 {
		t.Fatalf("renewal reply %+v", r)
	}
	if m := only(t, g); !m.Expires.Equal(clk.Now().Add(2 * time.Hour)) {
		t.Errorf("renewed expiry %v, want %v", m.Expires, clk.Now().Add(2*time.Hour))
	}

	// Delete: lifetime 0, suggested port 0; reply has external port and lifetime 0.
	r = parsePMPMap(t, c.roundTrip(pmpMap(1, 5000, 0, 0)))
	if r.result != 0 || r.internal != 5000 || r.external != 0 || r.lifetime != 0 {
		t.Fatalf("delete reply %+v", r)
	}
	if ms := g.Mappings(); len(ms) != 0 {
		t.Fatalf("table after delete: %+v", ms)
	}
	// Deleting what does not exist succeeds.
	if r = parsePMPMap(t, c.roundTrip(pmpMap(1, 5000, 0, 0))); r.result != 0 {
		t.Fatalf("delete of a missing mapping: result %d", r.result)
	}
}

func TestNATPMPDeleteAllIsPerOpcodeAndPerHost(t *testing.T) {
	g := New(t, Config{})
	a := dialFrom(t, netip.MustParseAddr("127.0.0.2"), g.PCPAddr())
	b := dialFrom(t, netip.MustParseAddr("127.0.0.3"), g.PCPAddr())
	for _, req := range [][]byte{pmpMap(2, 1001, 0, 60), pmpMap(2, 1002, 0, 60), pmpMap(1, 1003, 0, 60)} {
		if r := parsePMPMap(t, a.roundTrip(req)); r.result != 0 {
			t.Fatalf("map: %+v", r)
		}
	}
	if r := parsePMPMap(t, b.roundTrip(pmpMap(2, 2001, 0, 60))); r.result != 0 {
		t.Fatalf("map: %+v", r)
	}
	// Internal port 0 with lifetime 0: all of a's TCP mappings.
	if r := parsePMPMap(t, a.roundTrip(pmpMap(2, 0, 0, 0))); r.result != 0 {
		t.Fatalf("delete all: %+v", r)
	}
	var left []string
	for _, m := range g.Mappings() {
		left = append(left, m.Protocol+" "+m.InternalAddr.String())
	}
	if len(left) != 2 || left[0] != "TCP 127.0.0.3" || left[1] != "UDP 127.0.0.2" {
		t.Fatalf("left after delete-all: %v", left)
	}
}

func TestNATPMPConflictsAndManualEntries(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.MustParseAddr("127.0.0.2"), g.PCPAddr())
	g.AddMapping(Mapping{Protocol: "TCP", ExternalPort: 7000})

	// Another host holds 7000: the gateway assigns the next free port.
	r := parsePMPMap(t, c.roundTrip(pmpMap(2, 7000, 7000, 60)))
	if r.result != 0 || r.external != 7001 {
		t.Fatalf("map over a held port: %+v, want external 7001", r)
	}
	// UDP 7000 is a different port space.
	if r = parsePMPMap(t, c.roundTrip(pmpMap(1, 7000, 7000, 60))); r.result != 0 || r.external != 7000 {
		t.Fatalf("udp map: %+v", r)
	}
	// A manual entry of the client's own may not be deleted (§3.4).
	g.AddMapping(Mapping{Protocol: "TCP", ExternalPort: 8000, InternalAddr: c.local()})
	if r = parsePMPMap(t, c.roundTrip(pmpMap(2, 8000, 0, 0))); r.result != NATPMPNotAuthorized {
		t.Fatalf("delete of a manual entry: result %d, want 2", r.result)
	}
}

func TestNATPMPLifetimeIsNotClamped(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	for _, lt := range []uint32{1, 10_000_000} {
		if r := parsePMPMap(t, c.roundTrip(pmpMap(2, 4000, 0, lt))); r.lifetime != lt {
			t.Errorf("lifetime %d granted as %d", lt, r.lifetime)
		}
	}
}

func TestNATPMPExpiry(t *testing.T) {
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	parsePMPMap(t, c.roundTrip(pmpMap(2, 4000, 0, 60)))
	clk.Advance(59 * time.Second)
	if len(g.Mappings()) != 1 {
		t.Fatal("mapping gone before its lifetime")
	}
	clk.Advance(time.Second)
	if ms := g.Mappings(); len(ms) != 0 {
		t.Fatalf("mapping outlived its lifetime: %+v", ms)
	}
	// The expired port is free again for another host.
	g.AddMapping(Mapping{Protocol: "TCP", ExternalPort: 4001})
	d := dialFrom(t, netip.MustParseAddr("127.0.0.5"), g.PCPAddr())
	if r := parsePMPMap(t, d.roundTrip(pmpMap(2, 4000, 0, 60))); r.external != 4000 {
		t.Fatalf("expired port not reusable: got %d", r.external)
	}
}

func TestNATPMPErrors(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())

	r := c.roundTrip([]byte{0, 7})
	if len(r) != 8 || r[1] != 128+7 || binary.BigEndian.Uint16(r[2:]) != NATPMPUnsupportedOpcode {
		t.Fatalf("unknown opcode reply % x, want 8 bytes, op 135, result 5", r)
	}
	if pr := parsePMPMap(t, c.roundTrip(pmpMap(2, 0, 0, 60))); pr.result != NATPMPNotAuthorized {
		t.Fatalf("map of internal port 0: result %d", pr.result)
	}
	// Responses and runts are dropped.
	c.send([]byte{0, 128, 0, 0})
	c.send([]byte{0, 1, 0, 0})
	c.send([]byte{0})
	if r := c.recv(100 * time.Millisecond); r != nil {
		t.Fatalf("reply to a malformed request: % x", r)
	}

	g.SetExternalAddr(netip.IPv4Unspecified())
	r = c.roundTrip(pmpExternal())
	if binary.BigEndian.Uint16(r[2:]) != NATPMPNetworkFailure {
		t.Fatalf("external address without uplink: % x", r)
	}
	if pr := parsePMPMap(t, c.roundTrip(pmpMap(2, 80, 0, 60))); pr.result != NATPMPNetworkFailure {
		t.Fatalf("map without uplink: result %d", pr.result)
	}
}

func TestNATPMPDisabledPortIsClosed(t *testing.T) {
	g := New(t, Config{DisableNATPMP: true, DisablePCP: true})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	c.send(pmpExternal())
	_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.conn.Read(make([]byte, 64))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("read from a disabled gateway: %v, want connection refused", err)
	}
}

func TestNATPMPOnPCPOnlyGateway(t *testing.T) {
	g := New(t, Config{DisableNATPMP: true})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	r := c.roundTrip(pmpExternal())
	// A PCP server's UNSUPP_VERSION: the result sits in the low byte of
	// what a NAT-PMP client reads as its result code.
	if len(r) != 24 || r[0] != 2 || binary.BigEndian.Uint16(r[2:]) != NATPMPUnsupportedVersion {
		t.Fatalf("reply % x", r)
	}
}

// mappingEqual compares two entries field by field (times with Equal).
func mappingEqual(a, b Mapping) bool {
	if !a.Expires.Equal(b.Expires) {
		return false
	}
	a.Expires, b.Expires = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

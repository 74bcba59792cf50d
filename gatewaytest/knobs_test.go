package gatewaytest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// announceListener is a loopback socket standing in for 224.0.0.1:5350.
func announceListener(t *testing.T, network, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type datagram struct {
	from netip.AddrPort
	b    []byte
}

// collect reads datagrams until none arrives for quiet.
func collect(c *net.UDPConn, quiet time.Duration) []datagram {
	var out []datagram
	buf := make([]byte, 2048)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return out
		}
		out = append(out, datagram{netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), append([]byte(nil), buf[:n]...)})
	}
}

func addrPort(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func TestSetExternalAddrAnnounces(t *testing.T) {
	l := announceListener(t, "udp4", "127.0.0.1:0")
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now, AnnounceTo: []netip.AddrPort{addrPort(l)}})
	clk.Advance(time.Hour)
	newAddr := netip.MustParseAddr("198.51.100.9")
	g.SetExternalAddr(newAddr)
	if g.ExternalAddr() != newAddr || g.Epoch() != 0 {
		t.Fatalf("after the change: address %v epoch %d", g.ExternalAddr(), g.Epoch())
	}
	var pmp, pcp int
	for _, d := range collect(l, 300*time.Millisecond) {
		if d.from != g.PCPAddr() {
			t.Errorf("announcement from %v, want %v", d.from, g.PCPAddr())
		}
		switch {
		case len(d.b) == 12 && d.b[0] == 0 && d.b[1] == 128:
			if netip.AddrFrom4([4]byte(d.b[8:12])) != newAddr || binary.BigEndian.Uint32(d.b[4:]) != 0 {
				t.Errorf("NAT-PMP announcement % x", d.b)
			}
			pmp++
		case len(d.b) == 24 && d.b[0] == 2 && d.b[1] == 0x80 && d.b[3] == 0:
			pcp++
		default:
			t.Errorf("unexpected datagram % x", d.b)
		}
	}
	if pmp != 3 || pcp != 3 {
		t.Fatalf("%d NAT-PMP and %d PCP announcements, want 3 each (AnnounceCount default)", pmp, pcp)
	}
	// The table survives an address change; a NAT-PMP client asking again
	// sees the new address.
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	if r := c.roundTrip(pmpExternal()); netip.AddrFrom4([4]byte(r[8:12])) != newAddr {
		t.Fatalf("opcode 0 after the change: % x", r)
	}
}

func TestAnnounceVariants(t *testing.T) {
	l4 := announceListener(t, "udp4", "127.0.0.1:0")
	l6 := announceListener(t, "udp6", "[::1]:0")
	g := New(t, Config{IPv6: true, AnnounceCount: 1, AnnounceTo: []netip.AddrPort{addrPort(l6)}})
	g.Reboot()
	got := collect(l6, 200*time.Millisecond)
	if len(got) != 1 || len(got[0].b) != 24 || got[0].b[0] != 2 || got[0].from != g.PCPAddr6() {
		t.Fatalf("IPv6 announcements %+v, want one PCP ANNOUNCE from %v", got, g.PCPAddr6())
	}
	n := New(t, Config{NATPMPOnly: true, AnnounceTo: []netip.AddrPort{addrPort(l4)}, AnnounceCount: 2})
	n.Reboot()
	got = collect(l4, 200*time.Millisecond)
	if len(got) != 2 || len(got[0].b) != 12 || len(got[1].b) != 12 {
		t.Fatalf("NAT-PMP-only gateway sent %+v, want 2 NAT-PMP announcements only", got)
	}
}

func TestReboot(t *testing.T) {
	l := announceListener(t, "udp4", "127.0.0.1:0")
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now, AnnounceTo: []netip.AddrPort{addrPort(l)}, AnnounceCount: 1})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	parsePMPMap(t, c.roundTrip(pmpMap(2, 80, 80, 3600)))
	mustOK(t, "add", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(81, "TCP", 81, "", "x", 3600)}.do(t, g))
	clk.Advance(time.Hour)
	oldHTTP, oldLoc := g.HTTPAddr(), g.LocationURL()

	g.Reboot()

	if ms := g.Mappings(); len(ms) != 0 {
		t.Fatalf("table survived the reboot: %+v", ms)
	}
	if g.Epoch() != 0 {
		t.Fatalf("epoch %d after reboot", g.Epoch())
	}
	if g.HTTPAddr() == oldHTTP || g.LocationURL() == oldLoc {
		t.Fatalf("HTTP port did not move: %v", g.HTTPAddr())
	}
	if conn, err := net.DialTimeout("tcp", oldHTTP.String(), time.Second); err == nil {
		conn.Close()
		t.Fatal("old HTTP port still accepts connections")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("old HTTP port: %v, want connection refused", err)
	}
	fetchDescription(t, g)
	h := ssdpAnswers(t, g, msearch("upnp:rootdevice"), time.Second)
	if len(h) != 1 || h[0]["LOCATION"] != g.LocationURL() || h[0]["BOOTID.UPNP.ORG"] != "2" {
		t.Fatalf("SSDP after reboot: %v", h)
	}
	r := c.roundTrip(pmpExternal())
	if e := binary.BigEndian.Uint32(r[4:]); e != 0 {
		t.Fatalf("NAT-PMP epoch %d after reboot", e)
	}
	if got := collect(l, 200*time.Millisecond); len(got) != 2 {
		t.Fatalf("%d announcements after reboot, want 2 (NAT-PMP and PCP)", len(got))
	}
}

func TestSetSilent(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	g.SetSilent(NATPMP, true)
	c.send(pmpExternal())
	if r := c.recv(150 * time.Millisecond); r != nil {
		t.Fatalf("silent NAT-PMP answered % x", r)
	}
	if r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 0, client: c.local()}.bytes())); r.result != 0 {
		t.Fatal("PCP silenced along with NAT-PMP")
	}
	g.SetSilent(NATPMP, false)
	g.SetSilent(PCP, true)
	c.send(pcpReq{opcode: 0, client: c.local()}.bytes())
	if r := c.recv(150 * time.Millisecond); r != nil {
		t.Fatalf("silent PCP answered % x", r)
	}
	c.roundTrip(pmpExternal())
	if g.Requests(NATPMP) != 2 || g.Requests(PCP) != 2 {
		t.Errorf("Requests: natpmp %d pcp %d, want 2 and 2", g.Requests(NATPMP), g.Requests(PCP))
	}

	g.SetSilent(UPnP, true)
	if h := ssdpAnswers(t, g, msearch("upnp:rootdevice"), 150*time.Millisecond); len(h) != 0 {
		t.Fatal("silent SSDP answered")
	}
	start := time.Now()
	r := soapCall{svc: wanip2, action: "GetExternalIPAddress", timeout: 200 * time.Millisecond}.do(t, g)
	if r.status != -1 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("silent SOAP: status %d after %v", r.status, time.Since(start))
	}
	g.SetSilent(UPnP, false)
	mustOK(t, "after silence", soapCall{svc: wanip2, action: "GetExternalIPAddress"}.do(t, g))
}

func TestSilentSOAPDoesNotBlockClose(t *testing.T) {
	g, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	g.SetSilent(SOAP, true)
	done := make(chan soapResult)
	go func() { done <- soapCall{svc: wanip2, action: "GetStatusInfo", timeout: 10 * time.Second}.do(t, g) }()
	waitFor(t, func() bool { return g.Requests(SOAP) == 1 }) // the request is in the handler
	start := time.Now()
	g.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v with a hung request", d)
	}
	if r := <-done; r.status == 200 {
		t.Fatal("a hung request got an answer")
	}
}

func TestSetDelay(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	g.SetDelay(PCP, 300*time.Millisecond)
	start := time.Now()
	c.send(pcpReq{opcode: 0, client: c.local()}.bytes())
	c.send(pmpExternal())
	// NAT-PMP is not delayed: its answer overtakes the PCP one.
	if first := c.recv(2 * time.Second); len(first) != 12 {
		t.Fatalf("first reply % x, want the undelayed NAT-PMP one", first)
	}
	if second := c.recv(2 * time.Second); len(second) != 24 {
		t.Fatalf("second reply % x, want the PCP one", second)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("PCP answered after %v despite a 300ms delay", d)
	}
	g.SetDelay(SOAP, 100*time.Millisecond)
	start = time.Now()
	mustOK(t, "slow", soapCall{svc: wanip2, action: "GetExternalIPAddress"}.do(t, g))
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("SOAP answered after %v despite a 100ms delay", d)
	}
	g.SetDelay(UPnP, 0)
	g.SetDelay(PCP, 0)
	c.roundTrip(pcpReq{opcode: 0, client: c.local()}.bytes())
}

func TestSetResult(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	g.SetResult(NATPMP, NATPMPNotAuthorized)
	if r := parsePMPMap(t, c.roundTrip(pmpMap(2, 80, 80, 60))); r.result != NATPMPNotAuthorized || r.internal != 80 {
		t.Fatalf("forced NAT-PMP result: %+v", r)
	}
	if r := c.roundTrip(pmpExternal()); binary.BigEndian.Uint16(r[2:]) != 0 {
		t.Fatal("external address request refused too")
	}
	g.SetResult(PCP, PCPNoResources)
	r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 6, internal: 80}.bytes()))
	if r.result != PCPNoResources || r.lifetime != 30 || r.nonce != nonce(1) {
		t.Fatalf("forced PCP result: %+v", r)
	}
	if r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 0, client: c.local()}.bytes())); r.result != 0 {
		t.Fatal("ANNOUNCE refused too")
	}
	if len(g.Mappings()) != 0 {
		t.Fatal("refused requests created entries")
	}
	g.SetResult(NATPMP, 0)
	if r := parsePMPMap(t, c.roundTrip(pmpMap(2, 80, 80, 60))); r.result != 0 {
		t.Fatalf("after clearing: %+v", r)
	}
}

func TestDecoyWrongNonce(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	g.SetDecoy(DecoyWrongNonce)
	req := pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 6, internal: 80}
	c.send(req.bytes())
	first := parsePCPResp(t, c.recv(time.Second))
	second := parsePCPResp(t, c.recv(time.Second))
	if first.nonce == req.nonce || first.extAddr != DecoyExternalAddr || first.extPort != DecoyPort {
		t.Fatalf("decoy %+v", first)
	}
	if second.nonce != req.nonce || second.extAddr != DefaultExternalAddr || second.extPort != 80 {
		t.Fatalf("real reply %+v", second)
	}
}

func TestDecoyWrongSource(t *testing.T) {
	g := New(t, Config{})
	g.SetDecoy(DecoyWrongSource)
	if !g.DecoyAddr().IsValid() || g.DecoyAddr() == g.Addr() {
		t.Fatalf("DecoyAddr %v", g.DecoyAddr())
	}
	l := announceListener(t, "udp4", "127.0.0.1:0")
	if _, err := l.WriteToUDPAddrPort(pmpMap(2, 80, 80, 60), g.PCPAddr()); err != nil {
		t.Fatal(err)
	}
	got := collect(l, 300*time.Millisecond)
	if len(got) != 2 {
		t.Fatalf("%d datagrams, want decoy then reply", len(got))
	}
	if got[0].from != netip.AddrPortFrom(g.DecoyAddr(), 5351) || binary.BigEndian.Uint16(got[0].b[10:]) != DecoyPort {
		t.Fatalf("decoy from %v: % x", got[0].from, got[0].b)
	}
	if got[1].from != g.PCPAddr() || binary.BigEndian.Uint16(got[1].b[10:]) != 80 {
		t.Fatalf("reply from %v: % x", got[1].from, got[1].b)
	}
}

func TestDecoyTruncated(t *testing.T) {
	g := New(t, Config{})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	g.SetDecoy(DecoyTruncated)
	c.send(pmpExternal())
	if a, b := c.recv(time.Second), c.recv(time.Second); len(a) != 11 || len(b) != 12 || !bytes.Equal(a, b[:11]) {
		t.Fatalf("truncated decoy % x then % x", a, b)
	}
	g.SetDecoy(DecoyNone)
	c.send(pmpExternal())
	if a := c.recv(time.Second); len(a) != 12 {
		t.Fatalf("after DecoyNone: % x", a)
	}
	if b := c.recv(100 * time.Millisecond); b != nil {
		t.Fatalf("a decoy after DecoyNone: % x", b)
	}
}

func TestKnobsPanicOnUnknownNames(t *testing.T) {
	g := New(t, Config{})
	for name, f := range map[string]func(){
		"SetSilent":         func() { g.SetSilent("http", true) },
		"SetResult on UPnP": func() { g.SetResult(UPnP, 1) },
		"SetDecoy":          func() { g.SetDecoy("bogus") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s accepted an unknown name", name)
				}
			}()
			f()
		}()
	}
}

func TestFailAction(t *testing.T) {
	g := New(t, Config{})
	add := soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(80, "TCP", 80, "", "x", 60)}
	g.FailAction("AddPortMapping", 501)
	mustFault(t, "injected", add.do(t, g), 501)
	mustOK(t, "other action", soapCall{svc: wanip2, action: "GetExternalIPAddress"}.do(t, g))
	g.FailAction("*", 725)
	mustFault(t, "wildcard", soapCall{svc: wanip2, action: "GetExternalIPAddress"}.do(t, g), 725)
	g.FailAction("*", 0)
	g.FailAction("AddPortMapping", 0)
	mustOK(t, "cleared", add.do(t, g))
	if n := g.Requests("AddPortMapping"); n != 2 {
		t.Errorf("Requests(AddPortMapping) = %d, want 2", n)
	}
	if n := g.Requests(SOAP); n != 4 {
		t.Errorf("Requests(SOAP) = %d, want 4", n)
	}
}

func TestPermanentOnly(t *testing.T) {
	for _, v := range []int{1, 2} {
		g := New(t, Config{IGDVersion: v, PermanentOnly: true})
		svc := wanip1
		if v == 2 {
			svc = wanip2
		}
		mustFault(t, "lease 3600", soapCall{svc: svc, action: "AddPortMapping", args: addArgs(80, "TCP", 80, "", "x", 3600)}.do(t, g), 725)
		mustOK(t, "lease 0", soapCall{svc: svc, action: "AddPortMapping", args: addArgs(80, "TCP", 80, "", "x", 0)}.do(t, g))
		if m := only(t, g); !m.Expires.IsZero() {
			t.Fatalf("IGD:%d permanent-only entry expires: %+v", v, m)
		}
	}
}

func TestSecureMode(t *testing.T) {
	for _, tc := range []struct {
		v                  int
		svc                string
		addCode, deleteCod int
	}{{1, wanip1, 718, 714}, {2, wanip2, 606, 606}} {
		g := New(t, Config{IGDVersion: tc.v, SecureMode: true})
		other := netip.MustParseAddr("127.0.0.9")
		mustFault(t, "map for another host", soapCall{svc: tc.svc, action: "AddPortMapping", args: addArgs(80, "TCP", 80, "127.0.0.9", "x", 60)}.do(t, g), tc.addCode)
		mustOK(t, "map for oneself", soapCall{svc: tc.svc, action: "AddPortMapping", args: addArgs(80, "TCP", 80, "127.0.0.9", "x", 60), from: other}.do(t, g))
		mustFault(t, "delete another host's", soapCall{svc: tc.svc, action: "DeletePortMapping", args: keyArgs(80, "TCP")}.do(t, g), tc.deleteCod)
		mustOK(t, "delete own", soapCall{svc: tc.svc, action: "DeletePortMapping", args: keyArgs(80, "TCP"), from: other}.do(t, g))
	}
	// Without secure mode a mapping for another host is fine.
	g := New(t, Config{})
	mustOK(t, "open mode", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(80, "TCP", 80, "192.168.1.20", "x", 60)}.do(t, g))
	if m := only(t, g); m.InternalAddr != netip.MustParseAddr("192.168.1.20") {
		t.Fatalf("entry %+v", m)
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	g, err := Start(Config{IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	pcp, http := g.PCPAddr(), g.HTTPAddr()
	g.SetDecoy(DecoyWrongSource)
	g.SetDelay(PCP, time.Hour) // a pending delayed reply must not keep Close waiting
	c := dialFrom(t, netip.Addr{}, pcp)
	c.send(pcpReq{opcode: 0, client: c.local()}.bytes())
	waitFor(t, func() bool { return g.Requests(PCP) == 1 })
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c.send(pmpExternal())
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.conn.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("UDP 5351 after Close: %v, want connection refused", err)
	}
	if conn, err := net.DialTimeout("tcp", http.String(), time.Second); err == nil {
		conn.Close()
		t.Fatal("HTTP still open after Close")
	}
	g.Reboot() // no effect, no panic, after Close
	g.SetExternalAddr(netip.MustParseAddr("192.0.2.1"))
}

func TestGatewaysGetDistinctAddresses(t *testing.T) {
	seen := map[netip.Addr]bool{}
	for range 20 {
		g := New(t, Config{})
		a := g.Addr()
		if !a.Is4() || a.As4()[0] != 127 || seen[a] {
			t.Fatalf("address %v (seen before: %v)", a, seen[a])
		}
		seen[a] = true
	}
}

func TestDisableUPnP(t *testing.T) {
	g := New(t, Config{DisableUPnP: true})
	if g.LocationURL() != "" || g.HTTPAddr().IsValid() {
		t.Fatalf("LocationURL %q HTTPAddr %v with UPnP disabled", g.LocationURL(), g.HTTPAddr())
	}
	c := dialFrom(t, netip.Addr{}, g.SSDPAddr())
	c.send(msearch("ssdp:all"))
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.conn.Read(make([]byte, 64)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("SSDP with UPnP disabled: %v, want connection refused", err)
	}
	// NAT-PMP still works.
	dialFrom(t, netip.Addr{}, g.PCPAddr()).roundTrip(pmpExternal())
}

// waitFor polls cond every millisecond for up to 2 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached within 2s")
}

// TestEpochBackwards: with Config.EpochBackwards every answer's epoch is
// below the one before, for NAT-PMP and PCP alike, and the table is kept.
func TestEpochBackwards(t *testing.T) {
	g := New(t, Config{EpochBackwards: true})
	c := dialFrom(t, netip.Addr{}, g.PCPAddr())
	var prev uint32
	for i := range 4 {
		var e uint32
		if i%2 == 0 {
			e = binary.BigEndian.Uint32(c.roundTrip(pmpExternal())[4:])
		} else {
			e = parsePMPMap(t, c.roundTrip(pmpMap(2, 6000, 6000, 3600))).epoch
		}
		if i > 0 && e >= prev {
			t.Fatalf("answer %d: epoch %d after %d, want smaller", i, e, prev)
		}
		prev = e
	}
	r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 0, client: c.local()}.bytes()))
	if r.epoch >= prev {
		t.Fatalf("PCP ANNOUNCE epoch %d after %d, want smaller", r.epoch, prev)
	}
	if len(g.Mappings()) != 1 {
		t.Fatalf("table %+v, want the one mapping kept", g.Mappings())
	}
}

// TestAnnounceBurst: AnnounceBurst sends n rounds (a NAT-PMP and a PCP
// announcement each) from the gateway's address, with the epoch given, and
// changes nothing on the gateway.
func TestAnnounceBurst(t *testing.T) {
	l := announceListener(t, "udp4", "127.0.0.1:0")
	g := New(t, Config{AnnounceTo: []netip.AddrPort{addrPort(l)}})
	<-g.AnnounceBurst(20, time.Millisecond, 0)
	var pmp, pcp int
	for _, d := range collect(l, 300*time.Millisecond) {
		if d.from != g.PCPAddr() {
			t.Errorf("announcement from %v, want %v", d.from, g.PCPAddr())
		}
		switch {
		case len(d.b) == 12 && d.b[1] == 128 && binary.BigEndian.Uint32(d.b[4:]) == 0:
			pmp++
		case len(d.b) == 24 && d.b[0] == 2 && binary.BigEndian.Uint32(d.b[8:]) == 0:
			pcp++
		default:
			t.Errorf("unexpected datagram % x", d.b)
		}
	}
	if pmp != 20 || pcp != 20 {
		t.Fatalf("%d NAT-PMP and %d PCP announcements, want 20 each", pmp, pcp)
	}
}

package upnpmap

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// tcpCounter accepts and counts TCP connections on one address, standing in
// for a host that must never be contacted.
type tcpCounter struct {
	ln net.Listener
	n  atomic.Int32
	wg sync.WaitGroup
}

// listenCounter listens on ap until the test ends.
func listenCounter(t *testing.T, ap netip.AddrPort) *tcpCounter {
	t.Helper()
	ln, err := net.Listen("tcp4", ap.String())
	if err != nil {
		t.Fatalf("listen %v: %v", ap, err)
	}
	c := &tcpCounter{ln: ln}
	c.wg.Add(1)
	go c.count()
	t.Cleanup(func() {
		ln.Close()
		c.wg.Wait()
	})
	return c
}

func (c *tcpCounter) count() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.n.Add(1)
		conn.Close()
	}
}

// freeLoopbackFor returns a loopback address (not addr) whose TCP port is
// free, for a third host.
func freeLoopbackFor(t *testing.T, port uint16, not ...netip.Addr) netip.AddrPort {
	t.Helper()
	for range 32 {
		a := netip.AddrFrom4([4]byte{127, 254, byte(rand.IntN(256)), byte(1 + rand.IntN(254))})
		ok := true
		for _, n := range not {
			ok = ok && a != n
		}
		if !ok {
			continue
		}
		ln, err := net.Listen("tcp4", netip.AddrPortFrom(a, port).String())
		if err != nil {
			continue
		}
		ln.Close()
		return netip.AddrPortFrom(a, port)
	}
	t.Fatal("no free loopback address")
	return netip.AddrPort{}
}

// A VRRP/CARP pair answers the SSDP search sent to the floating gateway
// address from its own static address, naming that address in LOCATION
// (tailscale#5502; quirk Q05). Map still maps over UPnP, talking only to the
// gateway: neither the responder nor a third host named in LOCATION is ever
// contacted.
func TestGatewaySSDPFromPairAddress(t *testing.T) {
	t.Run("location names the responder", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
		gw.SetSSDPFromStatic(true)
		static := gw.StaticAddr()
		responder := listenCounter(t, netip.AddrPortFrom(static, gw.HTTPAddr().Port()))
		m := mustMap(t, c, Request{InternalPort: 4900})
		checkPairMapping(t, gw, m, 4900)
		if n := responder.n.Load(); n != 0 {
			t.Fatalf("%d connections to the responder %v", n, static)
		}
	})
	t.Run("location names a third host", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
		gw.SetSSDPFromStatic(true)
		third := freeLoopbackFor(t, gw.HTTPAddr().Port(), gw.Addr(), gw.StaticAddr())
		gw.SetLocationHost(third.Addr().String())
		elsewhere := listenCounter(t, third)
		responder := listenCounter(t, netip.AddrPortFrom(gw.StaticAddr(), gw.HTTPAddr().Port()))
		m := mustMap(t, c, Request{InternalPort: 4901})
		checkPairMapping(t, gw, m, 4901)
		if n := elsewhere.n.Load() + responder.n.Load(); n != 0 {
			t.Fatalf("%d connections to the host LOCATION named (%v) or the responder", n, third)
		}
	})
	t.Run("gateway answers itself", func(t *testing.T) {
		// The usual router is unaffected, LOCATION elsewhere included.
		gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
		third := freeLoopbackFor(t, gw.HTTPAddr().Port(), gw.Addr())
		gw.SetLocationHost(third.Addr().String())
		elsewhere := listenCounter(t, third)
		m := mustMap(t, c, Request{InternalPort: 4902})
		checkPairMapping(t, gw, m, 4902)
		if n := elsewhere.n.Load(); n != 0 {
			t.Fatalf("%d connections to %v", n, third)
		}
	})
}

// checkPairMapping checks that m was made over UPnP with the gateway's own
// description and control URLs.
func checkPairMapping(t *testing.T, gw *gatewaytest.Gateway, m *Mapping, port uint16) {
	t.Helper()
	if m.Method() != UPnP {
		t.Fatalf("mapped via %v", m.Method())
	}
	if e, ok := entry(gw, "TCP", m.External().Port()); !ok || e.InternalPort != port {
		t.Fatalf("table %+v", gw.Mappings())
	}
	u, err := url.Parse(m.Location())
	if err != nil || u.Host != gw.HTTPAddr().String() {
		t.Fatalf("location %q, want the gateway %v", m.Location(), gw.HTTPAddr())
	}
	if gw.Requests("description") == 0 || gw.Requests("AddPortMapping") == 0 {
		t.Fatalf("the gateway served %d descriptions, %d AddPortMapping", gw.Requests("description"), gw.Requests("AddPortMapping"))
	}
}

// TestGatewayAnswerFromPair: which SSDP answers count as the gateway's, and
// where their LOCATION then points.
func TestGatewayAnswerFromPair(t *testing.T) {
	gw := netip.MustParseAddr("192.168.1.1")
	static := netip.MustParseAddrPort("192.168.1.2:1900")
	loc, _ := url.Parse("http://192.168.1.2:5000/rootDesc.xml?x=1")
	answer := func(from netip.AddrPort, st string) discovery.Response {
		return discovery.Response{From: from, Location: loc, ST: st}
	}
	for _, tc := range []struct {
		name    string
		r       discovery.Response
		unicast bool
		want    string // "" = not taken
	}{
		{"gateway itself", answer(netip.AddrPortFrom(gw, 1900), discovery.TargetIGD1), false, loc.String()},
		{"pair, unicast, IGD:1", answer(static, discovery.TargetIGD1), true, "http://192.168.1.1:5000/rootDesc.xml?x=1"},
		{"pair, unicast, IGD:2", answer(static, discovery.TargetIGD2), true, "http://192.168.1.1:5000/rootDesc.xml?x=1"},
		{"pair, unicast, WANIPConnection", answer(static, discovery.TargetWANIPConn1), true, "http://192.168.1.1:5000/rootDesc.xml?x=1"},
		{"pair, unicast, WANPPPConnection", answer(static, discovery.TargetWANPPPConn1), true, "http://192.168.1.1:5000/rootDesc.xml?x=1"},
		{"another device, multicast", answer(static, discovery.TargetIGD1), false, ""},
		{"not an IGD", answer(static, "urn:schemas-upnp-org:device:MediaServer:1"), true, ""},
		{"root device", answer(static, discovery.TargetRootDevice), true, ""},
		{"no location", discovery.Response{From: static, ST: discovery.TargetIGD1}, true, ""},
	} {
		r, ok := gatewayAnswer(tc.r, gw, tc.unicast)
		switch {
		case ok != (tc.want != ""):
			t.Errorf("%s: taken %v", tc.name, ok)
		case ok && r.Location.String() != tc.want:
			t.Errorf("%s: location %v, want %s", tc.name, r.Location, tc.want)
		}
	}
	// The responder's URL is not changed in place.
	if loc.Host != "192.168.1.2:5000" {
		t.Fatalf("original location changed to %v", loc)
	}
	// An IPv6 gateway; no port means 80.
	loc6, _ := url.Parse("http://[fe80::2]/d.xml")
	r, ok := gatewayAnswer(discovery.Response{From: netip.MustParseAddrPort("[fe80::2]:1900"), Location: loc6, ST: discovery.TargetIGD1},
		netip.MustParseAddr("fd00::1"), true)
	if !ok || r.Location.String() != "http://[fd00::1]/d.xml" {
		t.Fatalf("IPv6: %v %v", ok, r.Location)
	}
}

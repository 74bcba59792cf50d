package upnpmap

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/reach"
)

// innerWAN is the inner fake's external address in the chain tests: a
// private one, as a home router behind an ISP box reports.
var innerWAN = netip.MustParseAddr("10.77.0.2")

// doubleNAT starts two fakes: the gateway (inner, external address
// innerWAN, speaking innerM) and the upstream router (outer, which sees
// every request come from innerWAN, speaking outerM), and a Client for the
// gateway with Upstream set to the outer fake.
func doubleNAT(t *testing.T, inner, outer gatewaytest.Config, innerM, outerM Method) (in, out *gatewaytest.Gateway, c *Client) {
	t.Helper()
	if !inner.ExternalAddr.IsValid() {
		inner.ExternalAddr = innerWAN
	}
	in, c = testGateway(t, inner, innerM)
	if !outer.BehindNAT.IsValid() {
		outer.BehindNAT = inner.ExternalAddr
	}
	if outer.PCPMinLifetime == 0 {
		outer.PCPMinLifetime = -1
	}
	out = gatewaytest.New(t, outer)
	c.Upstream = out.Addr()
	c.UpstreamMethods = []Method{outerM}
	c.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) {
		t.Error("the upstream probe ran although Client.Upstream is set")
		return netip.Addr{}, errors.New("no probe in tests")
	}
	return in, out, c
}

// TestChainedMap: for each pair of methods, Map through both routers: the
// gateway forwards E1 to this machine, the upstream router forwards E2 to
// the gateway's WAN address:E1 (NAT-PMP by its sender, PCP by the client
// address, UPnP by NewInternalClient), External is the upstream leg's, and
// Close deletes both.
func TestChainedMap(t *testing.T) {
	for _, pair := range [][2]Method{{PCP, PCP}, {NATPMP, NATPMP}, {UPnP, UPnP}, {UPnP, PCP}, {PCP, NATPMP}} {
		t.Run(string(pair[0])+"/"+string(pair[1]), func(t *testing.T) {
			in, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{SecureMode: true}, pair[0], pair[1])
			m := mustMap(t, c, Request{InternalPort: 4600, ExternalPort: 4700})
			legs := m.Legs()
			if len(legs) != 2 {
				t.Fatalf("legs %+v, want 2 (err %v)", legs, m.UpstreamErr())
			}
			if legs[0].Router != in.Addr() || legs[0].Method != pair[0] || legs[0].External.Addr() != innerWAN {
				t.Errorf("inner leg %+v", legs[0])
			}
			if legs[1].Router != out.Addr() || legs[1].Method != pair[1] || legs[1].Internal != legs[0].External {
				t.Errorf("upstream leg %+v, want it to forward to %v", legs[1], legs[0].External)
			}
			if m.External() != legs[1].External || m.External().Addr() != gatewaytest.DefaultExternalAddr {
				t.Errorf("External %v, want the upstream leg's %v", m.External(), legs[1].External)
			}
			if err := m.UpstreamErr(); err != nil {
				t.Errorf("UpstreamErr %v", err)
			}
			e1 := legs[0].External.Port()
			oe, ok := entry(out, "TCP", legs[1].External.Port())
			if !ok || oe.InternalAddr != innerWAN || oe.InternalPort != e1 {
				t.Fatalf("upstream table %+v, want %v:%d", out.Mappings(), innerWAN, e1)
			}
			if ie, ok := entry(in, "TCP", e1); !ok || ie.InternalPort != 4600 {
				t.Fatalf("gateway table %+v", in.Mappings())
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if n, k := len(in.Mappings()), len(out.Mappings()); n+k != 0 {
				t.Fatalf("after Close: gateway %+v, upstream %+v", in.Mappings(), out.Mappings())
			}
		})
	}
}

// TestChainUpstreamSilent: the upstream router does not answer; the inner
// mapping stands, Map succeeds, and UpstreamErr and a Failed event on leg 1
// name the forward to configure by hand.
func TestChainUpstreamSilent(t *testing.T) {
	in, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, PCP)
	out.SetSilent(gatewaytest.PCP, true)
	c.ProbeTimeout = 300 * time.Millisecond
	m := mustMap(t, c, Request{InternalPort: 4601, ExternalPort: 4701})
	defer m.Close()
	if len(m.Legs()) != 1 || m.External().Addr() != innerWAN {
		t.Fatalf("legs %+v external %v, want the inner leg alone", m.Legs(), m.External())
	}
	if _, ok := entry(in, "TCP", m.External().Port()); !ok {
		t.Fatalf("inner mapping missing: %+v", in.Mappings())
	}
	err := m.UpstreamErr()
	var ue *UpstreamError
	if !errors.Is(err, ErrUpstreamUnmapped) || !errors.As(err, &ue) {
		t.Fatalf("UpstreamErr %v, want an *UpstreamError", err)
	}
	want := "forward tcp 4701 -> " + netip.AddrPortFrom(innerWAN, m.External().Port()).String() + " on " + out.Addr().String()
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("UpstreamErr %q does not say %q", err, want)
	}
	ev := waitFor(t, m, Failed)
	if ev.Leg != 1 || !errors.Is(ev.Err, ErrUpstreamUnmapped) {
		t.Fatalf("event %+v, want Failed on leg 1", ev)
	}
}

// TestChainCGNATUpstream: a gateway in the shared address space (found
// double NAT by its address, the upstream router found by the probe) whose
// upstream router does not answer is reported as carrier-grade NAT, with
// the advice that only a relay, SSH or IPv6 can help.
func TestChainCGNATUpstream(t *testing.T) {
	shared := netip.MustParseAddr("100.64.3.4")
	_, out, c := doubleNAT(t, gatewaytest.Config{ExternalAddr: shared}, gatewaytest.Config{BehindNAT: shared}, NATPMP, NATPMP)
	out.SetSilent(gatewaytest.NATPMP, true)
	c.ProbeTimeout = 300 * time.Millisecond
	c.Upstream = netip.Addr{}
	probes := 0
	c.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) { probes++; return out.Addr(), nil }
	m := mustMap(t, c, Request{InternalPort: 4603})
	defer m.Close()
	err := m.UpstreamErr()
	var ue *UpstreamError
	if probes != 1 || !errors.As(err, &ue) || !ue.CGNAT || ue.Upstream != out.Addr() {
		t.Fatalf("%d probes, UpstreamErr %v; want CGNAT via %v", probes, err, out.Addr())
	}
	for _, want := range []string{"carrier-grade NAT", "relay", "IPv6"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

// TestNoChain: with NoChain, nothing is sent to the upstream router.
func TestNoChain(t *testing.T) {
	_, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, PCP)
	c.NoChain = true
	m := mustMap(t, c, Request{InternalPort: 4602})
	defer m.Close()
	if len(m.Legs()) != 1 || m.UpstreamErr() != nil {
		t.Fatalf("legs %+v err %v", m.Legs(), m.UpstreamErr())
	}
	for _, p := range []string{gatewaytest.PCP, gatewaytest.NATPMP, gatewaytest.SSDP, gatewaytest.SOAP} {
		if n := out.Requests(p); n != 0 {
			t.Errorf("%d %s requests to the upstream router", n, p)
		}
	}
}

// TestChainUpstreamReboot: the upstream router reboots (table and epoch
// lost); its announcements never reach this machine, so the upstream leg's
// next renewal notices, and the leg is reported Lost then Restored, both on
// leg 1, and is back in the upstream router's table.
func TestChainUpstreamReboot(t *testing.T) {
	for _, outerM := range []Method{PCP, NATPMP} {
		t.Run(string(outerM), func(t *testing.T) {
			var sc shiftClock
			_, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{Now: sc.Now}, PCP, outerM)
			sc.Shift(time.Hour) // the upstream router has been up for an hour
			m := mustMap(t, c, Request{InternalPort: 4604, Lifetime: 4 * time.Second})
			defer m.Close()
			if len(m.Legs()) != 2 {
				t.Fatalf("not chained: %v", m.UpstreamErr())
			}
			out.Reboot()
			lost := waitForLeg(t, m, Lost, 1)
			if !errors.Is(lost.Err, errGatewayReset) {
				t.Errorf("lost: %v, want the epoch reset", lost.Err)
			}
			restored := waitForLeg(t, m, Restored, 1)
			legs := m.Legs()
			if len(legs) != 2 || restored.External != legs[1].External {
				t.Fatalf("restored %v, legs %+v", restored.External, legs)
			}
			if e, ok := entry(out, "TCP", legs[1].External.Port()); !ok || e.InternalAddr != innerWAN || e.InternalPort != legs[0].External.Port() {
				t.Fatalf("upstream table after restoration: %+v", out.Mappings())
			}
		})
	}
}

// TestChainFollowsInnerAddress: the gateway's WAN address changes; the
// upstream leg is re-made for the new target (the old one deleted), and
// reported on leg 1.
func TestChainFollowsInnerAddress(t *testing.T) {
	in, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, NATPMP, UPnP)
	m := mustMap(t, c, Request{InternalPort: 4605, Lifetime: time.Hour})
	defer m.Close()
	waitListening(t, m)
	if len(m.Legs()) != 2 {
		t.Fatalf("not chained: %v", m.UpstreamErr())
	}
	newWAN := netip.MustParseAddr("10.77.0.9")
	in.SetExternalAddr(newWAN)
	waitForLeg(t, m, Restored, 1)
	legs := m.Legs()
	if len(legs) != 2 || legs[0].External.Addr() != newWAN || legs[1].Internal != legs[0].External {
		t.Fatalf("legs %+v, want the upstream leg to forward to %v", legs, newWAN)
	}
	tab := out.Mappings()
	if len(tab) != 1 || tab[0].InternalAddr != newWAN {
		t.Fatalf("upstream table %+v, want one entry for %v", tab, newWAN)
	}
}

// TestChainDetectsDoubleNAT: with Client.Upstream unset, a private external
// address makes Map look for the upstream router (here the injected probe)
// and chain; a public one sends no probe and no request anywhere else.
func TestChainDetectsDoubleNAT(t *testing.T) {
	_, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, PCP)
	c.Upstream = netip.Addr{}
	probes := 0
	c.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) { probes++; return out.Addr(), nil }
	m := mustMap(t, c, Request{InternalPort: 4606})
	defer m.Close()
	if probes != 1 || len(m.Legs()) != 2 || m.External().Addr() != out.ExternalAddr() {
		t.Fatalf("%d probes, legs %+v (%v)", probes, m.Legs(), m.UpstreamErr())
	}

	pub, c2 := testGateway(t, gatewaytest.Config{}, PCP)
	c2.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) {
		t.Error("probed for an upstream router behind a public address")
		return netip.Addr{}, nil
	}
	m2 := mustMap(t, c2, Request{InternalPort: 4607})
	defer m2.Close()
	if len(m2.Legs()) != 1 || m2.UpstreamErr() != nil || pub.Requests(gatewaytest.PCP) != 1 {
		t.Fatalf("single router: legs %+v, err %v, %d PCP requests", m2.Legs(), m2.UpstreamErr(), pub.Requests(gatewaytest.PCP))
	}
}

// TestChainNoUpstreamFound: double NAT, and no upstream router known (a
// loopback gateway is never probed): the mapping stands, and UpstreamErr
// says to set the upstream router or forward by hand; no goroutine runs.
func TestChainNoUpstreamFound(t *testing.T) {
	_, c := testGateway(t, gatewaytest.Config{ExternalAddr: innerWAN}, NATPMP)
	m := mustMap(t, c, Request{InternalPort: 4608})
	defer m.Close()
	err := m.UpstreamErr()
	if !errors.Is(err, ErrUpstreamUnmapped) || !strings.Contains(err.Error(), "--upstream") ||
		!strings.Contains(err.Error(), "forward tcp 4608 -> 10.77.0.2:") {
		t.Fatalf("UpstreamErr %v", err)
	}
	if ch := m.chain.Load(); ch == nil || ch.done != nil {
		t.Fatal("want a chain that records the advice and runs nothing")
	}
}

// TestDiscoverUpstream: behind a double NAT, Discover probes the upstream
// router too.
func TestDiscoverUpstream(t *testing.T) {
	_, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, NATPMP)
	r, err := c.Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.Upstream == nil || r.Upstream.Gateway != out.Addr() || !r.Upstream.Has(NATPMP) || r.Upstream.ExternalAddr != out.ExternalAddr() {
		t.Fatalf("upstream %+v (%v)", r.Upstream, r.UpstreamErr)
	}
	if !strings.Contains(r.String(), "upstream router: gateway "+out.Addr().String()) {
		t.Fatalf("summary %q", r)
	}
}

// waitForLeg reads events until one of kind on leg arrives.
func waitForLeg(t *testing.T, m *Mapping, kind EventKind, leg int) Event {
	t.Helper()
	for {
		ev := waitFor(t, m, kind)
		if ev.Leg == leg {
			return ev
		}
		t.Logf("event %v on leg %d (waiting for leg %d)", ev, ev.Leg, leg)
	}
}

// TestChainVerify: Verify of a chained mapping asks the checker about the
// upstream leg's port and compares with the upstream router's address.
func TestChainVerify(t *testing.T) {
	_, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, PCP)
	c.Checker = "checker.invalid"
	out.AddMapping(gatewaytest.Mapping{ExternalPort: 4609}) // E2 differs from E1
	m := mustMap(t, c, Request{InternalPort: 4609})
	defer m.Close()
	var asked uint16
	stub := stubChecker(out.ExternalAddr(), func() bool { return true })
	c.checkFn = func(ctx context.Context, checker string, port uint16, proto reach.Proto) (reach.Result, error) {
		asked = port
		return stub(ctx, checker, port, proto)
	}
	v, err := m.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	legs := m.Legs()
	if len(legs) != 2 || legs[1].External.Port() == legs[0].External.Port() {
		t.Fatalf("legs %+v: want the upstream port moved off the taken one", legs)
	}
	if asked != legs[1].External.Port() || !v.Reachable() || v.NAT != reach.NATNone {
		t.Fatalf("asked about port %d (legs %+v), verification %+v", asked, legs, v)
	}
}

// TestChainOnAddressMismatch: the gateway reports a public-looking address,
// but its PCP server answers ADDRESS_MISMATCH (a NAT between this host and
// it) and NAT-PMP maps: that is double NAT too, and Map chains.
func TestChainOnAddressMismatch(t *testing.T) {
	hidden := netip.MustParseAddr("10.99.0.5") // what a NAT in between makes of this host
	in, c := testGateway(t, gatewaytest.Config{BehindNAT: hidden}, PCP, NATPMP)
	out := gatewaytest.New(t, gatewaytest.Config{BehindNAT: in.ExternalAddr(), ExternalAddr: netip.MustParseAddr("198.51.100.9")})
	probes := 0
	c.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) { probes++; return out.Addr(), nil }
	m := mustMap(t, c, Request{InternalPort: 4610})
	defer m.Close()
	if m.Method() != NATPMP || probes != 1 || len(m.Legs()) != 2 || m.External().Addr() != out.ExternalAddr() {
		t.Fatalf("method %v, %d probes, legs %+v (%v)", m.Method(), probes, m.Legs(), m.UpstreamErr())
	}
}

// TestChainLegDelete: after Detach, each leg can be deleted from another
// Client (another process) by its Leg.Delete, at its own router: the
// upstream leg's request names the gateway's WAN address as PCP's client
// and NAT-PMP's asker.
func TestChainLegDelete(t *testing.T) {
	for _, outerM := range []Method{PCP, NATPMP, UPnP} {
		t.Run(string(outerM), func(t *testing.T) {
			in, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, outerM)
			m := mustMap(t, c, Request{InternalPort: 4611})
			legs := m.Legs()
			m.Detach()
			if len(legs) != 2 || len(out.Mappings()) != 1 || len(in.Mappings()) != 1 {
				t.Fatalf("legs %+v; tables %+v / %+v", legs, in.Mappings(), out.Mappings())
			}
			for i, gw := range []*gatewaytest.Gateway{in, out} {
				other := &Client{Gateway: legs[i].Router, ProbeTimeout: testProbeTimeout, RequestTimeout: 2 * time.Second}
				if err := other.Delete(t.Context(), legs[i].Delete); err != nil {
					t.Fatalf("leg %d: %v", i, err)
				}
				if ms := gw.Mappings(); len(ms) != 0 {
					t.Fatalf("leg %d still there: %+v", i, ms)
				}
			}
		})
	}
}

// TestChainUpstreamComesBack: the upstream router is silent when the
// mapping is made, and answers later: the retry makes the upstream leg,
// reported Restored on leg 1, and UpstreamErr clears.
func TestChainUpstreamComesBack(t *testing.T) {
	_, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, PCP)
	out.SetSilent(gatewaytest.PCP, true)
	c.ProbeTimeout = 300 * time.Millisecond
	c.chainRetryAfter = 200 * time.Millisecond
	m := mustMap(t, c, Request{InternalPort: 4612})
	defer m.Close()
	if m.UpstreamErr() == nil {
		t.Fatal("no UpstreamErr while the upstream router is silent")
	}
	out.SetSilent(gatewaytest.PCP, false)
	ev := waitForLeg(t, m, Restored, 1)
	legs := m.Legs()
	if len(legs) != 2 || ev.External != legs[1].External || m.UpstreamErr() != nil || m.External() != legs[1].External {
		t.Fatalf("event %v, legs %+v, err %v", ev, legs, m.UpstreamErr())
	}
}

// TestChainVerifyHealsUpstreamLeg: the checker cannot get through a chained
// mapping while both routers list their legs, because the upstream router's
// forward went stale: Verify re-creates the upstream leg too (one delete and
// one add there), and the mapping is Healed.
func TestChainVerifyHealsUpstreamLeg(t *testing.T) {
	_, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, UPnP, UPnP)
	c.Checker = "checker.invalid"
	m := mustMap(t, c, Request{InternalPort: 4613, ExternalPort: 4713, Lifetime: time.Hour})
	defer m.Close()
	if len(m.Legs()) != 2 {
		t.Fatalf("legs %+v (%v)", m.Legs(), m.UpstreamErr())
	}
	adds0 := out.Requests("AddPortMapping") + out.Requests("AddAnyPortMapping")
	dels0 := out.Requests("DeletePortMapping")
	c.checkFn = stubChecker(out.ExternalAddr(), func() bool {
		return out.Requests("DeletePortMapping") > dels0 && len(out.Mappings()) == 1
	})
	v, err := m.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !v.Healed || !v.Reachable() {
		t.Fatalf("verification %+v, want healed", v)
	}
	adds := out.Requests("AddPortMapping") + out.Requests("AddAnyPortMapping") - adds0
	if dels := out.Requests("DeletePortMapping") - dels0; dels != 1 || adds != 1 {
		t.Fatalf("upstream router: %d deletes and %d adds, want one of each", dels, adds)
	}
	ev := waitFor(t, m, Healed)
	if ev.External != m.External() || ev.External.Addr() != out.ExternalAddr() {
		t.Fatalf("Healed at %v, want the outermost address %v", ev.External, m.External())
	}
}

// TestChainVerifyInnerMoved: healing re-makes the inner leg on another port
// (another host took its port meanwhile): the upstream leg, which forwarded
// to the old port, is re-made to forward to the new one.
func TestChainVerifyInnerMoved(t *testing.T) {
	in, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, NATPMP, PCP)
	c.Checker = "checker.invalid"
	m := mustMap(t, c, Request{InternalPort: 4614, ExternalPort: 4714, Lifetime: time.Hour})
	defer m.Close()
	e1 := m.Legs()[0].External.Port()
	taken := false
	c.checkFn = stubChecker(out.ExternalAddr(), func() bool {
		if !taken { // the first check: another host takes E1 on the gateway
			taken = true
			in.AddMapping(gatewaytest.Mapping{ExternalPort: e1})
			return false
		}
		// Open when the upstream router forwards to the port where the
		// gateway now forwards to this host.
		for _, oe := range out.Mappings() {
			if ie, ok := entry(in, "TCP", oe.InternalPort); ok && ie.InternalPort == 4614 && oe.InternalAddr == innerWAN {
				return true
			}
		}
		return false
	})
	v, err := m.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	legs := m.Legs()
	if !v.Healed || len(legs) != 2 || legs[0].External.Port() == e1 || legs[1].Internal != legs[0].External {
		t.Fatalf("verification %+v, legs %+v; want healed with the upstream leg following the inner one off port %d", v, legs, e1)
	}
	if n := len(out.Mappings()); n != 1 {
		t.Fatalf("upstream table %+v, want the one leg", out.Mappings())
	}
}

// TestVerifyChainsOnUpstreamNAT: the gateway's external address looks
// public, so Map does not chain; the checker then sees this machine at
// another public address (UPSTREAM_NAT): Verify chains the mapping through
// the upstream router found, and the check through it gets through
// (Healed). A checker that sees a private address (on the LAN) tells
// nothing, and no upstream router found leaves UpstreamErr saying so.
func TestVerifyChainsOnUpstreamNAT(t *testing.T) {
	wan := netip.MustParseAddr("198.51.100.20") // public, yet behind another NAT
	for _, tc := range []struct {
		name    string
		lan     bool // the checker sees a LAN address
		noRoute bool // no upstream router found
	}{{name: "chains"}, {name: "checker on the LAN", lan: true}, {name: "no upstream router", noRoute: true}} {
		t.Run(tc.name, func(t *testing.T) {
			in, out, c := doubleNAT(t, gatewaytest.Config{ExternalAddr: wan}, gatewaytest.Config{}, PCP, PCP)
			c.Upstream = netip.Addr{}
			probes := 0
			c.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) {
				probes++
				if tc.noRoute {
					return netip.Addr{}, errors.New("no ICMP answer")
				}
				return out.Addr(), nil
			}
			c.Checker = "checker.invalid"
			m := mustMap(t, c, Request{InternalPort: 4640, ExternalPort: 4740})
			defer m.Close()
			if len(m.Legs()) != 1 || probes != 0 {
				t.Fatalf("Map chained a gateway with a public address: legs %+v", m.Legs())
			}
			seen := out.ExternalAddr()
			if tc.lan {
				seen = netip.MustParseAddr("192.168.1.9")
			}
			c.checkFn = stubChecker(seen, func() bool { return len(out.Mappings()) == 1 })
			v, err := m.Verify(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			legs := m.Legs()
			switch {
			case tc.lan:
				if v.Healed || len(legs) != 1 || probes != 0 || len(out.Mappings()) != 0 {
					t.Fatalf("verification %+v, legs %+v, %d probes: want no chain", v, legs, probes)
				}
			case tc.noRoute:
				if v.Healed || v.NAT != reach.NATUpstream || len(legs) != 1 || !errors.Is(m.UpstreamErr(), ErrUpstreamUnmapped) {
					t.Fatalf("verification %+v, legs %+v, UpstreamErr %v", v, legs, m.UpstreamErr())
				}
			default:
				if !v.Healed || !v.Reachable() || len(legs) != 2 || probes != 1 || m.External().Addr() != out.ExternalAddr() ||
					legs[1].Internal != legs[0].External {
					t.Fatalf("verification %+v, legs %+v (%v), %d probes: want chained and healed", v, legs, m.UpstreamErr(), probes)
				}
				if ev := waitFor(t, m, Healed); ev.External != m.External() {
					t.Errorf("Healed at %v, want %v", ev.External, m.External())
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				if n, k := len(in.Mappings()), len(out.Mappings()); n+k != 0 {
					t.Fatalf("after Close: gateway %+v, upstream %+v", in.Mappings(), out.Mappings())
				}
			}
		})
	}
}

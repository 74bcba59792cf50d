package upnpmap

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/reach"
)

// TestUpstreamNATByComparison: a reach.Server on loopback sees 127.0.0.1;
// the fake router reports 203.0.113.7, which looks public: another NAT
// upstream, as on a network where the router's uplink is itself NATed.
func TestUpstreamNATByComparison(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, NATPMP)
	c.Checker = startChecker(t)
	r, err := c.UpstreamNAT(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := UpstreamReport{External: gw.ExternalAddr(), Observed: netip.MustParseAddr("127.0.0.1"), NAT: reach.NATUpstream}
	if r != want || r.NAT.String() != "UPSTREAM_NAT" {
		t.Fatalf("report %+v, want %+v", r, want)
	}
}

// TestUpstreamNATNone: the checker sees the router's own address: nothing
// upstream. (Loopback cannot show this with a real server: the STUN answer
// is stubbed with the address a checker on the Internet would see.)
func TestUpstreamNATNone(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, NATPMP)
	c.Checker = "checker.invalid"
	asked := 0
	c.stunFn = func(ctx context.Context, server string) (netip.AddrPort, error) {
		asked++
		return netip.AddrPortFrom(gw.ExternalAddr(), 40000), nil
	}
	r, err := c.UpstreamNAT(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.NAT != reach.NATNone || asked != 1 {
		t.Fatalf("report %+v after %d STUN requests, want NONE after 1", r, asked)
	}
}

// TestUpstreamNATPrivate: a router whose external address is private or
// shared (CGNAT) is reported as such, whatever the checker saw.
func TestUpstreamNATPrivate(t *testing.T) {
	_, c := testGateway(t, gatewaytest.Config{ExternalAddr: netip.MustParseAddr("100.64.3.4")}, NATPMP)
	c.Checker = "checker.invalid"
	c.stunFn = func(ctx context.Context, server string) (netip.AddrPort, error) {
		return netip.MustParseAddrPort("198.51.100.9:40000"), nil
	}
	r, err := c.UpstreamNAT(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.NAT != reach.NATPrivate {
		t.Fatalf("report %+v, want PRIVATE_EXTERNAL", r)
	}
}

// TestUpstreamNATNoChecker: no checker named, nothing asked.
func TestUpstreamNATNoChecker(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, NATPMP)
	if _, err := c.UpstreamNAT(context.Background()); !errors.Is(err, ErrInvalidArgs) {
		t.Fatalf("err %v, want ErrInvalidArgs", err)
	}
	if n := gw.Requests(gatewaytest.NATPMP); n != 0 {
		t.Errorf("%d requests to the router without a checker", n)
	}
}

// TestChainOnObservedAddress: the gateway reports a public-looking address,
// but the Client's Checker sees this machine at another public address
// (UPSTREAM_NAT): Map chains through the upstream router found, and asks
// the checker once per external address, not at every Map. When the
// checker sees the gateway's own address, nothing is chained.
func TestChainOnObservedAddress(t *testing.T) {
	wan := netip.MustParseAddr("198.51.100.20") // public, but behind another NAT
	for _, tc := range []struct {
		name    string
		seen    netip.Addr
		chained bool
	}{
		{"upstream NAT", gatewaytest.DefaultExternalAddr, true},
		{"same address", wan, false},
		{"checker on the LAN", netip.MustParseAddr("192.168.1.9"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, c := doubleNAT(t, gatewaytest.Config{ExternalAddr: wan}, gatewaytest.Config{}, PCP, PCP)
			c.Upstream = netip.Addr{}
			probes, asked := 0, 0
			c.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) { probes++; return out.Addr(), nil }
			c.Checker = "checker.invalid"
			c.stunFn = func(ctx context.Context, server string) (netip.AddrPort, error) {
				asked++
				return netip.AddrPortFrom(tc.seen, 40000), nil
			}
			for i, port := range []uint16{4640, 4641} {
				m := mustMap(t, c, Request{InternalPort: port})
				defer m.Close()
				legs := m.Legs()
				if got := len(legs) == 2; got != tc.chained || (tc.chained && m.External().Addr() != out.ExternalAddr()) {
					t.Fatalf("map %d: legs %+v (%v), want chained %v", i, legs, m.UpstreamErr(), tc.chained)
				}
			}
			if asked != 1 {
				t.Errorf("the checker was asked %d times for two mappings, want once", asked)
			}
			if want := map[bool]int{true: 2, false: 0}[tc.chained]; probes != want {
				t.Errorf("%d upstream probes, want %d", probes, want)
			}
		})
	}
}

// TestObservedUpstreamNoRouterFound: UPSTREAM_NAT by the checker, but no
// upstream router found: the mapping stands, and UpstreamErr says so.
func TestObservedUpstreamNoRouterFound(t *testing.T) {
	wan := netip.MustParseAddr("198.51.100.20")
	_, c := testGateway(t, gatewaytest.Config{ExternalAddr: wan}, NATPMP)
	c.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) {
		return netip.Addr{}, errors.New("no ICMP answer")
	}
	c.Checker = "checker.invalid"
	c.stunFn = func(ctx context.Context, server string) (netip.AddrPort, error) {
		return netip.MustParseAddrPort("203.0.113.50:40000"), nil
	}
	m := mustMap(t, c, Request{InternalPort: 4642})
	defer m.Close()
	err := m.UpstreamErr()
	if !errors.Is(err, ErrUpstreamUnmapped) || len(m.Legs()) != 1 || m.External().Addr() != wan {
		t.Fatalf("legs %+v, UpstreamErr %v; want the gateway's mapping and ErrUpstreamUnmapped", m.Legs(), err)
	}
}

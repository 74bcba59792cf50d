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

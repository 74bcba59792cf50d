package pcp_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/pcp"
)

// IPv6 MAP (a pinhole) against gatewaytest's PCP server on [::1]. The
// client's requests come from ::1, which the gateway takes for its
// Config.IPv6Host: the pinhole is that address's.

func TestGatewayIPv6PinholeLifecycle(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true})
	c := client(gw.PCPAddr6())
	ctx := t.Context()
	m, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8080, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := netip.AddrPortFrom(gatewaytest.DefaultIPv6Host, 8080)
	if m.External != want || m.Lifetime != time.Hour {
		t.Errorf("Map = %+v; want %v for an hour (no translation)", m, want)
	}
	ps := gw.Pinholes()
	if len(ps) != 1 || ps[0].Method != gatewaytest.PCP || ps[0].Nonce != m.Nonce || ps[0].InternalPort != 8080 || ps[0].Protocol != "TCP" {
		t.Fatalf("gateway pinholes %+v", ps)
	}
	// Renewal with the nonce keeps the one pinhole.
	r, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8080, Lifetime: 2 * time.Hour, Nonce: m.Nonce})
	if err != nil || r.External != want || r.Lifetime != 2*time.Hour {
		t.Fatalf("renewal = %+v, %v", r, err)
	}
	if n := len(gw.Pinholes()); n != 1 {
		t.Errorf("%d pinholes after a renewal", n)
	}
	// Another nonce for the same pinhole is refused (§11.3).
	if _, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8080, Lifetime: time.Hour}); !errors.Is(err, pcp.ErrNotAuthorized) {
		t.Errorf("a second nonce: %v, want NOT_AUTHORIZED", err)
	}
	if err := c.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ps := gw.Pinholes(); len(ps) != 0 {
		t.Errorf("after Delete %+v", ps)
	}
}

func TestGatewayIPv6PinholeForConfiguredHost(t *testing.T) {
	host := netip.MustParseAddr("2001:db8:1:2::3")
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true, IPv6Host: host})
	m, err := client(gw.PCPAddr6()).Map(t.Context(), pcp.MapRequest{Protocol: pcp.UDP, InternalPort: 4000, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if m.External != netip.AddrPortFrom(host, 4000) {
		t.Errorf("External %v, want [%v]:4000", m.External, host)
	}
}

func TestGatewayIPv6Unsupported(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true, PCPv6Unsupported: true})
	_, err := client(gw.PCPAddr6()).Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8080, Lifetime: time.Hour})
	var re *pcp.ResultError
	if !errors.As(err, &re) || re.Code != 5 || !errors.Is(err, pcp.ErrUnsuppOption) {
		t.Errorf("IPv6 MAP: %v, want result 5", err)
	}
	if _, err := client(gw.PCPAddr6()).Announce(t.Context()); err != nil {
		t.Errorf("ANNOUNCE over IPv6: %v", err)
	}
	if _, err := client(gw.PCPAddr()).Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8080, Lifetime: time.Hour}); err != nil {
		t.Errorf("IPv4 MAP: %v", err)
	}
}

// OPNsense answers a pinhole's renewal with NO_RESOURCES; the pinhole is
// still there until it expires, and Delete still works.
func TestGatewayIPv6RenewNoResources(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true, PCPv6RenewNoResources: true})
	c := client(gw.PCPAddr6())
	m, err := c.Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8080, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8080, Lifetime: time.Hour, Nonce: m.Nonce})
	if !errors.Is(err, pcp.ErrNoResources) {
		t.Errorf("renewal: %v, want NO_RESOURCES", err)
	}
	if n := len(gw.Pinholes()); n != 1 {
		t.Errorf("%d pinholes after the refused renewal, want 1", n)
	}
	if err := c.Delete(t.Context(), m); err != nil {
		t.Error(err)
	}
}

package upnpmap

import (
	"context"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestExternalAddrReusesProbe: the probe that ExternalAddr makes first has
// already asked NAT-PMP for the external address; that answer is the result,
// not a reason to ask again.
func TestExternalAddrReusesProbe(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, NATPMP)
	a, via, err := c.ExternalAddrVia(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a != gw.ExternalAddr() || via != NATPMP {
		t.Errorf("external address %v via %v, want %v via natpmp", a, via, gw.ExternalAddr())
	}
	if n := gw.Requests(gatewaytest.NATPMP); n != 1 {
		t.Errorf("%d NAT-PMP requests, want 1 (the probe's)", n)
	}
	// With the probe cached, the next call asks afresh: the address may
	// have changed since.
	if _, err := c.ExternalAddr(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := gw.Requests(gatewaytest.NATPMP); n != 2 {
		t.Errorf("%d NAT-PMP requests after the second call, want 2", n)
	}
}

// TestExternalAddrPCPOnly: a gateway reached by PCP alone tells its
// external address through a short-lived mapping, which is gone afterwards.
func TestExternalAddrPCPOnly(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, PCP)
	a, via, err := c.ExternalAddrVia(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a != gw.ExternalAddr() || via != PCP {
		t.Errorf("external address %v via %v, want %v via pcp", a, via, gw.ExternalAddr())
	}
	// The ANNOUNCE probe, the MAP and its delete.
	if n := gw.Requests(gatewaytest.PCP); n != 3 {
		t.Errorf("%d PCP requests, want 3", n)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Errorf("mappings left behind: %+v", ms)
	}
}

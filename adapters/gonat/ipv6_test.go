package gonat_test

import (
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/adapters/gonat"
	"github.com/upnpmap/upnpmap/adapters/internal/testgw"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// On a host with a stable global IPv6 address and a router that opens
// pinholes, AddPortMapping opens the IPv6 pinhole of the port beside the IPv4
// mapping (as netbird's go-nat fork does with PCP), under the same
// interface; DeletePortMapping closes both.
func TestAddPortMappingOpensPinholeBeside(t *testing.T) {
	gw, c := testgw.NewDual(t, gatewaytest.Config{})
	n, err := gonat.Discover(ctx(t), c)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	host6 := gatewaytest.DefaultIPv6Host

	port, err := n.AddPortMapping(ctx(t), "udp", 51820, "wireguard", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := testgw.Has(gw, "UDP", uint16(port), 51820); !ok {
		t.Fatalf("router holds mappings %+v, want UDP %d->51820", gw.Mappings(), port)
	}
	if !testgw.HasPinhole(gw, "UDP", host6, 51820) || len(gw.Pinholes()) != 1 {
		t.Fatalf("router holds pinholes %+v, want one for UDP [%v]:51820", gw.Pinholes(), host6)
	}
	// A refresh, as go-nat users call it, opens nothing more.
	if _, err := n.AddPortMapping(ctx(t), "udp", 51820, "wireguard", time.Hour); err != nil {
		t.Fatal(err)
	}
	if k := gw.Requests("AddPinhole"); k != 1 {
		t.Fatalf("AddPinhole sent %d times, want 1", k)
	}

	if err := n.DeletePortMapping(ctx(t), "udp", 51820); err != nil {
		t.Fatal(err)
	}
	if ps, ms := gw.Pinholes(), gw.Mappings(); len(ps) != 0 || len(ms) != 0 {
		t.Fatalf("router holds pinholes %+v and mappings %+v after DeletePortMapping", ps, ms)
	}
}

// When the IPv4 mapping fails and only the pinhole opens, AddPortMapping
// fails with the IPv4 error (go-nat's caller asked for a NAT mapping and
// would announce the port on the NAT's address) and leaves nothing open.
func TestAddPortMappingFailsWithoutIPv4(t *testing.T) {
	gw, c := testgw.NewDual(t, gatewaytest.Config{DisablePCP: true, DisableNATPMP: true})
	n, err := gonat.Discover(ctx(t), c)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	testgw.RefuseUPnPAdds(gw)
	port, err := n.AddPortMapping(ctx(t), "tcp", 8080, "web", time.Hour)
	if err == nil {
		t.Fatalf("AddPortMapping = %d with the IPv4 mapping refused", port)
	}
	if k := gw.Requests("AddPinhole"); k != 1 {
		t.Fatalf("AddPinhole sent %d times, want 1 (the pinhole was tried beside)", k)
	}
	if ps, ms := gw.Pinholes(), gw.Mappings(); len(ps) != 0 || len(ms) != 0 {
		t.Fatalf("router holds pinholes %+v and mappings %+v after a failed AddPortMapping", ps, ms)
	}
	if a, err := n.GetExternalAddress(); err != nil || !a.Equal(gatewaytest.DefaultExternalAddr.AsSlice()) {
		t.Fatalf("GetExternalAddress = %v, %v; want the router's IPv4 address", a, err)
	}
}

package geth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/p2p/nat"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/geth"
	"github.com/upnpmap/upnpmap/adapters/internal/testgw"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

func newNAT(t *testing.T, cfg gatewaytest.Config) (*gatewaytest.Gateway, *geth.NAT) {
	t.Helper()
	gw, c := testgw.New(t, cfg)
	n := geth.New(c)
	t.Cleanup(func() { n.Close() })
	return gw, n
}

func TestAddMappingRefreshAndDelete(t *testing.T) {
	gw, n := newNAT(t, gatewaytest.Config{})
	var iface nat.Interface = n // what geth holds
	port, err := iface.AddMapping("TCP", 30303, 30303, "ethereum p2p", 10*time.Minute)
	if err != nil || port != 30303 {
		t.Fatalf("AddMapping: %d, %v; want 30303", port, err)
	}
	if _, ok := testgw.Has(gw, "TCP", 30303, 30303); !ok {
		t.Fatalf("router holds %+v, want TCP 30303->30303", gw.Mappings())
	}

	// geth refreshes with the port it was granted: the live mapping answers.
	before := gw.Requests(gatewaytest.PCP) + gw.Requests(gatewaytest.NATPMP) + gw.Requests(gatewaytest.UPnP)
	if again, err := iface.AddMapping("TCP", int(port), 30303, "ethereum p2p", 10*time.Minute); err != nil || again != port {
		t.Fatalf("refresh: %d, %v; want %d", again, err, port)
	}
	if after := gw.Requests(gatewaytest.PCP) + gw.Requests(gatewaytest.NATPMP) + gw.Requests(gatewaytest.UPnP); after != before {
		t.Fatalf("refresh sent %d requests, want 0 (upnpmap renews on its own)", after-before)
	}

	if err := iface.DeleteMapping("TCP", int(port), 30303); err != nil {
		t.Fatal(err)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Fatalf("router holds %+v after DeleteMapping, want nothing", m)
	}
}

// geth asks for its external port once and then for the port it was granted;
// a taken port yields another one, which geth then puts in its node record.
func TestAddMappingTakenPort(t *testing.T) {
	gw, n := newNAT(t, gatewaytest.Config{})
	gw.AddMapping(gatewaytest.Mapping{Protocol: "UDP", ExternalPort: 30303})
	port, err := n.AddMapping("UDP", 30303, 30303, "ethereum discovery", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if port == 30303 || port == 0 {
		t.Fatalf("granted %d, want another port than the taken 30303", port)
	}
	if again, err := n.AddMapping("UDP", int(port), 30303, "ethereum discovery", 10*time.Minute); err != nil || again != port {
		t.Fatalf("refresh with the granted port: %d, %v; want %d", again, err, port)
	}
	if _, ok := testgw.Has(gw, "UDP", port, 30303); !ok {
		t.Fatalf("router holds %+v, want UDP %d->30303", gw.Mappings(), port)
	}
}

func TestExternalIP(t *testing.T) {
	_, n := newNAT(t, gatewaytest.Config{})
	ip, err := n.ExternalIP()
	if err != nil || ip.String() != gatewaytest.DefaultExternalAddr.String() {
		t.Fatalf("ExternalIP: %v, %v; want %v", ip, err, gatewaytest.DefaultExternalAddr)
	}
	if len(ip) != 4 {
		t.Fatalf("ExternalIP has %d bytes, want 4 for IPv4", len(ip))
	}
	if s := n.String(); s != "upnpmap" {
		t.Fatalf("String() = %q", s)
	}
}

// When the router will not tell its external address (a PCP-only router
// that refuses the short mapping upnpmap would ask it with), the address
// granted to one of our mappings answers.
func TestExternalIPFromMapping(t *testing.T) {
	gw, n := newNAT(t, gatewaytest.Config{DisableNATPMP: true, DisableUPnP: true})
	if _, err := n.AddMapping("UDP", 0, 30303, "", 0); err != nil {
		t.Fatal(err)
	}
	gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNoResources)
	ip, err := n.ExternalIP()
	if err != nil || ip.String() != gatewaytest.DefaultExternalAddr.String() {
		t.Fatalf("ExternalIP: %v, %v; want %v from the mapping", ip, err, gatewaytest.DefaultExternalAddr)
	}
}

func TestBadArguments(t *testing.T) {
	gw, n := newNAT(t, gatewaytest.Config{})
	for _, tc := range []struct {
		proto    string
		ext, int int
	}{{"SCTP", 1, 1}, {"TCP", 1, 0}, {"UDP", 70000, 1}, {"TCP", -1, 1}, {"TCP", 1, 65536}} {
		if _, err := n.AddMapping(tc.proto, tc.ext, tc.int, "", 0); !errors.Is(err, upnpmap.ErrInvalidArgs) {
			t.Errorf("AddMapping(%q, %d, %d): %v, want ErrInvalidArgs", tc.proto, tc.ext, tc.int, err)
		}
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Fatalf("bad arguments reached the router: %+v", m)
	}
}

// geth's own nat.Map keeps a mapping while its channel is open and deletes
// it when the channel closes: run it against ours.
func TestUpstreamNatMap(t *testing.T) {
	gw, n := newNAT(t, gatewaytest.Config{})
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		nat.Map(n, quit, "TCP", 30305, 30305, "ethereum p2p")
	}()
	testgw.Eventually(t, "nat.Map created the mapping", func() bool {
		_, ok := testgw.Has(gw, "TCP", 30305, 30305)
		return ok
	})
	close(quit)
	<-done
	if m := gw.Mappings(); len(m) != 0 {
		t.Fatalf("router holds %+v after nat.Map returned, want nothing", m)
	}
}

func TestZeroValueUsable(t *testing.T) {
	var n geth.NAT
	if err := n.Close(); err != nil {
		t.Fatalf("Close of an unused NAT: %v", err)
	}
	if _, err := n.AddMapping("TCP", 1, 1, "", 0); err == nil {
		t.Fatal("AddMapping after Close succeeded")
	}
}

package gonat_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	nat "github.com/libp2p/go-nat"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/gonat"
	"github.com/upnpmap/upnpmap/adapters/internal/table"
	"github.com/upnpmap/upnpmap/adapters/internal/testgw"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// testTimeout bounds each call a test makes.
const testTimeout = 15 * time.Second

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return c
}

// discover returns the adapter for a fresh fake router, as go-nat code holds
// it: a nat.NAT.
func discover(t *testing.T, cfg gatewaytest.Config) (*gatewaytest.Gateway, nat.NAT) {
	t.Helper()
	gw, c := testgw.New(t, cfg)
	n, err := gonat.Discover(ctx(t), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return gw, n
}

func requests(gw *gatewaytest.Gateway) int {
	return gw.Requests(gatewaytest.PCP) + gw.Requests(gatewaytest.NATPMP) + gw.Requests(gatewaytest.UPnP)
}

func TestAddPortMappingMapsAndRepeatRefreshes(t *testing.T) {
	gw, n := discover(t, gatewaytest.Config{})
	port, err := n.AddPortMapping(ctx(t), "tcp", 8080, "web", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if port != 8080 {
		t.Fatalf("granted port %d, want 8080", port)
	}
	m, ok := testgw.Has(gw, "TCP", 8080, 8080)
	if !ok {
		t.Fatalf("router holds %+v, want TCP 8080->8080", gw.Mappings())
	}
	if m.InternalAddr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("mapping points at %v, want this machine 127.0.0.1", m.InternalAddr)
	}

	// go-nat users call AddPortMapping again to refresh: the live mapping
	// answers; upnpmap renews it on its own schedule, so the router is not
	// asked again.
	before := requests(gw)
	again, err := n.AddPortMapping(ctx(t), "TCP", 8080, "web", time.Hour)
	if err != nil || again != 8080 {
		t.Fatalf("refresh: %d, %v; want 8080", again, err)
	}
	if after := requests(gw); after != before {
		t.Fatalf("refresh sent %d requests to the router, want 0", after-before)
	}
	if got := len(gw.Mappings()); got != 1 {
		t.Fatalf("router holds %d mappings after a refresh, want 1", got)
	}
}

func TestMappingRestoredAfterRouterReboot(t *testing.T) {
	gw, n := discover(t, gatewaytest.Config{})
	if _, err := n.AddPortMapping(ctx(t), "udp", 9000, "game", time.Hour); err != nil {
		t.Fatal(err)
	}
	gw.Reboot() // table lost; the router announces its restart
	testgw.Eventually(t, "mapping re-created after the reboot", func() bool {
		_, ok := testgw.Has(gw, "UDP", 9000, 9000)
		return ok
	})
	// The router holds the entry again before the adapter has read the
	// answer (and the Restored event): until then a refresh says ErrLost.
	testgw.Eventually(t, "refresh answers 9000 after the restore", func() bool {
		port, err := n.AddPortMapping(ctx(t), "udp", 9000, "game", time.Hour)
		return err == nil && port == 9000
	})
	if ms := gw.Mappings(); len(ms) != 1 {
		t.Fatalf("router holds %+v after the restore and a refresh, want the one mapping", ms)
	}
}

func TestTakenPortGetsAnother(t *testing.T) {
	gw, n := discover(t, gatewaytest.Config{})
	gw.AddMapping(gatewaytest.Mapping{Protocol: "TCP", ExternalPort: 4001}) // another host holds 4001
	port, err := n.AddPortMapping(ctx(t), "tcp", 4001, "p2p", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if port == 4001 || port == 0 {
		t.Fatalf("granted port %d, want another than the taken 4001", port)
	}
	if _, ok := testgw.Has(gw, "TCP", uint16(port), 4001); !ok {
		t.Fatalf("router holds %+v, want TCP %d->4001", gw.Mappings(), port)
	}
}

func TestDeletePortMappingDeletes(t *testing.T) {
	gw, n := discover(t, gatewaytest.Config{})
	for _, p := range []int{7000, 7001} {
		if _, err := n.AddPortMapping(ctx(t), "tcp", p, "", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.DeletePortMapping(ctx(t), "tcp", 7000); err != nil {
		t.Fatal(err)
	}
	if _, ok := testgw.Has(gw, "TCP", 7000, 7000); ok {
		t.Fatal("the router still holds the deleted mapping")
	}
	if _, ok := testgw.Has(gw, "TCP", 7001, 7001); !ok {
		t.Fatal("deleting 7000 removed 7001 too")
	}
	if err := n.DeletePortMapping(ctx(t), "tcp", 7000); err != nil {
		t.Fatalf("deleting again: %v, want nil", err)
	}
}

func TestCloseDeletesEverything(t *testing.T) {
	gw, c := testgw.New(t, gatewaytest.Config{})
	n, err := gonat.Discover(ctx(t), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"tcp", "udp"} {
		if _, err := n.AddPortMapping(ctx(t), p, 5000, "", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Fatalf("router holds %+v after Close, want nothing", m)
	}
	if _, err := n.AddPortMapping(ctx(t), "tcp", 5001, "", time.Hour); err == nil {
		t.Fatal("AddPortMapping after Close succeeded")
	}
}

func TestAddresses(t *testing.T) {
	gw, n := discover(t, gatewaytest.Config{})
	dev, err := n.GetDeviceAddress()
	if err != nil || !dev.Equal(gw.Addr().AsSlice()) {
		t.Fatalf("device address %v, %v; want %v", dev, err, gw.Addr())
	}
	ext, err := n.GetExternalAddress()
	if err != nil || ext.String() != gatewaytest.DefaultExternalAddr.String() {
		t.Fatalf("external address %v, %v; want %v", ext, err, gatewaytest.DefaultExternalAddr)
	}
	in, err := n.GetInternalAddress()
	if err != nil || in.String() != "127.0.0.1" {
		t.Fatalf("internal address %v, %v; want 127.0.0.1", in, err)
	}
	if typ := n.Type(); !strings.Contains(typ, string(upnpmap.PCP)) {
		t.Fatalf("Type() = %q, want it to name pcp, the best method the router speaks", typ)
	}
}

// When the router will not tell its external address (a PCP-only router
// that refuses the short mapping upnpmap would ask it with, or a version
// without that), the address granted to one of our mappings answers.
func TestExternalAddressFromMapping(t *testing.T) {
	pcpOnly := gatewaytest.Config{DisableNATPMP: true, DisableUPnP: true}

	gw, n := discover(t, pcpOnly)
	gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNoResources)
	if ext, err := n.GetExternalAddress(); err == nil {
		t.Fatalf("external address %v with no mapping and a refusing router, want an error", ext)
	} else if !errors.Is(err, nat.ErrNoExternalAddress) {
		t.Fatalf("error %v does not wrap go-nat's ErrNoExternalAddress", err)
	}

	gw, n = discover(t, pcpOnly)
	if _, err := n.AddPortMapping(ctx(t), "udp", 6000, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNoResources)
	ext, err := n.GetExternalAddress()
	if err != nil || ext.String() != gatewaytest.DefaultExternalAddr.String() {
		t.Fatalf("external address %v, %v; want %v", ext, err, gatewaytest.DefaultExternalAddr)
	}
}

func TestDiscoverWithoutGateway(t *testing.T) {
	gw, c := testgw.New(t, gatewaytest.Config{DisableNATPMP: true, DisablePCP: true, DisableUPnP: true})
	c.ProbeTimeout = 300 * time.Millisecond
	_, err := gonat.Discover(ctx(t), c)
	if !errors.Is(err, nat.ErrNoNATFound) || !errors.Is(err, upnpmap.ErrNoGateway) {
		t.Fatalf("error %v, want one wrapping nat.ErrNoNATFound and upnpmap.ErrNoGateway", err)
	}
	_ = gw
}

func TestBadArguments(t *testing.T) {
	gw, n := discover(t, gatewaytest.Config{})
	for _, tc := range []struct {
		proto string
		port  int
	}{{"sctp", 80}, {"", 80}, {"tcp", 0}, {"udp", 70000}, {"tcp", -1}} {
		if _, err := n.AddPortMapping(ctx(t), tc.proto, tc.port, "", time.Hour); !errors.Is(err, upnpmap.ErrInvalidArgs) {
			t.Errorf("AddPortMapping(%q, %d): %v, want ErrInvalidArgs", tc.proto, tc.port, err)
		}
		if err := n.DeletePortMapping(ctx(t), tc.proto, tc.port); !errors.Is(err, upnpmap.ErrInvalidArgs) {
			t.Errorf("DeletePortMapping(%q, %d): %v, want ErrInvalidArgs", tc.proto, tc.port, err)
		}
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Fatalf("bad arguments reached the router: %+v", m)
	}
}

// While the router has lost a mapping and not yet got it back, a refresh
// says so rather than handing out a port nobody forwards.
func TestRefreshWhileLostFails(t *testing.T) {
	gw, c := testgw.New(t, gatewaytest.Config{})
	testgw.PollUPnP(c) // a vanished UPnP entry is noticed at once
	n, err := gonat.Discover(ctx(t), c)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.AddPortMapping(ctx(t), "tcp", 8500, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	restore := testgw.RefuseUPnPAdds(gw)
	gw.Reboot() // the entry is gone and cannot be made again for now
	testgw.Eventually(t, "refresh reports the lost mapping", func() bool {
		_, err = n.AddPortMapping(ctx(t), "tcp", 8500, "", time.Hour)
		return err != nil
	})
	if !errors.Is(err, table.ErrLost) {
		t.Fatalf("refresh while lost: %v, want table.ErrLost", err)
	}
	restore()
	testgw.Eventually(t, "mapping restored", func() bool {
		p, err := n.AddPortMapping(ctx(t), "tcp", 8500, "", time.Hour)
		return err == nil && p == 8500
	})
	if _, ok := testgw.Has(gw, "TCP", 8500, 8500); !ok {
		t.Fatalf("router holds %+v after the restore, want TCP 8500->8500", gw.Mappings())
	}
}

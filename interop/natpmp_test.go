package interop

import (
	"net/netip"
	"testing"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// go-nat-pmp always talks to port 5351 of the gateway address, which is why
// gatewaytest gives every gateway a loopback address of its own.
func newNATPMPClient(g *gatewaytest.Gateway) *natpmp.Client {
	return natpmp.NewClientWithTimeout(g.Addr().AsSlice(), 2*time.Second)
}

func TestGoNATPMPExternalAddress(t *testing.T) {
	g := gatewaytest.New(t, gatewaytest.Config{})
	res, err := newNATPMPClient(g).GetExternalAddress()
	if err != nil {
		t.Fatal(err)
	}
	if got := netip.AddrFrom4(res.ExternalIPAddress); got != gatewaytest.DefaultExternalAddr {
		t.Fatalf("external address %v, want %v", got, gatewaytest.DefaultExternalAddr)
	}
}

func TestGoNATPMPMapAndDelete(t *testing.T) {
	g := gatewaytest.New(t, gatewaytest.Config{})
	c := newNATPMPClient(g)
	for _, tc := range []struct {
		proto, table string
		internal     int
	}{{"tcp", "TCP", 8080}, {"udp", "UDP", 5353}} {
		res, err := c.AddPortMapping(tc.proto, tc.internal, tc.internal+1000, 3600)
		if err != nil {
			t.Fatalf("%s: %v", tc.proto, err)
		}
		if int(res.InternalPort) != tc.internal || int(res.MappedExternalPort) != tc.internal+1000 || res.PortMappingLifetimeInSeconds != 3600 {
			t.Fatalf("%s: reply %+v", tc.proto, res)
		}
		m, ok := FindMapping(g, tc.table, res.MappedExternalPort)
		if !ok {
			t.Fatalf("%s mapping not in the table:\n%s", tc.proto, Describe(g))
		}
		if m.Method != gatewaytest.NATPMP || int(m.InternalPort) != tc.internal || !m.InternalAddr.IsLoopback() || m.Lifetime != time.Hour {
			t.Fatalf("table entry %+v", m)
		}
	}
	// A second host asking for the same external port gets another one,
	// and go-nat-pmp reports what was granted.
	other := natpmp.NewClientWithLocalAndTimeout(g.Addr().AsSlice(), netip.MustParseAddr("127.0.0.2").AsSlice(), 2*time.Second)
	res, err := other.AddPortMapping("tcp", 8080, 9080, 3600)
	if err != nil {
		t.Fatal(err)
	}
	if res.MappedExternalPort == 9080 {
		t.Fatal("two hosts got the same external port")
	}
	if m, ok := FindMapping(g, "TCP", res.MappedExternalPort); !ok || m.InternalAddr != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("second host's mapping: %+v\n%s", m, Describe(g))
	}

	// Lifetime 0 deletes (RFC 6886 §3.4).
	if _, err := c.AddPortMapping("tcp", 8080, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := FindMapping(g, "TCP", 9080); ok {
		t.Fatalf("deleted mapping still in the table:\n%s", Describe(g))
	}
	if len(g.Mappings()) != 2 {
		t.Fatalf("delete removed too much:\n%s", Describe(g))
	}
}

func TestGoNATPMPSeesRefusal(t *testing.T) {
	g := gatewaytest.New(t, gatewaytest.Config{})
	g.SetResult(gatewaytest.NATPMP, gatewaytest.NATPMPNotAuthorized)
	if _, err := newNATPMPClient(g).AddPortMapping("tcp", 80, 80, 60); err == nil {
		t.Fatal("go-nat-pmp accepted a NOT_AUTHORIZED reply")
	}
}

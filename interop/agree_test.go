package interop

import (
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/huin/goupnp/dcps/internetgateway2"
	gonatpmp "github.com/jackpal/go-nat-pmp"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/natpmp"
)

// The tests in this file make the same mappings with a peer and with our own
// client, each on a fresh fake gateway, and require the two tables to hold the
// same entries: if the peers and we read the protocols differently, it shows.

// entryKey is what a user of either client would check in the router's table.
type entryKey struct {
	Method, Protocol string
	External         uint16
	Internal         netip.AddrPort
	Description      string
	Lifetime         time.Duration
}

func tableOf(g *gatewaytest.Gateway) []entryKey {
	var out []entryKey
	for _, m := range g.Mappings() {
		out = append(out, entryKey{m.Method, m.Protocol, m.ExternalPort,
			netip.AddrPortFrom(m.InternalAddr, m.InternalPort), m.Description, m.Lifetime})
	}
	slices.SortFunc(out, func(a, b entryKey) int { return int(a.External) - int(b.External) })
	return out
}

func TestNATPMPTablesAgree(t *testing.T) {
	peerGW := gatewaytest.New(t, gatewaytest.Config{})
	ourGW := gatewaytest.New(t, gatewaytest.Config{})

	peer := gonatpmp.NewClientWithTimeout(peerGW.Addr().AsSlice(), 2*time.Second)
	ours := &natpmp.Client{Gateway: netip.AddrPortFrom(ourGW.Addr(), 0)}

	for _, m := range []struct {
		proto             string
		internal, suggest uint16
	}{{"tcp", 8080, 9080}, {"udp", 27015, 27015}, {"tcp", 2222, 0}} {
		pr, err := peer.AddPortMapping(m.proto, int(m.internal), int(m.suggest), 3600)
		if err != nil {
			t.Fatalf("go-nat-pmp %s %d: %v", m.proto, m.internal, err)
		}
		p := natpmp.TCP
		if m.proto == "udp" {
			p = natpmp.UDP
		}
		or, err := ours.Map(ctx(t), p, m.internal, m.suggest, time.Hour)
		if err != nil {
			t.Fatalf("natpmp %s %d: %v", m.proto, m.internal, err)
		}
		if or.ExternalPort != pr.MappedExternalPort || or.Lifetime != time.Duration(pr.PortMappingLifetimeInSeconds)*time.Second {
			t.Fatalf("%s %d: we were granted %d for %v, go-nat-pmp %d for %ds", m.proto, m.internal,
				or.ExternalPort, or.Lifetime, pr.MappedExternalPort, pr.PortMappingLifetimeInSeconds)
		}
	}
	if got, want := tableOf(ourGW), tableOf(peerGW); !slices.Equal(got, want) {
		t.Fatalf("tables differ\nours:\n%s\ngo-nat-pmp:\n%s", Describe(ourGW), Describe(peerGW))
	}

	// Deleting one mapping leaves the same table on both sides.
	if _, err := peer.AddPortMapping("tcp", 8080, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := ours.Delete(ctx(t), natpmp.TCP, 8080); err != nil {
		t.Fatal(err)
	}
	if got, want := tableOf(ourGW), tableOf(peerGW); !slices.Equal(got, want) || len(got) != 2 {
		t.Fatalf("after delete, tables differ or wrong size\nours:\n%s\ngo-nat-pmp:\n%s", Describe(ourGW), Describe(peerGW))
	}
}

// ourIGDClient finds the gateway's preferred WAN connection service with our
// discovery package, as the front door does.
func ourIGDClient(t *testing.T, g *gatewaytest.Gateway) *igd.Client {
	t.Helper()
	loc, err := url.Parse(g.LocationURL())
	if err != nil {
		t.Fatal(err)
	}
	root, err := discovery.Fetch(ctx(t), loc, g.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svcs := root.Services(igd.ServiceTypes...)
	if len(svcs) == 0 {
		t.Fatal("no WAN connection service in the description")
	}
	return &igd.Client{ControlURL: svcs[0].ControlURL, ServiceType: svcs[0].ServiceType}
}

func TestUPnPTablesAgree(t *testing.T) {
	peerGW := gatewaytest.New(t, gatewaytest.Config{})
	ourGW := gatewaytest.New(t, gatewaytest.Config{})

	clients, err := internetgateway2.NewWANIPConnection2ClientsByURLCtx(ctx(t), location(t, peerGW))
	if err != nil || len(clients) != 1 {
		t.Fatalf("goupnp: %d clients, %v", len(clients), err)
	}
	peer := clients[0]
	noKeepAlive(peer.SOAPClient)
	ours := ourIGDClient(t, ourGW)

	me := "127.0.0.1"
	for _, m := range []igd.PortMapping{
		{ExternalPort: 8080, Protocol: "TCP", InternalPort: 80, InternalClient: me, Enabled: true, Description: "web", LeaseDuration: time.Hour},
		{ExternalPort: 27015, Protocol: "UDP", InternalPort: 27015, InternalClient: me, Enabled: true, Description: "game", LeaseDuration: 30 * time.Minute},
	} {
		if err := peer.AddPortMappingCtx(ctx(t), "", m.ExternalPort, m.Protocol, m.InternalPort, m.InternalClient, true, m.Description, uint32(m.LeaseDuration/time.Second)); err != nil {
			t.Fatalf("goupnp add %d: %v", m.ExternalPort, err)
		}
		if err := ours.AddPortMapping(ctx(t), m); err != nil {
			t.Fatalf("igd add %d: %v", m.ExternalPort, err)
		}
	}
	if got, want := tableOf(ourGW), tableOf(peerGW); !slices.Equal(got, want) {
		t.Fatalf("tables differ\nours:\n%s\ngoupnp:\n%s", Describe(ourGW), Describe(peerGW))
	}

	// Both clients list the same entries, each from the other's gateway too.
	list, err := ours.ListPortMappings(ctx(t))
	if err != nil || len(list) != 2 {
		t.Fatalf("our list: %v %v", list, err)
	}
	for i, e := range list {
		_, ext, proto, internal, client, enabled, desc, lease, err := peer.GetGenericPortMappingEntryCtx(ctx(t), uint16(i))
		if err != nil {
			t.Fatal(err)
		}
		if ext != e.ExternalPort || proto != e.Protocol || internal != e.InternalPort || client != e.InternalClient ||
			enabled != e.Enabled || desc != e.Description || uint32(e.LeaseDuration/time.Second) > lease+1 {
			t.Fatalf("entry %d: goupnp sees %d %s %d %s %v %q %d, we see %+v", i, ext, proto, internal, client, enabled, desc, lease, e)
		}
	}

	if err := peer.DeletePortMappingCtx(ctx(t), "", 8080, "TCP"); err != nil {
		t.Fatal(err)
	}
	if err := ours.DeletePortMapping(ctx(t), "", 8080, "TCP"); err != nil {
		t.Fatal(err)
	}
	if got, want := tableOf(ourGW), tableOf(peerGW); !slices.Equal(got, want) || len(got) != 1 {
		t.Fatalf("after delete, tables differ or wrong size\nours:\n%s\ngoupnp:\n%s", Describe(ourGW), Describe(peerGW))
	}
}

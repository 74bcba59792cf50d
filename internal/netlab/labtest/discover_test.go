//go:build linux

package labtest

import (
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestDiscover: inside a LAN host, a Client with a zero Gateway takes the
// gateway from the routing table and finds the router with all three
// methods and its external address; and an SSDP search by multicast alone
// on the LAN interface (no unicast to the gateway) is answered by the
// router, so discovery works over real multicast, not only by the unicast
// search the front door adds.
func TestDiscover(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{})

	t.Run("front door", func(t *testing.T) {
		p := startClient(t, ctx, lab, netlab.LAN1, "discover", "discover")
		m := p.next(10*time.Second, "the Discover result", isType("discover", "error"))
		if m.Type == "error" {
			t.Fatalf("Discover: %s (matches %v)", m.Err, m.Is)
		}
		t.Logf("Discover in %v: gateway %s, local %s, methods %v, external %s, device %q at %s",
			m.Elapsed.Round(time.Millisecond), m.Gateway, m.Local, m.Methods, m.ExternalAddr, m.Device, m.Location)
		if m.Gateway != lab.Gateway().String() {
			t.Errorf("Gateway = %s; want %v (the LAN host's default route)", m.Gateway, lab.Gateway())
		}
		if m.Local != lab.Addr(netlab.LAN1).String() {
			t.Errorf("Local = %s; want %v", m.Local, lab.Addr(netlab.LAN1))
		}
		if want := []string{"pcp", "natpmp", "upnp"}; !slices.Equal(m.Methods, want) {
			t.Errorf("Methods = %v; want %v", m.Methods, want)
		}
		if m.ExternalAddr != "1.2.3.4" || m.ExternalAddr != lab.ExternalAddr().String() {
			t.Errorf("ExternalAddr = %s; want 1.2.3.4 (the lab's %v)", m.ExternalAddr, lab.ExternalAddr())
		}
		if u, err := url.Parse(m.Location); err != nil || u.Hostname() != lab.Gateway().String() {
			t.Errorf("Location = %q; want a description URL on %v", m.Location, lab.Gateway())
		}
	})

	t.Run("multicast", func(t *testing.T) {
		p := startClient(t, ctx, lab, netlab.LAN1, "ssdp", "ssdp", "-interface", "eth0", "-timeout", "5s")
		m := p.next(10*time.Second, "an SSDP answer", isType("ssdp", "error"))
		if m.Type == "error" {
			t.Fatalf("multicast search: %s", m.Err)
		}
		t.Logf("multicast M-SEARCH answered in %v by %s: ST %s, LOCATION %s", m.Elapsed.Round(time.Millisecond), m.From, m.ST, m.Location)
		if from, err := netip.ParseAddrPort(m.From); err != nil || from.Addr() != lab.Gateway() {
			t.Errorf("answer from %q; want the router %v", m.From, lab.Gateway())
		}
		want, _ := url.Parse(lab.DescURL())
		if u, err := url.Parse(m.Location); err != nil || u.Host != want.Host {
			t.Errorf("LOCATION %q; want the router's description URL %s", m.Location, lab.DescURL())
		}
	})
}

// TestDiscoverIPv6: in LAN1 of an IPv6 lab, a multicast search to FF02::C
// alone (Searcher.IPv6 with Groups6 FF02::C, on the LAN interface; the
// request carries the interface as zone, nothing is sent by unicast) is
// answered by miniupnpd from its link-local address, which discovery keeps
// with its zone. The LOCATION is on that link-local address, with the zone
// (so it can be dialled as given), and the description fetched from it
// offers WANIPv6FirewallControl:1 at a control URL on the same address.
func TestDiscoverIPv6(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{IPv6: true})
	routerLL, err := lab.LinkLocal(ctx, netlab.Router)
	if err != nil {
		t.Fatal(err)
	}
	zoned := routerLL.WithZone("eth0")
	p := startClient(t, ctx, lab, netlab.LAN1, "ssdp6", "ssdp", "-interface", "eth0", "-ipv6", "-timeout", "5s")
	m := p.next(10*time.Second, "an SSDP answer over IPv6", isType("ssdp", "error"))
	if m.Type == "error" {
		t.Fatalf("IPv6 multicast search: %s", m.Err)
	}
	t.Logf("M-SEARCH to FF02::C answered in %v by %s: ST %s, LOCATION %s; firewall control %s",
		m.Elapsed.Round(time.Millisecond), m.From, m.ST, m.Location, m.Device)
	if from, err := netip.ParseAddrPort(m.From); err != nil || from.Addr() != zoned {
		t.Errorf("answer from %q; want the router's link-local address %v", m.From, zoned)
	}
	u, err := url.Parse(m.Location)
	if err != nil {
		t.Fatalf("LOCATION %q: %v", m.Location, err)
	}
	if host, err := netip.ParseAddr(u.Hostname()); err != nil || host != zoned || u.Port() != strconv.Itoa(int(lab.HTTPPort())) {
		t.Errorf("LOCATION %q; want the router's description on [%v]:%d", m.Location, zoned, lab.HTTPPort())
	}
	ctl, err := url.Parse(m.Device)
	if m.Device == "" || err != nil || ctl.Hostname() != zoned.String() {
		t.Errorf("WANIPv6FirewallControl control URL %q; want one on %v", m.Device, zoned)
	}
}

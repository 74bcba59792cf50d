package libp2p_test

import (
	"fmt"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/upnpmap/upnpmap/adapters/internal/testgw"
	upnpmaplibp2p "github.com/upnpmap/upnpmap/adapters/libp2p"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

var host6 = gatewaytest.DefaultIPv6Host

// IPv6 listen addresses get pinholes of the host's stable address, and
// GetMapping answers with it; an IPv4 and an IPv6 listener on the same port
// get a mapping and a pinhole each, and Close removes both kinds.
func TestMapsIPv6ListenAddresses(t *testing.T) {
	gw, c := testgw.NewDual(t, gatewaytest.Config{})
	sw := newSwarm(t)
	tcp := listen(t, sw, "/ip4/0.0.0.0/tcp/0")
	listen(t, sw, fmt.Sprintf("/ip6/::/tcp/%d", tcp))
	udp := listen(t, sw, "/ip6/::/udp/0/quic-v1")
	m := upnpmaplibp2p.New(sw, c)
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()

	testgw.Eventually(t, "IPv4 mapping and both pinholes made", func() bool {
		_, t4 := testgw.Has(gw, "TCP", tcp, tcp)
		return t4 && testgw.HasPinhole(gw, "TCP", host6, tcp) && testgw.HasPinhole(gw, "UDP", host6, udp)
	})
	// The router shows an entry as soon as it made it, before the manager
	// has read the answer: wait for the manager to know all three too.
	eventuallyMapping(t, m, fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", tcp), fmt.Sprintf("/ip4/%s/tcp/%d", gatewaytest.DefaultExternalAddr, tcp))
	eventuallyMapping(t, m, fmt.Sprintf("/ip6/::/tcp/%d", tcp), fmt.Sprintf("/ip6/%s/tcp/%d", host6, tcp))
	eventuallyMapping(t, m, fmt.Sprintf("/ip6/::/udp/%d/quic-v1", udp), fmt.Sprintf("/ip6/%s/udp/%d/quic-v1", host6, udp))
	if ps := gw.Pinholes(); len(ps) != 2 {
		t.Fatalf("router holds pinholes %+v, want 2 (one per IPv6 listener)", ps)
	}
	if ms := gw.Mappings(); len(ms) != 1 {
		t.Fatalf("router holds mappings %+v, want 1 (the IPv4 listener's; no IPv4 mapping for the IPv6-only QUIC port)", ms)
	}

	ext := gatewaytest.DefaultExternalAddr
	for addr, want := range map[string]string{
		fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", tcp):                        fmt.Sprintf("/ip4/%s/tcp/%d", ext, tcp),
		fmt.Sprintf("/ip6/::/tcp/%d", tcp):                             fmt.Sprintf("/ip6/%s/tcp/%d", host6, tcp),
		fmt.Sprintf("/ip6/::/tcp/%d/ws", tcp):                          fmt.Sprintf("/ip6/%s/tcp/%d/ws", host6, tcp),
		fmt.Sprintf("/ip6/::/udp/%d/quic-v1", udp):                     fmt.Sprintf("/ip6/%s/udp/%d/quic-v1", host6, udp),
		fmt.Sprintf("/ip6/%s/udp/%d/quic-v1/webtransport", host6, udp): fmt.Sprintf("/ip6/%s/udp/%d/quic-v1/webtransport", host6, udp),
		fmt.Sprintf("/ip6/2001:db8:77::beef/tcp/%d", tcp):              "<nil>", // not the address the pinhole opens
		fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", udp):                "<nil>", // only IPv6 listens there
		fmt.Sprintf("/ip6/::1/tcp/%d", tcp):                            "<nil>",
		fmt.Sprintf("/ip6/::/udp/%d/quic-v1", tcp):                     "<nil>",
	} {
		if got := mappingOf(m, addr); got != want {
			t.Errorf("GetMapping(%s) = %s, want %s", addr, got, want)
		}
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if ps, ms := gw.Pinholes(), gw.Mappings(); len(ps) != 0 || len(ms) != 0 {
		t.Fatalf("router holds pinholes %+v and mappings %+v after Close, want nothing", ps, ms)
	}
}

// Closing an IPv6 listener removes its pinhole and leaves the IPv4 mapping
// of the same port alone.
func TestFollowsIPv6Listeners(t *testing.T) {
	gw, c := testgw.NewDual(t, gatewaytest.Config{})
	sw := newSwarm(t)
	m := upnpmaplibp2p.New(sw, c)
	defer m.Close()
	testgw.Eventually(t, "gateway discovered", m.HasDiscoveredNAT)

	tcp := listen(t, sw, "/ip4/0.0.0.0/tcp/0")
	listen(t, sw, fmt.Sprintf("/ip6/::/tcp/%d", tcp))
	testgw.Eventually(t, "both listeners mapped", func() bool {
		_, ok := testgw.Has(gw, "TCP", tcp, tcp)
		return ok && testgw.HasPinhole(gw, "TCP", host6, tcp)
	})
	sw.ListenClose(ma.StringCast(fmt.Sprintf("/ip6/::/tcp/%d", tcp)))
	testgw.Eventually(t, "closed IPv6 listener's pinhole removed", func() bool {
		return !testgw.HasPinhole(gw, "TCP", host6, tcp)
	})
	if _, ok := testgw.Has(gw, "TCP", tcp, tcp); !ok {
		t.Fatal("closing the IPv6 listener deleted the IPv4 mapping of its port")
	}
	if got := mappingOf(m, fmt.Sprintf("/ip6/::/tcp/%d", tcp)); got != "<nil>" {
		t.Fatalf("GetMapping of the closed IPv6 listener = %s", got)
	}
}

// What the router does to a pinhole shows in GetMapping as it does for an
// IPv4 mapping: after a reboot that lost it, while the router refuses new
// pinholes, the IPv6 listen address has no external address to announce,
// and the IPv4 one of the same host is announced again once restored.
//
// The host listens on IPv4 too: upnpmap learns of the reboot through the
// IPv4 mapping's check (a pinhole's own check sends nothing). The pinhole's
// restoration is not asserted: the fake's [::1] server moves to a new port
// on reboot and an explicit Client.Location6 does not follow it (reported
// to the root package).
func TestGetMappingFollowsPinholeEvents(t *testing.T) {
	gw, c := testgw.NewDual(t, gatewaytest.Config{})
	testgw.PollUPnP(c)
	sw := newSwarm(t)
	tcp := listen(t, sw, "/ip6/::/tcp/0")
	tcp4 := listen(t, sw, "/ip4/0.0.0.0/tcp/0")
	m := upnpmaplibp2p.New(sw, c)
	defer m.Close()
	addr, addr4 := fmt.Sprintf("/ip6/::/tcp/%d", tcp), fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", tcp4)
	want4 := fmt.Sprintf("/ip4/%s/tcp/%d", gatewaytest.DefaultExternalAddr, tcp4)
	eventuallyMapping(t, m, addr, fmt.Sprintf("/ip6/%s/tcp/%d", host6, tcp))
	eventuallyMapping(t, m, addr4, want4)

	gw.FailAction("AddPinhole", 501)
	gw.Reboot() // the pinhole is gone and cannot be opened again for now
	eventuallyMapping(t, m, addr, "<nil>")
	eventuallyMapping(t, m, addr4, want4)
	if testgw.HasPinhole(gw, "TCP", host6, tcp) {
		t.Fatalf("router holds pinholes %+v while refusing them", gw.Pinholes())
	}
}

package upnpmap

import (
	"net"
	"net/netip"
	"testing"
)

// TestSearchMulticastFacingGateway: with Client.Gateway set and no
// Interfaces, the SSDP search also multicasts — on the one interface whose
// prefix holds the gateway (eero answers only multicast searches), not on
// every interface; a gateway no interface faces gets unicast alone, and a
// loopback gateway never multicast. Interfaces are injected: nothing is
// sent.
func TestSearchMulticastFacingGateway(t *testing.T) {
	up := net.FlagUp | net.FlagMulticast
	c := &Client{ifaces: func() ([]ifacePrefixes, error) {
		return []ifacePrefixes{
			{net.Interface{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagLoopback}, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{net.Interface{Index: 2, Name: "wlan0", Flags: up}, []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")}},
			{net.Interface{Index: 3, Name: "eth1", Flags: up}, []netip.Prefix{netip.MustParsePrefix("192.168.7.20/24"), netip.MustParsePrefix("fd00::20/64")}},
			{net.Interface{Index: 4, Name: "down0", Flags: net.FlagMulticast}, []netip.Prefix{netip.MustParsePrefix("172.16.0.2/16")}},
		}, nil
	}}
	for _, tc := range []struct {
		gateway string
		on      string // "" = no multicast search
	}{
		{"192.168.7.1", "eth1"},
		{"fd00::1", "eth1"},
		{"10.0.0.1", "wlan0"},
		{"172.16.0.1", ""}, // its interface is down
		{"203.0.113.1", ""},
		{"127.0.0.9", ""},
	} {
		addr := netip.MustParseAddr(tc.gateway)
		gw := newGateway(c, addr, addr, false, []Method{UPnP})
		uni, multi, err := gw.mapper(UPnP).(*upnpMapper).searchers()
		if err != nil {
			t.Fatalf("%s: %v", tc.gateway, err)
		}
		if len(uni.Unicast) != 1 || uni.Unicast[0].Addr() != addr {
			t.Errorf("%s: unicast search to %v", tc.gateway, uni.Unicast)
		}
		switch {
		case tc.on == "" && multi != nil:
			t.Errorf("%s: multicast on %v, want none", tc.gateway, multi.Interfaces)
		case tc.on != "" && (multi == nil || len(multi.Interfaces) != 1 || multi.Interfaces[0].Name != tc.on):
			t.Errorf("%s: multicast %+v, want on %s alone", tc.gateway, multi, tc.on)
		}
	}
}

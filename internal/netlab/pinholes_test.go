//go:build linux

package netlab

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestParsePinholes reads pinholes out of a forward chain as nft lists it
// with miniupnpd 2.3.1's rules: an IPv4 accept rule beside them is not one.
func TestParsePinholes(t *testing.T) {
	const chain = `table inet filter {
	chain miniupnpd {
		iif "wan0" th dport 18600 @nh,192,128 0x20010db8007700000000000000000010 @nh,48,8 0x6 accept
		iif "wan0" ip daddr 192.168.77.10 tcp dport 18080 accept
		iif "wan0" th dport 4000 @nh,192,128 0x20010db8007700000000000000000011 @nh,48,8 0x11 accept
	}
}
`
	got, err := parsePinholes(chain)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pinhole{
		{Protocol: "tcp", Internal: netip.MustParseAddrPort("[2001:db8:77::10]:18600")},
		{Protocol: "udp", Internal: netip.MustParseAddrPort("[2001:db8:77::11]:4000")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsePinholes = %v; want %v", got, want)
	}
}

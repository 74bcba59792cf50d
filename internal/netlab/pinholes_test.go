//go:build linux

package netlab

import (
	"net/netip"
	"os"
	"reflect"
	"testing"
)

// TestParsePinholes reads pinholes out of a forward chain as nft lists it
// with miniupnpd 2.3.1's rules: an IPv4 accept rule beside them is not one.
func TestParsePinholes(t *testing.T) {
	chain, err := os.ReadFile("testdata/nft-forward-pinholes.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parsePinholes(string(chain))
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

// FuzzParsePinholes: any text gives pinholes or an error, never a panic,
// and every pinhole it gives has an IPv6 address and a protocol.
func FuzzParsePinholes(f *testing.F) {
	if b, err := os.ReadFile("testdata/nft-forward-pinholes.txt"); err == nil {
		f.Add(string(b))
	}
	f.Add("th dport 99999 @nh,192,128 0x20010db8007700000000000000000010 @nh,48,8 0x6 accept")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePinholes(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Protocol == "" || !p.Internal.Addr().Is6() {
				t.Fatalf("incomplete pinhole %+v", p)
			}
		}
	})
}

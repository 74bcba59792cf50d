//go:build linux

package netlab

import (
	"encoding/json"
	"net/netip"
	"os"
	"slices"
	"testing"
)

// TestForwardsParse reads the DNAT rules of a capture of `nft -j list chain`
// from the lab's router (one UPnP TCP mapping for another host, one
// NAT-PMP UDP mapping) and must find both, with the protocol, the external
// port and the internal address and port of each.
func TestForwardsParse(t *testing.T) {
	b, err := os.ReadFile("testdata/nft-prerouting.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc nftDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	got, err := doc.forwards()
	if err != nil {
		t.Fatal(err)
	}
	want := []Forward{
		{"tcp", 18090, netip.MustParseAddrPort("192.168.77.11:18080")},
		{"udp", 18081, netip.MustParseAddrPort("192.168.77.10:18081")},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("forwards = %v; want %v", got, want)
	}
}

// FuzzForwards: any JSON gives forwards or an error, never a panic, and
// every forward it gives is complete.
func FuzzForwards(f *testing.F) {
	if b, err := os.ReadFile("testdata/nft-prerouting.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"nftables":[{"rule":{"expr":[{"dnat":{"addr":"10.0.0.1","port":1}}]}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var doc nftDoc
		if json.Unmarshal(b, &doc) != nil {
			return
		}
		fw, err := doc.forwards()
		if err != nil {
			return
		}
		for _, x := range fw {
			if (x.Protocol != "tcp" && x.Protocol != "udp") || x.ExternalPort == 0 || !x.Internal.IsValid() {
				t.Fatalf("incomplete forward %+v", x)
			}
		}
	})
}

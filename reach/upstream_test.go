package reach

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestCompareExternal(t *testing.T) {
	tests := []struct {
		observed, router string
		want             NAT
	}{
		{"203.0.113.7", "203.0.113.7", NATNone},
		{"::ffff:203.0.113.7", "203.0.113.7", NATNone},
		{"198.51.100.9", "203.0.113.7", NATUpstream},
		{"198.51.100.9", "192.168.1.2", NATPrivate},
		{"198.51.100.9", "100.64.3.4", NATPrivate},
		{"198.51.100.9", "10.0.0.1", NATPrivate},
		{"2001:db8::1", "2001:db8::1", NATNone},
		{"2001:db8::1", "203.0.113.7", NATUnknown},
		{"", "203.0.113.7", NATUnknown},
		{"203.0.113.7", "", NATUnknown},
	}
	for _, tc := range tests {
		var o, r netip.Addr
		if tc.observed != "" {
			o = netip.MustParseAddr(tc.observed)
		}
		if tc.router != "" {
			r = netip.MustParseAddr(tc.router)
		}
		if got := CompareExternal(o, r); got != tc.want {
			t.Errorf("CompareExternal(%s, %s) = %v, want %v", tc.observed, tc.router, got, tc.want)
		}
	}
	if NATUpstream.String() != "UPSTREAM_NAT" {
		t.Errorf("%q", NATUpstream.String())
	}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestMarshalText(t *testing.T) {
	b, err := json.Marshal(struct {
		V Verdict
		N NAT
	}{NothingListening, NATUpstream})
	if err != nil || string(b) != `{"V":"nothing-listening","N":"UPSTREAM_NAT"}` {
		t.Fatalf("%s %v", b, err)
	}
}

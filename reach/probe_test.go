package reach

import (
	"net/netip"
	"testing"
)

func TestProbeable(t *testing.T) {
	tests := []struct {
		local, observed string
		want            bool
	}{
		{"203.0.113.1", "198.51.100.7", true},
		{"2001:db8::1", "2001:db8:1::7", true},
		{"127.0.0.1", "127.0.0.3", true},             // a checker on loopback, for tests
		{"::ffff:203.0.113.1", "198.51.100.7", true}, // dual-stack socket
		{"203.0.113.1", "203.0.113.1", false},        // the checker itself
		{"203.0.113.1", "127.0.0.1", false},          // loopback from outside
		{"127.0.0.1", "203.0.113.9", false},          // outside via loopback
		{"203.0.113.1", "0.0.0.0", false},
		{"203.0.113.1", "255.255.255.255", false},
		{"203.0.113.1", "224.0.0.1", false},
		{"2001:db8::1", "ff02::1", false},
		{"2001:db8::1", "::1", false},
	}
	for _, tc := range tests {
		if got := probeable(netip.MustParseAddr(tc.local), netip.MustParseAddr(tc.observed)); got != tc.want {
			t.Errorf("probeable(%s, %s) = %v", tc.local, tc.observed, got)
		}
	}
}

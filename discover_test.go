package upnpmap

import (
	"net/netip"
	"testing"
)

func TestNotPublic(t *testing.T) {
	for s, want := range map[string]bool{
		"10.1.2.3": true, "192.168.0.5": true, "172.16.9.9": true, "100.64.0.1": true, "100.127.255.254": true,
		"127.0.0.1": true, "169.254.1.1": true, "0.0.0.0": true,
		"203.0.113.7": false, "100.128.0.1": false, "8.8.8.8": false, "2001:db8::1": false, "fd00::1": true,
	} {
		if got := notPublic(netip.MustParseAddr(s)); got != want {
			t.Errorf("notPublic(%s) = %v", s, got)
		}
	}
}

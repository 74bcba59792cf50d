package table

import (
	"errors"
	"testing"

	"github.com/upnpmap/upnpmap"
)

func TestKeyOf(t *testing.T) {
	for _, tc := range []struct {
		proto string
		port  int
		want  Key
		ok    bool
	}{
		{"tcp", 80, Key{Protocol: upnpmap.TCP, Internal: 80}, true},
		{"TCP", 65535, Key{Protocol: upnpmap.TCP, Internal: 65535}, true},
		{"Udp", 1, Key{Protocol: upnpmap.UDP, Internal: 1}, true},
		{"sctp", 80, Key{}, false},
		{"", 80, Key{}, false},
		{"tcp", 0, Key{}, false},
		{"udp", 65536, Key{}, false},
		{"udp", -1, Key{}, false},
	} {
		k, err := KeyOf(tc.proto, tc.port)
		if tc.ok && (err != nil || k != tc.want) {
			t.Errorf("KeyOf(%q, %d) = %v, %v; want %v", tc.proto, tc.port, k, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, upnpmap.ErrInvalidArgs) {
			t.Errorf("KeyOf(%q, %d) = %v, %v; want ErrInvalidArgs", tc.proto, tc.port, k, err)
		}
	}
}

func FuzzKeyOf(f *testing.F) {
	f.Add("tcp", 80)
	f.Add("UDP", 65535)
	f.Add("tcp\x00", 0)
	f.Fuzz(func(t *testing.T, proto string, port int) {
		k, err := KeyOf(proto, port)
		if err == nil && (k.Internal == 0 || int(k.Internal) != port) {
			t.Fatalf("KeyOf(%q, %d) = %+v", proto, port, k)
		}
		if err != nil && !errors.Is(err, upnpmap.ErrInvalidArgs) {
			t.Fatalf("KeyOf(%q, %d): %v does not wrap ErrInvalidArgs", proto, port, err)
		}
	})
}

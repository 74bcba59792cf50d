package libp2p

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/internal/table"
)

func TestKeyOf(t *testing.T) {
	for addr, want := range map[string]struct {
		key  table.Key
		rest string
		ok   bool
	}{
		"/ip4/0.0.0.0/tcp/4001":                       {table.Key{Protocol: upnpmap.TCP, Internal: 4001}, "", true},
		"/ip4/0.0.0.0/udp/4001/quic-v1":               {table.Key{Protocol: upnpmap.UDP, Internal: 4001}, "/quic-v1", true},
		"/ip4/192.168.1.5/udp/9/quic-v1/webtransport": {table.Key{Protocol: upnpmap.UDP, Internal: 9}, "/quic-v1/webtransport", true},
		"/ip4/127.0.0.1/tcp/4001":                     {ok: false}, // loopback
		"/ip4/169.254.1.1/tcp/4001":                   {ok: false}, // link-local
		"/ip4/224.0.0.1/udp/5350":                     {ok: false}, // multicast
		"/ip6/::/tcp/4001":                            {ok: false}, // IPv4 gateways only
		"/ip4/0.0.0.0/tcp/0":                          {ok: false}, // no port yet
		"/dns4/example.com/tcp/4001":                  {ok: false},
		"/ip4/0.0.0.0":                                {ok: false},
		"/ip4/0.0.0.0/sctp/4001":                      {ok: false},
	} {
		k, rest, ok := keyOf(ma.StringCast(addr))
		if ok != want.ok || (ok && (k != want.key || rest.String() != want.rest)) {
			t.Errorf("keyOf(%s) = %v, %q, %v; want %v, %q, %v", addr, k, rest, ok, want.key, want.rest, want.ok)
		}
	}
}

// keyOf reads listen addresses, which come from the host's configuration and
// its transports; whatever bytes make a multiaddr, it must not panic, and what
// it accepts is a port it can map.
func FuzzKeyOf(f *testing.F) {
	for _, s := range []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/1.2.3.4/udp/1/quic-v1/webtransport", "/ip6/::/tcp/1", "/dns4/a/tcp/1"} {
		f.Add(ma.StringCast(s).Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil {
			return
		}
		k, _, ok := keyOf(a)
		if ok && (k.Internal == 0 || (k.Protocol != upnpmap.TCP && k.Protocol != upnpmap.UDP)) {
			t.Fatalf("keyOf(%s) accepted %+v", a, k)
		}
	})
}

package libp2p

import (
	"net/netip"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/internal/table"
)

func TestParseListen(t *testing.T) {
	tcp4 := func(p uint16) table.Key { return table.Key{Protocol: upnpmap.TCP, Internal: p, Family: upnpmap.IPv4} }
	udp4 := func(p uint16) table.Key { return table.Key{Protocol: upnpmap.UDP, Internal: p, Family: upnpmap.IPv4} }
	tcp6 := func(p uint16) table.Key { return table.Key{Protocol: upnpmap.TCP, Internal: p, Family: upnpmap.IPv6} }
	udp6 := func(p uint16) table.Key { return table.Key{Protocol: upnpmap.UDP, Internal: p, Family: upnpmap.IPv6} }
	for addr, want := range map[string]struct {
		key  table.Key
		rest string
		ok   bool
	}{
		"/ip4/0.0.0.0/tcp/4001":                           {tcp4(4001), "", true},
		"/ip4/0.0.0.0/udp/4001/quic-v1":                   {udp4(4001), "/quic-v1", true},
		"/ip4/192.168.1.5/udp/9/quic-v1/webtransport":     {udp4(9), "/quic-v1/webtransport", true},
		"/ip6/::/tcp/4001":                                {tcp6(4001), "", true},
		"/ip6/::/udp/4001/quic-v1":                        {udp6(4001), "/quic-v1", true},
		"/ip6/2001:db8:77::20/udp/9/quic-v1/webtransport": {udp6(9), "/quic-v1/webtransport", true},
		"/ip4/127.0.0.1/tcp/4001":                         {ok: false}, // loopback
		"/ip4/169.254.1.1/tcp/4001":                       {ok: false}, // link-local
		"/ip4/224.0.0.1/udp/5350":                         {ok: false}, // multicast
		"/ip6/::1/tcp/4001":                               {ok: false}, // loopback
		"/ip6/fe80::1/tcp/4001":                           {ok: false}, // link-local
		"/ip6zone/eth0/ip6/fe80::1/tcp/1":                 {ok: false},
		"/ip6/fd00::20/tcp/4001":                          {ok: false}, // unique-local: no pinhole reaches it
		"/ip6/ff02::1/udp/5350":                           {ok: false}, // multicast
		"/ip6/::ffff:192.0.2.1/tcp/4001":                  {ok: false}, // IPv4 in IPv6 clothing
		"/ip4/0.0.0.0/tcp/0":                              {ok: false}, // no port yet
		"/ip6/::/udp/0/quic-v1":                           {ok: false},
		"/dns4/example.com/tcp/4001":                      {ok: false},
		"/dns6/example.com/tcp/4001":                      {ok: false},
		"/ip4/0.0.0.0":                                    {ok: false},
		"/ip6/::":                                         {ok: false},
		"/ip4/0.0.0.0/sctp/4001":                          {ok: false},
		"/ip6/::/sctp/4001":                               {ok: false},
	} {
		la, ok := parseListen(ma.StringCast(addr))
		if ok != want.ok || (ok && (la.key != want.key || la.rest.String() != want.rest)) {
			t.Errorf("parseListen(%s) = %+v, %q, %v; want %+v, %q, %v", addr, la.key, la.rest, ok, want.key, want.rest, want.ok)
		}
	}
}

// A mapping serves the listen addresses of its family only, and a pinhole
// only the address it opens (or a listener on every address).
func TestExternal(t *testing.T) {
	v4 := netip.MustParseAddrPort("203.0.113.7:4001")
	v6 := netip.MustParseAddrPort("[2001:db8:77::20]:4001")
	for _, tc := range []struct {
		listen string
		ext    netip.AddrPort
		want   string
	}{
		{"/ip4/0.0.0.0/tcp/4001", v4, "/ip4/203.0.113.7/tcp/4001"},
		{"/ip4/0.0.0.0/tcp/4001", v6, ""},
		{"/ip6/::/tcp/4001", v6, "/ip6/2001:db8:77::20/tcp/4001"},
		{"/ip6/::/udp/4001/quic-v1", v6, "/ip6/2001:db8:77::20/udp/4001/quic-v1"},
		{"/ip6/::/tcp/4001", v4, ""},
		{"/ip6/2001:db8:77::20/tcp/4001/ws", v6, "/ip6/2001:db8:77::20/tcp/4001/ws"},
		{"/ip6/2001:db8:77::beef/tcp/4001", v6, ""}, // bound to a temporary address
	} {
		la, ok := parseListen(ma.StringCast(tc.listen))
		if !ok {
			t.Fatalf("parseListen(%s) refused", tc.listen)
		}
		got := ""
		if out, ok := la.external(tc.ext); ok {
			got = out.String()
		}
		if got != tc.want {
			t.Errorf("external(%s, %v) = %q, want %q", tc.listen, tc.ext, got, tc.want)
		}
	}
}

// parseListen reads listen addresses, which come from the host's
// configuration and its transports; whatever bytes make a multiaddr, it must
// not panic, what it accepts is a port it can map, and the external address
// made from it parses.
func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/1.2.3.4/udp/1/quic-v1/webtransport", "/ip6/::/tcp/1", "/ip6/2001:db8::1/udp/2/quic-v1", "/dns4/a/tcp/1"} {
		f.Add(ma.StringCast(s).Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil {
			return
		}
		la, ok := parseListen(a)
		if !ok {
			return
		}
		k := la.key
		if k.Internal == 0 || (k.Protocol != upnpmap.TCP && k.Protocol != upnpmap.UDP) || (k.Family != upnpmap.IPv4 && k.Family != upnpmap.IPv6) {
			t.Fatalf("parseListen(%s) accepted %+v", a, k)
		}
		ext := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), k.Internal)
		if k.Family == upnpmap.IPv6 {
			ext = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), k.Internal)
		}
		if _, ok := la.external(ext); !ok && la.ip.IsUnspecified() {
			t.Fatalf("no external address for %s from %v", a, ext)
		}
	})
}

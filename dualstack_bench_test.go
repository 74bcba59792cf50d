package upnpmap

import (
	"context"
	"net/netip"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// BenchmarkMapNoIPv6Host measures what the dual-stack default costs a host
// without a stable global IPv6 address (an IPv6 router is configured, so
// the host's addresses are read): "ipv4" is Family IPv4, the path of
// before; "default" is the zero Family. Map via UPnP, the probe cached;
// deleting is not timed.
func BenchmarkMapNoIPv6Host(b *testing.B) {
	for _, fam := range []Family{IPv4, BothFamilies} {
		name := map[Family]string{IPv4: "ipv4", BothFamilies: "default"}[fam]
		b.Run(name, func(b *testing.B) {
			gw, c, h := dualGateway(b, gatewaytest.Config{}, viaPCP|viaUPnP, UPnP)
			h.set(netip.Addr{})
			ctx := context.Background()
			if _, err := c.Discover(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				m, err := c.Map(ctx, Request{InternalPort: 6000, Family: fam})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				m.Close()
				b.StartTimer()
			}
			if n := len(gw.Pinholes()) + gw.Requests("GetFirewallStatus"); n != 0 {
				b.Fatalf("the IPv6 side was asked (%d)", n)
			}
		})
	}
}

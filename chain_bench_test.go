package upnpmap

import (
	"context"
	"net/netip"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// BenchmarkMapChainCheck is the single-router pair for double NAT support:
// a first PCP mapping on a router with a public external address, with
// chaining on (the default: Map looks at the external address and stops
// there) and off (NoChain). The two should not differ, and neither should
// BenchmarkMap/pcp from before chaining existed: no probe, no extra packet
// (router-req/op is the MAP and its delete: 2).
func BenchmarkMapChainCheck(b *testing.B) {
	for _, noChain := range []bool{false, true} {
		name := "default"
		if noChain {
			name = "NoChain"
		}
		b.Run(name, func(b *testing.B) {
			gw, c := testGateway(b, gatewaytest.Config{}, PCP)
			c.NoChain = noChain
			probes := 0
			c.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) {
				probes++
				return netip.Addr{}, nil
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				m, err := c.Map(ctx, Request{InternalPort: 7001})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := m.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			if probes != 0 || len(gw.Mappings()) != 0 {
				b.Fatalf("%d upstream probes; table %+v", probes, gw.Mappings())
			}
			b.ReportMetric(float64(gw.Requests(gatewaytest.PCP))/float64(b.N), "router-req/op")
		})
	}
}

// BenchmarkMapChained is a first mapping through two routers (PCP on
// each): the inner MAP, then the upstream router's probe and MAP.
func BenchmarkMapChained(b *testing.B) {
	inner, c := testGateway(b, gatewaytest.Config{ExternalAddr: innerWAN}, PCP)
	outer := gatewaytest.New(b, gatewaytest.Config{BehindNAT: innerWAN, PCPMinLifetime: -1})
	c.Upstream, c.UpstreamMethods = outer.Addr(), []Method{PCP}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m, err := c.Map(ctx, Request{InternalPort: 7002})
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Legs()) != 2 {
			b.Fatalf("not chained: %v", m.UpstreamErr())
		}
		b.StopTimer()
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	if n := len(inner.Mappings()) + len(outer.Mappings()); n != 0 {
		b.Fatalf("%d entries left", n)
	}
}

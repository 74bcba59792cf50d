package upnpmap

import (
	"context"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// BenchmarkDiscover probes a gateway that speaks all three methods: the
// time is what a caller waits for Discover. Every method answers, so no
// grace is waited for; a partial result means an answer missed the 250 ms
// grace (a badly loaded host).
func BenchmarkDiscover(b *testing.B) {
	_, c := testGateway(b, gatewaytest.Config{})
	ctx := context.Background()
	b.ReportAllocs()
	partial := 0
	for b.Loop() {
		r, err := c.Discover(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Methods) != 3 {
			partial++ // an answer missed the grace (a loaded host)
		}
	}
	b.ReportMetric(float64(partial)/float64(b.N), "partial/op")
}

// BenchmarkMap creates a mapping with each method (the probe is cached);
// deleting it is not timed.
func BenchmarkMap(b *testing.B) {
	for _, method := range []Method{PCP, NATPMP, UPnP} {
		b.Run(string(method), func(b *testing.B) {
			_, c := testGateway(b, gatewaytest.Config{}, method)
			ctx := context.Background()
			if _, err := c.Discover(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m, err := c.Map(ctx, Request{InternalPort: 7000})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := m.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

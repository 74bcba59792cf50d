package upnpmap

import (
	"context"
	"testing"
	"time"

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

// BenchmarkRequestsPerHour counts what one mapping costs the router under
// normal renewal (the default lifetime and PollInterval, nothing going
// wrong), over a simulated day on the Client's and the router's shared fake
// clock: the requests-per-hour metric is the figure, the time per op only
// the cost of simulating it. (PCP is left out: its §8.5 epoch check compares
// the router's clock with the client's real one, which a fake clock moves
// apart; it renews once per half-life like NAT-PMP, with one request.)
func BenchmarkRequestsPerHour(b *testing.B) {
	const day = 24 * time.Hour
	for _, method := range []Method{NATPMP, UPnP} {
		b.Run(string(method), func(b *testing.B) {
			var perHour float64
			for b.Loop() {
				gw, c, fc := sharedClock(b, gatewaytest.Config{}, method)
				c.PollInterval = 0 // the default
				m, err := c.Map(context.Background(), Request{InternalPort: 7100})
				if err != nil {
					b.Fatal(err)
				}
				base, end := gw.Requests(string(method)), fc.Now().Add(day)
				for {
					at := fc.Next(b, day)
					if at.After(end) {
						break
					}
					fc.AdvanceTo(at)
					// Wait until the renewer has acted and set its timer
					// again.
					for deadline := time.Now().Add(5 * time.Second); !fc.Next(b, 2*day).After(at); {
						if time.Now().After(deadline) {
							b.Fatal("the renewer did not act")
						}
						time.Sleep(100 * time.Microsecond)
					}
				}
				perHour = float64(gw.Requests(string(method))-base) / day.Hours()
				m.Detach()
			}
			b.ReportMetric(perHour, "requests/hour")
		})
	}
}

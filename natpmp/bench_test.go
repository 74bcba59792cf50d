package natpmp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

// BenchmarkNATPMPMap measures one Map exchange over loopback: socket set-up,
// request, reply, parsing. "responder" answers at once from a canned reply;
// "gatewaytest" is the project's fake router with its mapping table (every
// iteration after the first is a renewal).
func BenchmarkNATPMPMap(b *testing.B) {
	b.Run("responder", func(b *testing.B) {
		r := udptest.New(b, "127.0.0.1:0", fakeGateway)
		benchMap(b, &Client{Gateway: r.Addr()})
	})
	b.Run("gatewaytest", func(b *testing.B) {
		gw := gatewaytest.New(b, gatewaytest.Config{})
		benchMap(b, &Client{Gateway: netip.AddrPortFrom(gw.Addr(), 0)})
	})
}

func benchMap(b *testing.B, c *Client) {
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Map(ctx, TCP, 8080, 8080, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

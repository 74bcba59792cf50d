package pcp

import (
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

// BenchmarkPCPMap measures one MAP exchange over loopback: socket set-up,
// request, reply, parsing and checks. "responder" answers at once from the
// request; "gatewaytest" is the project's fake router with its mapping table
// (renewals with a kept nonce after the first iteration).
func BenchmarkPCPMap(b *testing.B) {
	b.Run("responder", func(b *testing.B) {
		r := udptest.New(b, "127.0.0.1:0", fakeServer)
		benchMap(b, &Client{Server: r.Addr()})
	})
	b.Run("gatewaytest", func(b *testing.B) {
		gw := gatewaytest.New(b, gatewaytest.Config{})
		benchMap(b, &Client{Server: gw.PCPAddr()})
	})
}

func benchMap(b *testing.B, c *Client) {
	ctx := b.Context()
	req := MapRequest{Protocol: TCP, InternalPort: 8080, Lifetime: time.Hour, Nonce: NewNonce()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Map(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

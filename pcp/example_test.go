package pcp_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
	"github.com/upnpmap/upnpmap/pcp"
)

// startServer runs a stand-in PCP server on loopback so that the examples
// run anywhere; a real program names its gateway. It grants every MAP the
// internal port on 203.0.113.7 for at most two hours.
func startServer() *udptest.Responder {
	r, err := udptest.Start("127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		b := append([]byte(nil), req.Data...)
		b[1] |= 0x80                                                                   // response
		binary.BigEndian.PutUint32(b[4:8], min(binary.BigEndian.Uint32(b[4:8]), 7200)) // lifetime
		binary.BigEndian.PutUint32(b[8:12], 1)                                         // epoch
		clear(b[12:24])
		if b[1] == 0x80|pcp.OpMap {
			copy(b[42:44], b[40:42]) // external port = internal port
			ext := netip.MustParseAddr("203.0.113.7").As16()
			copy(b[44:60], ext[:])
		}
		r.Reply(req, b)
	})
	if err != nil {
		panic(err)
	}
	return r
}

func Example() {
	srv := startServer()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c := &pcp.Client{Server: srv.Addr()} // a real gateway: netip.AddrPortFrom(addr, 0)
	m, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8080, Lifetime: 24 * time.Hour})
	if errors.Is(err, pcp.ErrSpeaksNATPMP) {
		fmt.Println("NAT-PMP only: use package natpmp")
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.External, "for", m.Lifetime)

	// Renew with the same nonce, then delete.
	m, err = c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8080, Lifetime: 24 * time.Hour,
		Nonce: m.Nonce, SuggestedExternal: m.External})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Delete(ctx, m); err != nil && !errors.Is(err, pcp.ErrNoSuchEntry) {
		fmt.Println(err)
	}
	// Output: 203.0.113.7:8080 for 2h0m0s
}

func ExampleParseResponse() {
	// An unsolicited ANNOUNCE as a server multicasts it to port 5350 after a
	// restart: version 2, R bit + opcode 0, SUCCESS, lifetime 0, epoch 4.
	pkt := make([]byte, 24)
	pkt[0], pkt[1], pkt[11] = 2, 0x80, 4
	r, err := pcp.ParseResponse(pkt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Opcode == pcp.OpAnnounce, r.Result, r.Epoch)
	// Output: true SUCCESS 4
}

package natpmp_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
	"github.com/upnpmap/upnpmap/natpmp"
)

// A stand-in gateway on loopback so that the examples run anywhere; a real
// program takes the gateway's address from the routing table (package
// discovery).
func startGateway() *udptest.Responder {
	r, err := udptest.Start("127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		d := req.Data
		reply := []byte{0, 128 + d[1], 0, 0, 0, 0, 0x10, 0} // success, epoch 4096
		switch {
		case len(d) == 2: // external address
			reply = append(reply, 203, 0, 113, 7)
		case len(d) == 12: // map: grant the suggested port for at most an hour
			lifetime := min(binary.BigEndian.Uint32(d[8:12]), 3600)
			reply = append(reply, d[4:8]...)
			reply = binary.BigEndian.AppendUint32(reply, lifetime)
		}
		r.Reply(req, reply)
	})
	if err != nil {
		panic(err)
	}
	return r
}

func Example() {
	gw := startGateway()
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c := &natpmp.Client{Gateway: gw.Addr()} // a real gateway: netip.AddrPortFrom(addr, 0)
	ext, err := c.ExternalAddress(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := c.Map(ctx, natpmp.TCP, 8080, 8080, 2*time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v:%d -> :%d for %v\n", ext.Addr, m.ExternalPort, m.InternalPort, m.Lifetime)
	if err := c.Delete(ctx, natpmp.TCP, 8080); err != nil {
		fmt.Println(err)
	}
	// Output: 203.0.113.7:8080 -> :8080 for 1h0m0s
}

func ExampleResultError() {
	// Errors from a gateway unwrap to the shared sentinels.
	var err error = &natpmp.ResultError{Op: natpmp.OpMapTCP, Code: natpmp.OutOfResources}
	var re *natpmp.ResultError
	fmt.Println(errors.Is(err, natpmp.ErrOutOfResources), errors.As(err, &re) && re.Code == 4)
	fmt.Println(err)
	// Output:
	// true true
	// natpmp: map TCP: gateway answered 4 (out of resources)
}

func ExampleParseAnnouncement() {
	// What a gateway multicasts to 224.0.0.1:5350 after its address changed.
	pkt := []byte{0, 128, 0, 0, 0, 0, 0, 42, 198, 51, 100, 9}
	a, err := natpmp.ParseAnnouncement(pkt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Addr, a.Epoch)
	// Output: 198.51.100.9 42
}

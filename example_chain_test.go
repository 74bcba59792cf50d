package upnpmap_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// Behind a double NAT: the home router's WAN address is private, and the
// ISP box in front of it maps too. Map chains the mapping through both;
// External is the ISP box's address, and Legs shows who forwards what.
func ExampleMapping_Legs() {
	wan := netip.MustParseAddr("10.77.0.2")
	home, err := gatewaytest.Start(gatewaytest.Config{ExternalAddr: wan})
	if err != nil {
		log.Fatal(err)
	}
	defer home.Close()
	isp, err := gatewaytest.Start(gatewaytest.Config{BehindNAT: wan, ExternalAddr: netip.MustParseAddr("198.51.100.4")})
	if err != nil {
		log.Fatal(err)
	}
	defer isp.Close()

	// Upstream is found by itself on Linux when the gateway is a real
	// router; here it is named, as with the CLI's --upstream.
	c := &upnpmap.Client{Gateway: home.Addr(), Upstream: isp.Addr(), Methods: []upnpmap.Method{upnpmap.PCP},
		UpstreamMethods: []upnpmap.Method{upnpmap.NATPMP}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := c.Map(ctx, upnpmap.Request{InternalPort: 8080, Family: upnpmap.IPv4})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.UpstreamErr(); errors.Is(err, upnpmap.ErrUpstreamUnmapped) {
		log.Print(err) // says which forward to make by hand
	}
	fmt.Println("reachable at", m.External())
	for i, l := range m.Legs() {
		fmt.Printf("leg %d: %s on the router: %v -> %v\n", i, l.Method, l.External, l.Internal.Port())
	}
	// Output:
	// reachable at 198.51.100.4:8080
	// leg 0: pcp on the router: 10.77.0.2:8080 -> 8080
	// leg 1: natpmp on the router: 198.51.100.4:8080 -> 8080
}

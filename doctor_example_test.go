package upnpmap_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// Diagnose a router whose own external address is private: it sits behind
// another router, so a port mapped on it cannot be reached from the
// Internet. Each finding comes with what to do.
func ExampleClient_Diagnose() {
	router, err := gatewaytest.Start(gatewaytest.Config{ExternalAddr: netip.MustParseAddr("192.168.0.23")})
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()
	c := &upnpmap.Client{Gateway: router.Addr()}

	r, err := c.Diagnose(context.Background(), upnpmap.DiagnoseOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("NAT:", r.NAT, "port can work:", r.PortCanWork)
	for _, f := range r.Findings {
		if f.Severity == upnpmap.SeverityError {
			fmt.Printf("%s\nfix: %s\n", f.Code, f.Fix)
		}
	}
	// Output:
	// NAT: DOUBLE_NAT port can work: false
	// DOUBLE_NAT
	// fix: put the upstream router in bridge mode, or map the same port on it to this router's address 192.168.0.23 (or make this router its DMZ host)
}

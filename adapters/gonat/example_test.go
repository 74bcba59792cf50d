package gonat_test

import (
	"context"
	"fmt"
	"log"
	"time"

	nat "github.com/libp2p/go-nat"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/gonat"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// Code written for go-nat keeps its nat.NAT variable; only the discovery call
// changes. (A program calls gonat.DiscoverGateway(ctx); the example passes a
// Client for a fake router instead.)
func Example() {
	router, err := gatewaytest.Start(gatewaytest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	found, err := gonat.Discover(ctx, &upnpmap.Client{Gateway: router.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer found.Close() // deletes the mappings
	var n nat.NAT = found

	port, err := n.AddPortMapping(ctx, "tcp", 4001, "my p2p node", time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	ext, err := n.GetExternalAddress()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s reachable at %v:%d\n", n.Type(), ext, port)
	// Output:
	// upnpmap (pcp) reachable at 203.0.113.7:4001
}

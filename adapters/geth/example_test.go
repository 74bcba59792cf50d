package geth_test

import (
	"fmt"
	"log"

	"github.com/ethereum/go-ethereum/p2p/nat"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/geth"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// Where geth takes a nat.Interface (p2p.Config.NAT, or nat.Map), pass a
// geth.NAT. A program uses geth.New(nil), or &geth.NAT{}, for the default
// gateway; the example passes a Client for a fake router.
func Example() {
	router, err := gatewaytest.Start(gatewaytest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()

	n := geth.New(&upnpmap.Client{Gateway: router.Addr()})
	defer n.Close() // deletes the mappings
	var iface nat.Interface = n

	port, err := iface.AddMapping("TCP", 30303, 30303, "ethereum p2p", nat.DefaultMapTimeout)
	if err != nil {
		log.Fatal(err)
	}
	ip, err := iface.ExternalIP()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: enode reachable at %v:%d\n", iface, ip, port)
	// Output:
	// upnpmap: enode reachable at 203.0.113.7:30303
}

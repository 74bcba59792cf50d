package libp2p_test

import (
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"

	"github.com/upnpmap/upnpmap"
	upnpmaplibp2p "github.com/upnpmap/upnpmap/adapters/libp2p"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// A go-libp2p host takes the manager through the libp2p.NATManager option,
// in place of libp2p.NATPortMap(). A program passes NATManager(nil) for the
// default gateway; the example passes a Client for a fake router.
func ExampleNATManager() {
	router, err := gatewaytest.Start(gatewaytest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()

	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"),
		libp2p.NATManager(upnpmaplibp2p.NATManager(&upnpmap.Client{Gateway: router.Addr()})),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close() // deletes the mappings

	// The host refreshes its addresses every few seconds.
	var external []string
	for deadline := time.Now().Add(20 * time.Second); len(external) < 2 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		external = external[:0]
		for _, a := range h.Addrs() {
			if strings.HasPrefix(a.String(), "/ip4/"+router.ExternalAddr().String()+"/") {
				external = append(external, a.String())
			}
		}
	}
	slices.Sort(external)
	fmt.Println(strings.Join(external, "\n"))
	// Output:
	// /ip4/203.0.113.7/tcp/4001
	// /ip4/203.0.113.7/udp/4001/quic-v1
}

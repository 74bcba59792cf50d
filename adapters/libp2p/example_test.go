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

// IPv6 listen addresses get pinholes of the host's stable global address,
// which the host announces. A program sets neither Location6 nor HostIPv6
// (the IPv6 router comes from the routing table, the address from the
// host's interfaces); the fake router needs both.
func ExampleNATManager_ipv6() {
	router, err := gatewaytest.Start(gatewaytest.Config{IPv6: true})
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()
	c := &upnpmap.Client{
		Gateway:   router.Addr(),
		Location6: router.LocationURL6(),       // the router's description over IPv6
		HostIPv6:  gatewaytest.DefaultIPv6Host, // the fake takes ::1 for it
	}

	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/4003", "/ip6/::/tcp/4003", "/ip6/::/udp/4003/quic-v1"),
		libp2p.NATManager(upnpmaplibp2p.NATManager(c)),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close() // deletes the mapping and the pinholes

	var external []string
	for deadline := time.Now().Add(20 * time.Second); len(external) < 3 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		external = external[:0]
		for _, a := range h.Addrs() {
			s := a.String()
			if strings.HasPrefix(s, "/ip4/"+router.ExternalAddr().String()+"/") || strings.HasPrefix(s, "/ip6/"+c.HostIPv6.String()+"/") {
				external = append(external, s)
			}
		}
	}
	slices.Sort(external)
	fmt.Println(strings.Join(external, "\n"))
	// Output:
	// /ip4/203.0.113.7/tcp/4003
	// /ip6/2001:db8:77::20/tcp/4003
	// /ip6/2001:db8:77::20/udp/4003/quic-v1
}

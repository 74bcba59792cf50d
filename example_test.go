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

// The Client examples talk to gatewaytest, a fake router on a loopback
// address, so they run as tests. A program would use a zero Client or the
// package-level functions, which find the router in the routing table.

// Open a port on the default gateway and keep it open until the program
// ends. (Not run as a test: it talks to the real router.)
func ExampleMap() {
	ctx := context.Background()
	m, err := upnpmap.Map(ctx, upnpmap.Request{Protocol: upnpmap.TCP, InternalPort: 8080})
	if err != nil {
		log.Fatal(err) // errors.Is(err, upnpmap.ErrNoGateway), ErrPortInUse, ErrNotAuthorized …
	}
	defer m.Close()
	log.Printf("reachable at %v (%s)", m.External(), m.Method())
	for ev := range m.Events() {
		log.Print(ev) // renewed, external-address-changed, lost, restored, failed
	}
}

// Ask the default gateway what it speaks. (Not run as a test.)
func ExampleDiscover() {
	r, err := upnpmap.Discover(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r) // e.g. gateway 192.168.1.1 speaks pcp, natpmp, upnp; external address …
	if r.ExternalPrivate {
		fmt.Println("double NAT: mappings will not be reachable from the Internet")
	}
}

func ExampleClient_Map() {
	router, err := gatewaytest.Start(gatewaytest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()

	c := &upnpmap.Client{Gateway: router.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := c.Map(ctx, upnpmap.Request{
		Protocol:     upnpmap.TCP,
		InternalPort: 8080,
		ExternalPort: 80,
		Description:  "my web app",
	})
	if errors.Is(err, upnpmap.ErrNoGateway) {
		log.Fatal("no router answered: ", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reachable at", m.External(), "via", m.Method())
	fmt.Println("lease ends in", time.Until(m.Expires()).Round(time.Hour), "unless renewed")

	// Close deletes the mapping on the router.
	if err := m.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("mappings left:", len(router.Mappings()))
	// Output:
	// reachable at 203.0.113.7:80 via pcp
	// lease ends in 2h0m0s unless renewed
	// mappings left: 0
}

func ExampleClient_Discover() {
	router, err := gatewaytest.Start(gatewaytest.Config{ExternalAddr: netip.MustParseAddr("100.64.0.9")})
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()

	c := &upnpmap.Client{Gateway: router.Addr()}
	r, err := c.Discover(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("methods:", r.Methods)
	fmt.Println("external address:", r.ExternalAddr, "private:", r.ExternalPrivate)
	fmt.Println("device:", r.Device)
	// Output:
	// methods: [pcp natpmp upnp]
	// external address: 100.64.0.9 private: true
	// device: gatewaytest router
}

func ExampleMapping_Events() {
	router, err := gatewaytest.Start(gatewaytest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()

	c := &upnpmap.Client{Gateway: router.Addr(), Methods: []upnpmap.Method{upnpmap.UPnP}, PollInterval: 20 * time.Millisecond}
	m, err := c.Map(context.Background(), upnpmap.Request{Protocol: upnpmap.UDP, InternalPort: 5000})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	router.SetExternalAddr(netip.MustParseAddr("198.51.100.1")) // the ISP gave the router a new address
	for ev := range m.Events() {
		fmt.Println(ev.Kind, ev.External)
		if ev.Kind == upnpmap.ExternalAddressChanged {
			break
		}
	}
	// Output:
	// external-address-changed 198.51.100.1:5000
}

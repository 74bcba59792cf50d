package upnpmap_test

import (
	"context"
	"fmt"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// One Map opens the IPv4 mapping and the IPv6 pinhole. A real program sets
// none of Location6 and HostIPv6: the IPv6 router comes from the routing
// table and the address from the host's stable global one.
func ExampleClient_Map_dualStack() {
	gw, err := gatewaytest.Start(gatewaytest.Config{IPv6: true, DisablePCP: true, DisableNATPMP: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()
	c := &upnpmap.Client{
		Gateway:   gw.Addr(),
		Location6: gw.LocationURL6(),           // the router's description over IPv6
		HostIPv6:  gatewaytest.DefaultIPv6Host, // the fake takes ::1 for it
	}
	m, err := c.Map(context.Background(), upnpmap.Request{InternalPort: 8080})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close() // closes the pinhole too
	fmt.Println(m.Family(), m.External())
	if p := m.Pinhole(); p != nil {
		fmt.Println(p.Family(), p.External(), p.Method())
	} else {
		fmt.Println("no pinhole:", m.OtherFamilyErr())
	}
	// Output:
	// ipv4 203.0.113.7:8080
	// ipv6 [2001:db8:77::20]:8080 upnp
}

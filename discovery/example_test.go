package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
)

// A device answers from 192.168.1.1 but advertises a description on
// localhost: the LOCATION is pinned to the device, keeping port and path.
func ExampleParseResponse() {
	answer := "HTTP/1.1 200 OK\r\n" +
		"CACHE-CONTROL: max-age=1800\r\n" +
		"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" +
		"USN: uuid:0001::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" +
		"LOCATION: http://127.0.0.1:49152/rootDesc.xml\r\n" +
		"\r\n"
	r, err := discovery.ParseResponse([]byte(answer), netip.MustParseAddrPort("192.168.1.1:1900"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Location)
	fmt.Println(r.OriginalLocation)
	fmt.Println(r.MaxAge)
	// Output:
	// http://192.168.1.1:49152/rootDesc.xml
	// http://127.0.0.1:49152/rootDesc.xml
	// 30m0s
}

// Services returns the gateway's connection services in the caller's order
// of preference, with URLs resolved and pinned to the device.
func ExampleRoot_Services() {
	doc := `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
 <URLBase>http://192.168.1.1:5000/</URLBase>
 <device>
  <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
  <friendlyName>Home Router</friendlyName>
  <deviceList><device><deviceList><device>
   <serviceList>
    <service>
     <serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType>
     <controlURL>/ctl/PPPConn</controlURL>
    </service>
    <service>
     <serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
     <controlURL>http://10.0.0.1:5000/ctl/IPConn</controlURL>
    </service>
   </serviceList>
  </device></deviceList></device></deviceList>
 </device>
</root>`
	loc, _ := url.Parse("http://192.168.1.1:5000/rootDesc.xml")
	root, err := discovery.ParseDescription([]byte(doc), loc, netip.MustParseAddr("192.168.1.1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(root.Device.FriendlyName)
	for _, s := range root.Services(
		"urn:schemas-upnp-org:service:WANIPConnection:2",
		"urn:schemas-upnp-org:service:WANIPConnection:1",
		"urn:schemas-upnp-org:service:WANPPPConnection:1") {
		fmt.Println(s.ServiceType, s.ControlURL)
	}
	// Output:
	// Home Router
	// urn:schemas-upnp-org:service:WANIPConnection:1 http://192.168.1.1:5000/ctl/IPConn
	// urn:schemas-upnp-org:service:WANPPPConnection:1 http://192.168.1.1:5000/ctl/PPPConn
}

// Search the default gateway by unicast, fetch the first answer's
// description, and stop as soon as a connection service is found. (Not run
// as a test: it talks to the real network.)
func ExampleSearcher_Search() {
	gws, err := discovery.DefaultGateways()
	if err != nil {
		fmt.Println(err) // errors.Is(err, discovery.ErrNoDefaultRoute)
		return
	}
	s := discovery.Searcher{Unicast: []netip.AddrPort{netip.AddrPortFrom(gws[0].Addr, 0)}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var control *url.URL
	err = s.Search(ctx, func(r discovery.Response) {
		root, err := discovery.Fetch(ctx, r.Location, r.From.Addr(), nil)
		if err != nil {
			return
		}
		if svcs := root.Services(discovery.TargetWANIPConn1); len(svcs) > 0 {
			control = svcs[0].ControlURL
			cancel()
		}
	})
	fmt.Println(control, err)
}

// Fetch enforces its limits with typed errors.
func ExampleFetch() {
	loc, _ := url.Parse("http://192.168.1.1:5000/rootDesc.xml")
	ctx := context.Background()
	root, err := discovery.Fetch(ctx, loc, netip.MustParseAddr("192.168.1.1"), &discovery.FetchOptions{
		Timeout: time.Second,
		MaxSize: 64 << 10,
	})
	switch {
	case errors.Is(err, discovery.ErrTimeout):
		fmt.Println("the device did not answer in time")
	case errors.Is(err, discovery.ErrTooLarge), errors.Is(err, discovery.ErrRedirect):
		fmt.Println("the device misbehaved:", err)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println(root.Device.FriendlyName)
	}
}

func ExampleLocalAddrFor() {
	// The address a router sees us as, for UPnP's NewInternalClient. The
	// UDP "connect" behind it sends nothing.
	local, err := discovery.LocalAddrFor(netip.MustParseAddr("127.0.0.1"))
	fmt.Println(local, err)
	// Output: 127.0.0.1 <nil>
}

package gatewaytest_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// A NAT-PMP mapping request, by hand (RFC 6886 §3.3), and what the gateway's
// table holds afterwards.
func Example() {
	gw, err := gatewaytest.Start(gatewaytest.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()

	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(gw.PCPAddr()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	req := make([]byte, 12)
	req[1] = 2                                // map TCP
	binary.BigEndian.PutUint16(req[4:], 8080) // internal port
	binary.BigEndian.PutUint16(req[6:], 80)   // suggested external port
	binary.BigEndian.PutUint32(req[8:], 3600) // lifetime
	conn.Write(req)
	reply := make([]byte, 16)
	if _, err := conn.Read(reply); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("result", binary.BigEndian.Uint16(reply[2:]), "external port", binary.BigEndian.Uint16(reply[10:]))

	for _, m := range gw.Mappings() {
		fmt.Println(m.Method, m.Protocol, m.ExternalAddr, m.ExternalPort, "->", m.InternalPort, m.Lifetime)
	}
	// Output:
	// result 0 external port 80
	// natpmp TCP 203.0.113.7 80 -> 8080 1h0m0s
}

// Provoking a UPnP conflict: another host already holds TCP 443.
func ExampleGateway_AddMapping() {
	gw, err := gatewaytest.Start(gatewaytest.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()
	gw.AddMapping(gatewaytest.Mapping{Protocol: "TCP", ExternalPort: 443})
	m := gw.Mappings()[0]
	fmt.Println(m.Method, m.InternalAddr, m.ExternalPort)
	// Output: manual 192.168.1.200 443
}

// A captured router served over the fake's working table, and every change
// to that table reported as it happens.
func ExampleConfig_replay() {
	var changes []gatewaytest.Change
	gw, err := gatewaytest.Start(gatewaytest.Config{
		Replay:   os.DirFS("testdata/replay/handmade-igd1"),
		OnChange: func(c gatewaytest.Change) { changes = append(changes, c) }, // called under the gateway's lock
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()
	gw.AddMapping(gatewaytest.Mapping{ExternalPort: 8080})
	fmt.Println(len(changes), changes[0].Kind, changes[0].By, changes[0].Mapping.ExternalPort)
	// Output: 1 added manual 8080
}

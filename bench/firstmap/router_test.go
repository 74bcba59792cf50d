package main

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests (the fake routers close
// in t.Cleanup, after the test functions return).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dialGateway connects a UDP socket to the fake router's NAT-PMP/PCP port, as
// routerRTT does to the default gateway.
func dialGateway(t *testing.T, gw *gatewaytest.Gateway) (*net.UDPConn, netip.Addr) {
	t.Helper()
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(gw.PCPAddr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// The raw exchanges map the port, report it, and leave the table empty.
func TestRouterRTT(t *testing.T) {
	for _, proto := range []string{"natpmp", "pcp"} {
		t.Run(proto, func(t *testing.T) {
			gw := gatewaytest.New(t, gatewaytest.Config{})
			conn, local := dialGateway(t, gw)
			var (
				line string
				err  error
			)
			if proto == "natpmp" {
				line, err = natpmpRTT(conn, 18080)
			} else {
				line, err = pcpRTT(conn, local, 18080)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"lib=router-" + proto + " ", "first_mapping_ms=", "external_port=18080 ", "probe_ms=", "delete_ms="} {
				if !strings.Contains(line, want) {
					t.Errorf("output %q lacks %q", line, want)
				}
			}
			if m := gw.Mappings(); len(m) != 0 {
				t.Errorf("mappings left on the router: %+v", m)
			}
		})
	}
}

// An error reply is an error, not a time.
func TestRouterRTTRefused(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetResult(gatewaytest.NATPMP, gatewaytest.NATPMPNotAuthorized)
	gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNotAuthorized)
	conn, local := dialGateway(t, gw)
	if line, err := natpmpRTT(conn, 18081); err == nil {
		t.Errorf("NAT-PMP: refused mapping reported as %q", line)
	}
	if line, err := pcpRTT(conn, local, 18081); err == nil {
		t.Errorf("PCP: refused mapping reported as %q", line)
	}
}

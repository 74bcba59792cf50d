// Package testgw starts the fake router (gatewaytest) the adapters' tests
// talk to, with a Client wired to it: the gateway's address and its
// announcement target are passed explicitly, so no test falls back to the
// machine's real gateway or multicasts.
package testgw

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// waitLimit bounds every Eventually: generous, because two busy cores can
// stall a goroutine for seconds, while a passing test returns at once.
const waitLimit = 20 * time.Second

// pollEvery is how often Eventually checks its condition.
const pollEvery = 10 * time.Millisecond

// New starts a gatewaytest router that announces reboots and address changes
// to a fresh loopback address, and returns it with a Client that listens
// there. cfg.AnnounceTo is overwritten.
func New(t testing.TB, cfg gatewaytest.Config) (*gatewaytest.Gateway, *upnpmap.Client) {
	t.Helper()
	ann := freeUDP(t)
	cfg.AnnounceTo = []netip.AddrPort{ann}
	gw := gatewaytest.New(t, cfg)
	return gw, &upnpmap.Client{Gateway: gw.Addr(), AnnounceAddr: ann}
}

// NewDual is New with the fake's IPv6 side on (cfg.IPv6) and the Client's
// pinholes pointed at it: the UPnP description over IPv6 (Location6) and the
// fake's IPv6Host as the host's stable address, which the fake takes ::1 for.
// Only UPnP pinholes can be reached this way (the fake's IPv6 PCP server
// listens on an ephemeral port, not 5351).
func NewDual(t testing.TB, cfg gatewaytest.Config) (*gatewaytest.Gateway, *upnpmap.Client) {
	t.Helper()
	cfg.IPv6 = true
	gw, c := New(t, cfg)
	c.Location6 = gw.LocationURL6()
	c.HostIPv6 = cfg.IPv6Host
	if !c.HostIPv6.IsValid() {
		c.HostIPv6 = gatewaytest.DefaultIPv6Host
	}
	return gw, c
}

// freeUDP returns a loopback UDP address nobody listens on right now.
func freeUDP(t testing.TB) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Eventually polls cond until it holds, failing the test with what after
// waitLimit.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", waitLimit, what)
		}
		time.Sleep(pollEvery)
	}
}

// Has reports whether gw's table holds a mapping of protocol ("TCP"/"UDP")
// from external port ext to internal port in, and returns it.
func Has(gw *gatewaytest.Gateway, protocol string, ext, in uint16) (gatewaytest.Mapping, bool) {
	for _, m := range gw.Mappings() {
		if m.Protocol == protocol && m.ExternalPort == ext && m.InternalPort == in {
			return m, true
		}
	}
	return gatewaytest.Mapping{}, false
}

// HasPinhole reports whether gw holds a pinhole of protocol ("TCP"/"UDP")
// to port of the host (the fake's IPv6Host, host).
func HasPinhole(gw *gatewaytest.Gateway, protocol string, host netip.Addr, port uint16) bool {
	for _, p := range gw.Pinholes() {
		if p.Protocol == protocol && p.InternalClient == host && p.InternalPort == port {
			return true
		}
	}
	return false
}

// checkEvery is the UPnP check interval PollUPnP sets: short, so that a
// vanished entry is noticed within a test.
const checkEvery = 20 * time.Millisecond

// PollUPnP restricts c to UPnP and checks its mappings every checkEvery, so
// that a test sees an entry vanish (Lost) and come back (Restored) at once.
func PollUPnP(c *upnpmap.Client) {
	c.Methods = []upnpmap.Method{upnpmap.UPnP}
	c.PollInterval = checkEvery
}

// RefuseUPnPAdds makes gw refuse new UPnP mappings (501 ActionFailed) while
// reads keep working, and returns the function that undoes it.
func RefuseUPnPAdds(gw *gatewaytest.Gateway) (undo func()) {
	adds := []string{"AddPortMapping", "AddAnyPortMapping"}
	for _, a := range adds {
		gw.FailAction(a, 501)
	}
	return func() {
		for _, a := range adds {
			gw.FailAction(a, 0)
		}
	}
}

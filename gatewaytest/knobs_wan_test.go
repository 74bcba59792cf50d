package gatewaytest

import (
	"net/netip"
	"testing"
)

// The WAN knobs change what the UPnP services say, and "" restores the
// default; the table keeps working (a bridged router still maps).
func TestWANKnobs(t *testing.T) {
	g := New(t, Config{})
	cmn := "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"
	get := func(svc, action, name string) string {
		t.Helper()
		return mustOK(t, action, soapCall{svc: svc, action: action}.do(t, g))[name]
	}
	check := func(when, ctype, status, link string) {
		t.Helper()
		if got := get(wanip2, "GetConnectionTypeInfo", "NewConnectionType"); got != ctype {
			t.Errorf("%s: connection type %q, want %q", when, got, ctype)
		}
		if got := get(wanip2, "GetStatusInfo", "NewConnectionStatus"); got != status {
			t.Errorf("%s: status %q, want %q", when, got, status)
		}
		if got := get(cmn, "GetCommonLinkProperties", "NewPhysicalLinkStatus"); got != link {
			t.Errorf("%s: link %q, want %q", when, got, link)
		}
	}
	check("default", "IP_Routed", "Connected", "Up")
	g.SetConnectionType("IP_Bridged")
	g.SetConnectionStatus("Disconnected")
	g.SetLinkStatus("Down")
	check("set", "IP_Bridged", "Disconnected", "Down")
	mustOK(t, "add while bridged", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(7000, "TCP", 7000, "127.0.0.1", "x", 3600)}.do(t, g))
	if len(g.Mappings()) != 1 {
		t.Errorf("a bridged router's table: %+v", g.Mappings())
	}
	g.SetConnectionType("")
	g.SetConnectionStatus("")
	g.SetLinkStatus("")
	check("cleared", "IP_Routed", "Connected", "Up")
	g.SetExternalAddr(netip.IPv4Unspecified())
	check("no external address", "IP_Routed", "Disconnected", "Up")
}
